//! End-to-end benchmarks of bulk upserts against the local server, run as its own process
//! (`plain serve`) on loopback, so that only the client is measured.
//!
//! ```text
//! cargo bench --features cli --bench sync                 # every scenario
//! cargo bench --features cli --bench sync -- rate-limited # or throughput, memory, hostile, state, export, import
//! cargo bench --features cli --bench sync -- throughput --runs 21 --records 2000 --concurrency 1,8
//! ```
//!
//! - `rate-limited`: `plain sync-customers` of N records against a server that allows L
//!   requests per window W; the run must take at most 5% more than (⌈N/L⌉ − 1) × W + 1 s, fail
//!   no record, and see at most 1% of its requests answered 429.
//! - `throughput`: records per second and client CPU per 1,000 upserts at concurrency 1, 8 and
//!   64, for `PlainClient::bulk` and for bare `reqwest` posting the same bodies,
//!   serialized beforehand, in the same process, on the same single-threaded tokio runtime and
//!   against the same server, in 41 rounds of 2,000 upserts by each. The client's thread and
//!   the server are kept on CPUs of their own, and the overhead over bare reqwest is the median
//!   of the rounds' ratios. Plain's TypeScript SDK runs too when `benches/ts-sdk` is
//!   installed (`npm ci --prefix benches/ts-sdk`) and Plain's full schema is at
//!   `../shared/plain/schema.graphql`: the server is then started with `--schema` on it, since
//!   the SDK selects more fields than this crate. Then, as whole processes, start-up included:
//!   `plain sync-customers` of 2,000 records at concurrency 32 and the SDK's Node process on
//!   as many, against one more server, taking turns in 9 rounds, each child's CPU
//!   (user plus system) from the kernel (`getrusage(RUSAGE_CHILDREN)` around it); the ratio is
//!   the median of the rounds' ratios, or against the SDK's 2.2 ms when it is not installed.
//! - `memory`: the peak resident memory of `plain sync-customers` syncing 1,000,000 records
//!   from a file, against the peak for 10,000.
//! - `hostile`: the peak resident memory of `plain sync-customers` against a server whose
//!   every answer is an endless body (at concurrency 8, 64 and 1024), and reading a 1 GB
//!   input of malformed lines, some of them far longer than the record cap; both under 64 MB.
//! - `state`: what `--state` saves. 10,000 records synced, then again with 1% changed under a
//!   rate limit of 50 per 2 s (exactly the changed records sent, within ⌈100/50⌉ × 2 s plus the
//!   time of an unchanged re-sync); a re-sync of 1,000,000 unchanged records (no request, at
//!   most 10 s, under 64 MB, a state file under 200 bytes per customer); and `kill -9` in the
//!   middle of a 10,000-record sync, after which a re-run sends at most the records not yet
//!   confirmed plus the concurrency.
//! - `export`: `plain export-customers` of 100,000 customers from a server seeded by a sync at
//!   concurrency 64: exactly ⌈100,000/100⌉ = 1,000 page requests (counted by the server), the
//!   peak resident memory of the export (under 64 MB) and its CPU per customer.
//! - `import`: `plain sync-customers --import`. A first sync of 10,000 fresh qualifying records
//!   under 50 requests per 2 s: at most ⌈10,000/25⌉ = 400 requests (counted by the server),
//!   within 1.05 × the floor of those requests + 1 s, beside the per-record sync of the same
//!   input and the ratio of the two; with every fifth record not qualifying, exactly
//!   ⌈qualifying/25⌉ + the others; with one batch in ten skipping a customer, every record
//!   with a result, and exactly the fallback's 25 requests more per faulty batch.
//!
//! `plain` is the binary Cargo builds for this bench (`CARGO_BIN_EXE_plain`): Cargo builds the
//! package's binaries, with the bench's features and profile, before it runs a bench, so under
//! `cargo bench` every `plain` process measured here is the release build of the same source.
//!
//! Every figure is the median of several runs. The goals are checked at the end: the command
//! exits 1 when one is missed. Run without `--bench` (as `cargo test --benches` does), it makes
//! one small run of each scenario, checks that every record is accounted for, and checks no
//! speed or memory goal.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use plain_client::{
    upsert_customer_request, CustomerIdentifier, EmailAddress, OnCreate, OnUpdate, PlainClient,
    UpsertCustomerInput,
};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};

mod export;
mod import;

const PLAIN: &str = env!("CARGO_BIN_EXE_plain");
const KEY: &str = "plainApiKey_bench";

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("sync bench: {message}");
            return ExitCode::from(2);
        }
    };
    let mut report = Report::default();
    if options.wants("rate-limited") {
        rate_limited(&options, &mut report);
    }
    if options.wants("throughput") {
        throughput(&options, &mut report);
    }
    if options.wants("memory") {
        memory(&options, &mut report);
    }
    if options.wants("hostile") {
        hostile(&options, &mut report);
    }
    if options.wants("state") {
        state(&options, &mut report);
    }
    if options.wants("export") {
        export::export(&options, &mut report);
    }
    if options.wants("import") {
        import::import(&options, &mut report);
    }
    println!("\n{}", report.markdown());
    if report.missed() {
        eprintln!("sync bench: a goal was missed (marked MISSED above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// What to run, from the command line.
struct Options {
    /// Full sizes and the goals checked (`cargo bench` passes `--bench`); otherwise a smoke run.
    bench: bool,
    scenarios: Vec<String>,
    runs: Option<usize>,
    records: Option<usize>,
    concurrency: Option<Vec<usize>>,
}

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut options = Options {
            bench: false,
            scenarios: Vec::new(),
            runs: None,
            records: None,
            concurrency: None,
        };
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let mut number = |name: &str| -> Result<usize, String> {
                args.next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{name} takes a positive number"))
            };
            match arg.as_str() {
                "--bench" => options.bench = true,
                "--runs" => options.runs = Some(number("--runs")?),
                "--records" => options.records = Some(number("--records")?),
                "--concurrency" => {
                    let list = args.next().unwrap_or_default();
                    let levels: Option<Vec<usize>> = list
                        .split(',')
                        .map(|n| n.trim().parse().ok().filter(|n| *n > 0))
                        .collect();
                    let levels = levels.ok_or_else(|| {
                        format!("--concurrency takes positive numbers such as 1,8,64, not {list:?}")
                    })?;
                    options.concurrency = Some(levels);
                }
                "rate-limited" | "throughput" | "memory" | "hostile" | "state" | "export"
                | "import" => {
                    options.scenarios.push(arg)
                }
                other if other.starts_with('-') => {} // cargo's own flags, such as --nocapture
                other => {
                    return Err(format!(
                    "unknown scenario `{other}`: give rate-limited, throughput, memory, hostile, state, export or import"
                ))
                }
            }
        }
        Ok(options)
    }

    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.is_empty() || self.scenarios.iter().any(|s| s == scenario)
    }

    /// `bench` at full size, `smoke` for a quick check of the harness.
    fn pick<T>(&self, bench: T, smoke: T) -> T {
        if self.bench {
            bench
        } else {
            smoke
        }
    }

    fn runs(&self, bench: usize) -> usize {
        self.runs.unwrap_or(self.pick(bench, 1))
    }
}

