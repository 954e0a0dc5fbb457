//! [`Timestamp`]: a date-time as Plain gives it, its text kept exactly.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::time::SystemTime;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::redact;
use crate::time;

/// The most characters of a text kept in a [`TimestampError`].
const MAX_ERROR_CHARS: usize = 64;

/// A date-time from Plain (its `DateTime`, such as [`Customer::created_at`](crate::Customer)):
/// the RFC 3339 text exactly as Plain sent it, and the instant it names.
///
/// The text is never changed: [`as_str`](Self::as_str), `Display` and serializing give back
/// Plain's bytes, `2023-06-20T19:49:20.236Z` staying `.236Z` and `+01:00` staying `+01:00`. A
/// text that is not an RFC 3339 date-time does not fail the answer it came in: it is kept,
/// and [`unix_time`](Self::unix_time) and [`to_system_time`](Self::to_system_time) say why it
/// has no instant.
///
/// Two timestamps are equal when their texts are; they are ordered by instant, the same
/// instant written two ways by text, and a text with no instant before every date-time.
///
/// In JSON it is Plain's `DateTime` object, `{"iso8601": "2023-06-20T19:49:20.236Z"}`; a bare
/// string is read too.
///
/// ```
/// use plain_client::Timestamp;
///
/// let at: Timestamp = "2026-01-06T16:30:00.5+01:00".parse()?;
/// assert_eq!(at.as_str(), "2026-01-06T16:30:00.5+01:00");
/// assert_eq!(at.unix_time()?, (1_767_713_400, 500_000_000));
/// assert!(at < "2026-01-06T15:30:01Z".parse()?);
/// # Ok::<(), plain_client::TimestampError>(())
/// ```
#[derive(Clone)]
pub struct Timestamp {
    text: String,
}

impl Timestamp {
    /// Keeps `text`, whatever it is.
    fn keep(text: String) -> Self {
        Self { text }
    }

    /// Seconds since 1970-01-01T00:00:00Z and nanoseconds, read from the text (each time: it
    /// is short, and a customer then holds no more than Plain's text).
    fn instant(&self) -> Option<(i64, u32)> {
        time::parse_rfc3339(&self.text)
    }

    /// The text exactly as Plain sent it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the text is an RFC 3339 date-time.
    pub fn is_valid(&self) -> bool {
        self.instant().is_some()
    }

    /// The instant as seconds since 1970-01-01T00:00:00Z (negative before it) and the
    /// nanoseconds after that second, `0..1_000_000_000`. A fraction finer than a nanosecond
    /// is cut.
    pub fn unix_time(&self) -> Result<(i64, u32), TimestampError> {
        self.instant()
            .ok_or_else(|| TimestampError::NotRfc3339(redact::clean(&self.text, MAX_ERROR_CHARS)))
    }

    /// The instant as a [`SystemTime`].
    pub fn to_system_time(&self) -> Result<SystemTime, TimestampError> {
        let (seconds, nanos) = self.unix_time()?;
        time::system_time(seconds, nanos)
            .ok_or_else(|| TimestampError::OutOfRange(redact::clean(&self.text, MAX_ERROR_CHARS)))
    }
}

/// Why a [`Timestamp`] has no instant, or none a [`SystemTime`] can hold. Each variant holds
/// the start of the text (at most 64 characters, on one line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text is not an RFC 3339 date-time such as `2023-06-20T19:49:20.236Z`.
    #[error("not an RFC 3339 date-time: {0:?}")]
    NotRfc3339(String),
    /// The date-time is before or after what this platform's [`SystemTime`] can hold.
    #[error("the date-time {0:?} is out of the range of this platform's SystemTime")]
    OutOfRange(String),
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    /// Reads an RFC 3339 date-time, keeping the text as given; anything else is an error.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let timestamp = Self::keep(text.to_owned());
        timestamp.unix_time()?;
        Ok(timestamp)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Timestamp").field(&self.text).finish()
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Timestamp {}

impl Hash for Timestamp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.instant()
            .cmp(&other.instant())
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The name of the text's field in Plain's `DateTime`.
const ISO8601: &str = "iso8601";

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut object = serializer.serialize_struct("DateTime", 1)?;
        object.serialize_field(ISO8601, &self.text)?;
        object.end()
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TimestampVisitor)
    }
}

struct TimestampVisitor;

