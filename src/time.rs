//! RFC 3339 date-times, the one text shape Plain gives times in: `x-ratelimit-reset`, a
//! `DateTime`'s `iso8601` (`2026-01-06T15:30:00.000Z`), a webhook's attempt time.
//!
//! Read by a parser of its own, which takes any offset and fraction; written by `humantime`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NANOS_PER_SECOND: u32 = 1_000_000_000;

/// Reads `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` (`T` and `Z` in either case) as
/// seconds since 1970-01-01T00:00:00Z, negative before it, and the nanoseconds within that
/// second. A fraction past nanoseconds is cut; a leap second (`:60`) is the second after
/// `:59`. Anything else, or a date that does not exist, is `None`.
pub fn parse_rfc3339(text: &str) -> Option<(i64, u32)> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 {
        return None;
    }
    let (date, rest) = bytes.split_at(10);
    let (year, month, day) = (
        digits(&date[0..4])?,
        digits(&date[5..7])?,
        digits(&date[8..10])?,
    );
    if date[4] != b'-' || date[7] != b'-' || !matches!(rest[0], b'T' | b't') {
        return None;
    }
    let time = &rest[1..];
    let (hour, minute, second) = (
        digits(&time[0..2])?,
        digits(&time[3..5])?,
        digits(&time[6..8])?,
    );
    if time[2] != b':' || time[5] != b':' || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if month == 0 || month > 12 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let (nanos, zone) = fraction(&time[8..])?;
    let offset = offset_seconds(zone)?;
    let days = days_from_civil(i64::from(year), month, day);
    let seconds =
        days * 86_400 + i64::from(hour) * 3_600 + i64::from(minute) * 60 + i64::from(second)
            - offset;
    Some((seconds, nanos))
}

/// The value of two or four ASCII digits.
fn digits(text: &[u8]) -> Option<u32> {
    text.iter().try_fold(0, |value, byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

/// An optional `.fraction` as nanoseconds, and what follows it.
fn fraction(text: &[u8]) -> Option<(u32, &[u8])> {
    let Some(after_dot) = text.strip_prefix(b".") else {
        return Some((0, text));
    };
    let count = after_dot.iter().take_while(|b| b.is_ascii_digit()).count();
    if count == 0 {
        return None;
    }
    let kept = &after_dot[..count.min(9)];
    let scale = 10_u32.pow(9 - u32::try_from(kept.len()).ok()?);
    Some((digits(kept)? * scale, &after_dot[count..]))
}

/// The zone's distance from UTC in seconds: `Z` is 0, `+01:00` is 3600.
fn offset_seconds(zone: &[u8]) -> Option<i64> {
    match zone {
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (hours, minutes) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = i64::from(hours * 3_600 + minutes * 60);
            Some(if *sign == b'-' { -seconds } else { seconds })
        }
        _ => None,
    }
}

fn is_leap_year(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the date, in the proleptic Gregorian calendar (negative before).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The [`SystemTime`] of seconds and nanoseconds since 1970-01-01T00:00:00Z, if this
/// platform's `SystemTime` can hold it.
pub fn system_time(seconds: i64, nanos: u32) -> Option<SystemTime> {
    let whole = Duration::from_secs(seconds.unsigned_abs());
    let at_second = if seconds >= 0 {
        UNIX_EPOCH.checked_add(whole)?
    } else {
        UNIX_EPOCH.checked_sub(whole)?
    };
    at_second.checked_add(Duration::new(0, nanos % NANOS_PER_SECOND))
}

/// Reads a time in UTC (`Z`) after 1970, such as `x-ratelimit-reset`. Anything else is `None`.
pub fn parse_rfc3339_utc(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if !text.ends_with(['Z', 'z']) {
        return None;
    }
    let (seconds, nanos) = parse_rfc3339(text)?;
    (seconds >= 0).then(|| system_time(seconds, nanos))?
}

/// Formats a time as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the shape Plain uses.
pub fn format_rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time.max(UNIX_EPOCH)).to_string()
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
            "2026-02-31T12:00:00Z",
            "2025-02-29T12:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_offsets_fractions_and_dates_before_1970() {
        let at = |text| parse_rfc3339(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(at("1970-01-01T00:00:00Z"), (0, 0));
        assert_eq!(at("2026-01-06T15:30:00.000Z"), (1_767_713_400, 0));
        assert_eq!(at("2026-01-06T16:30:00+01:00"), (1_767_713_400, 0));
        assert_eq!(at("2026-01-06T10:00:00-05:30"), (1_767_713_400, 0));
        assert_eq!(at("2026-01-06t15:30:00z"), (1_767_713_400, 0));
        assert_eq!(at("2023-06-20T19:49:20.2Z").1, 200_000_000);
        assert_eq!(at("2023-06-20T19:49:20.236Z").1, 236_000_000);
        assert_eq!(at("2023-06-20T19:49:20.236123Z").1, 236_123_000);
        assert_eq!(at("2023-06-20T19:49:20.123456789Z").1, 123_456_789);
        assert_eq!(at("2023-06-20T19:49:20.1234567891234Z").1, 123_456_789);
        assert_eq!(at("1969-12-31T23:59:59.5Z"), (-1, 500_000_000));
        assert_eq!(at("0000-03-01T00:00:00Z").0, -62_162_035_200);
        assert_eq!(at("2016-12-31T23:59:60Z"), at("2017-01-01T00:00:00Z"));
        for bad in [
            "2026-01-06T15:30:00.Z",
            "2026-01-06T15:30:00+0100",
            "2026-01-06T15:30:00+24:00",
            "2026-01-06 15:30:00Z",
            "2026-01-06T15:30:00Z ",
            "2026-01-06T15:30:61Z",
            "+2026-01-06T15:30:00Z",
            "2026-01-06T15:30:00.000Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn system_times_on_both_sides_of_1970() {
        let after = system_time(1, 5).unwrap();
        assert_eq!(
            after.duration_since(UNIX_EPOCH).unwrap(),
            Duration::new(1, 5)
        );
        let before = system_time(-1, 500_000_000).unwrap();
        assert_eq!(
            UNIX_EPOCH.duration_since(before).unwrap(),
            Duration::from_millis(500)
        );
    }
}
