//! `plain sync-customers`: every record of a file upserted at the rate Plain allows, every
//! record accounted for.
//!
//! Records are read on a thread of their own and handed over in batches, so a slow disk or pipe
//! never holds up the requests. One loop takes records as slots and the circuit breaker allow,
//! writes each outcome as a whole line when it arrives, and stops the intake at once on Ctrl-C,
//! an authentication failure, a long outage or an output that cannot be written.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use plain_client::state::{Admission, StateStore, Synced};
use plain_client::{Error, PlainClient, UpsertCustomerInput, UpsertResult};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use super::breaker::{Breaker, Gate, Outcome};
use super::ledger::Ledger;
use super::outputs::{self, Identity};
use super::records::{Format, Reader, Record, Rejected};
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

/// Why a run stopped taking records before the end of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// Plain refused the API key or a permission (HTTP 401 or 403): every record would fail.
    Unauthorized,
    /// Plain looked unavailable for longer than `--outage-limit`.
    Outage,
    /// The input could not be read to its end.
    ReadFailed,
    /// An output (rejects or results) could not be written.
    WriteFailed,
}

/// How the run ended.
#[derive(Debug, Default)]
pub struct Summary {
    pub created: u64,
    pub updated: u64,
    pub noop: u64,
    /// Records the state says Plain already has: not sent.
    pub unchanged: u64,
    /// `delete-customers`: customers deleted, and those Plain no longer had.
    pub deleted: u64,
    pub not_found: u64,
    /// `delete-customers`: lines the state did not allow deleting (in rejects).
    pub refused: u64,
    /// `delete-customers`: customers the state no longer holds (an earlier run deleted them).
    pub forgotten: u64,
    /// `delete-customers --dry-run`: customers that would be deleted.
    pub would_delete: u64,
    /// `delete-customers --dry-run`: the real run would be refused as a mass deletion.
    pub refused_whole: bool,
    pub other: u64,
    pub failed: u64,
    pub malformed: u64,
    pub not_attempted: u64,
    pub failures_by_code: BTreeMap<String, u64>,
    /// Records sent to Plain.
    pub sent: u64,
    /// Why the run stopped early (the first reason), if it did.
    pub stop: Option<Stop>,
    /// Whether Ctrl-C was pressed.
    pub interrupted: bool,
    /// The input failed to read after this line, with the error.
    pub read_failed: Option<(u64, String)>,
    /// Standard input (or a pipe) was left unread after this line.
    pub unread_after: Option<u64>,
    /// Outputs that could not be written: why, and how many lines they miss.
    pub unwritten: Vec<(String, u64)>,
    /// The time Plain looked unavailable, when the sync gave up on it.
    pub outage: Option<Duration>,
    /// Customers listed in the --missing file; why it was not written, if it was not.
    pub missing: Option<Result<u64, String>>,
    /// Records Plain confirmed that the state could not record: not in the results file,
    /// in rejects (`unrecorded`), and sent again by the next run.
    pub unrecorded: u64,
}

impl Summary {
    /// How many records have an outcome so far.
    pub fn done(&self) -> u64 {
        self.created
            + self.updated
            + self.noop
            + self.unchanged
            + self.deleted
            + self.not_found
            + self.refused
            + self.forgotten
            + self.would_delete
            + self.other
            + self.failed
            + self.malformed
    }

    /// Whether every record succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.failed == 0
            && self.malformed == 0
            && self.refused == 0
            && !self.refused_whole
            && self.not_attempted == 0
            && self.stop.is_none()
            && !self.interrupted
            && self.unwritten.is_empty()
            && self.unrecorded == 0
            && !matches!(self.missing, Some(Err(_)))
    }
}

/// A line of the results file for a success.
#[derive(Serialize)]
struct Success<'a> {
    line: u64,
    result: &'a str,
    #[serde(rename = "customerId")]
    customer_id: &'a str,
}

