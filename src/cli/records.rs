//! Reading records for `plain sync-customers`: JSON Lines (inputs, or a rejects file fed back)
//! and CSV. One record at a time, each bounded by a cap, whatever the size of the file.

use std::io::{self, BufRead};

use plain_client::{CustomerIdentifier, EmailAddress, OnCreate, OnUpdate, UpsertCustomerInput};
use serde_json::{Map, Value};

use super::lines::{Chunk, Split, Splitter};
use super::text;

/// One record of the input, by the physical line it starts on (from 1).
#[derive(Debug)]
pub struct Record {
    /// The line it came from (for a rejects file fed back, the original line).
    pub line: u64,
    /// The input, or why the record could not be read as one.
    pub input: Result<UpsertCustomerInput, Rejected>,
}

/// A record that could not be read as an input.
#[derive(Debug)]
pub struct Rejected {
    /// `malformed`, or `too_long` for a record over the cap.
    pub code: &'static str,
    /// Why, in words that say what to fix (input text in it escaped and capped).
    pub message: String,
    /// What the rejects line keeps of the record: `input` (and `inputBase64` for bytes that
    /// are not UTF-8, `inputTruncated` for a record over the cap), or `csv` for a CSV row.
    pub raw: Map<String, Value>,
}

impl Rejected {
    fn malformed(message: String, raw: Map<String, Value>) -> Self {
        Self {
            code: "malformed",
            message,
            raw,
        }
    }
}

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One UpsertCustomerInput (Plain's JSON shape) per line; also reads a rejects file.
    Jsonl,
    /// A header row naming the columns, then one customer per row. Columns: email
    /// (required), full_name (required), short_name, external_id, verified (true/false).
    Csv,
}

/// Reads records of one format from a buffered reader.
pub struct Reader<R> {
    splitter: Splitter<R>,
    cap: usize,
    /// CSV: where each column is in a row, and how many cells a row has.
    csv: Option<Columns>,
    /// Whether the next record is the first of the input (which may start with a BOM).
    first: bool,
    /// The bytes of the records (and blank lines) the last call read.
    last_size: usize,
}

impl<R: BufRead> Reader<R> {
    /// Starts reading; for CSV, reads and checks the header row (an error says what is wrong
    /// with it, or that it could not be read).
    pub fn new(reader: R, format: Format, cap: usize) -> Result<Self, String> {
        let split = match format {
            Format::Jsonl => Split::Lines,
            Format::Csv => Split::Csv,
        };
        let mut this = Self {
            splitter: Splitter::new(reader, split, cap),
            cap,
            csv: None,
            first: true,
            last_size: 0,
        };
        if format == Format::Csv {
            this.csv = Some(this.header()?);
        }
        Ok(this)
    }

    /// The underlying reader, to see what it has buffered.
    pub fn inner(&self) -> &R {
        self.splitter.reader()
    }

    /// The last physical line read whole.
    pub fn done_through(&self) -> u64 {
        self.splitter.done_through()
    }

    /// How many bytes the last call to [`Reader::next_record`] read (at most the cap per record).
    pub fn last_size(&self) -> usize {
        self.last_size
    }

    /// The next record, blank lines skipped; `Ok(None)` at the end of the input. A read error
    /// ends the input: later calls return `Ok(None)`.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        self.last_size = 0;
        loop {
            let Some(chunk) = self.next_chunk()? else {
                return Ok(None);
            };
            self.last_size += chunk.bytes.len();
            let record = match &self.csv {
                None => jsonl_record(chunk, self.cap),
                Some(columns) => columns.record(chunk, self.cap),
            };
            if let Some(record) = record {
                return Ok(Some(record));
            }
        }
    }

    /// The next chunk, without the BOM that may start the input.
    fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        let Some(mut chunk) = self.splitter.next_chunk()? else {
            return Ok(None);
        };
        if std::mem::take(&mut self.first) && chunk.bytes.starts_with(b"\xEF\xBB\xBF") {
            chunk.bytes.drain(..3);
        }
        Ok(Some(chunk))
    }

    fn header(&mut self) -> Result<Columns, String> {
        let chunk = loop {
            match self.next_chunk() {
                Err(e) => return Err(format!("cannot read the CSV header row: {e}")),
                Ok(None) => return Err("the CSV is empty: it needs a header row".to_owned()),
                Ok(Some(chunk)) if is_blank(&chunk.bytes) && !chunk.too_long => continue,
                Ok(Some(chunk)) => break chunk,
            }
        };
        if chunk.too_long {
            return Err(format!(
                "the CSV header row is longer than {} bytes (--max-record-bytes)",
                self.cap
            ));
        }
        if chunk.open_quote {
            return Err("the CSV header row has a quote that is never closed".to_owned());
        }
        let names =
            cells(&chunk.bytes).map_err(|e| format!("cannot read the CSV header row: {e}"))?;
        Columns::new(&names)
    }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// A record over the cap: its start is kept to find it by.
