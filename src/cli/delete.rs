//! `plain delete-customers FILE`: deletes the customers a `sync-customers --missing` file
//! lists (or a rejects file of an earlier run), every line accounted for as in a sync.
//!
//! Nothing is deleted unless this command is run on such a file: a sync never deletes.

use std::io::BufReader;
use std::path::PathBuf;
use std::time::Instant;

use futures_util::stream::{FuturesUnordered, StreamExt};
use plain_client::state::StateStore;
use plain_client::{CustomerIdentifier, Error, PlainClient};
use serde_json::{json, Map, Value};

use super::ledger::Ledger;
use super::lines::{Chunk, Split, Splitter};
use super::outputs;
use super::sync::{self, Stop, Summary};
use super::text;

/// What the run was asked to do. `--results` lines say DELETED, or NOT_FOUND for a customer
/// Plain no longer had.
#[derive(Debug, clap::Args)]
pub struct DeleteOptions {
    /// The file `sync-customers --missing` wrote (one customer per line, with its customerId),
    /// or the rejects file of an earlier delete-customers run.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub bulk: super::BulkOptions,
    /// The state file of the syncs: each customer deleted (or not found) is forgotten in it.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

/// A customer to delete.
struct Deletion {
    line: u64,
    customer_id: String,
    identifier: Option<CustomerIdentifier>,
    /// The line as read, for the rejects file.
    input: Value,
}

/// A line that is not a customer to delete: its rejects line.
struct Malformed {
    line: u64,
    code: &'static str,
    message: String,
    input: Value,
}

/// Reads a line: a customer of a `--missing` file, or a rejects line fed back.
fn parse(chunk: Chunk, cap: usize) -> Option<Result<Deletion, Malformed>> {
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
    Some(Ok(Deletion {
        line,
        customer_id,
        identifier,
        input: value,
    }))
}

/// The state of a run.
struct Deleting {
    ledger: Ledger,
    state: Option<StateStore>,
}

impl Deleting {
    fn malformed(&mut self, bad: Malformed) {
        let mut raw = Map::new();
        raw.insert("input".to_owned(), bad.input);
        self.ledger.malformed(bad.line, bad.code, bad.message, raw);
    }

    /// A deletion's answer: counted, written, and forgotten in the state.
    fn finished(&mut self, deletion: Deletion, result: Result<(), Error>) {
        let outcome = match &result {
            Ok(()) => "DELETED",
            Err(error) => match error.last_cause() {
                Error::MutationRejected { error, .. } if error.code == "not_found" => "NOT_FOUND",
                _ => {
                    self.ledger.failed(deletion.line, &deletion.input, error);
                    return;
                }
            },
        };
        if result.is_ok() {
            self.ledger.summary.deleted += 1;
        } else {
            self.ledger.summary.not_found += 1;
        }
        self.ledger.write_result(&json!({
            "line": deletion.line,
            "result": outcome,
            "customerId": deletion.customer_id,
        }));
        self.forget(&deletion);
    }