pub(super) fn error_json(error: &Error) -> Value {
    let last = error.last_cause();
    // Plain's text may quote the input: one line, capped, like every message with input in it.
    let mut out = json!({
        "message": text::clean(&error.to_string(), 1000),
        "code": error_code(error),
        "attempts": error.attempts(),
    });
    if let Error::MutationRejected {
        error: rejected, ..
    } = last
    {
        out["mutationError"] = serde_json::to_value(rejected).unwrap_or(Value::Null);
    }
    if let Some(id) = error.request_id() {
        out["requestId"] = Value::String(id.to_owned());
    }
    out
}

/// A short, stable name for the kind of failure, for the summary and the rejects file.
pub(super) fn error_code(error: &Error) -> String {
    match error.last_cause() {
        Error::MutationRejected { error, .. } => error.code.clone(),
        Error::Request { errors, .. } => errors
            .iter()
            .find_map(|e| e.code.clone())
            .unwrap_or_else(|| "request_error".to_owned()),
        Error::Unauthenticated { .. } => "unauthenticated".to_owned(),
        Error::Forbidden { .. } => "forbidden".to_owned(),
        Error::RateLimited { .. } => "rate_limited".to_owned(),
        Error::Server { status, .. } => format!("http_{status}"),
        Error::Transport { kind, .. } => format!("transport_{kind}"),
        Error::Decode { .. } => "undecodable_answer".to_owned(),
        Error::ResponseTooLarge { .. } => "response_too_large".to_owned(),
        Error::InvalidInput { .. } => "invalid_input".to_owned(),
        _ => "other".to_owned(),
    }
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

/// The opened input.
pub(super) struct Input {
    pub(super) reader: Box<dyn Read + Send>,
    pub(super) identity: Identity,
    /// A regular file: after a stop, the rest of it is read to list its records.
    pub(super) regular: bool,
    pub(super) name: String,
}

/// Opens the input: a file, or standard input for `-`. A directory is refused here, before
/// anything is read or sent.
pub(super) fn open_input(path: &Path) -> Result<Input, String> {
    if path.as_os_str() == "-" {
        return open_stdin();
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if metadata.is_dir() {
        return Err(format!(
            "{name} is a directory: give a JSON Lines or CSV file"
        ));
    }
    Ok(Input {
        identity: Identity::of_open(&metadata, Some(path)),
        regular: metadata.is_file(),
        reader: Box::new(file),
        name,
    })
}

#[cfg(unix)]
fn open_stdin() -> Result<Input, String> {
    use std::os::fd::AsFd;
    let name = "standard input".to_owned();
    // Its own handle on descriptor 0: unbuffered (ours buffers), and its identity checked
    // against the outputs (`< x.jsonl --rejects x.jsonl` must not destroy x.jsonl).
    let file = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if metadata.is_dir() {
        return Err(format!(
            "{name} is a directory: give a JSON Lines or CSV file"
        ));
    }
    Ok(Input {
        identity: Identity::of_open(&metadata, None),
        regular: metadata.is_file(),
        reader: Box::new(file),
        name,
    })
}

#[cfg(not(unix))]
fn open_stdin() -> Result<Input, String> {
    Ok(Input {
        reader: Box::new(std::io::stdin()),
        identity: Identity::default(),
        regular: false,
        name: "standard input".to_owned(),
    })
}

/// Counts the non-blank lines of a file (less the header for CSV) for the progress bar's
/// total, in bounded memory; `None` for standard input.
fn count(path: &Path, format: Format) -> Option<u64> {
    if path.as_os_str() == "-" {
        return None;
    }
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(path).ok()?);
    let (mut lines, mut blank) = (0u64, true);
    loop {
        let buffer = reader.fill_buf().ok()?;
        if buffer.is_empty() {
            break;
        }
        for &b in buffer {
            if b == b'\n' {
                lines += u64::from(!blank);
                blank = true;
            } else if !b.is_ascii_whitespace() {
                blank = false;
            }
        }
        let n = buffer.len();
        reader.consume(n);
    }
    lines += u64::from(!blank);
    Some(match format {
        Format::Jsonl => lines,
        Format::Csv => lines.saturating_sub(1),
    })
}

/// Shows how far the run is: a bar on a terminal, a line every few seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
    started: Instant,
    quiet: bool,
}

