//! `plain sync-customers` when the run ends early. Every record is accounted for.

mod sync_support;

use std::collections::BTreeSet;
use std::time::Duration;

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
