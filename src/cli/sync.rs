//! `plain sync-customers`: every record of a file upserted at the rate Plain allows, every
//! record accounted for.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use plain_client::{Cancel, Error, PlainClient, UpsertCustomerInput, UpsertResult};
use serde_json::{json, Value};

use super::outputs::{self, Identity, Output};
use super::records::{Format, Reader, Record};

/// What the run was asked to do.
#[derive(Debug, clap::Args)]
pub struct SyncOptions {
    /// The input file, or - for standard input.
    #[arg(default_value = "-", value_name = "FILE|-")]
    pub file: PathBuf,
    /// The input format [default: csv for a .csv file, else jsonl].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// How many requests are in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Write every record that failed (or was not attempted) here, as JSON Lines with its
    /// line number, input and error; give this file back as input to retry them.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Write one JSON line per record here: line number, result, customer id.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Print no progress, and the summary only when something failed.
    #[arg(long, short)]
    pub quiet: bool,
    /// The longest record read (a JSON line, or a CSV row), in bytes; a longer one is rejected
    /// (code too_long) and skipped without being held in memory.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = MAX_RECORD_BYTES,
        value_parser = clap::value_parser!(u64).range(1..=1 << 30)
    )]
    pub max_record_bytes: u64,
}

/// The default of `--max-record-bytes`: 1 MiB.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// How the run ended.
#[derive(Debug, Default)]
pub struct Summary {
    pub created: u64,
    pub updated: u64,
    pub noop: u64,
    pub other: u64,
    pub failed: u64,
    pub malformed: u64,
    pub not_attempted: u64,
    pub failures_by_code: BTreeMap<String, u64>,
    pub interrupted: bool,
}

impl Summary {
    fn done(&self) -> u64 {
        self.created + self.updated + self.noop + self.other + self.failed + self.malformed
    }

    /// Whether every record succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.failed == 0 && self.malformed == 0 && self.not_attempted == 0 && !self.interrupted
    }
}