impl<'de> Visitor<'de> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a DateTime object with an `iso8601` string, or a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Timestamp, E> {
        Ok(Timestamp::keep(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Timestamp, E> {
        Ok(Timestamp::keep(text))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Timestamp, A::Error> {
        let mut text: Option<String> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == ISO8601 {
                if text.is_some() {
                    return Err(de::Error::duplicate_field(ISO8601));
                }
                text = Some(map.next_value()?);
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        text.map(Timestamp::keep)
            .ok_or_else(|| de::Error::missing_field(ISO8601))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn from_answer(text: &str) -> Timestamp {
        serde_json::from_value(serde_json::json!({ "iso8601": text })).unwrap()
    }

    #[test]
    fn plains_texts_come_back_byte_for_byte() {
        for text in [
            "2023-06-20T19:49:20.236Z",
            "2026-01-06T15:30:00Z",
            "2026-01-06T15:30:00.5Z",
            "2026-01-06T15:30:00.50Z",
            "2026-01-06T15:30:00.123456Z",
            "2026-01-06T15:30:00.123456789Z",
            "2026-01-06T15:30:00.1234567891Z",
            "2026-01-06T16:30:00.000+01:00",
            "2026-01-06T10:00:00-05:30",
            "2026-01-06t15:30:00z",
        ] {
            let at = from_answer(text);
            assert!(at.is_valid(), "{text}");
            assert_eq!(at.as_str(), text);
            assert_eq!(at.to_string(), text);
            assert_eq!(
                serde_json::to_string(&at).unwrap(),
                format!(r#"{{"iso8601":"{text}"}}"#)
            );
            assert_eq!(text.parse::<Timestamp>().unwrap(), at);
            let bare: Timestamp = serde_json::from_str(&format!("{text:?}")).unwrap();
            assert_eq!(bare, at);
        }
    }

    #[test]
    fn gives_the_instant_in_every_form() {
        let at = from_answer("2023-06-20T19:49:20.236Z");
        assert_eq!(at.unix_time(), Ok((1_687_290_560, 236_000_000)));
        assert_eq!(
            at.to_system_time().unwrap(),
            UNIX_EPOCH + Duration::new(1_687_290_560, 236_000_000)
        );
        let offset = from_answer("2023-06-20T21:49:20.236+02:00");
        assert_eq!(offset.unix_time(), at.unix_time());
        let before_1970 = from_answer("1969-07-20T20:17:40Z");
        assert_eq!(before_1970.unix_time(), Ok((-14_182_940, 0)));
        assert_eq!(
            before_1970.to_system_time().unwrap(),
            UNIX_EPOCH - Duration::from_secs(14_182_940)
        );
    }

    #[test]
    fn an_invalid_text_is_kept_and_has_no_instant() {
        for text in [
            "yesterday",
            "",
            "2026-02-30T00:00:00Z",
            "2026-01-06 15:30:00",
        ] {
            let at = from_answer(text);
            assert!(!at.is_valid(), "{text}");
            assert_eq!(at.as_str(), text);
            assert_eq!(
                at.unix_time(),
                Err(TimestampError::NotRfc3339(text.to_owned()))
            );
            assert!(at.to_system_time().is_err());
            assert_eq!(
                serde_json::to_value(&at).unwrap(),
                serde_json::json!({ "iso8601": text })
            );
            assert!(text.parse::<Timestamp>().is_err());
        }
        let long = format!("{}\n", "x".repeat(500));
        let error = from_answer(&long).unix_time().unwrap_err().to_string();
        assert!(error.len() < 120 && !error.contains('\n'), "{error}");
    }

    #[test]
    fn reads_plains_object_whatever_else_it_holds() {
        let at: Timestamp = serde_json::from_str(
            r#"{"unixTimestamp": "1687290560236", "iso8601": "2023-06-20T19:49:20.236Z"}"#,
        )
        .unwrap();
        assert_eq!(at.as_str(), "2023-06-20T19:49:20.236Z");
        for bad in [
            r#"{"unixTimestamp": "1"}"#,
            r#"{"iso8601": 5}"#,
            "5",
            "null",
        ] {
            assert!(serde_json::from_str::<Timestamp>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn orders_by_instant_and_equals_by_text() {
        let texts = [
            "2026-01-06T15:30:00.001Z",
            "not a date",
            "2026-01-06T16:30:00+01:00",
            "2025-12-31T23:59:59.999999999Z",
            "2026-01-06T15:30:00Z",
            "2026-01-06T15:30:00.000Z",
        ];
        let mut sorted: Vec<Timestamp> = texts.iter().map(|t| from_answer(t)).collect();
        sorted.sort();
        let order: Vec<&str> = sorted.iter().map(Timestamp::as_str).collect();
        assert_eq!(
            order,
            [
                "not a date",
                "2025-12-31T23:59:59.999999999Z",
                "2026-01-06T15:30:00.000Z",
                "2026-01-06T15:30:00Z",
                "2026-01-06T16:30:00+01:00",
                "2026-01-06T15:30:00.001Z",
            ]
        );
        let same_instant = (
            from_answer("2026-01-06T15:30:00Z"),
            from_answer("2026-01-06T15:30:00.000Z"),
        );
        assert_ne!(same_instant.0, same_instant.1);
        assert_eq!(same_instant.0.unix_time(), same_instant.1.unix_time());
        let set: BTreeSet<Timestamp> = texts.iter().map(|t| from_answer(t)).collect();
        assert_eq!(set.len(), texts.len());
    }

    #[test]
    fn debug_shows_the_text() {
        assert_eq!(
            format!("{:?}", from_answer("2026-01-06T15:30:00Z")),
            r#"Timestamp("2026-01-06T15:30:00Z")"#
        );
    }
}