fn too_long(chunk: &Chunk, cap: usize) -> Record {
    let start = &chunk.bytes[..chunk.bytes.len().min(1024)];
    let mut raw = Map::new();
    raw.insert(
        "input".to_owned(),
        Value::String(String::from_utf8_lossy(start).into_owned()),
    );
    raw.insert("inputTruncated".to_owned(), Value::Bool(true));
    Record {
        line: chunk.line,
        input: Err(Rejected {
            code: "too_long",
            message: format!(
                "the record is longer than {cap} bytes, the most --max-record-bytes allows"
            ),
            raw,
        }),
    }
}

/// A record that is not UTF-8: its text as well as can be read, and its exact bytes.
fn not_utf8(chunk: &Chunk, error: std::str::Utf8Error) -> Record {
    let mut raw = Map::new();
    raw.insert(
        "input".to_owned(),
        Value::String(String::from_utf8_lossy(&chunk.bytes).into_owned()),
    );
    raw.insert(
        "inputBase64".to_owned(),
        Value::String(text::base64(&chunk.bytes)),
    );
    Record {
        line: chunk.line,
        input: Err(Rejected::malformed(
            format!(
                "the record is not UTF-8 text (byte {} is not valid UTF-8); its bytes are in inputBase64",
                error.valid_up_to() + 1
            ),
            raw,
        )),
    }
}

fn input_only(value: Value) -> Map<String, Value> {
    let mut raw = Map::new();
    raw.insert("input".to_owned(), value);
    raw
}

/// A line of JSON Lines as a record; `None` for a blank line.
fn jsonl_record(chunk: Chunk, cap: usize) -> Option<Record> {
    if chunk.too_long {
        return Some(too_long(&chunk, cap));
    }
    let text = match std::str::from_utf8(&chunk.bytes) {
        Ok(text) => text,
        Err(e) => return Some(not_utf8(&chunk, e)),
    };
    if text.trim().is_empty() {
        return None;
    }
    let line = chunk.line;
    let error = match UpsertCustomerInput::from_json(text) {
        Ok(input) => {
            return Some(Record {
                line,
                input: Ok(input),
            })
        }
        Err(error) => error,
    };
    let value = serde_json::from_str::<Value>(text).ok();
    if let Some(Value::Object(object)) = &value {
        if object.contains_key("line")
            && (object.contains_key("input") || object.contains_key("csv"))
        {
            return Some(rejects_line(object, line));
        }
    }
    let mut message = invalid(&error);
    if value.is_none() && looks_like_csv(text) {
        message.push_str(
            "; the input looks like CSV (comma-separated, not JSON): pass --format csv, or name \
             the file *.csv",
        );
    }
    let raw = value.unwrap_or_else(|| Value::String(text.to_owned()));
    Some(Record {
        line,
        input: Err(Rejected::malformed(message, input_only(raw))),
    })
}

/// Whether a line that is not JSON looks like a CSV row: no JSON opening, and commas.
fn looks_like_csv(text: &str) -> bool {
    let text = text.trim_start();
    !text.starts_with(['{', '[', '"']) && text.contains(',')
}

