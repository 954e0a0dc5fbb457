//! `plain sync-customers`: every record of a file upserted at the rate Plain allows, every
//! record accounted for.
//!
//! Records are read on a thread of their own and handed over in batches, so a slow disk or pipe
//! never holds up the requests. One loop takes records as slots and the circuit breaker allow,
//! writes each outcome as a whole line when it arrives, and stops the intake at once on Ctrl-C,
//! an authentication failure, a long outage or an output that cannot be written.

use std::collections::VecDeque;
use std::io::{BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use plain_client::state::{Admission, StateStore, Synced, COMMIT_AFTER, COMMIT_EVERY};
use plain_client::{Error, PlainClient, UpsertCustomerInput, UpsertResult};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::breaker::{Breaker, Gate, Outcome};
use super::input::{count, open_input, Input};
use super::interrupts::listen_for_interrupts;
use super::ledger::Ledger;
use super::missing::write_missing;
use super::outputs;
use super::progress::Progress;
use super::reader::{read_records, Batch, Item, ReaderState, BATCHES_QUEUED};
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
    /// When most records fail with server errors or broken connections, the sync pauses
    /// (1 s, doubling up to 60 s) and then tries one record; it stops once the pauses would
    /// add up to more than this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub outage_limit: u64,
    /// Remember in this SQLite file what Plain confirmed for each customer, and send only the
    /// records that changed since (the others count as UNCHANGED). Created if missing.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// With --state: send every record, changed or not, and refresh the state (after
    /// customers were edited in Plain by hand).
    #[arg(long, requires = "state")]
    pub full: bool,
    /// With --state: write here, as JSON Lines, the customers the state holds that this input
    /// no longer has, for `plain delete-customers`. Written only when the whole input was read.
    #[arg(long, value_name = "FILE", requires = "state")]
    pub missing: Option<PathBuf>,
    /// With --state: forget everything the state file holds, and bind it to the workspace
    /// the API key reaches (for a state built against another workspace). Every record is
    /// sent once more.
    #[arg(long, requires = "state")]
    pub reset_state: bool,
}

/// A line of the results file for a success.
#[derive(Serialize)]
struct Success<'a> {
    line: u64,
    result: &'a str,
    #[serde(rename = "customerId")]
    customer_id: &'a str,
}

/// How a failure counts for the circuit breaker: an outage is a retryable failure that is not
/// the rate limit (which the client paces by itself).
fn outcome(error: &Error) -> Outcome {
    if error.is_retryable() && !matches!(error.last_cause(), Error::RateLimited { .. }) {
        Outcome::Transient
    } else {
        Outcome::Other
    }
}

/// A record sent, when its answer is in.
struct Done {
    line: u64,
    probe: bool,
    input: UpsertCustomerInput,
    result: Result<Synced, Error>,
}

/// Waits for a request's task.
async fn answer(
    task: JoinHandle<Result<Synced, Error>>,
    line: u64,
    probe: bool,
    input: UpsertCustomerInput,
) -> Done {
    let result = match task.await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(Error::Interrupted),
    };
    Done {
        line,
        probe,
        input,
        result,
    }
}

/// A result as the results line spells it: Plain's, or `UNCHANGED`.
enum UpsertResultText {
    Unchanged,
    Plain(UpsertResult),
}

impl UpsertResultText {
    fn as_str(&self) -> &str {
        match self {
            UpsertResultText::Unchanged => "UNCHANGED",
            UpsertResultText::Plain(result) => result.as_str(),
        }
    }
}

/// A record the state decided or recorded, whose results line waits for the state's next
/// commit: a line in the results file is a record the state holds, whenever the run is killed.
struct Awaiting {
    line: u64,
    result: UpsertResultText,
    customer_id: String,
    /// The record, for its rejects line should the commit fail.
    input: Option<UpsertCustomerInput>,
}

/// A record taken from the input and admitted by the state, waiting for a slot.
struct Held {
    line: u64,
    input: UpsertCustomerInput,
    admission: Option<Admission>,
}