impl Progress {
    fn new(quiet: bool, total: Option<u64>) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = match total {
                Some(total) => indicatif::ProgressBar::new(total),
                None => indicatif::ProgressBar::no_length(),
            };
            let style = indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} records  {per_sec}  ETA {eta}  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self {
            bar,
            last_line: Instant::now(),
            started: Instant::now(),
            quiet,
        }
    }

    fn update(&mut self, summary: &Summary) {
        let counts = || {
            format!(
                "created {} updated {} noop {} unchanged {} failed {}",
                summary.created,
                summary.updated,
                summary.noop,
                summary.unchanged,
                summary.failed + summary.malformed
            )
        };
        if let Some(bar) = &self.bar {
            bar.set_position(summary.done());
            bar.set_message(counts());
            return;
        }
        if self.quiet || self.last_line.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last_line = Instant::now();
        let rate = summary.done() as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        eprintln!(
            "plain: {} records, {rate:.0}/s: {}",
            summary.done(),
            counts()
        );
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// What the reader thread hands over, in input order.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every item is a record: boxing them would cost an allocation each"
)]
enum Item {
    Record(Record),
    /// The input could not be read past this line: it ends here.
    Failed {
        after_line: u64,
        error: String,
    },
}

/// Records read together, and the last line read whole when they were handed over.
struct Batch {
    items: Vec<Item>,
    through: u64,
}

/// What the run and the reader thread share.
#[derive(Default)]
struct ReaderState {
    /// Set by the run: read no further (standard input after Ctrl-C).
    stop: AtomicBool,
    /// Set by the reader while it holds no record and its next read may wait for input.
    idle: AtomicBool,
    /// Rung when the reader becomes idle.
    wake: Notify,
}

/// Plain's answers are committed to the state (and their results lines written) at least
/// every this many records, and this often.
const COMMIT_EVERY: usize = 64;
const COMMIT_AFTER: Duration = Duration::from_millis(50);

/// A batch is handed over at this many records, or bytes, or whenever the next read may wait.
const BATCH_RECORDS: usize = 256;
const BATCH_BYTES: usize = 1 << 20;
/// Batches waiting for the run: memory stays bounded however far the reader is ahead.
const BATCHES_QUEUED: usize = 4;

type InputReader = Reader<BufReader<Box<dyn Read + Send>>>;

/// The reader thread: records in batches until the end of the input, a read error, or a stop.
fn read_records(mut reader: InputReader, sender: mpsc::Sender<Batch>, state: Arc<ReaderState>) {
    let mut items = Vec::new();
    let mut bytes = 0;
    let send = |items: &mut Vec<Item>, reader: &InputReader| {
        let batch = Batch {
            items: std::mem::take(items),
            through: reader.done_through(),
        };
        sender.blocking_send(batch).is_ok()
    };
    loop {
        if state.stop.load(Ordering::SeqCst) {
            send(&mut items, &reader);
            return;
        }
        if reader.inner().buffer().is_empty() {
            // The next read may wait (an idle pipe, say): hand over what was read first.
            if !items.is_empty() {
                bytes = 0;
                if !send(&mut items, &reader) {
                    return;
                }
            }
            state.idle.store(true, Ordering::SeqCst);
            state.wake.notify_one();
        }
        let next = reader.next_record();
        state.idle.store(false, Ordering::SeqCst);
        match next {
            Ok(Some(record)) => {
                bytes += reader.last_size();
                items.push(Item::Record(record));
                if items.len() >= BATCH_RECORDS || bytes >= BATCH_BYTES {
                    bytes = 0;
                    if !send(&mut items, &reader) {
                        return;
                    }
                }
            }
            Ok(None) => {
                send(&mut items, &reader);
                return;
            }
            Err(e) => {
                items.push(Item::Failed {
                    after_line: reader.done_through(),
                    error: e.to_string(),
                });
                send(&mut items, &reader);
                return;
            }
        }
    }
}