/// A line of a rejects file fed back: its input (or CSV cells) under its original line number.
fn rejects_line(object: &Map<String, Value>, physical: u64) -> Record {
    let line = object
        .get("line")
        .and_then(Value::as_u64)
        .unwrap_or(physical);
    let keep = |keys: &[&str]| -> Map<String, Value> {
        keys.iter()
            .filter_map(|k| object.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect()
    };
    if object.contains_key("inputBase64") {
        let message = "the original record is not UTF-8 text: fix it in the original input";
        return Record {
            line,
            input: Err(Rejected::malformed(
                message.to_owned(),
                keep(&["input", "inputBase64"]),
            )),
        };
    }
    if object.get("inputTruncated") == Some(&Value::Bool(true)) {
        let message = "the original record was too long and only its start was kept: \
                       fix it in the original input";
        return Record {
            line,
            input: Err(Rejected {
                code: "too_long",
                message: message.to_owned(),
                raw: keep(&["input", "inputTruncated"]),
            }),
        };
    }
    let input = match (object.get("input"), object.get("csv")) {
        // A malformed line is kept as its text: fixed, it reads as a line of its own.
        (Some(Value::String(text)), _) => UpsertCustomerInput::from_json(text),
        (Some(input), _) => UpsertCustomerInput::from_json(&input.to_string()),
        (None, Some(Value::Object(cells))) => {
            return Record {
                line,
                input: csv_cells(cells),
            }
        }
        (None, _) => {
            return Record {
                line,
                input: Err(Rejected::malformed(
                    "`csv` must be an object of column names and cells".to_owned(),
                    keep(&["csv"]),
                )),
            }
        }
    };
    Record {
        line,
        input: input.map_err(|e| Rejected::malformed(invalid(&e), keep(&["input"]))),
    }
}

/// The library's message for an invalid input, escaped and capped: it may quote the input.
fn invalid(error: &plain_client::Error) -> String {
    match error {
        plain_client::Error::InvalidInput { message } => text::message(message),
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

/// A column name as the header may spell it: `Full Name`, `full-name`, `full_name`.
fn column(name: &str) -> Option<usize> {
    let name = name.to_ascii_lowercase().replace([' ', '-'], "_");
    COLUMNS.iter().position(|c| *c == name)
}

/// Where each column is in a row, from the header.
struct Columns {
    positions: [Option<usize>; 5],
    width: usize,
}

impl Columns {
    fn new(names: &[String]) -> Result<Self, String> {
        let mut positions = [None; 5];
        for (i, name) in names.iter().enumerate() {
            let Some(c) = column(name) else {
                return Err(format!(
                    "unknown CSV column {}: the columns are {}",
                    text::quote(name),
                    COLUMNS.join(", ")
                ));
            };
            if positions[c].replace(i).is_some() {
                return Err(format!("the CSV column {} is there twice", COLUMNS[c]));
            }
        }
        if positions[0].is_none() {
            return Err("the CSV has no `email` column, which every customer needs".to_owned());
        }
        Ok(Self {
            positions,
            width: names.len(),
        })
    }

    /// A row as a record; `None` for a blank line.
    fn record(&self, chunk: Chunk, cap: usize) -> Option<Record> {
        if chunk.too_long {
            return Some(too_long(&chunk, cap));
        }
        if let Err(e) = std::str::from_utf8(&chunk.bytes) {
            return Some(not_utf8(&chunk, e));
        }
        if is_blank(&chunk.bytes) {
            return None;
        }
        let line = chunk.line;
        let as_text = || input_only(Value::String(String::from_utf8_lossy(&chunk.bytes).into()));
        if chunk.open_quote {
            let message = "a quoted field is never closed: the row runs to the end of the input";
            return Some(Record {
                line,
                input: Err(Rejected::malformed(message.to_owned(), as_text())),
            });
        }
        let row = match cells(&chunk.bytes) {
            Ok(row) => row,
            Err(e) => {
                return Some(Record {
                    line,
                    input: Err(Rejected::malformed(text::message(&e), as_text())),
                })
            }
        };
        if row.len() != self.width {
            let message = format!(
                "the row has {} cells and the header {}: every row needs one cell per column",
                row.len(),
                self.width
            );
            return Some(Record {
                line,
                input: Err(Rejected::malformed(message, as_text())),
            });
        }
        let mut fields: [Option<String>; 5] = Default::default();
        for (field, position) in fields.iter_mut().zip(self.positions) {
            *field = position
                .and_then(|i| row.get(i))
                .filter(|cell| !cell.is_empty())
                .cloned();
        }
        Some(Record {
            line,
            input: from_fields(fields),
        })
    }
}

/// The cells of one CSV record (already split off, UTF-8), trimmed.
fn cells(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .terminator(::csv::Terminator::Any(b'\n'))
        .buffer_capacity(bytes.len().clamp(64, 64 * 1024))
        .from_reader(bytes);
    let mut row = ::csv::StringRecord::new();
    match reader.read_record(&mut row) {
        Ok(_) => Ok(row.iter().map(str::to_owned).collect()),
        Err(e) => Err(format!("cannot read the CSV row: {e}")),
    }
}

/// CSV cells by column name (a rejects line's `csv`), as a record's input.
fn csv_cells(cells: &Map<String, Value>) -> Result<UpsertCustomerInput, Rejected> {
    let raw = || {
        let mut raw = Map::new();
        raw.insert("csv".to_owned(), Value::Object(cells.clone()));
        raw
    };
    let mut fields: [Option<String>; 5] = Default::default();
    for (name, value) in cells {
        let Some(c) = column(name) else {
            let message = format!(
                "unknown CSV column {} in `csv`: the columns are {}",
                text::quote(name),
                COLUMNS.join(", ")
            );
            return Err(Rejected::malformed(message, raw()));
        };
        fields[c] = match value {
            Value::Null => None,
            Value::String(cell) => Some(cell.trim().to_owned()).filter(|c| !c.is_empty()),
            _ => {
                let message = format!("the `csv` cell {} must be a string", COLUMNS[c]);
                return Err(Rejected::malformed(message, raw()));
            }
        };
    }
    csv_input(&fields).map_err(|message| Rejected::malformed(message, raw()))
}

/// A row's fields as a record's input; a row that does not convert keeps its cells by column
/// name under `csv`, which a rejects file fed back converts again.
fn from_fields(fields: [Option<String>; 5]) -> Result<UpsertCustomerInput, Rejected> {
    csv_input(&fields).map_err(|message| {
        let cells = COLUMNS
            .iter()
            .zip(fields)
            .filter_map(|(c, v)| v.map(|v| ((*c).to_owned(), Value::String(v))))
            .collect();
        let mut raw = Map::new();
        raw.insert("csv".to_owned(), Value::Object(cells));
        Rejected::malformed(message, raw)
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(input: &[u8], format: Format, cap: usize) -> Vec<Record> {
        let mut reader = Reader::new(input, format, cap).unwrap();
        let mut records = Vec::new();
        while let Some(record) = reader.next_record().unwrap() {
            records.push(record);
        }
        records
    }

    /// Each record as (line, `ok` or the reject's code).
    fn outcomes(records: &[Record]) -> Vec<(u64, &'static str)> {
        records
            .iter()
            .map(|r| match &r.input {
                Ok(_) => (r.line, "ok"),
                Err(rejected) => (r.line, rejected.code),
            })
            .collect()
    }

    fn customer(i: usize) -> String {
        format!(
            r#"{{"identifier":{{"emailAddress":"c{i}@example.com"}},"onCreate":{{"fullName":"C {i}","email":{{"email":"c{i}@example.com","isVerified":false}}}},"onUpdate":{{}}}}"#
        )
    }

    /// A valid line of exactly `len` bytes (spaces pad the JSON).
    fn padded(len: usize) -> String {
        let line = customer(1);
        format!("{line}{}", " ".repeat(len - line.len()))
    }

    #[test]
    fn a_line_of_the_cap_is_read_and_one_byte_more_is_rejected_as_too_long() {
        let input = format!("{}\n{}\r\n{}", padded(300), padded(301), padded(300));
        let records = read(input.as_bytes(), Format::Jsonl, 300);
        assert_eq!(outcomes(&records), [(1, "ok"), (2, "too_long"), (3, "ok")]);
        let Err(rejected) = &records[1].input else {
            unreachable!()
        };
        assert!(
            rejected.message.contains("300 bytes"),
            "{}",
            rejected.message
        );
        assert!(rejected.message.contains("--max-record-bytes"));
        assert_eq!(rejected.raw["inputTruncated"], true);
    }

    #[test]
    fn a_line_that_is_not_utf8_keeps_its_text_and_its_bytes() {
        let records = read(b"{\"a\": \"\xff\xfe\"}\n", Format::Jsonl, 100);
        let Err(rejected) = &records[0].input else {
            panic!("{records:?}")
        };
        assert_eq!(rejected.raw["input"], "{\"a\": \"\u{fffd}\u{fffd}\"}");
        assert_eq!(
            rejected.raw["inputBase64"],
            text::base64(b"{\"a\": \"\xff\xfe\"}")
        );
        assert!(rejected.message.contains("byte 8"), "{}", rejected.message);
    }

    #[test]
    fn a_rejects_line_gives_back_its_input_or_its_cells_under_its_line() {
        let lines = [
            format!(r#"{{"line": 7, "input": {}, "status": "failed"}}"#, customer(7)),
            r#"{"line": 9, "csv": {"email": "a@example.com", "full_name": "A", "verified": "yes"}}"#
                .to_owned(),
            r#"{"line": 11, "csv": {"email": "b@example.com"}}"#.to_owned(),
            format!(r#"{{"line": 12, "input": {}}}"#, Value::String(customer(12))),
            r#"{"line": 13, "input": "\ufffd", "inputBase64": "/w=="}"#.to_owned(),
        ];
        let records = read(lines.join("\n").as_bytes(), Format::Jsonl, 10_000);
        assert_eq!(
            outcomes(&records),
            [
                (7, "ok"),
                (9, "ok"),
                (11, "malformed"),
                (12, "ok"),
                (13, "malformed")
            ]
        );
        let Ok(input) = &records[1].input else {
            unreachable!()
        };
        let json = serde_json::to_value(input).unwrap();
        assert_eq!(json["onCreate"]["email"]["isVerified"], true);
        let Err(rejected) = &records[2].input else {
            unreachable!()
        };
        assert!(
            rejected.message.contains("full_name"),
            "{}",
            rejected.message
        );
        assert_eq!(rejected.raw["csv"]["email"], "b@example.com");
        let Err(rejected) = &records[4].input else {
            unreachable!()
        };
        assert_eq!(rejected.raw["inputBase64"], "/w==");
    }

    #[test]
    fn a_csv_row_with_an_external_id_and_no_verification_qualifies_for_a_batch() {
        let row = |short: Option<&str>, external: Option<&str>, verified: Option<&str>| {
            let cell = |v: Option<&str>| v.map(str::to_owned);
            csv_input(&[
                cell(Some("ada@example.com")),
                cell(Some("Ada Lovelace")),
                cell(short),
                cell(external),
                cell(verified),
            ])
            .unwrap()
        };
        let form = |input| plain_client::bulk::import_form(&input);
        assert!(form(row(None, Some("crm-1"), None)).is_some());
        assert!(form(row(Some("Ada"), Some("crm-1"), Some("false"))).is_some());
        assert!(form(row(None, None, None)).is_none(), "by email");
        assert!(
            form(row(None, Some("crm-1"), Some("true"))).is_none(),
            "verified"
        );
    }

    #[test]
    fn csv_lines_are_physical_whatever_the_endings_and_quoted_newlines() {
        let input = "email,full_name\r\n\
                     a@example.com,A\r\n\
                     \r\n\
                     b@example.com,\"B\r\nwith two lines\"\r\n\
                     c@example.com,C\r\n";
        let records = read(input.as_bytes(), Format::Csv, 1000);
        assert_eq!(outcomes(&records), [(2, "ok"), (4, "ok"), (6, "ok")]);
        let Ok(input) = &records[1].input else {
            unreachable!()
        };
        let json = serde_json::to_value(input).unwrap();
        assert_eq!(json["onCreate"]["fullName"], "B\r\nwith two lines");
    }

    #[test]
    fn a_csv_row_with_more_or_fewer_cells_than_the_header_is_rejected() {
        let input = "email,full_name\na@example.com,A,extra\nb@example.com\nc@example.com,C\n";
        let records = read(input.as_bytes(), Format::Csv, 1000);
        assert_eq!(
            outcomes(&records),
            [(2, "malformed"), (3, "malformed"), (4, "ok")]
        );
        for (record, cells) in records.iter().zip(["3 cells", "1 cells"]) {
            let Err(rejected) = &record.input else {
                unreachable!()
            };
            assert!(rejected.message.contains(cells), "{}", rejected.message);
            assert!(
                rejected.message.contains("the header 2"),
                "{}",
                rejected.message
            );
        }
    }

    #[test]
    fn a_csv_row_that_does_not_convert_keeps_its_cells_by_column() {
        let input = "email,full_name,verified\na@example.com,A,maybe\n";
        let records = read(input.as_bytes(), Format::Csv, 1000);
        let Err(rejected) = &records[0].input else {
            unreachable!()
        };
        assert_eq!(
            Value::Object(rejected.raw.clone()),
            serde_json::json!({"csv": {"email": "a@example.com", "full_name": "A", "verified": "maybe"}})
        );
    }

    #[test]
    fn csv_header_problems_are_errors_that_quote_the_header_safely() {
        let error = |input: &[u8]| match Reader::new(input, Format::Csv, 100) {
            Ok(_) => panic!("read"),
            Err(e) => e,
        };
        let message = error(b"email,\"na\x1bme\nx\"\n");
        assert!(message.contains(r#""na\u001bme\nx""#), "{message}");
        assert!(error(b"email,email\n").contains("twice"));
        assert!(error(b"").contains("empty"));
        assert!(error(&[b'x'; 200]).contains("--max-record-bytes"));
        // A byte-order mark before the header is not part of the first column's name.
        assert!(Reader::new(&b"\xEF\xBB\xBFemail,full_name\n"[..], Format::Csv, 100).is_ok());
    }

    #[test]
    fn messages_quoting_the_input_are_one_line_and_capped() {
        let field = format!("a\nb\u{1b}{}", "x".repeat(2000));
        let line = serde_json::json!({ field: 1 }).to_string();
        let records = read(line.as_bytes(), Format::Jsonl, 10_000);
        let Err(rejected) = &records[0].input else {
            unreachable!()
        };
        assert!(
            !rejected.message.chars().any(char::is_control),
            "{}",
            rejected.message
        );
        assert!(
            rejected.message.contains("a\\nb\\u001b"),
            "{}",
            rejected.message
        );
        assert!(
            rejected.message.chars().count() <= text::QUOTE_MAX + 1,
            "{}",
            rejected.message
        );
    }

    /// One line (JSON Lines) or row (CSV) of a generated input, and what reading it gives.
    #[derive(Debug, Clone)]
    enum Item {
        Valid,
        Blank(String),
        Malformed(String),
        NotUtf8,
        TooLong(usize),
        /// CSV: a row with this many cells (the header has 3).
        Cells(usize),
        /// CSV: a valid row whose name cell is quoted and holds these pieces.
        Quoted(Vec<&'static str>),
    }

    impl Item {
        /// `None` for a blank line; else `ok` or the reject's code.
        fn expected(&self) -> Option<&'static str> {
            match self {
                Item::Blank(_) => None,
                Item::Valid | Item::Quoted(_) => Some("ok"),
                Item::TooLong(_) => Some("too_long"),
                Item::Malformed(_) | Item::NotUtf8 | Item::Cells(_) => Some("malformed"),
            }
        }

        fn bytes(&self, i: usize, format: Format, cap: usize) -> Vec<u8> {
            let mut bytes = match (self, format) {
                (Item::Valid, Format::Jsonl) => customer(i).into_bytes(),
                (Item::Valid, Format::Csv) => format!("c{i}@example.com,C {i},yes").into_bytes(),
                (Item::Blank(text), _) => text.clone().into_bytes(),
                (Item::Malformed(text), _) => text.clone().into_bytes(),
                (Item::NotUtf8, _) => b"c@example.com,\xff\xfe,no".to_vec(),
                (Item::TooLong(extra), _) => vec![b'x'; cap + extra],
                (Item::Cells(n), _) => vec!["x@example.com"; *n].join(",").into_bytes(),
                (Item::Quoted(pieces), _) => {
                    let name = pieces.concat().replace('"', "\"\"");
                    format!("q{i}@example.com,\"Q{name}\",no").into_bytes()
                }
            };
            if let (Item::Valid, Format::Jsonl) = (self, format) {
                // Some valid lines are exactly as long as the cap allows.
                if i.is_multiple_of(3) {
                    bytes.resize(cap, b' ');
                }
            }
            bytes
        }
    }

    fn jsonl_item() -> impl Strategy<Value = Item> {
        prop_oneof![
            4 => Just(Item::Valid),
            1 => "[ \t]{0,3}".prop_map(Item::Blank),
            1 => "[{a-z:\"]{1,8}".prop_map(|t| Item::Malformed(format!("{{{t}"))),
            1 => Just(Item::NotUtf8),
            1 => (1usize..40).prop_map(Item::TooLong),
        ]
    }

    fn csv_item() -> impl Strategy<Value = Item> {
        let piece = prop_oneof![
            Just("a"),
            Just(","),
            Just("\""),
            Just("\n"),
            Just("\r\n"),
            Just(" ")
        ];
        prop_oneof![
            4 => Just(Item::Valid),
            3 => prop::collection::vec(piece, 0..6).prop_map(Item::Quoted),
            1 => "[ \t]{0,3}".prop_map(Item::Blank),
            1 => Just(Item::Malformed("m@example.com,M,maybe".to_owned())),
            1 => Just(Item::NotUtf8),
            1 => (1usize..40).prop_map(Item::TooLong),
            1 => prop_oneof![Just(1usize), Just(2), Just(4), Just(5)].prop_map(Item::Cells),
        ]
    }

    /// Builds the input, then checks that every record is read once, from the line it starts on.
    fn check(format: Format, items: &[Item], crlf: &[bool], last_newline: bool) {
        let cap = 400;
        let mut input = Vec::new();
        let mut line = 1u64;
        let mut expected = Vec::new();
        if format == Format::Csv {
            input.extend_from_slice(b"email,full_name,verified\r\n");
            line = 2;
        }
        for (i, item) in items.iter().enumerate() {
            let bytes = item.bytes(i, format, cap);
            if let Some(outcome) = item.expected() {
                expected.push((line, outcome));
            }
            line += bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            input.extend_from_slice(&bytes);
            if i + 1 < items.len() || last_newline {
                input.extend_from_slice(if crlf[i] { b"\r\n" } else { b"\n" });
            }
        }
        for capacity in [7, 8192] {
            let reader = io::BufReader::with_capacity(capacity, input.as_slice());
            let mut reader = Reader::new(reader, format, cap).unwrap();
            let mut records = Vec::new();
            while let Some(record) = reader.next_record().unwrap() {
                records.push(record);
            }
            assert_eq!(
                outcomes(&records),
                expected,
                "{}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    proptest! {
        #[test]
        fn every_jsonl_record_is_read_once_from_its_physical_line(
            items in prop::collection::vec(jsonl_item(), 0..30),
            crlf in prop::collection::vec(any::<bool>(), 30),
            last_newline in any::<bool>(),
        ) {
            check(Format::Jsonl, &items, &crlf, last_newline);
        }

        #[test]
        fn every_csv_record_is_read_once_from_the_line_it_starts_on(
            items in prop::collection::vec(csv_item(), 0..30),
            crlf in prop::collection::vec(any::<bool>(), 30),
            last_newline in any::<bool>(),
        ) {
            check(Format::Csv, &items, &crlf, last_newline);
        }
    }
}
