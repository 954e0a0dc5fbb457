//! The `export` scenario: `plain export-customers` of every customer of a `plain serve`
//! seeded by a sync, measured as a whole process.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::time::Instant;

use super::{
    median, number_before, run_plain, scratch, sync, timeval, write_records, Options, Report,
    Server,
};

/// Plain's largest page, which the export asks for.
const PAGE: usize = 100;

/// The sync that seeds the server: as many requests at once as makes it quick.
const SEEDING_CONCURRENCY: usize = 64;

/// One export, as it reported and as the kernel measured it.
struct ExportRun {
    wall: f64,
    cpu: f64,
    peak_rss_mb: f64,
    pages: u64,
}

/// Exports every customer of `server` to a new file, checks that each of the `n` is there
/// once, and measures the process.
fn export_once(server: &Server, n: usize) -> ExportRun {
    let output = scratch("export-customers.jsonl");
    let _ = std::fs::remove_file(&output);
    let path = output.to_str().expect("a scratch path in UTF-8");
    let (status, usage, wall, summary) = run_plain(
        "export-customers",
        &server.endpoint,
        &["--output", path],
        " customers in ",
    );
    assert_eq!(
        status, 0,
        "plain export-customers exited {status}: {summary}"
    );
    let mut ids = HashSet::with_capacity(n);
    for line in BufReader::new(File::open(&output).expect("open the export")).lines() {
        let line = line.expect("read the export");
        let start = line.find("\"customerId\":\"").expect("a customerId") + 14;
        let end = start + line[start..].find('"').expect("a whole customerId");
        assert!(ids.insert(line[start..end].to_owned()), "a customer twice");
    }
    assert_eq!(ids.len(), n, "not every customer was exported: {summary}");
    let _ = std::fs::remove_file(&output);
    ExportRun {
        wall: wall.as_secs_f64(),
        cpu: (timeval(usage.ru_utime) + timeval(usage.ru_stime)).as_secs_f64(),
        // ru_maxrss is in KiB on Linux.
        peak_rss_mb: usage.ru_maxrss as f64 * 1024.0 / 1e6,
        pages: number_before(&summary, " pages"),
    }
}

pub(super) fn export(options: &Options, report: &mut Report) {
    let n = options.records.unwrap_or(options.pick(100_000, 1_000));
    let runs = options.runs(3);
    let expected_pages = n.div_ceil(PAGE);
    report.section(
        &format!(
            "Export: `plain export-customers` of {n} customers from `plain serve`, median of \
             {runs} runs"
        ),
        "| customers | page requests (server) | ⌈N/100⌉ | time (s) | customers/s | peak RSS (MB) | CPU s | CPU µs per customer |",
    );
    let mut server = Server::start(&[]);
    let records = scratch(&format!("export-seed-{n}.jsonl"));
    write_records(&records, "export", n);
    let seeding_started = Instant::now();
    let seeding = sync(&server, &records, SEEDING_CONCURRENCY, n);
    println!(
        "seeded {n} customers in {:.1} s ({} requests)",
        seeding_started.elapsed().as_secs_f64(),
        seeding.requests
    );
    let measured: Vec<ExportRun> = (0..runs).map(|_| export_once(&server, n)).collect();
    let (served, _) = server.stop();
    let page_requests = (served - seeding.requests) / runs as u64;
    assert_eq!(
        served - seeding.requests,
        page_requests * runs as u64,
        "the exports asked for different numbers of pages"
    );
    for run in &measured {
        assert_eq!(run.pages, page_requests, "the export's own count of pages");
    }
    let wall = median(measured.iter().map(|r| r.wall).collect());
    let cpu = median(measured.iter().map(|r| r.cpu).collect());
    let peak = median(measured.iter().map(|r| r.peak_rss_mb).collect());
    report.row(format!(
        "| {n} | {page_requests} | {expected_pages} | {wall:.2} | {:.0} | {peak:.1} | {cpu:.2} | {:.1} |",
        n as f64 / wall,
        cpu / n as f64 * 1e6
    ));
    let _ = std::fs::remove_file(&records);
    let _ = std::fs::remove_file(records.with_extension("results.jsonl"));
    let check = options.bench.then_some(());
    report.goal(
        format!("export: {page_requests} page requests for {n} customers = ⌈{n}/100⌉ = {expected_pages}"),
        check.map(|()| page_requests == expected_pages as u64),
    );
    report.goal(
        format!("export: peak RSS exporting {n} customers {peak:.1} MB < 64 MB"),
        check.map(|()| peak < 64.0),
    );
}