/// The rows of the results and whether each goal was met.
#[derive(Default)]
struct Report {
    sections: Vec<(String, Vec<String>)>,
    goals: Vec<(String, Option<bool>)>,
}

impl Report {
    fn section(&mut self, title: &str, header: &str) {
        let rule = header
            .split('|')
            .filter(|c| !c.trim().is_empty())
            .map(|_| "---")
            .collect::<Vec<_>>()
            .join("|");
        println!("\n{title}\n{header}");
        self.sections.push((
            title.to_owned(),
            vec![header.to_owned(), format!("|{rule}|")],
        ));
    }

    fn row(&mut self, row: String) {
        println!("{row}");
        if let Some((_, rows)) = self.sections.last_mut() {
            rows.push(row);
        }
    }

    /// A goal, checked only in a full benchmark run (`met` is `None` otherwise).
    fn goal(&mut self, text: String, met: Option<bool>) {
        self.goals.push((text, met));
    }

    fn missed(&self) -> bool {
        self.goals.iter().any(|(_, met)| *met == Some(false))
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        for (title, rows) in &self.sections {
            let _ = writeln!(out, "### {title}\n");
            for row in rows {
                let _ = writeln!(out, "{row}");
            }
            out.push('\n');
        }
        let _ = writeln!(out, "### Goals\n");
        for (text, met) in &self.goals {
            let mark = match met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "not checked (smoke run)",
            };
            let _ = writeln!(out, "- {text}: {mark}");
        }
        out
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty(), "a median of no values");
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// A customer record, unique by `tag` and `i`, in Plain's documented shape.
fn input(tag: &str, i: usize) -> UpsertCustomerInput {
    let email = format!("customer-{i}.{tag}@example.com");
    UpsertCustomerInput::new(
        CustomerIdentifier::email(email.clone()),
        OnCreate::new(
            format!("Customer {i} {tag}"),
            EmailAddress::unverified(email),
        )
        .short_name(format!("Customer {i}"))
        .external_id(format!("crm-{tag}-{i:07}")),
    )
    .on_update(OnUpdate::new().full_name(format!("Customer {i} {tag}")))
}

/// Writes `n` records as JSON Lines.
fn write_records(path: &Path, tag: &str, n: usize) {
    let mut out = BufWriter::new(File::create(path).expect("create the records file"));
    for i in 0..n {
        serde_json::to_writer(&mut out, &input(tag, i)).expect("write a record");
        out.write_all(b"\n").expect("write a record");
    }
    out.flush().expect("write the records file");
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sync-bench");
    std::fs::create_dir_all(&dir).expect("create the scratch folder");
    dir.join(name)
}

/// `plain serve` in its own process.
struct Server {
    child: Child,
    endpoint: String,
    stderr: ChildStderr,
}

impl Drop for Server {
    /// A run that panicked leaves no server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(PLAIN)
            .args(["serve", "--port", "0", "--api-key", KEY])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start plain serve");
        let mut endpoint = String::new();
        let stdout = child.stdout.take().expect("the server's stdout");
        BufReader::new(stdout)
            .read_line(&mut endpoint)
            .expect("read the server's endpoint");
        assert!(
            endpoint.starts_with("http://"),
            "plain serve printed {endpoint:?}"
        );
        let stderr = child.stderr.take().expect("the server's stderr");
        Server {
            child,
            endpoint: endpoint.trim().to_owned(),
            stderr,
        }
    }

    /// Stops the server as Ctrl-C would; returns the requests it served and its 429 answers.
    fn stop(&mut self) -> (u64, u64) {
        signal(self.child.id(), libc::SIGINT);
        let status = self.child.wait().expect("wait for plain serve");
        let mut log = String::new();
        self.stderr
            .read_to_string(&mut log)
            .expect("read the server's log");
        assert!(status.success(), "plain serve ended with {status}: {log}");
        let served = log
            .lines()
            .find(|l| l.contains("served"))
            .unwrap_or_else(|| panic!("no count of requests in the server's log: {log}"));
        (
            number_before(served, " requests"),
            number_before(served, " answered 429"),
        )
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("a process id");
    // SAFETY: kill(2) only sends a signal to a process of ours.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill({pid}, {signal}) failed");
}

/// The whole number that ends just before `marker` in `text`.
fn number_before(text: &str, marker: &str) -> u64 {
    let end = text
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in {text:?}"));
    let digits = text[..end]
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or_default();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number before `{marker}` in {text:?}"))
}

/// The whole number that follows `marker` in `text`, or 0 when `marker` is absent.
fn number_after(text: &str, marker: &str) -> u64 {
    let Some(start) = text.find(marker) else {
        return 0;
    };
    let digits: String = text[start + marker.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after `{marker}` in {text:?}"))
}

/// What one `plain sync-customers` process did, as it reported and as the kernel measured.
struct SyncRun {
    wall: Duration,
    cpu: Duration,
    peak_rss_bytes: u64,
    created: u64,
    failed: u64,
    requests: u64,
    rate_limited: u64,
    result_lines: u64,
}

/// Runs `plain sync-customers` on `records` against `endpoint` with `args`, and waits for it:
/// its exit code, resource usage, wall time and summary line.
fn run_sync(
    endpoint: &str,
    records: &Path,
    args: &[&str],
) -> (i32, libc::rusage, Duration, String) {
    let records = records.to_str().expect("a records path in UTF-8");
    let mut all = vec![records];
    all.extend_from_slice(args);
    run_plain("sync-customers", endpoint, &all, " records in ")
}

/// Runs `plain SUBCOMMAND ARGS... --api-url ENDPOINT` with the key, and waits for it: its exit
/// code, resource usage, wall time and the last line of its stderr that holds `marker` (its
/// summary).
fn run_plain(
    subcommand: &str,
    endpoint: &str,
    args: &[&str],
    marker: &str,
) -> (i32, libc::rusage, Duration, String) {
    let started = Instant::now();
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by wait4, which also gives its resource usage"
    )]
    let mut child = Command::new(PLAIN)
        .arg(subcommand)
        .args(args)
        .args(["--api-url", endpoint])
        .env("PLAIN_API_KEY", KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start plain {subcommand}: {e}"));
    let mut stderr = child.stderr.take().expect("the process's stderr");
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        log
    });
    let (status, usage) = wait4(&child);
    let wall = started.elapsed();
    let log = log.join().expect("read the process's log");
    let summary = log
        .lines()
        .rev()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no summary from plain {subcommand} (exit {status}):\n{log}"))
        .to_owned();
    (status, usage, wall, summary)
}

