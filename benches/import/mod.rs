//! The `import` scenario: `plain sync-customers --import` against `plain serve`, measured as a
//! whole process, with the requests counted by the server.
//!
//! - First sync: fresh records that all qualify, under a rate limit: at most ⌈N/25⌉ requests,
//!   within 1.05 × the floor of those requests + 1 s, beside the per-record sync of the same
//!   input under the same limit, and the ratio of the two.
//! - Mixed: every fifth record does not qualify: exactly ⌈qualifying/25⌉ + the others.
//! - Fallback: one batch in ten skips a customer: every record ends with a result, and the
//!   extra requests are exactly the fallback's, 25 per faulty batch.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use plain_client::{CustomerIdentifier, EmailAddress, OnCreate, OnUpdate, UpsertCustomerInput};

use super::{median, number_after, run_sync, scratch, timeval, Options, Report, Server};

/// The most customers `importCustomers` takes.
const BATCH: usize = 25;

/// Customer `i` of `tag`: qualifying for a batch, unless `by_email`.
fn record(tag: &str, i: usize, by_email: bool) -> UpsertCustomerInput {
    let email = EmailAddress::unverified(format!("customer-{i}.{tag}@example.com"));
    let external_id = format!("crm-{tag}-{i:07}");
    let name = format!("Customer {i} {tag}");
    let identifier = if by_email {
        CustomerIdentifier::email(email.email.clone())
    } else {
        CustomerIdentifier::external_id(external_id.clone())
    };
    UpsertCustomerInput::new(
        identifier,
        OnCreate::new(name.clone(), email.clone()).external_id(external_id),
    )
    .on_update(OnUpdate::new().full_name(name).email(email))
}

/// Writes `n` records; every fifth does not qualify when `mixed`. Returns how many qualify.
fn write(path: &Path, tag: &str, n: usize, mixed: bool) -> usize {
    let mut out = BufWriter::new(File::create(path).expect("create the records file"));
    let mut qualifying = 0;
    for i in 0..n {
        let by_email = mixed && i % 5 == 4;
        qualifying += usize::from(!by_email);
        serde_json::to_writer(&mut out, &record(tag, i, by_email)).expect("write a record");
        out.write_all(b"\n").expect("write a record");
    }
    out.flush().expect("write the records file");
    qualifying
}

/// One `plain sync-customers` run, as it reported and as the server and the kernel counted.
struct Run {
    wall: f64,
    cpu: f64,
    /// Requests the server answered other than with 429.
    requests: u64,
    answered_429: u64,
    imported: u64,
    /// Records with a result other than IMPORTED, and failed ones.
    upserted: u64,
    failed: u64,
}

/// Syncs `records` (`n` of them) into a new `plain serve` started with `serve_args`.
fn run(records: &Path, n: usize, serve_args: &[&str], import: bool) -> Run {
    let mut server = Server::start(serve_args);
    let results = records.with_extension("results.jsonl");
    let results_arg = results.to_string_lossy().into_owned();
    let mut args = vec!["--concurrency", "8", "--results", &results_arg];
    if import {
        args.push("--import");
    }
    let (status, usage, wall, summary) = run_sync(&server.endpoint, records, &args);
    let (served, answered_429) = server.stop();
    assert_eq!(status, 0, "plain sync-customers exited {status}: {summary}");
    let (mut imported, mut upserted, mut lines) = (0, 0, 0);
    for line in BufReader::new(File::open(&results).expect("open the results")).lines() {
        let line = line.expect("read the results");
        lines += 1;
        if line.contains(r#""result":"IMPORTED""#) {
            imported += 1;
        } else if line.contains(r#""customerId":"#) {
            upserted += 1;
        }
    }
    assert_eq!(lines, n as u64, "a result for every record: {summary}");
    let _ = std::fs::remove_file(&results);
    Run {
        wall: wall.as_secs_f64(),
        cpu: (timeval(usage.ru_utime) + timeval(usage.ru_stime)).as_secs_f64(),
        requests: served - answered_429,
        answered_429,
        imported,
        upserted,
        failed: number_after(&summary, "failed "),
    }
}

pub(super) fn import(options: &Options, report: &mut Report) {
    first_sync(options, report);
    mixed_and_fallback(options, report);
}

