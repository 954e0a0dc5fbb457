//! The one timestamp format Plain uses in headers: ISO-8601 in UTC, such as
//! `2026-01-06T15:30:00.000Z` (`x-ratelimit-reset`). Small enough not to need a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn number(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z`. Anything else is `None`.
pub fn parse_rfc3339_utc(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let rest = text.strip_suffix('Z').or_else(|| text.strip_suffix('z'))?;
    let (date, time) = rest.split_once(['T', 't'])?;
    let mut date_parts = date.splitn(3, '-');
    let year = number(date_parts.next()?)?;
    let month = number(date_parts.next()?)?;
    let day = number(date_parts.next()?)?;
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    let mut clock_parts = clock.splitn(3, ':');
    let hour = number(clock_parts.next()?)?;
    let minute = number(clock_parts.next()?)?;
    let second = number(clock_parts.next()?)?;
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61;
    if !valid || year < 1970 {
        return None;
    }
    let nanos = match fraction {
        None => 0,
        Some(digits) => {
            number(digits)?;
            let padded: String = digits.chars().chain("000000000".chars()).take(9).collect();
            padded.parse::<u32>().ok()?
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    let seconds = u64::try_from(seconds).ok()?;
    Some(UNIX_EPOCH + Duration::new(seconds, nanos))
}

/// Formats a time as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the shape Plain uses.
pub fn format_rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plains_reset_format() {
        let t = parse_rfc3339_utc("2026-01-06T15:30:00.000Z").unwrap();
        let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        // 2026-01-06T15:30:00Z, computed independently: 20459 days * 86400 + 55800.
        assert_eq!(secs, 1_767_713_400);
        assert_eq!(format_rfc3339(t), "2026-01-06T15:30:00.000Z");
    }

    #[test]
    fn keeps_fractions_and_round_trips_across_leap_days() {
        let t = parse_rfc3339_utc("2024-02-29T23:59:59.5Z").unwrap();
        assert_eq!(format_rfc3339(t), "2024-02-29T23:59:59.500Z");
        let next = t + Duration::from_millis(500);
        assert_eq!(format_rfc3339(next), "2024-03-01T00:00:00.000Z");
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            "",
            "2026-01-06",
            "2026-01-06T15:30:00",
            "2026-01-06T15:30:00+01:00",
            "2026-13-06T15:30:00Z",
            "2026-01-06T25:30:00Z",
            "2026-01-06T15:30:00.abcZ",
            "Tue, 06 Jan 2026 15:30:00 GMT",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }
}