/// Runs `plain sync-customers` on `records` against `server` and waits for it.
fn sync(server: &Server, records: &Path, concurrency: usize, expected: usize) -> SyncRun {
    let results = records.with_extension("results.jsonl");
    let concurrency = concurrency.to_string();
    let results_arg = results.to_string_lossy();
    let (status, usage, wall, summary) = run_sync(
        &server.endpoint,
        records,
        &["--concurrency", &concurrency, "--results", &results_arg],
    );
    assert_eq!(status, 0, "plain sync-customers exited {status}: {summary}");
    let summary = summary.as_str();
    let results = BufReader::new(File::open(&results).expect("open the results file"));
    let mut result_lines = 0;
    for line in results.lines() {
        let line = line.expect("read the results file");
        assert!(line.contains(r#""result":"CREATED""#), "{line}");
        result_lines += 1;
    }
    let run = SyncRun {
        wall,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        // ru_maxrss is in KiB on Linux.
        peak_rss_bytes: u64::try_from(usage.ru_maxrss).expect("a size") * 1024,
        created: number_after(summary, "created "),
        failed: number_after(summary, "failed "),
        requests: number_before(summary, " requests"),
        rate_limited: number_before(summary, " answered 429"),
        result_lines,
    };
    assert_eq!(
        (run.created, run.failed, run.result_lines),
        (expected as u64, 0, expected as u64),
        "not every record was created: {summary}"
    );
    run
}

/// Waits for a child, returning its exit code and resource usage (of it alone).
fn wait4(child: &Child) -> (i32, libc::rusage) {
    let pid = libc::pid_t::try_from(child.id()).expect("a process id");
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4(2) fills in; the pid is our own child, which
    // nothing else waits for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    assert!(libc::WIFEXITED(status), "the child was killed: {status}");
    (libc::WEXITSTATUS(status), usage)
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// The CPU time used, all threads together, by this process (`RUSAGE_SELF`) or by its children
/// that have ended and been waited for (`RUSAGE_CHILDREN`): (user, system).
fn cpu_used(who: libc::c_int) -> (Duration, Duration) {
    // SAFETY: rusage is plain data that getrusage(2) fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let done = unsafe { libc::getrusage(who, &mut usage) };
    assert_eq!(done, 0, "getrusage failed");
    (timeval(usage.ru_utime), timeval(usage.ru_stime))
}

fn rate_limited(options: &Options, report: &mut Report) {
    let (n, limit, window) = options.pick((1000, 50, 2.0), (30, 10, 0.5));
    let n = options.records.unwrap_or(n);
    let runs = options.runs(3);
    let concurrency = 8;
    let bound = ((n.div_ceil(limit) - 1) as f64 * window + 1.0) * 1.05;
    let records = scratch(&format!("rate-limited-{n}.jsonl"));
    write_records(&records, "rl", n);
    report.section(
        &format!(
            "Rate-limited: {n} records, {limit} requests per {window} s window, concurrency \
             {concurrency}"
        ),
        "| run | time (s) | bound (s) | failed | requests | answered 429 | 429 seen by the server |",
    );
    let mut times = Vec::new();
    let mut worst_429 = 0.0f64;
    for run in 1..=runs {
        let mut server = Server::start(&[
            "--rate-limit",
            &limit.to_string(),
            "--window",
            &window.to_string(),
        ]);
        let sync = sync(&server, &records, concurrency, n);
        let (served, served_429) = server.stop();
        assert_eq!(served, sync.requests, "the client and server disagree");
        let seconds = sync.wall.as_secs_f64();
        times.push(seconds);
        worst_429 = worst_429.max(sync.rate_limited as f64 / sync.requests as f64);
        report.row(format!(
            "| {run} | {seconds:.2} | {bound:.2} | {} | {} | {} | {served_429} |",
            sync.failed, sync.requests, sync.rate_limited
        ));
    }
    let time = median(times);
    report.row(format!("| median | {time:.2} | {bound:.2} | | | | |"));
    let check = options.bench.then_some(());
    report.goal(
        format!(
            "rate-limited: median {time:.2} s ≤ 1.05 × ((⌈{n}/{limit}⌉ − 1) × {window} s + 1 s) = \
             {bound:.2} s"
        ),
        check.map(|()| time <= bound),
    );
    report.goal(
        format!(
            "rate-limited: at most 1% of requests answered 429 (worst run {:.2}%)",
            worst_429 * 100.0
        ),
        check.map(|()| worst_429 <= 0.01),
    );
}

/// One measured batch of upserts.
struct Measured {
    wall: Duration,
    cpu: Duration,
    system: Duration,
}

impl Measured {
    fn per_second(&self, n: usize) -> f64 {
        n as f64 / self.wall.as_secs_f64()
    }

    /// CPU seconds per 1,000 upserts.
    fn cpu_per_1000(&self, n: usize) -> f64 {
        self.cpu.as_secs_f64() * 1000.0 / n as f64
    }
}

/// Measures `run`, which returns how many of its `n` upserts succeeded: the CPU of this process
/// (`RUSAGE_SELF`), or of the child processes it runs and waits for (`RUSAGE_CHILDREN`).
fn measure(who: libc::c_int, run: impl FnOnce() -> usize, n: usize, what: &str) -> Measured {
    let (user, system) = cpu_used(who);
    let started = Instant::now();
    let ok = run();
    let wall = started.elapsed();
    let (user_after, system_after) = cpu_used(who);
    let measured = Measured {
        wall,
        cpu: (user_after - user) + (system_after - system),
        system: system_after - system,
    };
    assert_eq!(ok, n, "{what}: {} of {n} upserts failed", n - ok);
    measured
}

/// `PlainClient::bulk`, as a user of the library calls it.
fn with_crate(
    runtime: &tokio::runtime::Runtime,
    endpoint: &str,
    inputs: Vec<UpsertCustomerInput>,
    concurrency: usize,
) -> Measured {
    let n = inputs.len();
    let client = PlainClient::builder()
        .api_key(KEY)
        .endpoint(endpoint)
        .build()
        .expect("a client");
    let run = || {
        runtime.block_on(async {
            client
                .bulk()
                .concurrency(concurrency)
                .upsert(inputs)
                .filter(|outcome| std::future::ready(outcome.result.is_ok()))
                .count()
                .await
        })
    };
    measure(libc::RUSAGE_SELF, run, n, "plain-client")
}

/// Bare `reqwest`: the same bodies, serialized beforehand, posted with the same headers (the URL
/// and header values made once), a task per request, and only the status and the body's
/// arrival checked.
fn with_reqwest(
    runtime: &tokio::runtime::Runtime,
    endpoint: &str,
    bodies: Vec<Vec<u8>>,
    concurrency: usize,
) -> Measured {
    let n = bodies.len();
    let http = reqwest::Client::new();
    // Parsed once, as the crate does.
    let url = reqwest::Url::parse(endpoint).expect("the endpoint");
    let authorization = HeaderValue::from_str(&format!("Bearer {KEY}")).expect("a header");
    let json = HeaderValue::from_static("application/json");
    let run = || {
        runtime.block_on(async {
            stream::iter(bodies)
                .map(|body| {
                    let request = http
                        .post(url.clone())
                        .header(AUTHORIZATION, authorization.clone())
                        .header(CONTENT_TYPE, json.clone())
                        .body(body);
                    let task = tokio::spawn(async move {
                        let response = request.send().await.ok()?;
                        let ok = response.status().is_success();
                        let body = response.bytes().await.ok()?;
                        (ok && !body.is_empty()).then_some(())
                    });
                    async move { task.await.ok().flatten() }
                })
                .buffer_unordered(concurrency)
                .filter(|sent| std::future::ready(sent.is_some()))
                .count()
                .await
        })
    };
    measure(libc::RUSAGE_SELF, run, n, "bare reqwest")
}

/// What the TypeScript SDK harness in `benches/ts-sdk` printed for one run.
struct SdkRun {
    version: String,
    wall: f64,
    /// CPU seconds of the upserts alone.
    cpu: f64,
    /// CPU seconds of the whole Node process, start-up included.
    process_cpu: f64,
    peak_rss_bytes: u64,
}

fn ts_sdk_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ts-sdk");
    dir.join("node_modules").is_dir().then_some(dir)
}

/// Plain's full schema, which the server needs to serve the TypeScript SDK's wider selection.
fn plain_schema() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/plain/schema.graphql");
    path.is_file().then_some(path)
}

fn with_ts_sdk(dir: &Path, endpoint: &str, records: &Path, concurrency: usize, n: usize) -> SdkRun {
    let output = Command::new("node")
        .arg(dir.join("upsert.mjs"))
        .args(["--endpoint", endpoint, "--api-key", KEY, "--input"])
        .arg(records)
        .args(["--concurrency", &concurrency.to_string()])
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the TypeScript SDK run failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).expect("the SDK's figures");
    assert_eq!(line["ok"], n, "the TypeScript SDK failed upserts: {line}");
    SdkRun {
        version: line["sdk"].as_str().unwrap_or("?").to_owned(),
        wall: line["wall_s"].as_f64().expect("wall_s"),
        cpu: line["loop_cpu_s"].as_f64().expect("loop_cpu_s"),
        process_cpu: line["process_cpu_s"].as_f64().expect("process_cpu_s"),
        peak_rss_bytes: line["max_rss_bytes"].as_u64().expect("max_rss_bytes"),
    }
}

