//! Reading records for `plain sync-customers`: JSON Lines (inputs, or a rejects file fed back)
//! and CSV. Lazy: one record at a time, whatever the size of the file.

use std::io::BufRead;

use plain_client::{CustomerIdentifier, EmailAddress, OnCreate, OnUpdate, UpsertCustomerInput};
use serde_json::Value;

use super::text;

/// One record of the input, by its line number (from 1).
#[derive(Debug)]
pub struct Record {
    /// The line it came from (for a rejects file fed back, the original line).
    pub line: u64,
    /// The input, or why the line could not be read as one.
    pub input: Result<UpsertCustomerInput, Rejected>,
}

/// A line that could not be read as an input.
#[derive(Debug)]
pub struct Rejected {
    /// Why, in words that say what to fix.
    pub message: String,
    /// The line's text (or the input JSON), kept for the rejects file.
    pub raw: Value,
}

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One UpsertCustomerInput (Plain's JSON shape) per line; also reads a rejects file.
    Jsonl,
    /// A header row, then one customer per row (see the README for the columns).
    Csv,
}

/// Reads JSON Lines: one input per line, blank lines skipped. A line of a rejects file
/// (`{"line": N, "input": {...}, ...}`) gives back its input under its original line number.
pub fn jsonl<R: BufRead>(reader: R) -> impl Iterator<Item = Record> {
    reader.lines().enumerate().filter_map(|(i, line)| {
        let number = i as u64 + 1;
        let text = match line {
            Ok(text) => text,
            Err(e) => {
                return Some(Record {
                    line: number,
                    input: Err(Rejected {
                        message: format!("cannot read the line: {e}"),
                        raw: Value::Null,
                    }),
                })
            }
        };
        if text.trim().is_empty() {
            return None;
        }
        Some(jsonl_record(number, &text))
    })
}

fn jsonl_record(number: u64, text: &str) -> Record {
    let raw = || serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
    // A rejects line: its input, under its original line number.
    if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) {
        if let (Some(input), Some(line)) = (object.get("input"), object.get("line")) {
            let line = line.as_u64().unwrap_or(number);
            let input = UpsertCustomerInput::from_json(&input.to_string()).map_err(|e| Rejected {
                message: invalid(e),
                raw: input.clone(),
            });
            return Record { line, input };
        }
    }
    let input = UpsertCustomerInput::from_json(text).map_err(|e| Rejected {
        message: invalid(e),
        raw: raw(),
    });
    Record {
        line: number,
        input,
    }
}

/// The library's message for an invalid input, escaped and capped: it may quote the input.
fn invalid(error: plain_client::Error) -> String {
    match error {
        plain_client::Error::InvalidInput { message } => text::message(&message),
        other => text::message(&other.to_string()),
    }
}

/// The CSV columns, by header name.
const COLUMNS: [&str; 5] = [
    "email",
    "full_name",
    "short_name",
    "external_id",
    "verified",
];

/// Reads CSV with a header row. See [`csv_input`] for the mapping.
pub fn csv<R: std::io::Read + Send + 'static>(
    reader: R,
) -> Result<Box<dyn Iterator<Item = Record> + Send>, String> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(reader);
    let headers = reader
        .headers()
        .map_err(|e| format!("cannot read the CSV header row: {e}"))?
        .clone();
    let mut positions = [None; 5];
    for (i, name) in headers.iter().enumerate() {
        let name = name.to_ascii_lowercase().replace([' ', '-'], "_");
        match COLUMNS.iter().position(|c| *c == name) {
            Some(column) => positions[column] = Some(i),
            None => {
                return Err(format!(
                    "unknown CSV column {}: the columns are {}",
                    text::quote(&name),
                    COLUMNS.join(", ")
                ))
            }
        }
    }
    if positions[0].is_none() {
        return Err("the CSV has no `email` column, which every customer needs".to_owned());
    }
    let records = reader.into_records().map(move |row| {
        let (line, input) = match row {
            Ok(row) => {
                let line = row.position().map_or(0, |p| p.line());
                let field = |column: usize| {
                    positions[column]
                        .and_then(|i| row.get(i))
                        .map(str::to_owned)
                        .filter(|v| !v.is_empty())
                };
                let fields: [Option<String>; 5] = std::array::from_fn(field);
                let raw = Value::Object(
                    COLUMNS
                        .iter()
                        .zip(&fields)
                        .filter_map(|(c, v)| {
                            v.as_ref()
                                .map(|v| ((*c).to_owned(), Value::String(v.clone())))
                        })
                        .collect(),
                );
                (
                    line,
                    csv_input(&fields).map_err(|message| Rejected { message, raw }),
                )
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                (
                    line,
                    Err(Rejected {
                        message: format!("cannot read the CSV row: {e}"),
                        raw: Value::Null,
                    }),
                )
            }
        };
        Record { line, input }
    });
    Ok(Box::new(records))
}

/// One CSV row as an input:
/// - identifier: `external_id` when given, else `email`;
/// - onCreate: `full_name`, `email` (verified as `verified` says), `short_name` and
///   `external_id` when given;
/// - onUpdate: sets `full_name` and `email`, and `short_name` and `external_id` when given
///   (an empty cell keeps what Plain has).
pub fn csv_input(fields: &[Option<String>; 5]) -> Result<UpsertCustomerInput, String> {
    let [email, full_name, short_name, external_id, verified] = fields;
    let email = email
        .clone()
        .ok_or("`email` is empty: every customer needs an email address")?;
    let full_name = full_name
        .clone()
        .ok_or("`full_name` is empty: Plain needs a full name to create a customer")?;
    let verified = match verified.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0" | "no" | "n") => false,
        Some("true" | "1" | "yes" | "y") => true,
        Some(_) => {
            return Err(format!(
                "`verified` is {}: use true or false (or 1/0, yes/no)",
                text::quote(verified.as_deref().unwrap_or_default())
            ))
        }
    };
    let address = || {
        if verified {
            EmailAddress::verified(email.clone())
        } else {
            EmailAddress::unverified(email.clone())
        }
    };
    let mut on_create = OnCreate::new(full_name.clone(), address());
    let mut on_update = OnUpdate::new().full_name(full_name).email(address());
    if let Some(short_name) = short_name {
        on_create = on_create.short_name(short_name.clone());
        on_update = on_update.short_name(short_name.clone());
    }
    let identifier = match external_id {
        Some(id) => {
            on_create = on_create.external_id(id.clone());
            on_update = on_update.external_id(id.clone());
            CustomerIdentifier::external_id(id.clone())
        }
        None => CustomerIdentifier::email(email.clone()),
    };
    Ok(UpsertCustomerInput::new(identifier, on_create).on_update(on_update))
}
