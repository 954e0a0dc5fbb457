//! `plain sync-customers` when the run ends early: a crash, Ctrl-C (once and twice), an output
//! that cannot be written, a refused API key, and an outage. Every record is accounted for.

mod sync_support;

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use plain_client::testing::LocalServer;
use serde_json::Value;
use sync_support::*;

/// The line numbers of the lines of JSON Lines files, each line once.
fn distinct_lines<'a>(files: impl IntoIterator<Item = &'a Vec<Value>>) -> BTreeSet<u64> {
    let mut seen = BTreeSet::new();
    for line in files.into_iter().flatten() {
        seen.insert(line["line"].as_u64().unwrap());
    }
    seen
}

fn count_status(lines: &[Value], status: &str) -> usize {
    lines.iter().filter(|r| r["status"] == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_leaves_whole_lines_and_loses_at_most_the_records_in_flight() {
    let server = LocalServer::builder()
        .delay(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let dir = Dir::new("crash");
    // Every fifth record is refused by Plain, and every seventh line is not JSON at all.
    let total = 3000;
    let content: String = (1..=total)
        .map(|n| match n {
            n if n % 7 == 0 => "{\"identifier\": \n".to_owned(),
            n if n % 5 == 0 => line(&blank(n)) + "\n",
            n => line(&customer(n)) + "\n",
        })
        .collect();
    let input = dir.file("in.jsonl", content);
    let rejects = dir.path("rejects.jsonl");
    let results = dir.path("results.jsonl");
    let concurrency = 4;
    let mut child = command(
        &server,
        &input,
        &[
            "--rejects",
            &rejects,
            "--results",
            &results,
            "--concurrency",
            &concurrency.to_string(),
        ],
    )
    .spawn()
    .unwrap();
    wait_until("40 results", || line_count(&results) >= 40).await;
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed, not exited");

    // Every line of both files is whole JSON.
    let done = dir.jsonl("results.jsonl");
    let rejected = dir.jsonl("rejects.jsonl");
    assert!(done.len() >= 40);
    assert!(count_status(&rejected, "failed") > 0, "{rejected:?}");
    // Records are taken in order: of those up to the last one recorded, only the ones in
    // flight when the process died can be missing.
    let recorded = distinct_lines([&done, &rejected]);
    let last = *recorded.iter().next_back().unwrap();
    let missing = (1..=last).filter(|n| !recorded.contains(n)).count();
    assert!(
        missing <= concurrency,
        "{missing} records missing up to line {last}"
    );
    // What Plain did and the results file says is missing can only be what was in flight.
    let created: BTreeSet<u64> = done
        .iter()
        .filter(|r| r["result"] == "CREATED")
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    let stored = server.customers().len();
    assert!(
        stored >= created.len() && stored - created.len() <= concurrency,
        "Plain has {stored} customers, the results file {}",
        created.len()
    );

    // Running the same input again is safe: every record ends up done once.
    server.set_delay(Duration::ZERO);
    let again = dir.path("results-again.jsonl");
    let mut child = command(&server, &input, &["--results", &again])
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child).await;
    assert_eq!(status.code(), Some(6), "{}", stderr_of(&mut child));
    let expected = (1..=total).filter(|n| n % 7 != 0 && n % 5 != 0).count();
    assert_eq!(server.customers().len(), expected);
}

/// Writes lines to a child's standard input, which stays open.
fn feed(stdin: &mut std::process::ChildStdin, lines: &str) {
    stdin.write_all(lines.as_bytes()).unwrap();
    stdin.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_at_once_while_standard_input_is_open_and_idle() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("ctrl-c-stdin");
    let rejects = dir.path("rejects.jsonl");
    let results = dir.path("results.jsonl");
    let mut child = command(
        &server,
        "-",
        &["--rejects", &rejects, "--results", &results],
    )
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    feed(&mut stdin, &customers(3));
    wait_until("3 results", || line_count(&results) >= 3).await;
    signal(&child, libc::SIGINT);
    let status = wait_exit(&mut child).await;
    let stderr = stderr_of(&mut child);
    drop(stdin);
    assert_eq!(status.code(), Some(130), "{stderr}");
    let done = dir.jsonl("results.jsonl");
    assert_eq!(distinct_lines([&done]), BTreeSet::from([1, 2, 3]));
    assert!(dir.jsonl("rejects.jsonl").is_empty());
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        stderr.contains("standard input was not read past line 3"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_read_from_standard_input_before_ctrl_c_are_listed_as_not_attempted() {
    // Slow answers: one record in flight, the others read and waiting when Ctrl-C comes.
    let server = LocalServer::builder()
        .delay(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let dir = Dir::new("ctrl-c-read");
    let rejects = dir.path("rejects.jsonl");
    let results = dir.path("results.jsonl");
    let mut child = command(
        &server,
        "-",
        &[
            "--rejects",
            &rejects,
            "--results",
            &results,
            "--concurrency",
            "1",
        ],
    )
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    feed(&mut stdin, &customers(5));
    wait_until("a request", || !server.requests().is_empty()).await;
    signal(&child, libc::SIGINT);
    let status = wait_exit(&mut child).await;
    let stderr = stderr_of(&mut child);
    drop(stdin);
    assert_eq!(status.code(), Some(130), "{stderr}");
    let done = dir.jsonl("results.jsonl");
    let rejected = dir.jsonl("rejects.jsonl");
    assert_eq!(count_status(&rejected, "not_attempted"), rejected.len());
    assert_eq!(distinct_lines([&done, &rejected]), (1..=5).collect());
    assert_eq!(server.customers().len(), done.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_ends_the_process_at_once_with_8() {
    let server = LocalServer::builder()
        .delay(Duration::from_secs(20))
        .start()
        .await
        .unwrap();
    let dir = Dir::new("ctrl-c-twice");
    let input = dir.file("in.jsonl", customers(20));
    let results = dir.path("results.jsonl");
    let mut child = command(
        &server,
        &input,
        &["--results", &results, "--concurrency", "2"],
    )
    .spawn()
    .unwrap();
    wait_until("a request in flight", || !server.requests().is_empty()).await;
    // The first stops the intake and waits for the slow answers; the next ends it all.
    let status = ctrl_c_until_exit(&mut child).await;
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(8), "{stderr}");
    assert!(stderr.contains("second Ctrl-C"), "{stderr}");
}

/// Sends Ctrl-C until the process exits (two signals close together may arrive as one), while
/// its [`Patience`] lasts.
async fn ctrl_c_until_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let mut patience = Patience::default();
    loop {
        signal(child, libc::SIGINT);
        let patient = patience.pause(Duration::from_millis(100)).await;
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            patient,
            "still running {DEADLINE:?} after Ctrl-C, which only a hang reaches"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_ends_the_process_while_it_waits_to_write_an_output() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("ctrl-c-stuck");
    let input = dir.file("in.jsonl", customers(5000));
    // The results go to standard output, a pipe nobody reads: once it is full, the run waits
    // in a write.
    let mut child = command(&server, &input, &["--results", "/dev/stdout"])
        .spawn()
        .unwrap();
    let mut patience = Patience::default();
    let mut sent = 0;
    loop {
        let patient = patience.pause(Duration::from_millis(300)).await;
        let now = server.stats().requests;
        if now > 0 && now == sent {
            break;
        }
        sent = now;
        assert!(patient, "the requests never stopped");
    }
    assert!(sent < 5000, "every record was sent: the pipe never filled");
    let status = ctrl_c_until_exit(&mut child).await;
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(8), "{stderr}");
    assert!(stderr.contains("second Ctrl-C"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_lines_are_written_as_soon_as_they_are_read() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("malformed-now");
    let rejects = dir.path("rejects.jsonl");
    let mut child = command(&server, "-", &["--rejects", &rejects])
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    feed(&mut stdin, "not json\n{\"identifier\": 1}\n");
    // No record is sent, so no answer comes: the rejects are written all the same.
    wait_until("2 rejects", || line_count(&rejects) >= 2).await;
    feed(&mut stdin, &customers(1));
    drop(stdin);
    let status = wait_exit(&mut child).await;
    assert_eq!(status.code(), Some(6), "{}", stderr_of(&mut child));
    let rejected = dir.jsonl("rejects.jsonl");
    assert_eq!(distinct_lines([&rejected]), BTreeSet::from([1, 2]));
    assert_eq!(server.customers().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejects_file_that_cannot_be_written_stops_the_intake_and_exits_7() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("full-disk");
    let content = format!("{}not json\n{}", customers(2), customers(50));
    let input = dir.file("in.jsonl", content);
    let results = dir.path("results.jsonl");
    let mut child = command(
        &server,
        &input,
        &[
            "--rejects",
            "/dev/full",
            "--results",
            &results,
            "--concurrency",
            "2",
        ],
    )
    .spawn()
    .unwrap();
    let status = wait_exit(&mut child).await;
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(7), "{stderr}");
    assert!(stderr.contains("cannot write /dev/full"), "{stderr}");
    // Only the records before the line that could not be recorded were sent, and they are
    // in the results file.
    let sent = server.requests().len();
    assert!(sent <= 2, "{sent} sent");
    let results = dir.jsonl("results.jsonl");
    let malformed = results
        .iter()
        .filter(|r| r["result"] == "MALFORMED")
        .count();
    assert_eq!(results.len() - malformed, sent);
    // The malformed line has its results line; the rejects file could not take it, and it and
    // the 50 records after it went unrecorded there.
    assert_eq!(malformed, 1);
    assert!(stderr.contains("51 lines unrecorded"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_api_key_stops_the_sync_and_exits_5() {
    let server = LocalServer::builder()
        .api_key("plainApiKey_right")
        .start()
        .await
        .unwrap();
    let dir = Dir::new("auth");
    let total = 40;
    let input = dir.file("in.jsonl", customers(total));
    let rejects = dir.path("rejects.jsonl");
    let concurrency = 4;
    let mut child = command(
        &server,
        &input,
        &[
            "--rejects",
            &rejects,
            "--concurrency",
            &concurrency.to_string(),
        ],
    );
    child.env("PLAIN_API_KEY", "plainApiKey_wrong");
    let mut child = child.spawn().unwrap();
    let status = wait_exit(&mut child).await;
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("API key"), "{stderr}");
    let sent = server.requests().len();
    assert!(sent <= concurrency + 1, "{sent} requests");
    let rejected = dir.jsonl("rejects.jsonl");
    assert_eq!(count_status(&rejected, "failed"), sent);
    assert_eq!(count_status(&rejected, "not_attempted"), total - sent);
    assert_eq!(
        distinct_lines([&rejected]),
        (0..total as u64).map(|i| i + 1).collect()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_limit_stops_the_sync_and_exits_1() {
    let server = LocalServer::builder()
        .failure_rate(1.0)
        .start()
        .await
        .unwrap();
    let dir = Dir::new("outage");
    let total = 60;
    let input = dir.file("in.jsonl", customers(total));
    let rejects = dir.path("rejects.jsonl");
    let concurrency = 4;
    let mut child = command(
        &server,
        &input,
        &[
            "--rejects",
            &rejects,
            "--concurrency",
            &concurrency.to_string(),
            "--max-attempts",
            "1",
            "--outage-limit",
            "0",
        ],
    )
    .spawn()
    .unwrap();
    let status = wait_exit(&mut child).await;
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Plain looked unavailable"), "{stderr}");
    let sent = server.requests().len();
    assert!(sent <= 10 + concurrency, "{sent} requests");
    let rejected = dir.jsonl("rejects.jsonl");
    assert_eq!(count_status(&rejected, "failed"), sent);
    assert_eq!(count_status(&rejected, "not_attempted"), total - sent);
    assert_eq!(distinct_lines([&rejected]).len(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_pauses_the_sync_and_one_record_probes_before_the_rest_go() {
    let server = LocalServer::builder()
        .failure_rate(1.0)
        .start()
        .await
        .unwrap();
    let dir = Dir::new("outage-over");
    let total = 40;
    let input = dir.file("in.jsonl", customers(total));
    let results = dir.path("results.jsonl");
    let started = Instant::now();
    let mut child = command(
        &server,
        &input,
        &[
            "--results",
            &results,
            "--concurrency",
            "2",
            "--max-attempts",
            "1",
        ],
    )
    .spawn()
    .unwrap();
    // Eight failures trip the breaker: for its cool-down of a second, nothing more is sent
    // (but the records that were in flight as it tripped). Should this test look late, after
    // the cool-down, it sees one probe more, which fails and opens the breaker for two seconds.
    wait_until("8 failures", || server.stats().faults >= 8).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = server.requests().len();
    assert!(
        sent <= 8 + 2 * 2 + 1,
        "{sent} requests while the breaker was open"
    );
    // Then Plain is back: one record probes, and the rest follow.
    server.set_failure_rate(0.0, 1);
    let status = wait_exit(&mut child).await;
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(6), "{stderr}");
    // The pause lasted its first cool-down of a second.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let done = dir.jsonl("results.jsonl");
    assert_eq!(distinct_lines([&done]).len(), total);
    let failed = done.iter().filter(|r| r["result"] == "FAILED").count();
    assert!(failed >= 8, "{failed} failed");
    assert_eq!(server.customers().len(), total - failed);
    // Each record was sent once: nothing was sent while the breaker was open.
    assert_eq!(server.requests().len(), total);
}