    fn forget(&mut self, deletion: &Deletion) {
        let Some(state) = &self.state else { return };
        let forgotten = match &deletion.identifier {
            Some(identifier) => state.forget(identifier),
            None => state.forget_customer_id(&deletion.customer_id),
        };
        if let Err(e) = forgotten {
            eprintln!("plain: error: {e}; stopping");
            self.ledger.summary.unwritten.push((e.to_string(), 1));
            self.ledger.stop(Stop::WriteFailed);
        }
    }
}

/// Runs `plain delete-customers`: the summary says what happened to every line. An `Err`
/// means nothing was sent.
pub async fn run(client: PlainClient, options: DeleteOptions) -> Result<Summary, String> {
    let started = Instant::now();
    let input = sync::open_input(&options.file)?;
    if !input.regular {
        return Err(format!(
            "{} is not a regular file: give the file sync-customers --missing wrote",
            input.name
        ));
    }
    outputs::check(
        &input.identity,
        &[
            ("--rejects", options.bulk.rejects.as_deref()),
            ("--results", options.bulk.results.as_deref()),
            ("--state", options.state.as_deref()),
        ],
    )?;
    let state = match &options.state {
        Some(path) => Some(StateStore::open(path).map_err(|e| e.to_string())?),
        None => None,
    };
    let ledger = Ledger::create(&options.bulk, &input.identity)?;
    let mut interrupts = sync::listen_for_interrupts()?;
    let cap = usize::try_from(options.bulk.max_record_bytes).unwrap_or(usize::MAX);
    let input_name = input.name.clone();
    let mut lines = Splitter::new(
        BufReader::with_capacity(64 * 1024, input.reader),
        Split::Lines,
        cap,
    );
    let mut run = Deleting { ledger, state };
    let concurrency = usize::from(options.bulk.concurrency).max(1);
    let mut in_flight = FuturesUnordered::new();
    let mut reading = true;
    let mut listening = true;
    loop {
        // A regular file: reading the next line does not wait on anyone.
        while reading && run.ledger.summary.stop.is_none() && in_flight.len() < concurrency {
            match next(&mut lines, cap, &mut run) {
                None => reading = false,
                Some(Err(bad)) => run.malformed(bad),
                Some(Ok(deletion)) => {
                    run.ledger.summary.sent += 1;
                    let client = client.clone();
                    let id = deletion.customer_id.clone();
                    let task = tokio::spawn(async move { client.delete_customer(id).await });
                    in_flight.push(async move {
                        let result = match task.await {
                            Ok(result) => result,
                            Err(join) if join.is_panic() => {
                                std::panic::resume_unwind(join.into_panic())
                            }
                            Err(_) => Err(Error::Interrupted),
                        };
                        (deletion, result)
                    });
                }
            }
        }
        if in_flight.is_empty() {
            break;
        }
        tokio::select! {
            Some((deletion, result)) = in_flight.next() => run.finished(deletion, result),
            signal = &mut interrupts, if listening => {
                listening = false;
                if signal.is_ok() {
                    run.ledger.summary.interrupted = true;
                    run.ledger.stop(Stop::Interrupted);
                }
            }
        }
    }
    // After a stop, the rest of the file is listed: nothing is left unaccounted for.
    while reading {
        match next(&mut lines, cap, &mut run) {
            None => reading = false,
            Some(Err(bad)) => run.malformed(bad),
            Some(Ok(deletion)) => run.ledger.not_attempted(deletion.line, &deletion.input),
        }
    }
    let mut summary = run.ledger.close();
    if let Some(state) = run.state.take() {
        if let Err(e) = state.commit() {
            summary.unwritten.push((e.to_string(), 0));
        }
    }
    if !options.bulk.quiet || !summary.all_succeeded() {
        report(
            &summary,
            &client,
            &input_name,
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(summary)
}

/// The next customer of the file; `None` at its end (or after a read error, which stops the
/// run).
fn next(
    lines: &mut Splitter<BufReader<Box<dyn std::io::Read + Send>>>,
    cap: usize,
    run: &mut Deleting,
) -> Option<Result<Deletion, Malformed>> {
    loop {
        match lines.next_chunk() {
            Ok(None) => return None,
            Ok(Some(chunk)) => {
                if let Some(parsed) = parse(chunk, cap) {
                    return Some(parsed);
                }
            }
            Err(e) => {
                let after = lines.done_through();
                eprintln!("plain: error: cannot read the input past line {after}: {e}");
                run.ledger.summary.read_failed = Some((after, e.to_string()));
                run.ledger.stop(Stop::ReadFailed);
                return None;
            }
        }
    }
}

/// The final summary on stderr.
fn report(summary: &Summary, client: &PlainClient, input: &str, seconds: f64) {
    let mut line = format!(
        "plain: {} customers in {seconds:.1} s: deleted {}, not found {}",
        summary.done(),
        summary.deleted,
        summary.not_found,
    );
    sync::account(summary, client, input, &mut line);
    eprintln!("{line}");
}

/// Runs `plain delete-customers` on its own runtime, as a sync runs.
pub fn command(
    options: DeleteOptions,
    endpoint: super::Endpoint,
    max_attempts: u32,
) -> Result<Summary, super::Failure> {
    let concurrency = options.bulk.concurrency;
    super::run_bulk(endpoint, max_attempts, concurrency, async |client| {
        run(client, options).await
    })
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