/// Ctrl-C: the first is handed to the run; the second ends the process at once.
#[cfg(unix)]
struct Interrupts(tokio::signal::unix::Signal);

#[cfg(unix)]
impl Interrupts {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::interrupt()).map(Self)
    }

    async fn next(&mut self) -> bool {
        self.0.recv().await.is_some()
    }
}

#[cfg(not(unix))]
struct Interrupts;

#[cfg(not(unix))]
impl Interrupts {
    fn new() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn next(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// Listens for Ctrl-C from now on: the receiver hears the first; the second exits with
/// [`crate::exit::STOPPED_AT_ONCE`]. The outputs are unbuffered, so every line written so far
/// is in them.
pub(super) fn listen_for_interrupts() -> Result<oneshot::Receiver<()>, String> {
    // Registered here, not in the task, so that no Ctrl-C from now on is missed.
    // The task runs on a thread and runtime of its own, so that the second Ctrl-C ends the
    // process even while the caller's thread is held up (writing to a pipe nobody reads, say).
    let cannot = |e: std::io::Error| format!("cannot listen for Ctrl-C: {e}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(cannot)?;
    let mut interrupts = {
        let _runtime = runtime.enter();
        Interrupts::new().map_err(cannot)?
    };
    let (first, receiver) = oneshot::channel();
    let listen = async move {
        if !interrupts.next().await {
            return;
        }
        let _ = first.send(());
        if interrupts.next().await {
            eprintln!(
                "plain: stopped at once by a second Ctrl-C; records in flight may be missing from the outputs"
            );
            std::process::exit(i32::from(crate::exit::STOPPED_AT_ONCE));
        }
    };
    std::thread::Builder::new()
        .name("plain-interrupts".to_owned())
        .spawn(move || runtime.block_on(listen))
        .map_err(cannot)?;
    Ok(receiver)
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

/// A line of the --missing file: a customer the state holds and the input no longer has.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MissingLine<'a> {
    identifier: &'a plain_client::CustomerIdentifier,
    customer_id: &'a str,
    last_result: &'a str,
    last_synced_at: String,
    /// The list this line belongs to: `delete-customers --state` deletes the customer only
    /// while the state still says it is missing since this list or an earlier one.
    missing_list: &'a plain_client::state::MissingList,
}

/// Writes the customers the state holds that the input did not name, when the input was read
/// whole and every record in it was named: otherwise a customer would be listed for deletion
/// only because its record was not read. The file is replaced at once when complete.
fn write_missing(state: &StateStore, path: &Path, summary: &Summary) -> Result<u64, String> {
    use std::io::Write;
    let unread = summary.stop.is_some()
        || summary.interrupted
        || summary.read_failed.is_some()
        || summary.unread_after.is_some();
    if unread {
        return Err("not written: the input was not read to its end".to_owned());
    }
    if summary.done() + summary.not_attempted == 0 {
        return Err(
            "not written: the input holds no record, and every customer would be listed".to_owned(),
        );
    }
    if summary.malformed > 0 {
        return Err(format!(
            "not written: {} records could not be read, and the customers they name are unknown",
            summary.malformed
        ));
    }
    let name = path.display();
    let partial = {
        let mut file_name = path.file_name().unwrap_or_default().to_os_string();
        file_name.push(format!(".partial-{}", std::process::id()));
        path.with_file_name(file_name)
    };
    let write = || -> Result<u64, String> {
        let file = File::create(&partial)
            .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let mut listed = 0u64;
        type Failed = Box<dyn std::error::Error>;
        state
            .for_each_missing(|list, entry| -> Result<(), Failed> {
                let line = MissingLine {
                    identifier: &entry.identifier,
                    customer_id: &entry.customer_id,
                    last_result: &entry.result,
                    last_synced_at: humantime::format_rfc3339_seconds(entry.synced_at).to_string(),
                    missing_list: list,
                };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
                listed += 1;
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        let file = out.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&partial, path).map_err(|e| e.to_string())?;
        Ok(listed)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        format!("cannot write {name}: {e}")
    })
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

/// The end of a run's summary line, after its own counts: failures by code, what was not
/// attempted, the requests, and why the run stopped.
pub(super) fn account(summary: &Summary, client: &PlainClient, input: &str, line: &mut String) {
    let stats = client.stats();
    let failed = summary.failed + summary.malformed;
    line.push_str(&format!(", failed {failed}"));
    if !summary.failures_by_code.is_empty() {
        let codes: Vec<String> = summary
            .failures_by_code
            .iter()
            .map(|(code, n)| format!("{} {n}", text::clean(code, 100)))
            .collect();
        line.push_str(&format!(" ({})", codes.join(", ")));
    }
    if summary.not_attempted > 0 {
        line.push_str(&format!(", not attempted {}", summary.not_attempted));
    }
    line.push_str(&format!(
        "; {} requests, {} retries, {} answered 429",
        stats.attempts, stats.retries, stats.rate_limited
    ));
    match summary.stop {
        Some(Stop::Unauthorized) => line.push_str("; stopped at the first authentication failure"),
        Some(Stop::Outage) => line.push_str(&format!(
            "; stopped: Plain looked unavailable for {:.0} s",
            summary.outage.unwrap_or_default().as_secs_f64()
        )),
        Some(Stop::WriteFailed) => line.push_str("; stopped: an output could not be written"),
        Some(Stop::ReadFailed) | Some(Stop::Interrupted) | None => {}
    }
    if summary.interrupted {
        line.push_str("; interrupted");
    }
    if let Some((after, error)) = &summary.read_failed {
        line.push_str(&format!(
            "; the input could not be read past line {after} ({})",
            text::clean(error, 200)
        ));
    }
    if let Some(after) = summary.unread_after {
        line.push_str(&format!("; {input} was not read past line {after}"));
    }
    match &summary.missing {
        Some(Ok(n)) => line.push_str(&format!(
            "; {n} customers in the state are missing from the input (see --missing)"
        )),
        Some(Err(why)) => line.push_str(&format!("; --missing {}", text::clean(why, 300))),
        None => {}
    }
    if summary.unrecorded > 0 {
        line.push_str(&format!(
            "; {} answers not recorded in the state (in the rejects file as unrecorded; the \
             next run sends them again)",
            summary.unrecorded
        ));
    }
    for (why, missing) in &summary.unwritten {
        let why = text::clean(why, 300);
        match missing {
            0 => line.push_str(&format!("; {why}")),
            n => line.push_str(&format!("; {n} lines unrecorded ({why})")),
        }
    }
}

/// The most answer bytes a sync holds at once, all its requests in flight together. Plain's
/// answer to an upsert is about a kilobyte; a server that sends more cannot take the memory.
const SYNC_ANSWER_MEMORY: usize = 24 * 1024 * 1024;

/// The largest answer a bulk run (a sync, or deletions) reads for one request: its share of [`SYNC_ANSWER_MEMORY`] at
/// this concurrency (24 KiB at the most concurrency, 1024), at most the library's default.
pub(super) fn sync_answer_cap(concurrency: u16) -> usize {
    (SYNC_ANSWER_MEMORY / usize::from(concurrency.max(1)))
        .clamp(16 * 1024, plain_client::client::DEFAULT_MAX_RESPONSE_BYTES)
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

    #[test]
    fn a_sync_holds_at_most_24_mib_of_answers_at_any_concurrency() {
        assert_eq!(sync_answer_cap(1), 4 << 20);
        assert_eq!(sync_answer_cap(8), 3 << 20);
        assert_eq!(sync_answer_cap(1024), 24 << 10);
        for concurrency in 1..=1024u16 {
            let held = sync_answer_cap(concurrency) * usize::from(concurrency);
            assert!(held <= SYNC_ANSWER_MEMORY, "{concurrency}: {held}");
        }
    }

    use clap::Parser;
    use plain_client::testing::LocalServer;

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