/// CPU per upsert of Plain's TypeScript SDK 5.12.1 on Node 20, the figure the goal was set by.
const TS_SDK_CPU_PER_UPSERT: f64 = 0.0022;

/// The concurrency at which `plain sync-customers` and the TypeScript SDK are compared as whole
/// processes.
const WHOLE_PROCESS_CONCURRENCY: usize = 32;

/// `plain sync-customers` (no outputs) as one child process, start-up included: its CPU from
/// the kernel, once it ended having created every record.
fn with_plain_process(endpoint: &str, records: &Path, concurrency: usize, n: usize) -> Measured {
    let concurrency = concurrency.to_string();
    let run = || {
        let (status, _, _, summary) = run_sync(endpoint, records, &["--concurrency", &concurrency]);
        assert_eq!(status, 0, "plain sync-customers exited {status}: {summary}");
        assert_eq!(
            number_after(&summary, "failed "),
            0,
            "plain sync-customers failed records: {summary}"
        );
        usize::try_from(number_after(&summary, "created ")).expect("a count")
    };
    measure(libc::RUSAGE_CHILDREN, run, n, "plain sync-customers")
}

/// The TypeScript SDK's Node process, start-up included, measured as [`with_plain_process`] is.
fn with_sdk_process(
    dir: &Path,
    endpoint: &str,
    records: &Path,
    concurrency: usize,
    n: usize,
) -> (Measured, String) {
    let mut version = String::new();
    let run = || {
        version = with_ts_sdk(dir, endpoint, records, concurrency, n).version;
        n
    };
    (
        measure(libc::RUSAGE_CHILDREN, run, n, "TypeScript SDK"),
        version,
    )
}

/// The `plain` command itself against the TypeScript SDK, each a whole process on the client's
/// CPU, against the same server, taking turns going first in each round.
fn whole_process(options: &Options, report: &mut Report, sdk: Option<&Path>, extra: &[&str]) {
    let n = options.records.unwrap_or(options.pick(2000, 40));
    let rounds = options.runs(9);
    let concurrency = WHOLE_PROCESS_CONCURRENCY;
    report.section(
        &format!(
            "Whole process: `plain sync-customers` of {n} records at concurrency {concurrency}, \
             start-up included, medians of {rounds} rounds (CPU of the child process, from the \
             kernel)"
        ),
        "| client | records/s | CPU ms per record | of it in the kernel | CPU vs TS SDK measured \
         here, round by round (middle half) | CPU vs TS SDK (2.2 ms) |",
    );
    let (mut server, before, placement) = pinned_server(extra);
    let (mut ours, mut theirs, mut version) = (Vec::new(), Vec::new(), String::new());
    for round in 0..rounds {
        let records = scratch("whole-process-plain.jsonl");
        write_records(&records, &format!("wp{round}-plain"), n);
        let Some(dir) = sdk else {
            ours.push(with_plain_process(
                &server.endpoint,
                &records,
                concurrency,
                n,
            ));
            continue;
        };
        let sdk_records = scratch("whole-process-sdk.jsonl");
        write_records(&sdk_records, &format!("wp{round}-sdk"), n);
        let plain_run = || with_plain_process(&server.endpoint, &records, concurrency, n);
        let sdk_run = || with_sdk_process(dir, &server.endpoint, &sdk_records, concurrency, n);
        // Alternate which goes first, so that neither always meets a fuller store.
        let (plain, (sdk, sdk_version)) = if round % 2 == 0 {
            let plain = plain_run();
            (plain, sdk_run())
        } else {
            let sdk = sdk_run();
            (plain_run(), sdk)
        };
        ours.push(plain);
        theirs.push(sdk);
        version = sdk_version;
    }
    server.stop();
    set_affinity(&before);
    let rate = |m: &[Measured]| median(m.iter().map(|m| m.per_second(n)).collect());
    let cpu = |m: &[Measured]| median(m.iter().map(|m| m.cpu_per_1000(n)).collect());
    let kernel = |m: &[Measured]| {
        let shares = m
            .iter()
            .map(|m| m.system.as_secs_f64() / m.cpu.as_secs_f64());
        median(shares.collect()) * 100.0
    };
    let figure = TS_SDK_CPU_PER_UPSERT * 1000.0;
    let our_cpu = cpu(&ours);
    // The SDK's CPU over ours, round by round: how many times less ours uses.
    let ratios: Vec<f64> = theirs
        .iter()
        .zip(&ours)
        .map(|(sdk, plain)| sdk.cpu.as_secs_f64() / plain.cpu.as_secs_f64())
        .collect();
    let measured = (!ratios.is_empty()).then(|| (median(ratios.clone()), quartiles(ratios)));
    report.row(format!(
        "| plain sync-customers | {:.0} | {our_cpu:.4} | {:.0}% | {} | 1/{:.0} |",
        rate(&ours),
        kernel(&ours),
        measured.map_or("not measured".to_owned(), |(ratio, (low, high))| format!(
            "1/{ratio:.1} (1/{low:.1} to 1/{high:.1}; of the medians: 1/{:.1})",
            cpu(&theirs) / our_cpu
        )),
        figure / our_cpu,
    ));
    if !theirs.is_empty() {
        report.row(format!(
            "| TypeScript SDK {version} (node) | {:.0} | {:.4} | {:.0}% | | |",
            rate(&theirs),
            cpu(&theirs),
            kernel(&theirs),
        ));
    }
    report.row(format!("\nPlacement: {placement}."));
    let check = options.bench.then_some(());
    let (ratio, met) = match measured {
        Some((ratio, _)) => (
            format!("1/{ratio:.1} of the SDK's measured here"),
            ratio >= 20.0,
        ),
        None => (
            format!("1/{:.1} of the SDK's 2.2 ms", figure / our_cpu),
            our_cpu * 20.0 <= figure,
        ),
    };
    report.goal(
        format!(
            "whole process: `plain sync-customers` CPU per record {our_cpu:.3} ms ≤ 1/20 of the \
             TypeScript SDK's whole process ({ratio}, median of {rounds} rounds)"
        ),
        check.map(|()| met),
    );
}