fn first_sync(options: &Options, report: &mut Report) {
    let (n, limit, window) = options.pick((10_000, 50, 2.0), (100, 10, 0.5));
    let n = options.records.unwrap_or(n);
    let runs = options.runs(3);
    let records = scratch(&format!("import-first-{n}.jsonl"));
    write(&records, "first", n, false);
    let limit_arg = limit.to_string();
    let window_arg = window.to_string();
    let serve = ["--rate-limit", &limit_arg, "--window", &window_arg];
    let most = n.div_ceil(BATCH) as u64;
    report.section(
        &format!(
            "Import, first sync: {n} fresh qualifying records, {limit} requests per {window} s \
             window, concurrency 8"
        ),
        "| run | `--import` (s) | requests | answered 429 | bound (s) | CPU (s) |",
    );
    let floor = |requests: u64| (requests.div_ceil(limit as u64) - 1) as f64 * window;
    let mut times = Vec::new();
    let mut worst = 0;
    let mut within = true;
    for number in 1..=runs {
        let run = run(&records, n, &serve, true);
        assert_eq!(
            (run.imported, run.failed),
            (n as u64, 0),
            "every record imported"
        );
        let bound = 1.05 * floor(run.requests) + 1.0;
        within &= run.wall <= bound;
        worst = worst.max(run.requests);
        times.push(run.wall);
        report.row(format!(
            "| {number} | {:.2} | {} | {} | {bound:.2} | {:.2} |",
            run.wall, run.requests, run.answered_429, run.cpu
        ));
    }
    let time = median(times);
    report.row(format!("| median | {time:.2} | | | | |"));
    // The per-record sync of the same input under the same limit, once: it takes N requests.
    let single = run(&records, n, &serve, false);
    assert_eq!(single.upserted, n as u64, "every record upserted");
    let ratio = single.wall / time;
    report.row(format!(
        "| per record (`upsertCustomer`) | {:.2} | {} | {} | {:.2} | {:.2} |",
        single.wall,
        single.requests,
        single.answered_429,
        1.05 * floor(single.requests) + 1.0,
        single.cpu
    ));
    report.row(format!(
        "| ratio | the per-record sync took {ratio:.1}× as long | | | | |"
    ));
    let check = options.bench.then_some(());
    report.goal(
        format!("import: at most ⌈{n}/25⌉ = {most} requests (worst run {worst})"),
        check.map(|()| worst <= most),
    );
    report.goal(
        format!(
            "import: every run within 1.05 × the floor of its requests + 1 s (median {time:.2} s)"
        ),
        check.map(|()| within),
    );
}

fn mixed_and_fallback(options: &Options, report: &mut Report) {
    let n = options.records.unwrap_or(options.pick(10_000, 100));
    let runs = options.runs(3);
    let check = options.bench.then_some(());
    report.section(
        &format!("Import, mixed and fallback: {n} records, no rate limit, concurrency 8"),
        "| run | case | requests | expected | imported | upserted | failed | time (s) |",
    );

    let records = scratch(&format!("import-mixed-{n}.jsonl"));
    let qualifying = write(&records, "mixed", n, true);
    let expected = (qualifying.div_ceil(BATCH) + (n - qualifying)) as u64;
    let mut exact = true;
    for number in 1..=runs {
        let run = run(&records, n, &[], true);
        exact &= run.requests == expected && run.failed == 0;
        report.row(format!(
            "| {number} | mixed | {} | {expected} | {} | {} | {} | {:.2} |",
            run.requests, run.imported, run.upserted, run.failed, run.wall
        ));
    }
    report.goal(
        format!(
            "import, mixed: exactly ⌈{qualifying}/25⌉ + {} = {expected} requests, none failed",
            n - qualifying
        ),
        check.map(|()| exact),
    );

    let records = scratch(&format!("import-fallback-{n}.jsonl"));
    write(&records, "fallback", n, false);
    let batches = n.div_ceil(BATCH);
    // Every tenth batch (the first, in a smoke run of fewer than ten).
    let faulty: Vec<usize> = (1..=batches)
        .filter(|b| b % 10 == 0 || (batches < 10 && *b == 1))
        .collect();
    let faults: Vec<String> = faulty
        .iter()
        .flat_map(|b| ["--import-fault".to_owned(), format!("{b}:skip-last=1")])
        .collect();
    let serve: Vec<&str> = faults.iter().map(String::as_str).collect();
    let faulty = faulty.len();
    let expected = (batches + faulty * BATCH) as u64;
    let mut exact = true;
    for number in 1..=runs {
        let run = run(&records, n, &serve, true);
        exact &= run.requests == expected
            && run.failed == 0
            && run.upserted == (faulty * BATCH) as u64
            && run.imported + run.upserted == n as u64;
        report.row(format!(
            "| {number} | fallback | {} | {expected} | {} | {} | {} | {:.2} |",
            run.requests, run.imported, run.upserted, run.failed, run.wall
        ));
    }
    report.goal(
        format!(
            "import, fallback: {faulty} of {batches} batches skip one: every record has a \
             result, and exactly {batches} + {faulty} × 25 = {expected} requests"
        ),
        check.map(|()| exact),
    );
}
