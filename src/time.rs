//! The one timestamp format Plain uses in headers: RFC 3339 in UTC, such as
//! `2026-01-06T15:30:00.000Z` (`x-ratelimit-reset`), parsed and written by `humantime`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, a real date after 1970. Anything else is `None`.
pub fn parse_rfc3339_utc(text: &str) -> Option<SystemTime> {
    let time = humantime::parse_rfc3339(text.trim()).ok()?;
    (time >= UNIX_EPOCH).then_some(time)
}

/// Formats a time as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the shape Plain uses.
pub fn format_rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time.max(UNIX_EPOCH)).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
}