/// The quartiles of a list: the medians of its lower and upper halves (each with the middle
/// value when the count is odd).
fn quartiles(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let half = values.len().div_ceil(2);
    let upper = values[values.len() - half..].to_vec();
    values.truncate(half);
    (median(values), median(upper))
}

/// The CPUs this thread may run on.
fn affinity() -> libc::cpu_set_t {
    // SAFETY: a zeroed cpu_set_t is an empty set; the call fills it for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        set
    }
}

fn set_affinity(set: &libc::cpu_set_t) {
    // SAFETY: `set` is a valid cpu_set_t; the call only changes the calling thread's CPUs.
    unsafe {
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set);
    }
}

/// A set of one CPU.
fn only(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: CPU_SET writes one bit of a zeroed set; `cpu` is below the machine's count.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    }
}

/// The two CPUs the client and the server are kept on, when this thread may use two or more.
fn two_cpus() -> Option<(usize, usize)> {
    let set = affinity();
    // SAFETY: CPU_ISSET reads one bit of a valid set.
    let mut cpus = (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) });
    Some((cpus.next()?, cpus.next()?))
}

/// Starts `plain serve` on one CPU and keeps this thread (the client's) on another, so that
/// neither moves between CPUs nor shares one with the other while it is measured: measured
/// unpinned, the same run's CPU figures moved by 15 points from one run to the next.
/// Returns the server and this thread's CPUs before, to restore when done.
fn pinned_server(extra: &[&str]) -> (Server, libc::cpu_set_t, String) {
    let before = affinity();
    let Some((client_cpu, server_cpu)) = two_cpus() else {
        return (
            Server::start(extra),
            before,
            "not pinned: one CPU".to_owned(),
        );
    };
    // A child starts with the CPUs of the thread that started it.
    set_affinity(&only(server_cpu));
    let server = Server::start(extra);
    set_affinity(&only(client_cpu));
    (
        server,
        before,
        format!("client on CPU {client_cpu}, server on CPU {server_cpu}"),
    )
}