/// The state of a run.
struct Syncing {
    client: PlainClient,
    concurrency: usize,
    breaker: Breaker,
    outage_limit: u64,
    ledger: Ledger,
    progress: Progress,
    state: Option<StateStore>,
    /// The record taken and admitted, waiting for a slot or the breaker.
    held: Option<Held>,
    /// Records whose results lines wait for the state's next commit.
    awaiting: Vec<Awaiting>,
    last_commit: Instant,
}

impl Syncing {
    /// A record that could not be read as an input: its reject is written now.
    fn rejected(&mut self, line: u64, rejected: Rejected) {
        self.ledger
            .malformed(line, rejected.code, rejected.message, rejected.raw);
        self.progress.update(&self.ledger.summary);
    }

    /// What is left after a stop: records not sent, rejects of records that could not be read.
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
            Item::Failed { after_line, error } => self.read_failed(after_line, error),
        }
    }

    fn read_failed(&mut self, after_line: u64, error: String) {
        eprintln!("plain: error: cannot read the input past line {after_line}: {error}");
        self.ledger.summary.read_failed = Some((after_line, error));
        self.ledger.stop(Stop::ReadFailed);
    }

    fn give_up(&mut self) {
        let open = self.breaker.open_for(Instant::now());
        self.ledger.summary.outage = Some(open);
        eprintln!(
            "plain: error: Plain looked unavailable (most records failed with server errors or \
             broken connections) for {:.0} s, and waiting longer would pass --outage-limit {}; stopping",
            open.as_secs_f64(),
            self.outage_limit
        );
        self.ledger.stop(Stop::Outage);
    }

    /// Takes records from `pending` while slots and the breaker allow; rejects of records
    /// that could not be read are written on the way, and records the state says are
    /// unchanged are answered without a request. Returns when to look again, if the breaker is
    /// waiting for a time.
    fn take<F>(
        &mut self,
        pending: &mut VecDeque<Item>,
        in_flight: &mut FuturesUnordered<F>,
        send: impl Fn(u64, bool, UpsertCustomerInput, Option<Admission>) -> F,
    ) -> Option<Instant> {
        while self.ledger.summary.stop.is_none() {
            let held = match self.held.take() {
                Some(held) => held,
                None => match pending.pop_front()? {
                    Item::Record(Record {
                        line,
                        input: Ok(input),
                    }) => {
                        // Admitted in input order: that is what orders records for one
                        // customer.
                        let admission = self.state.as_ref().map(|state| state.admit(&input));
                        if let Some(Admission::Unchanged { customer_id }) = admission {
                            self.unchanged(line, customer_id, Some(input));
                            continue;
                        }
                        Held {
                            line,
                            input,
                            admission,
                        }
                    }
                    other => {
                        self.account(other);
                        continue;
                    }
                },
            };
            let gate = if in_flight.len() < self.concurrency {
                self.breaker.admit(Instant::now())
            } else {
                Gate::WaitForProbe
            };
            match gate {
                Gate::Go { probe } => {
                    self.ledger.summary.sent += 1;
                    in_flight.push(send(held.line, probe, held.input, held.admission));
                }
                wait => {
                    self.held = Some(held);
                    match wait {
                        Gate::WaitUntil(at) => return Some(at),
                        Gate::GiveUp => self.give_up(),
                        _ => {}
                    }
                    return None;
                }
            }
        }
        None
    }

    /// Commits Plain's answers to the state, then writes their results lines. Those the
    /// state could not commit go to rejects instead, as unrecorded.
    fn commit(&mut self) {
        self.last_commit = Instant::now();
        let committed = self.state.as_ref().is_none_or(StateStore::flush);
        for awaiting in std::mem::take(&mut self.awaiting) {
            if committed {
                self.ledger.write_result(&Success {
                    line: awaiting.line,
                    result: awaiting.result.as_str(),
                    customer_id: &awaiting.customer_id,
                });
                continue;
            }
            self.ledger.summary.unrecorded += 1;
            self.ledger.write_reject(&json!({
                "line": awaiting.line,
                "input": awaiting.input,
                "result": awaiting.result.as_str(),
                "customerId": awaiting.customer_id,
                "error": {
                    "message": "Plain confirmed the record, and the state file could not record \
                                it: the next run sends it again",
                    "code": "unrecorded",
                },
                "status": "unrecorded",
            }));
        }
    }

    /// A record the state says Plain already has.
    fn unchanged(&mut self, line: u64, customer_id: String, input: Option<UpsertCustomerInput>) {
        self.ledger.summary.unchanged += 1;
        self.awaiting.push(Awaiting {
            line,
            result: UpsertResultText::Unchanged,
            customer_id,
            input,
        });
        self.progress.update(&self.ledger.summary);
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

    /// A sent record's answer: counted, written, and heard by the breaker.
    fn finished(&mut self, done: Done) {
        let Done {
            line,
            probe,
            input,
            result,
        } = done;
        let outcome = match result {
            Ok(Synced::Unchanged { customer_id }) => {
                // It waited for an earlier record of the same customer, which made it so.
                self.ledger.summary.sent -= 1;
                self.unchanged(line, customer_id, Some(input));
                Outcome::Success
            }
            Ok(Synced::NotRecorded { upserted, reason }) => {
                self.not_recorded(line, &input, &upserted, &reason);
                Outcome::Success
            }
            Ok(Synced::Upserted(upserted)) => {
                match upserted.result {
                    UpsertResult::Created => self.ledger.summary.created += 1,
                    UpsertResult::Updated => self.ledger.summary.updated += 1,
                    UpsertResult::Noop => self.ledger.summary.noop += 1,
                    _ => self.ledger.summary.other += 1,
                }
                if self.state.is_some() {
                    // Its results line waits for the state to commit it.
                    self.awaiting.push(Awaiting {
                        line,
                        result: UpsertResultText::Plain(upserted.result),
                        customer_id: upserted.customer.id,
                        input: Some(input),
                    });
                } else {
                    self.ledger.write_result(&Success {
                        line,
                        result: upserted.result.as_str(),
                        customer_id: &upserted.customer.id,
                    });
                }
                Outcome::Success
            }
            Ok(_) => {
                self.ledger.summary.other += 1;
                Outcome::Success
            }
            Err(error) => {
                self.ledger.failed(line, &input, &error);
                outcome(&error)
            }
        };
        self.breaker.finished(outcome, probe, Instant::now());
        if self.breaker.gave_up() && self.ledger.summary.stop.is_none() {
            self.give_up();
        }
        if self.state.as_ref().is_some_and(StateStore::failed) && self.ledger.summary.stop.is_none()
        {
            eprintln!("plain: error: Plain's answers can no longer be recorded in the state file; stopping");
            self.ledger.stop(Stop::WriteFailed);
        }
        self.progress.update(&self.ledger.summary);
    }

    /// The run's loop. Returns whether the reader thread has finished (it has not when it was
    /// left waiting on standard input after Ctrl-C).
    async fn run(
        &mut self,
        mut batches: mpsc::Receiver<Batch>,
        reader: &ReaderState,
        mut interrupts: oneshot::Receiver<()>,
        regular: bool,
    ) -> bool {
        let client = self.client.clone();
        let state = self.state.clone();
        let send = move |line: u64,
                         probe: bool,
                         input: UpsertCustomerInput,
                         admission: Option<Admission>| {
            let client = client.clone();
            let state = state.clone();
            let sent = input.clone();
            // A task per request, as the library's bulk upsert runs them: a runtime's worker
            // threads share the requests while this loop reads and writes.
            let task = tokio::spawn(Box::pin(async move {
                match (state, admission) {
                    (Some(state), Some(admission)) => {
                        client.upsert_admitted(&state, sent, admission).await
                    }
                    _ => client.upsert_customer(sent).await.map(Synced::Upserted),
                }
            }));
            answer(task, line, probe, input)
        };
        let mut in_flight = FuturesUnordered::new();
        let mut pending: VecDeque<Item> = VecDeque::new();
        let mut reading = true;
        let mut abandoned = false;
        let mut listening = true;
        let mut through = 0;
        loop {
            let wake = self.take(&mut pending, &mut in_flight, &send);
            if self.ledger.summary.stop.is_some() {
                if let Some(held) = self.held.take() {
                    self.ledger.not_attempted(held.line, &held.input);
                }
                while let Some(item) = pending.pop_front() {
                    self.account(item);
                }
            }
            if in_flight.is_empty() && pending.is_empty() && self.held.is_none() && !reading {
                break;
            }
            if self.awaiting.len() >= COMMIT_EVERY || self.last_commit.elapsed() >= COMMIT_AFTER {
                self.commit();
            }
            let commit_at = (!self.awaiting.is_empty()).then(|| self.last_commit + COMMIT_AFTER);
            let commit_due = async move {
                if let Some(at) = commit_at {
                    tokio::time::sleep_until(at.into()).await;
                }
            };
            // After Ctrl-C, standard input or a pipe is read no further than it has been.
            let leaving = self.ledger.summary.interrupted && !regular && reading;
            let sleep = async move {
                if let Some(at) = wake {
                    tokio::time::sleep_until(at.into()).await;
                }
            };
            tokio::select! {
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    self.finished(done);
                    // The answers already in are taken together: one commit for them all.
                    while let Some(Some(done)) = in_flight.next().now_or_never() {
                        self.finished(done);
                    }
                }
                batch = batches.recv(), if reading && self.held.is_none() && (pending.is_empty() || self.ledger.summary.stop.is_some()) => {
                    match batch {
                        Some(batch) => {
                            through = batch.through;
                            pending.extend(batch.items);
                        }
                        None => reading = false,
                    }
                }
                () = sleep, if wake.is_some() => {}
                () = commit_due, if commit_at.is_some() => {}
                signal = &mut interrupts, if listening => {
                    listening = false;
                    if signal.is_ok() {
                        self.ledger.summary.interrupted = true;
                        self.ledger.stop(Stop::Interrupted);
                        if !regular {
                            reader.stop.store(true, Ordering::SeqCst);
                        }
                    }
                }
                () = reader.wake.notified(), if leaving => {
                    if reader.idle.load(Ordering::SeqCst) {
                        // Waiting for input: take what it handed over, and no more.
                        while let Ok(batch) = batches.try_recv() {
                            through = batch.through;
                            pending.extend(batch.items);
                        }
                        reading = false;
                        abandoned = true;
                    }
                }
            }
        }
        self.commit();
        if abandoned {
            self.ledger.summary.unread_after = Some(through);
        }
        !abandoned
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
    let missing = match (&options.missing, &options.state) {
        (Some(missing), Some(state)) => Some(outputs::replaceable("--missing", missing, state)?),
        _ => None,
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

    let mut sync = Syncing {
        client: client.clone(),
        concurrency: usize::from(options.bulk.concurrency).max(1),
        breaker: Breaker::new(Duration::from_secs(options.outage_limit)),
        outage_limit: options.outage_limit,
        ledger,
        progress: Progress::new(options.bulk.quiet, total),
        state: store,
        held: None,
        awaiting: Vec::new(),
        last_commit: Instant::now(),
    };
    if sync.run(batches, &state, interrupts, input.regular).await {
        let _ = thread.join();
    }
    // Otherwise the reader waits on standard input: it is left behind, and ends with the
    // process.
    let mut summary = sync.ledger.close();
    if let Some(state) = sync.state.take() {
        if let Err(e) = state.commit() {
            summary.unwritten.push((e.to_string(), 0));
            summary.stop.get_or_insert(Stop::WriteFailed);
        }
        if let Some(path) = &missing {
            summary.missing = Some(write_missing(&state, path, &summary));
        }
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
    // Results lines are written after each commit: the state commits only when told to.
    state.defer_commits();
    if options.full {
        state.resend_all();
    }
    if options.missing.is_some() {
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
