//! Relay connections as Plain pages them: `first`/`after` forward, `last`/`before` backward,
//! 25 edges a page unless told, 100 at most, and cursors a client can only hand back.

use serde_json::Value;

/// The page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: i64 = 25;

/// The largest `first` or `last` Plain accepts.
pub const MAX_PAGE_SIZE: i64 = 100;

/// The root and nested fields the server pages by position (`customers` pages by its own
/// cursors).
pub const CONNECTION_FIELDS: [&str; 2] = ["customerGroups", "customerGroupMemberships"];

/// A connection's paging arguments, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageArgs {
    first: Option<usize>,
    last: Option<usize>,
    /// The position of the edge `after` names.
    after: Option<usize>,
    /// The position of the edge `before` names.
    before: Option<usize>,
}

/// The positions `start..end` of a page, and whether edges lie on either side of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub start: usize,
    pub end: usize,
    pub has_previous: bool,
    pub has_next: bool,
}

impl PageArgs {
    /// Reads and checks the arguments of the connection field `field`, each given by
    /// `argument` (`null` when absent). The message says what is wrong, naming the bound.
    pub fn read(field: &str, argument: impl Fn(&str) -> Value) -> Result<Self, String> {
        let count = |name: &str| -> Result<Option<usize>, String> {
            match argument(name) {
                Value::Null => Ok(None),
                value => match value.as_i64() {
                    Some(n) if (0..=MAX_PAGE_SIZE).contains(&n) => Ok(usize::try_from(n).ok()),
                    _ => Err(format!(
                        "`{name}` of {field} must be between 0 and {MAX_PAGE_SIZE}, got {value}"
                    )),
                },
            }
        };
        let position = |name: &str| -> Result<Option<usize>, String> {
            match argument(name) {
                Value::Null => Ok(None),
                Value::String(text) => decode_cursor(field, &text).map(Some).ok_or_else(|| {
                    format!("`{name}` of {field} is not a cursor {field} answered: {text:?}")
                }),
                other => Err(format!("`{name}` of {field} is not a cursor: {other}")),
            }
        };
        let args = Self {
            first: count("first")?,
            last: count("last")?,
            after: position("after")?,
            before: position("before")?,
        };
        if args.first.is_some() && args.last.is_some() {
            return Err(format!(
                "{field} takes `first` or `last`, not both: page forward with `first` and \
                 `after`, backward with `last` and `before`"
            ));
        }
        Ok(args)
    }

    /// The same counts, after the edge at `after` and before the one at `before`: positions a
    /// connection found for cursors of its own kind.
    pub fn between(self, after: Option<usize>, before: Option<usize>) -> Self {
        Self {
            after,
            before,
            ..self
        }
    }

    /// The page of a connection of `len` edges.
    pub fn page(&self, len: usize) -> Page {
        let mut start = self
            .after
            .map_or(0, |after| after.saturating_add(1).min(len));
        let mut end = self.before.map_or(len, |before| before.min(len)).max(start);
        match (self.first, self.last) {
            (_, Some(last)) => start = start.max(end.saturating_sub(last)),
            (first, None) => {
                let first = first.unwrap_or(DEFAULT_PAGE_SIZE as usize);
                end = end.min(start.saturating_add(first));
            }
        }
        Page {
            start,
            end,
            has_previous: start > 0,
            has_next: end < len,
        }
    }
}

/// The cursor of the edge at `position` of the connection `field`: opaque to a client, which
/// may only hand it back to the same connection.
pub fn cursor(field: &str, position: usize) -> String {
    opaque(&format!("{field}:{position}"))
}

/// The position a cursor of the connection `field` names, or `None` when it is not one.
fn decode_cursor(field: &str, cursor: &str) -> Option<usize> {
    let text = reveal(cursor)?;
    let position = text.strip_prefix(field)?.strip_prefix(':')?;
    position.parse().ok()
}

/// A cursor that holds `text`, unreadable at a glance, so that a client treats it as opaque.
pub fn opaque(text: &str) -> String {
    text.bytes().map(|b| format!("{:02x}", b ^ 0x5a)).collect()
}

/// The text an [`opaque`] cursor holds, or `None` when it is not one.
pub fn reveal(cursor: &str) -> Option<String> {
    if !cursor.len().is_multiple_of(2) || !cursor.is_ascii() {
        return None;
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&cursor[i..i + 2], 16)
                .ok()
                .map(|b| b ^ 0x5a)
        })
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(first: Option<i64>, after: Option<usize>) -> PageArgs {
        PageArgs::read("customerGroups", |name| match name {
            "first" => first.map_or(Value::Null, Value::from),
            "after" => after.map_or(Value::Null, |p| cursor("customerGroups", p).into()),
            _ => Value::Null,
        })
        .unwrap()
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_connection() {
        let c = cursor("customerGroups", 41);
        assert_eq!(decode_cursor("customerGroups", &c), Some(41));
        assert_eq!(decode_cursor("customerGroupMemberships", &c), None);
        assert_eq!(decode_cursor("customerGroups", "41"), None);
        assert!(!c.contains("41"), "{c}");
    }

    #[test]
    fn pages_forward_and_backward() {
        assert_eq!(
            args(None, None).page(60),
            Page {
                start: 0,
                end: 25,
                has_previous: false,
                has_next: true
            }
        );
        assert_eq!(args(Some(100), Some(49)).page(60).start, 50);
        assert_eq!(args(Some(100), Some(49)).page(60).end, 60);
        let back = PageArgs {
            last: Some(7),
            before: Some(10),
            ..PageArgs::default()
        };
        assert_eq!(
            back.page(60),
            Page {
                start: 3,
                end: 10,
                has_previous: true,
                has_next: true
            }
        );
    }
}