fn throughput(options: &Options, report: &mut Report) {
    let n = options.records.unwrap_or(options.pick(2000, 40));
    let rounds = options.runs(41);
    let sdk = options.bench.then(ts_sdk_dir).flatten().zip(plain_schema());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let extra: Vec<String> = match &sdk {
        Some((_, schema)) => vec!["--schema".to_owned(), schema.to_string_lossy().into_owned()],
        None => Vec::new(),
    };
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    report.section(
        &format!(
            "Unthrottled: {rounds} rounds of {n} upserts by each Rust client, medians (client CPU \
             only; the server is its own process)"
        ),
        "| concurrency | client | records/s | CPU s per 1,000 upserts | of it in the kernel | \
         CPU vs bare reqwest, round by round (middle half) | CPU vs TS SDK (2.2 ms) | CPU vs \
         TS SDK measured here |",
    );
    let levels = options
        .concurrency
        .clone()
        .unwrap_or_else(|| vec![1, 8, 64]);
    let mut placement = String::new();
    for concurrency in levels {
        // A fresh server for each level, so that no level meets a fuller store than another.
        let (mut server, before, pinned) = pinned_server(&extra);
        placement = pinned;
        let mut ours = Vec::new();
        let mut bare = Vec::new();
        for round in 0..rounds {
            let inputs = |who: &str| -> Vec<UpsertCustomerInput> {
                let tag = format!("tp{concurrency}-{round}-{who}");
                (0..n).map(|i| input(&tag, i)).collect()
            };
            let crate_inputs = inputs("crate");
            let bodies: Vec<Vec<u8>> = inputs("reqwest")
                .into_iter()
                .map(|i| serde_json::to_vec(&upsert_customer_request(i)).expect("a body"))
                .collect();
            // Alternate which goes first, so that neither always meets a warmer server.
            let crate_run = || with_crate(&runtime, &server.endpoint, crate_inputs, concurrency);
            let bare_run = || with_reqwest(&runtime, &server.endpoint, bodies, concurrency);
            if round % 2 == 0 {
                ours.push(crate_run());
                bare.push(bare_run());
            } else {
                bare.push(bare_run());
                ours.push(crate_run());
            }
        }
        let rate = |m: &[Measured]| median(m.iter().map(|m| m.per_second(n)).collect());
        let cpu = |m: &[Measured]| median(m.iter().map(|m| m.cpu_per_1000(n)).collect());
        let kernel = |m: &[Measured]| {
            median(
                m.iter()
                    .map(|m| m.system.as_secs_f64() / m.cpu.as_secs_f64())
                    .collect(),
            )
        };
        let (our_cpu, bare_cpu) = (cpu(&ours), cpu(&bare));
        // Each round's two runs meet the same server at the same moment: their ratio is far
        // steadier than the ratio of two medians taken apart.
        let ratios: Vec<f64> = ours
            .iter()
            .zip(&bare)
            .map(|(o, b)| o.cpu.as_secs_f64() / b.cpu.as_secs_f64())
            .collect();
        let overhead = median(ratios.clone()) - 1.0;
        let (low, high) = quartiles(ratios);

        let measured_sdk = sdk.as_ref().map(|(dir, _)| {
            let records = scratch(&format!("ts-sdk-{concurrency}.jsonl"));
            (0..3)
                .map(|run| {
                    write_records(&records, &format!("ts{concurrency}-{run}"), n);
                    with_ts_sdk(dir, &server.endpoint, &records, concurrency, n)
                })
                .collect::<Vec<SdkRun>>()
        });
        server.stop();
        set_affinity(&before);
        let per_1000 = |cpu: f64| cpu * 1000.0 / n as f64;
        let sdk_loop = measured_sdk
            .as_ref()
            .map(|runs| median(runs.iter().map(|r| per_1000(r.cpu)).collect()));
        let figure = TS_SDK_CPU_PER_UPSERT * 1000.0;
        report.row(format!(
            "| {concurrency} | plain-client | {:.0} | {our_cpu:.4} | {:.0}% | {:+.1}% ({:+.0}% to \
             {:+.0}%; of the medians: {:+.1}%) | 1/{:.0} | {} |",
            rate(&ours),
            kernel(&ours) * 100.0,
            overhead * 100.0,
            (low - 1.0) * 100.0,
            (high - 1.0) * 100.0,
            (our_cpu / bare_cpu - 1.0) * 100.0,
            figure / our_cpu,
            sdk_loop.map_or("not measured".to_owned(), |sdk| format!(
                "1/{:.0}",
                sdk / our_cpu
            )),
        ));
        report.row(format!(
            "| {concurrency} | bare reqwest | {:.0} | {bare_cpu:.4} | {:.0}% | | 1/{:.0} | {} |",
            rate(&bare),
            kernel(&bare) * 100.0,
            figure / bare_cpu,
            sdk_loop.map_or(String::new(), |sdk| format!("1/{:.0}", sdk / bare_cpu)),
        ));
        if let (Some(runs), Some(sdk_loop)) = (&measured_sdk, sdk_loop) {
            let rate = median(runs.iter().map(|r| n as f64 / r.wall).collect());
            let whole = median(runs.iter().map(|r| per_1000(r.process_cpu)).collect());
            let rss = median(runs.iter().map(|r| r.peak_rss_bytes as f64 / 1e6).collect());
            report.row(format!(
                "| {concurrency} | TypeScript SDK {} | {rate:.0} | {sdk_loop:.4} | | | \
                 whole process: {whole:.4} | peak RSS {rss:.0} MB |",
                runs[0].version
            ));
        }
        let check = options.bench.then_some(());
        report.goal(
            format!(
                "concurrency {concurrency}: CPU overhead over bare reqwest {:+.1}% ≤ 30% (median \
                 of {rounds} rounds)",
                overhead * 100.0
            ),
            check.map(|()| overhead <= 0.30),
        );
        report.goal(
            format!(
                "concurrency {concurrency}: CPU per upsert {:.3} ms ≤ 1/20 of the TypeScript \
                 SDK's 2.2 ms (1/{:.0}; 1/{} of its upserts' CPU measured in this run)",
                our_cpu,
                figure / our_cpu,
                sdk_loop.map_or("?".to_owned(), |sdk| format!("{:.0}", sdk / our_cpu)),
            ),
            check.map(|()| our_cpu * 20.0 <= figure),
        );
    }
    report.row(format!("\nPlacement: {placement}."));
    whole_process(
        options,
        report,
        sdk.as_ref().map(|(dir, _)| dir.as_path()),
        &extra,
    );
    if options.bench && sdk.is_none() {
        eprintln!(
            "sync bench: benches/ts-sdk is not installed (npm ci --prefix benches/ts-sdk) or \
             ../shared/plain/schema.graphql is missing: the TypeScript SDK was not measured"
        );
    }
}

fn memory(options: &Options, report: &mut Report) {
    let (small, large) = options.pick((10_000, 1_000_000), (200, 2000));
    let large = options.records.unwrap_or(large);
    let runs = options.runs(3);
    let concurrency = 8;
    report.section(
        &format!(
            "Memory: peak RSS of `plain sync-customers` (concurrency {concurrency}), median of \
             {runs} runs"
        ),
        "| records | input file (MB) | time (s) | records/s | peak RSS (MB) | CPU s |",
    );
    let mut peaks = Vec::new();
    for n in [small, large] {
        let records = scratch(&format!("memory-{n}.jsonl"));
        write_records(&records, "mem", n);
        let size = std::fs::metadata(&records).expect("the records file").len();
        let mut measured = Vec::new();
        for _ in 0..runs {
            // A new server each run: every record is created, never a no-op.
            let mut server = Server::start(&[]);
            measured.push(sync(&server, &records, concurrency, n));
            server.stop();
        }
        let wall = median(measured.iter().map(|r| r.wall.as_secs_f64()).collect());
        let cpu = median(measured.iter().map(|r| r.cpu.as_secs_f64()).collect());
        let peak = median(
            measured
                .iter()
                .map(|r| r.peak_rss_bytes as f64 / 1e6)
                .collect(),
        );
        report.row(format!(
            "| {n} | {:.0} | {wall:.1} | {:.0} | {peak:.1} | {cpu:.1} |",
            size as f64 / 1e6,
            n as f64 / wall
        ));
        peaks.push(peak);
        let _ = std::fs::remove_file(records.with_extension("results.jsonl"));
    }
    let (small_peak, large_peak) = (peaks[0], peaks[1]);
    let check = options.bench.then_some(());
    report.goal(
        format!("memory: peak RSS for {large} records {large_peak:.1} MB < 64 MB"),
        check.map(|()| large_peak < 64.0),
    );
    report.goal(
        format!(
            "memory: peak RSS for {large} records within 10% of {small} records ({:+.1}%)",
            (large_peak / small_peak - 1.0) * 100.0
        ),
        check.map(|()| large_peak <= small_peak * 1.10),
    );
}

/// A `plain sync-customers` run that is expected to fail records: its exit code, peak RSS
/// (bytes), wall time and summary line.
fn failing_sync(endpoint: &str, records: &Path, extra: &[&str]) -> (i32, u64, Duration, String) {
    let mut args = vec!["--max-attempts", "1", "--quiet"];
    args.extend_from_slice(extra);
    let (status, usage, wall, summary) = run_sync(endpoint, records, &args);
    let peak = u64::try_from(usage.ru_maxrss).expect("a size") * 1024;
    (status, peak, wall, summary)
}

