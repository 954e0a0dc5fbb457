//! The lines of a `delete-customers` file: a customer of a `sync-customers --missing` file, or
//! a rejects line fed back; read as the engine takes them, with what is not a customer set
//! aside for the ledger. A line that names its customer by external id alone (one Plain
//! confirmed in a batch, whose id the state never learned) gets the id from Plain first.

use std::io::BufReader;
use std::sync::{Mutex, MutexGuard, PoisonError};

use plain_client::bulk;
use plain_client::state::{DeletionRefused, MissingList, StateStore};
use plain_client::{CustomerIdentifier, PlainClient};
use serde_json::Value;

use super::lines::{Chunk, Splitter};
use super::text;

pub(super) type Lines = Splitter<BufReader<Box<dyn std::io::Read + Send>>>;

/// A customer to delete, as a line of the file lists it.
pub(super) struct Deletion {
    pub(super) line: u64,
    /// Plain's id for it; `None` when the line names it by its external id alone (the
    /// identifier is then an external id).
    pub(super) customer_id: Option<String>,
    pub(super) identifier: Option<CustomerIdentifier>,
    pub(super) list: Option<MissingList>,
    /// The line as read, for the rejects file.
    pub(super) input: Value,
}

/// A deletion's tag on its way through the engine: the line, for its results and rejects.
pub(super) struct Tag {
    pub(super) line: u64,
    pub(super) customer_id: Option<String>,
    pub(super) identifier: Option<CustomerIdentifier>,
    pub(super) input: Value,
}

