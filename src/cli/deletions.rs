//! The lines of a `delete-customers` file: a customer of a `sync-customers --missing` file, or
//! a rejects line fed back; read as the engine takes them, with what is not a customer set
//! aside for the ledger.

use std::io::BufReader;
use std::sync::{Mutex, MutexGuard, PoisonError};

use plain_client::bulk;
use plain_client::state::MissingList;
use plain_client::CustomerIdentifier;
use serde_json::Value;

use super::lines::{Chunk, Splitter};
use super::text;

pub(super) type Lines = Splitter<BufReader<Box<dyn std::io::Read + Send>>>;

/// A customer to delete, as a line of the file lists it.
pub(super) struct Deletion {
    pub(super) line: u64,
    pub(super) customer_id: String,
    pub(super) identifier: Option<CustomerIdentifier>,
    pub(super) list: Option<MissingList>,
    /// The line as read, for the rejects file.
    pub(super) input: Value,
}

/// A deletion's tag on its way through the engine: the line, for its results and rejects.
pub(super) struct Tag {
    pub(super) line: u64,
    pub(super) customer_id: String,
    pub(super) identifier: Option<CustomerIdentifier>,
    pub(super) input: Value,
}

impl Deletion {
    /// The engine's record, and its tag.
    pub(super) fn split(self) -> (Tag, bulk::Deletion) {
        let mut deletion = bulk::Deletion::new(self.customer_id.clone());
        if let Some(identifier) = &self.identifier {
            deletion = deletion.identifier(identifier.clone());
        }
        if let Some(list) = self.list {
            deletion = deletion.list(list);
        }
        let tag = Tag {
            line: self.line,
            customer_id: self.customer_id,
            identifier: self.identifier,
            input: self.input,
        };
        (tag, deletion)
    }
}

/// The file as the engine reads it: deletions go to the engine; malformed lines and a read
/// error are set aside for the ledger.
pub(super) struct Reading {
    pub(super) lines: Lines,
    pub(super) cap: usize,
    pub(super) aside: Vec<Result<Malformed, (u64, String)>>,
    pub(super) ended: bool,
}

impl Reading {
    /// The next deletion, setting aside what is not one; `None` at the end of the file or
    /// after a read error.
    pub(super) fn next_deletion(&mut self) -> Option<Deletion> {
        while !self.ended {
            match self.lines.next_chunk() {
                Ok(None) => self.ended = true,
                Ok(Some(chunk)) => match parse(chunk, self.cap) {
                    Some(Ok(deletion)) => return Some(deletion),
                    Some(Err(bad)) => self.aside.push(Ok(bad)),
                    None => {}
                },
                Err(e) => {
                    self.ended = true;
                    self.aside
                        .push(Err((self.lines.done_through(), e.to_string())));
                }
            }
        }
        None
    }
}

pub(super) fn lock(reading: &Mutex<Reading>) -> MutexGuard<'_, Reading> {
    reading.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A line that is not a customer to delete: its rejects line.
pub(super) struct Malformed {
    pub(super) line: u64,
    pub(super) code: &'static str,
    pub(super) message: String,
    pub(super) input: Value,
}

/// Reads a line: a customer of a `--missing` file, or a rejects line fed back.
pub(super) fn parse(chunk: Chunk, cap: usize) -> Option<Result<Deletion, Malformed>> {
    let malformed = |code, message: String, input| Malformed {
        line: chunk.line,
        code,
        message,
        input,
    };
    let text = String::from_utf8_lossy(&chunk.bytes);
    if chunk.too_long {
        let start: String = text.chars().take(1024).collect();
        return Some(Err(malformed(
            "too_long",
            format!("the line is longer than {cap} bytes, the most --max-record-bytes allows"),
            Value::String(start),
        )));
    }
    if text.trim().is_empty() {
        return None;
    }
    let mut line = chunk.line;
    let mut value = match serde_json::from_str::<Value>(&text) {
        Ok(value) => value,
        Err(e) => {
            return Some(Err(malformed(
                "malformed",
                format!("the line is not JSON ({})", text::message(&e.to_string())),
                Value::String(text.into_owned()),
            )))
        }
    };
    // A rejects line fed back: the customer under `input`, at its original line.
    if let Some(object) = value.as_object_mut() {
        if object.contains_key("error") && object.get("input").is_some_and(Value::is_object) {
            line = object.get("line").and_then(Value::as_u64).unwrap_or(line);
            value = object.remove("input").unwrap_or_default();
        }
    }
    let customer_id = value
        .get("customerId")
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
        .map(str::to_owned);
    let Some(customer_id) = customer_id else {
        return Some(Err(Malformed {
            line,
            code: "malformed",
            message: "the line has no `customerId`: give the file sync-customers --missing wrote"
                .to_owned(),
            input: value,
        }));
    };
    let identifier = value
        .get("identifier")
        .and_then(|i| serde_json::from_value(i.clone()).ok());
    let list = value
        .get("missingList")
        .and_then(|l| serde_json::from_value(l.clone()).ok());
    Some(Ok(Deletion {
        line,
        customer_id,
        identifier,
        list,
        input: value,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(line: u64, text: &str) -> Chunk {
        Chunk {
            line,
            bytes: text.as_bytes().to_vec(),
            too_long: false,
            open_quote: false,
        }
    }

    #[test]
    fn a_missing_line_and_a_rejects_line_fed_back_read_the_same() {
        let missing = r#"{"identifier":{"emailAddress":"a@example.com"},"customerId":"c_1","lastResult":"CREATED"}"#;
        let direct = parse(chunk(4, missing), 100).unwrap().ok().unwrap();
        assert_eq!(direct.line, 4);
        assert_eq!(direct.customer_id, "c_1");
        assert_eq!(
            direct.identifier,
            Some(CustomerIdentifier::email("a@example.com"))
        );
        let fed_back = format!(
            r#"{{"line":4,"input":{missing},"error":{{"code":"http_500"}},"status":"failed"}}"#
        );
        let again = parse(chunk(1, &fed_back), 1000).unwrap().ok().unwrap();
        assert_eq!(again.line, 4);
        assert_eq!(again.customer_id, "c_1");
        assert_eq!(again.input, direct.input);
    }

    #[test]
    fn a_line_without_a_customer_id_says_what_to_give() {
        let bad = parse(chunk(2, r#"{"customerId":"  "}"#), 100)
            .unwrap()
            .err()
            .unwrap();
        assert_eq!(bad.code, "malformed");
        assert!(bad.message.contains("customerId"), "{}", bad.message);
        let not_json = parse(chunk(3, "c_1,c_2"), 100).unwrap().err().unwrap();
        assert!(
            not_json.message.contains("not JSON"),
            "{}",
            not_json.message
        );
        assert!(parse(chunk(5, "   "), 100).is_none());
    }
}