fn error_json(error: &Error) -> Value {
    let last = error.last_cause();
    let mut out = json!({
        "message": error.to_string(),
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
fn error_code(error: &Error) -> String {
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
        Error::InvalidInput { .. } => "invalid_input".to_owned(),
        _ => "other".to_owned(),
    }
}

/// The opened input.
struct Input {
    reader: Box<dyn Read + Send>,
    identity: Identity,
    name: String,
}

/// Opens the input: a file, or standard input for `-`.
fn open_input(path: &Path) -> Result<Input, String> {
    if path.as_os_str() == "-" {
        return open_stdin();
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    Ok(Input {
        identity: Identity::of_open(&metadata, Some(path)),
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
    Ok(Input {
        identity: Identity::of_open(&metadata, None),
        reader: Box::new(file),
        name,
    })
}

#[cfg(not(unix))]
fn open_stdin() -> Result<Input, String> {
    Ok(Input {
        reader: Box::new(std::io::stdin()),
        identity: Identity::default(),
        name: "standard input".to_owned(),
    })
}

/// The records of the input, one at a time; a read error ends them.
fn records(
    input: Input,
    format: Format,
    cap: usize,
) -> Result<Box<dyn Iterator<Item = Record> + Send>, String> {
    let source = BufReader::with_capacity(256 * 1024, input.reader);
    let mut reader =
        Reader::new(source, format, cap).map_err(|e| format!("{}: {e}", input.name))?;
    Ok(Box::new(std::iter::from_fn(move || {
        match reader.next_record() {
            Ok(record) => record,
            Err(e) => {
                eprintln!(
                    "plain: error: cannot read the input past line {}: {e}",
                    reader.done_through()
                );
                None
            }
        }
    })))
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
        let counts = format!(
            "created {} updated {} unchanged {} failed {}",
            summary.created,
            summary.updated,
            summary.noop,
            summary.failed + summary.malformed
        );
        if let Some(bar) = &self.bar {
            bar.set_position(summary.done());
            bar.set_message(counts);
            return;
        }
        if self.quiet || self.last_line.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last_line = Instant::now();
        let rate = summary.done() as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        eprintln!("plain: {} records, {rate:.0}/s: {counts}", summary.done());
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs the sync; the summary says what happened to every record.
pub async fn run(client: PlainClient, options: SyncOptions) -> Result<Summary, String> {
    let format = options.format.unwrap_or_else(|| {
        let csv = options
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if csv {
            Format::Csv
        } else {
            Format::Jsonl
        }
    });
    let started = Instant::now();
    // The input is opened, and every output path checked against it, before anything is
    // opened for writing.
    let mut input = open_input(&options.file)?;
    outputs::check(
        &input.identity,
        &[
            ("--rejects", options.rejects.as_deref()),
            ("--results", options.results.as_deref()),
        ],
    )?;
    let identity = std::mem::take(&mut input.identity);
    let cap = usize::try_from(options.max_record_bytes).unwrap_or(usize::MAX);
    let source = records(input, format, cap)?;
    let mut rejects = match &options.rejects {
        Some(path) => Output::create(path, &identity, &[])?,
        None => Output::none(),
    };
    let mut results = match &options.results {
        Some(path) => Output::create(path, &identity, &[&rejects])?,
        None => Output::none(),
    };
    let total = if options.quiet || !std::io::stderr().is_terminal() {
        None
    } else {
        count(&options.file, format)
    };
    let mut progress = Progress::new(options.quiet, total);
    let concurrency = usize::from(options.concurrency).max(1);

    // Records are read on their own thread and handed over through a small queue, so that
    // memory stays bounded and a slow disk or pipe never blocks the requests.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Record>(concurrency * 2 + 16);
    let reader = std::thread::spawn(move || {
        for record in source {
            if sender.blocking_send(record).is_err() {
                return;
            }
        }
    });
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));

    let cancel = Cancel::new();
    let interrupt = cancel.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.cancel();
        }
    });

    let mut summary = Summary::default();
    // The records taken but not yet answered, by their position among the inputs sent.
    let in_flight: Arc<Mutex<HashMap<usize, (u64, UpsertCustomerInput)>>> = Arc::default();
    let malformed: Arc<Mutex<Vec<Record>>> = Arc::default();
    let inputs = {
        let receiver = receiver.clone();
        let in_flight = in_flight.clone();
        let malformed = malformed.clone();
        let mut next = 0usize;
        stream::unfold(receiver, |receiver| async move {
            let record = receiver.lock().await.recv().await;
            record.map(|r| (r, receiver))
        })
        .filter_map(move |record| {
            let item = match record.input {
                Ok(input) => {
                    let index = next;
                    next += 1;
                    lock(&in_flight).insert(index, (record.line, input.clone()));
                    Some(input)
                }
                Err(rejected) => {
                    lock(&malformed).push(Record {
                        line: record.line,
                        input: Err(rejected),
                    });
                    None
                }
            };
            futures_util::future::ready(item)
        })
    };
    let mut outcomes =
        Box::pin(client.upsert_customers_stream(inputs, concurrency, cancel.clone()));
    loop {
        let outcome = outcomes.next().await;
        for record in lock(&malformed).drain(..) {
            if let Err(rejected) = record.input {
                summary.malformed += 1;
                *summary
                    .failures_by_code
                    .entry(rejected.code.to_owned())
                    .or_default() += 1;
                let mut line = rejected.raw;
                line.insert("line".to_owned(), record.line.into());
                line.insert(
                    "error".to_owned(),
                    json!({"message": rejected.message, "code": rejected.code}),
                );
                line.insert("status".to_owned(), "failed".into());
                rejects.write(&Value::Object(line))?;
            }
        }
        let Some(outcome) = outcome else {
            break;
        };
        let Some((line, input)) = lock(&in_flight).remove(&outcome.index) else {
            continue;
        };
        match outcome.result {
            Ok(upserted) => {
                match upserted.result {
                    UpsertResult::Created => summary.created += 1,
                    UpsertResult::Updated => summary.updated += 1,
                    UpsertResult::Noop => summary.noop += 1,
                    _ => summary.other += 1,
                }
                results.write(&json!({
                    "line": line,
                    "result": upserted.result,
                    "customerId": upserted.customer.id,
                }))?;
            }
            Err(error) => {
                summary.failed += 1;
                *summary
                    .failures_by_code
                    .entry(error_code(&error))
                    .or_default() += 1;
                rejects.write(&json!({
                    "line": line,
                    "input": input,
                    "error": error_json(&error),
                    "status": "failed",
                }))?;
                results.write(
                    &json!({"line": line, "result": "FAILED", "error": error_code(&error)}),
                )?;
            }
        }
        progress.update(&summary);
    }
    ctrl_c.abort();
    summary.interrupted = cancel.is_cancelled();
    // Dropping the stream releases the queue it may have been waiting on.
    drop(outcomes);

    // Whatever was taken and never sent, then whatever was never read: not attempted.
    let mut left: Vec<(u64, Value)> = lock(&in_flight)
        .drain()
        .map(|(_, (line, input))| (line, serde_json::to_value(input).unwrap_or(Value::Null)))
        .collect();
    left.sort_by_key(|(line, _)| *line);
    // The reader goes on to the end of the input, so that every record is listed.
    let mut receiver = receiver.lock().await;
    while let Some(record) = receiver.recv().await {
        let raw = match record.input {
            Ok(input) => serde_json::to_value(input).unwrap_or(Value::Null),
            Err(rejected) => rejected.raw.get("input").cloned().unwrap_or(Value::Null),
        };
        left.push((record.line, raw));
    }
    drop(receiver);
    let _ = reader.join();
    for (line, input) in left {
        summary.not_attempted += 1;
        rejects.write(&json!({
            "line": line,
            "input": input,
            "error": {"message": "not sent: the run was interrupted", "code": "not_attempted"},
            "status": "not_attempted",
        }))?;
    }
    progress.finish();
    if !options.quiet || !summary.all_succeeded() {
        report(&summary, &client, started.elapsed());
    }
    Ok(summary)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The final summary on stderr.
fn report(summary: &Summary, client: &PlainClient, elapsed: Duration) {
    let stats = client.stats();
    let seconds = elapsed.as_secs_f64();
    let done = summary.done();
    let mut line = format!(
        "plain: {done} records in {seconds:.1} s ({:.1}/s): created {}, updated {}, unchanged {}",
        done as f64 / seconds.max(1e-9),
        summary.created,
        summary.updated,
        summary.noop,
    );
    if summary.other > 0 {
        line.push_str(&format!(", other results {}", summary.other));
    }
    let failed = summary.failed + summary.malformed;
    line.push_str(&format!(", failed {failed}"));
    if !summary.failures_by_code.is_empty() {
        let codes: Vec<String> = summary
            .failures_by_code
            .iter()
            .map(|(code, n)| format!("{code} {n}"))
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
    if summary.interrupted {
        line.push_str("; interrupted");
    }
    eprintln!("{line}");
}