/// Writes `lines` malformed lines of about `width` bytes each, every `long_every`-th one
/// `long` bytes instead (past the record cap), to about `total` bytes.
fn write_malformed(path: &Path, total: u64, width: usize, long: usize, long_every: usize) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).expect("create the input"));
    let short = {
        let mut line = vec![b'x'; width];
        line[0] = b'{';
        line.push(b'\n');
        line
    };
    let long = {
        let mut line = vec![b'y'; long];
        line[0] = b'[';
        line.push(b'\n');
        line
    };
    let (mut written, mut lines) = (0u64, 0u64);
    while written < total {
        lines += 1;
        let line = if long_every > 0 && lines % long_every as u64 == 0 {
            &long
        } else {
            &short
        };
        out.write_all(line).expect("write the input");
        written += line.len() as u64;
    }
    out.flush().expect("write the input");
    lines
}

fn hostile(options: &Options, report: &mut Report) {
    let check = options.bench.then_some(());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the endless server");
    report.section(
        "Hostile server: `plain sync-customers` against endless answer bodies (peak RSS)",
        "| concurrency | records | failed | time (s) | peak RSS (MB) |",
    );
    let levels = options.pick(vec![8, 64, 1024], vec![8]);
    let n_per_level = options.pick(4_000, 100);
    let mut worst: f64 = 0.0;
    for concurrency in levels {
        let n = n_per_level.max(concurrency * 2);
        let server = runtime.block_on(async {
            plain_client::testing::LocalServer::builder()
                .api_key(KEY)
                .request_log_limit(16)
                .start()
                .await
                .expect("start the endless server")
        });
        server.script((0..n).map(|_| plain_client::testing::ScriptedAnswer::endless(200)));
        let records = scratch(&format!("endless-{n}.jsonl"));
        write_records(&records, "endless", n);
        let (status, peak, wall, summary) = failing_sync(
            server.endpoint(),
            &records,
            &["--concurrency", &concurrency.to_string()],
        );
        assert_eq!(
            status, 6,
            "some records failed, every one answered: {summary}"
        );
        let failed = number_after(&summary, "failed ");
        assert_eq!(failed, n as u64, "every record failed: {summary}");
        assert!(summary.contains("response_too_large"), "{summary}");
        let peak_mb = peak as f64 / 1e6;
        worst = worst.max(peak_mb);
        report.row(format!(
            "| {concurrency} | {n} | {failed} | {:.1} | {peak_mb:.1} |",
            wall.as_secs_f64()
        ));
        drop(server);
    }
    report.goal(
        format!("hostile: peak RSS against endless answers {worst:.1} MB < 64 MB"),
        check.map(|()| worst < 64.0),
    );

    report.section(
        "Hostile input: `plain sync-customers` reading malformed lines (peak RSS)",
        "| input (MB) | lines | malformed | time (s) | MB/s | peak RSS (MB) |",
    );
    let total = options.pick(1_000_000_000, 20_000_000);
    let records = scratch("malformed.jsonl");
    // One line in 1,000 is 4 MiB, four times the default record cap.
    let lines = write_malformed(&records, total, 1_000, 4 << 20, 1_000);
    let server = Server::start(&[]);
    let (status, peak, wall, summary) =
        failing_sync(&server.endpoint, &records, &["--rejects", "/dev/null"]);
    assert_eq!(status, 6, "every line is malformed: {summary}");
    let malformed = number_after(&summary, "failed ");
    assert_eq!(malformed, lines, "every line is accounted for: {summary}");
    let size = std::fs::metadata(&records).expect("the input").len() as f64 / 1e6;
    let peak_mb = peak as f64 / 1e6;
    report.row(format!(
        "| {size:.0} | {lines} | {malformed} | {:.1} | {:.0} | {peak_mb:.1} |",
        wall.as_secs_f64(),
        size / wall.as_secs_f64()
    ));
    report.goal(
        format!(
            "hostile: peak RSS reading {size:.0} MB of malformed lines {peak_mb:.1} MB < 64 MB"
        ),
        check.map(|()| peak_mb < 64.0),
    );
    let _ = std::fs::remove_file(&records);
}

/// `records` with every hundredth record renamed: the same customers, 1% of them changed.
fn write_changed(path: &Path, tag: &str, n: usize) -> usize {
    let mut out = BufWriter::new(File::create(path).expect("create the records file"));
    let mut changed = 0;
    for i in 0..n {
        let mut record = input(tag, i);
        if i % 100 == 0 {
            record = record.on_update(OnUpdate::new().full_name(format!("Renamed {i}")));
            changed += 1;
        }
        serde_json::to_writer(&mut out, &record).expect("write a record");
        out.write_all(b"\n").expect("write a record");
    }
    out.flush().expect("write the records file");
    changed
}

/// A `plain sync-customers --state` run that must succeed: its wall time, peak RSS (bytes)
/// and summary line.
fn state_sync(
    endpoint: &str,
    records: &Path,
    state: &Path,
    extra: &[&str],
) -> (Duration, u64, String) {
    let state = state.to_string_lossy();
    let mut args = vec!["--state", &*state];
    args.extend_from_slice(extra);
    let (status, usage, wall, summary) = run_sync(endpoint, records, &args);
    assert_eq!(
        status, 0,
        "plain sync-customers --state exited {status}: {summary}"
    );
    let peak = u64::try_from(usage.ru_maxrss).expect("a size") * 1024;
    (wall, peak, summary)
}