impl Deletion {
    /// The engine's record, and its tag: for a line with a customer id, or one given it.
    pub(super) fn split(self) -> (Tag, bulk::Deletion) {
        let mut deletion = bulk::Deletion::new(self.customer_id.clone().unwrap_or_default());
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

    fn tag(self) -> Tag {
        Tag {
            line: self.line,
            customer_id: self.customer_id,
            identifier: self.identifier,
            input: self.input,
        }
    }
}

/// What the file had that the engine does not take.
pub(super) enum Aside {
    /// A line that is not a customer to delete.
    Malformed(Malformed),
    /// The file could not be read past this line, for this reason.
    ReadFailed(u64, String),
    /// A customer named by its external id alone, settled without the engine.
    Settled(Tag, Settled),
}

/// How a customer a line names by its external id alone was settled, when no deletion was
/// sent for it.
pub(super) enum Settled {
    /// Plain has no customer with that external id: nothing to delete (the state, unless in
    /// a dry run, forgot it).
    NotInPlain,
    /// The state does not allow deleting it.
    Refused(DeletionRefused),
    /// Plain could not be asked for its id.
    Failed(plain_client::Error),
}

/// Where a run's deletions are checked, and whether they are sent.
pub(super) struct Checks {
    pub(super) client: PlainClient,
    pub(super) state: Option<StateStore>,
    pub(super) dry_run: bool,
}

/// The next deletion for the engine: by Plain's id. A line that names its customer by its
/// external id alone is given the id Plain has for it first (with a state, only when the
/// state allows the deletion, and the state learns the id); one settled otherwise is set
/// aside, and the next line read. `None` at the end of the file, or once Plain refused the
/// key for a look-up.
pub(super) async fn next_for_engine(
    reading: &Mutex<Reading>,
    checks: &Checks,
) -> Option<(Tag, bulk::Deletion)> {
    loop {
        let next = lock(reading).next_deletion();
        let mut deletion = next?;
        if deletion.customer_id.is_some() {
            return Some(deletion.split());
        }
        match resolve(&mut deletion, reading, checks).await {
            None => return Some(deletion.split()),
            Some(settled) => {
                // A key Plain refuses would fail every look-up: the engine is told the file
                // ended, and the run stops, as it does for a deletion refused so.
                let refused_key = matches!(
                    &settled,
                    Settled::Failed(error) if matches!(
                        error.last_cause(),
                        plain_client::Error::Unauthenticated { .. }
                            | plain_client::Error::Forbidden { .. }
                    )
                );
                let tag = deletion.tag();
                lock(reading).aside.push(Aside::Settled(tag, settled));
                if refused_key {
                    return None;
                }
            }
        }
    }
}

/// Gives a line without a customer id the id Plain has for its external id, or says how it
/// was settled instead.
async fn resolve(
    deletion: &mut Deletion,
    reading: &Mutex<Reading>,
    checks: &Checks,
) -> Option<Settled> {
    let Some(identifier @ CustomerIdentifier::ExternalId(external_id)) = &deletion.identifier
    else {
        // `parse` gives every line without a customer id an external id.
        return None;
    };
    let list = deletion.list.as_ref();
    if let Some(state) = &checks.state {
        if let Err(refused) = state.check_missing(identifier, list) {
            return Some(Settled::Refused(refused));
        }
    }
    // Until Plain answers, the line is neither the engine's nor set aside: a run that stops
    // meanwhile lists it as not attempted.
    lock(reading).resolving = Some((deletion.line, deletion.input.clone()));
    let found = checks.client.customer_by_external_id(external_id).await;
    lock(reading).resolving = None;
    match found {
        Err(error) => Some(Settled::Failed(error)),
        Ok(None) => {
            if let Some(state) = &checks.state {
                let settled = if checks.dry_run {
                    state.check_missing(identifier, list)
                } else {
                    state.forget_missing(identifier, list)
                };
                if let Err(refused) = settled {
                    return Some(Settled::Refused(refused));
                }
            }
            Some(Settled::NotInPlain)
        }
        Ok(Some(customer)) => {
            if let Some(state) = &checks.state {
                // Then the engine checks the deletion by this id, as any other: a state that
                // holds the id under other identifiers refuses it.
                if let Err(e) = state.learn_customer_id(external_id, &customer.id) {
                    return Some(Settled::Refused(DeletionRefused::State(e)));
                }
            }
            deletion.customer_id = Some(customer.id);
            None
        }
    }
}

/// The file as the engine reads it: deletions go to the engine; malformed lines, a read
/// error and customers settled without the engine are set aside for the ledger.
pub(super) struct Reading {
    pub(super) lines: Lines,
    pub(super) cap: usize,
    pub(super) aside: Vec<Aside>,
    pub(super) ended: bool,
    /// The line whose customer id is being asked of Plain, and the line as read.
    pub(super) resolving: Option<(u64, Value)>,
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
                    Some(Err(bad)) => self.aside.push(Aside::Malformed(bad)),
                    None => {}
                },
                Err(e) => {
                    self.ended = true;
                    self.aside
                        .push(Aside::ReadFailed(self.lines.done_through(), e.to_string()));
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
    let identifier = value
        .get("identifier")
        .and_then(|i| serde_json::from_value(i.clone()).ok());
    // Without a customer id, an external id finds the customer (one Plain confirmed in a
    // batch, which the state holds without an id).
    let by_external_id = matches!(
        &identifier,
        Some(CustomerIdentifier::ExternalId(id)) if !id.trim().is_empty()
    );
    if customer_id.is_none() && !by_external_id {
        return Some(Err(Malformed {
            line,
            code: "malformed",
            message: "the line has no `customerId`, nor an `externalId` identifier to find the \
                      customer by: give the file sync-customers --missing wrote"
                .to_owned(),
            input: value,
        }));
    }
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
        assert_eq!(direct.customer_id.as_deref(), Some("c_1"));
        assert_eq!(
            direct.identifier,
            Some(CustomerIdentifier::email("a@example.com"))
        );
        let fed_back = format!(
            r#"{{"line":4,"input":{missing},"error":{{"code":"http_500"}},"status":"failed"}}"#
        );
        let again = parse(chunk(1, &fed_back), 1000).unwrap().ok().unwrap();
        assert_eq!(again.line, 4);
        assert_eq!(again.customer_id.as_deref(), Some("c_1"));
        assert_eq!(again.input, direct.input);
    }

    #[test]
    fn a_line_without_a_customer_id_names_its_customer_by_external_id() {
        let line = r#"{"identifier":{"externalId":"crm-1"},"lastResult":"IMPORTED"}"#;
        let deletion = parse(chunk(3, line), 1000).unwrap().ok().unwrap();
        assert_eq!(deletion.customer_id, None);
        assert_eq!(
            deletion.identifier,
            Some(CustomerIdentifier::external_id("crm-1"))
        );
        let by_email = r#"{"identifier":{"emailAddress":"a@example.com"}}"#;
        let bad = parse(chunk(4, by_email), 1000).unwrap().err().unwrap();
        assert!(bad.message.contains("externalId"), "{}", bad.message);
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
