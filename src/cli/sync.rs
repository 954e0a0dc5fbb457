//! `plain sync-customers`: every record of a file upserted at the rate Plain allows, every
//! record accounted for.
//!
//! Records are read on a thread of their own and handed over in batches, so a slow disk or pipe
//! never holds up the requests. The library's bulk engine sends them (concurrency, the state,
//! the stops for a refused key or a long outage); this command writes each outcome as a whole
//! line when it arrives, and stops the engine at once on Ctrl-C, a read error or an output that
//! cannot be written.

use std::io::{BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plain_client::bulk::{BulkOutcome, BulkRun, Cancel, Done};
use plain_client::state::StateStore;
use plain_client::{Error, PlainClient, UpsertCustomerInput, UpsertResult};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::against_plain::write_missing_from_plain;
use super::feed::{Feed, Tag};
use super::input::{count, open_input, Input};
use super::interrupts::listen_for_interrupts;
use super::ledger::Ledger;
use super::missing::write_missing;
use super::outputs;
use super::progress::Progress;
use super::reader::{read_records, Item, ReaderState, BATCHES_QUEUED};
use super::records::{Format, Reader, Record, Rejected};
use super::summary::account;
use super::summary::{Stop, Summary};
use super::text;

/// What the run was asked to do.
#[derive(Debug, clap::Args)]
pub struct SyncOptions {
    /// The input file, or - for standard input.
    #[arg(default_value = "-", value_name = "FILE|-")]
    pub file: PathBuf,
    /// The input format [default: csv for a .csv file, else jsonl].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    #[command(flatten)]
    pub bulk: super::BulkOptions,
    /// Remember in this SQLite file what Plain confirmed for each customer, and send only the
    /// records that changed since (the others count as UNCHANGED). Created if missing.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// With --state: send every record, changed or not, and refresh the state (after
    /// customers were edited in Plain by hand).
    #[arg(long, requires = "state")]
    pub full: bool,
    /// Send the records that Plain's importCustomers can carry exactly 25 to a request, and
    /// every other record through upsertCustomer (see the README for which qualify). A
    /// batch's records end as IMPORTED, with the batch's request id.
    #[arg(long)]
    pub import: bool,
    /// With --state: write here, as JSON Lines, the customers the state holds that this input
    /// no longer has, for `plain delete-customers`. Written only when the whole input was read.
    /// With --against-plain, the customers Plain has that this input does not name.
    #[arg(long, value_name = "FILE")]
    pub missing: Option<PathBuf>,
    /// With --missing: list the customers Plain has (read from Plain's list of customers)
    /// that the input does not name, rather than those the state file holds. Needs no state.
    #[arg(long, requires = "missing")]
    pub against_plain: bool,
    /// With --state: forget everything the state file holds, and bind it to the workspace
    /// the API key reaches (for a state built against another workspace). Every record is
    /// sent once more.
    #[arg(long, requires = "state")]
    pub reset_state: bool,
}

/// A line of the results file for a success (without `customerId` for a customer Plain
/// confirmed in a batch, which names none).
#[derive(Serialize)]
struct Success<'a> {
    line: u64,
    result: &'a str,
    #[serde(rename = "customerId", skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
    /// For a record confirmed by a batch: the batch's request id.
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// The state of a run: what the engine's outcomes make of the accounts.
struct Syncing {
    ledger: Ledger,
    progress: Progress,
    outage_limit: u64,
}

impl Syncing {
    /// A record that could not be read as an input: its reject is written now.
    fn rejected(&mut self, line: u64, rejected: Rejected) {
        self.ledger
            .malformed(line, rejected.code, rejected.message, rejected.raw);
        self.progress.update(&self.ledger.summary);
    }

    /// What is not an input: rejects of records that could not be read, records never taken
    /// after a stop, a read error.
    fn account(&mut self, item: Item) {
        match item {
            Item::Record(Record {
                line,
                input: Ok(input),
            }) => self.ledger.not_attempted(line, &input),
            Item::Record(Record {
                line,
                input: Err(rejected),
            }) => self.rejected(line, rejected),
            Item::Failed { after_line, error } => {
                eprintln!("plain: error: cannot read the input past line {after_line}: {error}");
                self.ledger.summary.read_failed = Some((after_line, error));
                self.ledger.stop(Stop::ReadFailed);
            }
        }
    }

    /// A record the engine took, when it is done: counted and written.
    fn outcome(&mut self, outcome: BulkOutcome<Tag>) {
        let (line, input) = (outcome.tag, outcome.record);
        match outcome.result {
            Err(error) => self.ledger.failed(line, &input, &error),
            Ok(Done::NotRecorded { upserted, reason }) => {
                self.not_recorded(line, &input, &upserted, &reason);
            }
            Ok(Done::Unrecorded(done)) => self.unrecorded(line, &input, &done),
            Ok(done) => {
                let summary = &mut self.ledger.summary;
                match &done {
                    Done::Unchanged { .. } => summary.unchanged += 1,
                    Done::Imported { .. } => summary.imported += 1,
                    Done::Upserted(upserted) => match upserted.result {
                        UpsertResult::Created => summary.created += 1,
                        UpsertResult::Updated => summary.updated += 1,
                        UpsertResult::Noop => summary.noop += 1,
                        _ => summary.other += 1,
                    },
                    _ => summary.other += 1,
                }
                self.ledger.write_result(&Success {
                    line,
                    result: done.as_str(),
                    customer_id: done.customer_id(),
                    request_id: match &done {
                        Done::Imported { request_id } => request_id.as_deref(),
                        _ => None,
                    },
                });
            }
        }
        self.progress.update(&self.ledger.summary);
    }

    /// Plain confirmed the record, and the state could not commit it: in rejects, not in
    /// results, and sent again next time.
    fn unrecorded(&mut self, line: u64, input: &UpsertCustomerInput, done: &Done) {
        self.ledger.summary.unrecorded += 1;
        self.ledger.write_reject(&json!({
            "line": line,
            "input": input,
            "result": done.as_str(),
            "customerId": done.customer_id(),
            "error": {
                "message": "Plain confirmed the record, and the state file could not record \
                            it: the next run sends it again",
                "code": "unrecorded",
            },
            "status": "unrecorded",
        }));
    }

    /// Plain answered, and the state did not record the answer: the record fails, with
    /// Plain's answer as it came, and is sent again next time.
    fn not_recorded(
        &mut self,
        line: u64,
        input: &UpsertCustomerInput,
        upserted: &plain_client::UpsertedCustomer,
        reason: &str,
    ) {
        self.ledger.summary.failed += 1;
        self.ledger.count_failure("not_recorded");
        self.ledger.write_reject(&json!({
            "line": line,
            "input": input,
            "answer": {"result": upserted.result.as_str(), "customerId": upserted.customer.id},
            "error": {
                "message": format!("{}: not recorded in the state; the next run sends it again", text::clean(reason, 500)),
                "code": "not_recorded",
            },
            "status": "failed",
        }));
        self.ledger.write_result(&json!({
            "line": line,
            "result": "FAILED",
            "error": "not_recorded",
            "plainResult": upserted.result.as_str(),
            "customerId": upserted.customer.id,
        }));
    }

    /// The run: the engine's outcomes and what the feed set aside, until the engine ends;
    /// then what it never took. Returns whether the reader thread has finished (it has not
    /// when it was left waiting on standard input after Ctrl-C).
    async fn run(
        &mut self,
        mut run: BulkRun<Tag>,
        feed: &Feed,
        cancel: &Cancel,
        reader: &ReaderState,
        mut interrupts: oneshot::Receiver<()>,
        regular: bool,
    ) -> bool {
        let mut listening = true;
        loop {
            tokio::select! {
                outcome = run.next() => match outcome {
                    Some(outcome) => self.outcome(outcome),
                    None => break,
                },
                () = feed.aside.notified() => {}
                signal = &mut interrupts, if listening => {
                    listening = false;
                    if signal.is_ok() {
                        self.ledger.summary.interrupted = true;
                        self.ledger.stop(Stop::Interrupted);
                        if !regular {
                            // After Ctrl-C, standard input or a pipe is read no further.
                            reader.stop.store(true, Ordering::SeqCst);
                        }
                    }
                }
            }
            for item in feed.take_aside() {
                self.account(item);
            }
            self.ledger.engine_stopped(&run, self.outage_limit);
            if self.ledger.summary.stop.is_some() {
                cancel.cancel();
            }
            self.ledger.summary.sent = run.sent();
            self.ledger.summary.requests = run.requests();
        }
        for item in feed.take_aside() {
            self.account(item);
        }
        let leave = self.ledger.summary.interrupted && !regular;
        let (rest, unread_after) = feed.rest(reader, leave).await;
        for item in rest {
            self.account(item);
        }
        self.ledger.summary.unread_after = unread_after;
        self.ledger.summary.sent = run.sent();
        self.ledger.summary.requests = run.requests();
        unread_after.is_none()
    }
}

/// The input format a file is read as: `--format`, else by its extension.
fn format_of(options: &SyncOptions) -> Format {
    options.format.unwrap_or_else(|| {
        let csv = options
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if csv {
            Format::Csv
        } else {
            Format::Jsonl
        }
    })
}

/// Runs the sync; the summary says what happened to every record. An `Err` means nothing was
/// sent and no output was written (the input, an output path or the CSV header was unusable).
pub async fn run(client: PlainClient, options: SyncOptions) -> Result<Summary, String> {
    // The input is opened, and every output path checked against it, before anything is
    // opened for writing.
    let input = open_input(&options.file)?;
    sync(client, &options, input).await
}

async fn sync(client: PlainClient, options: &SyncOptions, input: Input) -> Result<Summary, String> {
    let started = Instant::now();
    let format = format_of(options);
    outputs::check(
        &input.identity,
        &[
            ("--rejects", options.bulk.rejects.as_deref()),
            ("--results", options.bulk.results.as_deref()),
            ("--state", options.state.as_deref()),
            ("--missing", options.missing.as_deref()),
        ],
    )?;
    // Opened (and locked) before any output is created: a state file in use or not ours
    // stops the run before anything is written.
    if options.missing.is_some() && options.state.is_none() && !options.against_plain {
        return Err(
            "--missing needs --state (the customers the state holds that the input no \
                    longer names) or --against-plain (the customers Plain has that it does not \
                    name)"
                .to_owned(),
        );
    }
    let missing = match &options.missing {
        Some(missing) => Some(outputs::replaceable(
            "--missing",
            missing,
            options.state.as_deref(),
        )?),
        None => None,
    };
    let store = match &options.state {
        Some(path) => Some(open_state(&client, path, options).await?),
        None => None,
    };
    let cap = usize::try_from(options.bulk.max_record_bytes).unwrap_or(usize::MAX);
    let source = BufReader::with_capacity(256 * 1024, input.reader);
    let reader = Reader::new(source, format, cap).map_err(|e| format!("{}: {e}", input.name))?;
    let ledger = Ledger::create(&options.bulk, &input.identity)?;
    let interrupts = listen_for_interrupts()?;
    let total = if options.bulk.quiet || !std::io::stderr().is_terminal() {
        None
    } else {
        count(&options.file, format)
    };

    let state = Arc::new(ReaderState::default());
    let (sender, batches) = mpsc::channel(BATCHES_QUEUED);
    let thread = std::thread::Builder::new()
        .name("plain-reader".to_owned())
        .spawn({
            let state = state.clone();
            move || read_records(reader, sender, state)
        })
        .map_err(|e| format!("cannot start reading the input: {e}"))?;

    let feed = Feed::new(batches, options.against_plain);
    let cancel = Cancel::new();
    let mut bulk = options
        .bulk
        .engine(&client)
        .cancel(cancel.clone())
        .import(options.import);
    if let Some(store) = &store {
        bulk = bulk.state(store);
    }
    let mut sync = Syncing {
        ledger,
        progress: Progress::new(options.bulk.quiet, total),
        outage_limit: options.bulk.outage_limit,
    };
    let run = bulk.upsert_stream(feed.inputs());
    if sync
        .run(run, &feed, &cancel, &state, interrupts, input.regular)
        .await
    {
        let _ = thread.join();
    }
    // Otherwise the reader waits on standard input: it is left behind, and ends with the
    // process.
    let mut summary = sync.ledger.close();
    if let Some(state) = store {
        if let Err(e) = state.commit() {
            summary.unwritten.push((e.to_string(), 0));
            summary.stop.get_or_insert(Stop::WriteFailed);
        }
        if let (Some(path), false) = (&missing, options.against_plain) {
            summary.missing = Some(write_missing(&state, path, &summary));
        }
    }
    if let (Some(path), Some(named)) = (&missing, feed.take_named()) {
        summary.missing_in_plain = true;
        summary.missing = Some(write_missing_from_plain(&client, &named, path, &summary).await);
    }
    sync.progress.finish();
    if !options.bulk.quiet || !summary.all_succeeded() {
        report(&summary, &client, &input.name, started.elapsed());
    }
    Ok(summary)
}

/// Opens the state file for a run, bound to the workspace the API key reaches.
async fn open_state(
    client: &PlainClient,
    path: &Path,
    options: &SyncOptions,
) -> Result<StateStore, String> {
    let state = StateStore::open(path).map_err(|e| e.to_string())?;
    if options.reset_state {
        state.reset().map_err(|e| e.to_string())?;
    }
    state.bind(client).await.map_err(|e| match e {
        Error::State(e) => e.to_string(),
        e => format!(
            "cannot learn which workspace the API key reaches, to check the state file \
             against it: {}",
            text::clean(&e.to_string(), 1000)
        ),
    })?;
    if options.full {
        state.resend_all();
    }
    if options.missing.is_some() && !options.against_plain {
        state.track_seen().map_err(|e| e.to_string())?;
    }
    Ok(state)
}

/// The final summary on stderr.
fn report(summary: &Summary, client: &PlainClient, input: &str, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    let done = summary.done();
    let mut line = format!(
        "plain: {done} records in {seconds:.1} s ({:.1}/s): created {}, updated {}, noop {}, \
         unchanged {}",
        done as f64 / seconds.max(1e-9),
        summary.created,
        summary.updated,
        summary.noop,
        summary.unchanged,
    );
    if summary.imported > 0 {
        line.push_str(&format!(", imported {}", summary.imported));
    }
    if summary.other > 0 {
        line.push_str(&format!(", other results {}", summary.other));
    }
    account(summary, client, input, &mut line);
    eprintln!("{line}");
}

/// Runs `plain sync-customers` on its own runtime: the summary says what happened to every
/// record.
///
/// The runtime has one thread, the loop's: the requests' tasks, their connections and the loop
/// take turns on it, and hand nothing over between threads but the reader's batches. On a
/// runtime with worker threads, a request woke another thread to run it, and its answer woke
/// the loop's: about two `futex` calls per record, and nearly twice the CPU per record
/// (`benches/BENCHMARKS.md`).
pub fn command(
    options: SyncOptions,
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

    use std::io::Read;

    use clap::Parser;
    use plain_client::testing::LocalServer;

    use crate::cli::outputs::Identity;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        options: SyncOptions,
    }

    fn options(args: &[&str]) -> SyncOptions {
        Args::parse_from(std::iter::once("sync").chain(args.iter().copied())).options
    }

    /// Lines of JSON, then a read error.
    struct FailingAfter(std::io::Cursor<Vec<u8>>);

    impl Read for FailingAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::Error::other("the disk went away")),
                n => Ok(n),
            }
        }
    }

    fn customers(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"identifier":{{"emailAddress":"c{i}@example.com"}},"onCreate":{{"fullName":"C {i}","email":{{"email":"c{i}@example.com","isVerified":false}}}},"onUpdate":{{}}}}"#
                ) + "\n"
            })
            .collect::<String>()
            .into_bytes()
    }

    fn failing_input(bytes: Vec<u8>) -> Input {
        Input {
            reader: Box::new(FailingAfter(std::io::Cursor::new(bytes))),
            identity: Identity::default(),
            regular: true,
            name: "the test input".to_owned(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_error_ends_the_input_and_says_where() {
        let server = LocalServer::start().await.unwrap();
        let client = server.client().unwrap();
        let summary = sync(client, &options(&["-q"]), failing_input(customers(3)))
            .await
            .unwrap();
        assert_eq!(summary.stop, Some(Stop::ReadFailed));
        assert_eq!(summary.sent, 3);
        assert_eq!(summary.created, 3);
        let (after, error) = summary.read_failed.unwrap();
        assert_eq!(after, 3);
        assert!(error.contains("the disk went away"), "{error}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_error_before_any_record_sends_nothing() {
        let server = LocalServer::start().await.unwrap();
        let client = server.client().unwrap();
        let summary = sync(client, &options(&["-q"]), failing_input(Vec::new()))
            .await
            .unwrap();
        assert_eq!(summary.stop, Some(Stop::ReadFailed));
        assert_eq!(summary.sent, 0);
        assert!(server.requests().is_empty());
    }
}