/// A state file's size with its write-ahead log, if one is left.
fn state_size(state: &Path) -> u64 {
    let wal = PathBuf::from(format!("{}-wal", state.display()));
    [state.to_path_buf(), wal]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn remove_state(state: &Path) {
    for suffix in ["", "-wal", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", state.display()));
    }
}

/// The workspace every server of the `state` scenarios passes for: a state is bound to one.
const STATE_WORKSPACE: [&str; 2] = ["--workspace-id", "w_bench"];

/// A run with `--state` asks Plain once which workspace the key reaches, before any upsert.
const WORKSPACE_QUESTIONS: u64 = 1;

/// `state`: what `--state` saves. A re-sync after 1% changed, under the rate limit; a re-sync
/// of a million unchanged records; a re-run after `kill -9`.
fn state(options: &Options, report: &mut Report) {
    let check = options.bench.then_some(());
    let runs = options.runs(3);
    let concurrency = 8;

    // 1% changed, under Plain's lowest rate limit.
    let n = options.pick(10_000, 300);
    let (limit, window) = options.pick((50, 2.0), (10, 0.5));
    let records = scratch(&format!("state-{n}.jsonl"));
    let changed_records = scratch(&format!("state-{n}-changed.jsonl"));
    write_records(&records, "st", n);
    let changed = write_changed(&changed_records, "st", n);
    let state_file = scratch(&format!("state-{n}.state"));
    report.section(
        &format!(
            "State: {n} records synced, then again with {changed} of them changed, under a rate \
             limit of {limit} per {window} s"
        ),
        "| run | first sync (s) | unchanged re-sync (s) | requests | changed re-sync (s) | requests (server) | bound (s) | state file (bytes per customer) |",
    );
    let (mut times, mut bounds, mut exact) = (Vec::new(), Vec::new(), true);
    for run in 1..=runs {
        remove_state(&state_file);
        let mut server = Server::start(&STATE_WORKSPACE);
        let (first, _, _) = state_sync(&server.endpoint, &records, &state_file, &[]);
        let (unchanged, _, summary) = state_sync(&server.endpoint, &records, &state_file, &[]);
        assert!(summary.contains(&format!("unchanged {n}")), "{summary}");
        let (served, _) = server.stop();
        assert_eq!(
            served,
            n as u64 + 2 * WORKSPACE_QUESTIONS,
            "the unchanged re-sync sent requests: {summary}"
        );
        let per_customer = state_size(&state_file) as f64 / n as f64;
        let mut limited = Server::start(&[
            "--rate-limit",
            &limit.to_string(),
            "--window",
            &window.to_string(),
            STATE_WORKSPACE[0],
            STATE_WORKSPACE[1],
        ]);
        let (second, _, summary) =
            state_sync(&limited.endpoint, &changed_records, &state_file, &[]);
        let (served, _) = limited.stop();
        let served = served - WORKSPACE_QUESTIONS;
        exact &= served == changed as u64;
        let bound = changed.div_ceil(limit) as f64 * window + unchanged.as_secs_f64();
        assert!(
            summary.contains(&format!("unchanged {}", n - changed)),
            "{summary}"
        );
        report.row(format!(
            "| {run} | {:.2} | {:.2} | 0 | {:.2} | {served} | {bound:.2} | {per_customer:.0} |",
            first.as_secs_f64(),
            unchanged.as_secs_f64(),
            second.as_secs_f64(),
        ));
        times.push(second.as_secs_f64());
        bounds.push(bound);
    }
    let (time, bound) = (median(times), median(bounds));
    report.goal(
        format!(
            "state: the re-sync after {changed} of {n} changed sends exactly {changed} requests"
        ),
        Some(exact),
    );
    report.goal(
        format!(
            "state: it takes {time:.2} s ≤ ⌈{changed}/{limit}⌉ × {window} s + the unchanged \
             re-sync's time = {bound:.2} s (medians)"
        ),
        check.map(|()| time <= bound),
    );

    // A million unchanged records.
    let big = options.records.unwrap_or(options.pick(1_000_000, 3_000));
    let records = scratch(&format!("state-{big}.jsonl"));
    write_records(&records, "big", big);
    let state_file = scratch(&format!("state-{big}.state"));
    remove_state(&state_file);
    let mut server = Server::start(&STATE_WORKSPACE);
    let (first, first_peak, _) = state_sync(&server.endpoint, &records, &state_file, &[]);
    report.section(
        &format!(
            "State: a re-sync of {big} unchanged records (the first sync took {:.1} s, peak RSS \
             {:.1} MB)",
            first.as_secs_f64(),
            first_peak as f64 / 1e6
        ),
        "| run | time (s) | records/s | peak RSS (MB) | requests (server, all runs) | state file (MB) | bytes per customer |",
    );
    let (mut times, mut peaks) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let (wall, peak, summary) = state_sync(&server.endpoint, &records, &state_file, &[]);
        assert!(summary.contains(&format!("unchanged {big}")), "{summary}");
        let size = state_size(&state_file);
        report.row(format!(
            "| {run} | {:.2} | {:.0} | {:.1} | | {:.1} | {:.0} |",
            wall.as_secs_f64(),
            big as f64 / wall.as_secs_f64(),
            peak as f64 / 1e6,
            size as f64 / 1e6,
            size as f64 / big as f64
        ));
        times.push(wall.as_secs_f64());
        peaks.push(peak as f64 / 1e6);
    }
    let (served, _) = server.stop();
    let resent = served - big as u64 - (runs as u64 + 1) * WORKSPACE_QUESTIONS;
    report.row(format!("| requests | | | | {resent} | | |"));
    let (time, peak) = (median(times), median(peaks));
    let per_customer = state_size(&state_file) as f64 / big as f64;
    report.goal(
        format!("state: the unchanged re-syncs of {big} records sent {resent} requests (0)"),
        Some(resent == 0),
    );
    report.goal(
        format!("state: the unchanged re-sync of {big} records takes {time:.2} s ≤ 10 s (median)"),
        check.map(|()| time <= 10.0),
    );
    report.goal(
        format!("state: its peak RSS is {peak:.1} MB < 64 MB (median)"),
        check.map(|()| peak < 64.0),
    );
    report.goal(
        format!("state: the state file holds {per_customer:.0} bytes per customer < 200"),
        check.map(|()| per_customer < 200.0),
    );
    remove_state(&state_file);

    // kill -9 in the middle, then a re-run with the same state.
    let n = options.pick(10_000, 400);
    let records = scratch(&format!("state-kill-{n}.jsonl"));
    write_records(&records, "kill", n);
    let state_file = scratch(&format!("state-kill-{n}.state"));
    let results = scratch(&format!("state-kill-{n}.results.jsonl"));
    report.section(
        &format!("State: kill -9 in the middle of a {n}-record sync, then a re-run (concurrency {concurrency})"),
        "| run | confirmed before the kill | re-run requests (server) | bound: not confirmed + concurrency |",
    );
    let mut within = true;
    for run in 1..=runs {
        remove_state(&state_file);
        let _ = std::fs::remove_file(&results);
        let mut server = Server::start(&STATE_WORKSPACE);
        let mut child = Command::new(PLAIN)
            .arg("sync-customers")
            .arg(&records)
            .args(["--api-url", &server.endpoint, "--quiet"])
            .args(["--concurrency", &concurrency.to_string()])
            .arg("--state")
            .arg(&state_file)
            .arg("--results")
            .arg(&results)
            .env("PLAIN_API_KEY", KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start plain sync-customers");
        let lines = || {
            std::fs::read(&results)
                .map(|b| b.iter().filter(|&&c| c == b'\n').count())
                .unwrap_or(0)
        };
        while lines() < n / 2 {
            assert!(
                child.try_wait().expect("the sync").is_none(),
                "the sync ended before the kill"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        signal(child.id(), libc::SIGKILL);
        let _ = child.wait();
        server.stop();
        let confirmed = lines();
        assert!(confirmed < n, "the sync finished before the kill");
        let mut again = Server::start(&STATE_WORKSPACE);
        let (_, _, summary) = state_sync(&again.endpoint, &records, &state_file, &[]);
        let (served, _) = again.stop();
        let served = served - WORKSPACE_QUESTIONS;
        let bound = (n - confirmed + concurrency) as u64;
        within &= served <= bound;
        assert!(summary.contains("failed 0"), "{summary}");
        report.row(format!("| {run} | {confirmed} | {served} | {bound} |"));
    }
    report.goal(
        "state: after kill -9, a re-run sends at most the records not confirmed + the concurrency"
            .to_owned(),
        Some(within),
    );
}
