//! Bulk sync: `PlainClient::bulk` and `plain sync-customers` against the local
//! server. Every record is accounted for.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
mod sync_support;

use common::plain;
use futures_util::StreamExt;
use plain_client::testing::LocalServer;
use plain_client::{
    Cancel, CustomerIdentifier, EmailAddress, OnCreate, OnUpdate, UpsertCustomerInput, UpsertResult,
};
use serde_json::{json, Value};

fn customer(i: usize) -> UpsertCustomerInput {
    let email = format!("customer{i}@example.com");
    UpsertCustomerInput::new(
        CustomerIdentifier::email(email.clone()),
        OnCreate::new(format!("Customer {i}"), EmailAddress::unverified(email)),
    )
}

fn line(input: &UpsertCustomerInput) -> String {
    serde_json::to_string(input).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_outcome_per_input_with_its_index() {
    let server = LocalServer::start().await.unwrap();
    let client = server.client().unwrap();
    let mut inputs: Vec<UpsertCustomerInput> = (0..30).map(customer).collect();
    inputs[7] = UpsertCustomerInput::new(
        CustomerIdentifier::email("blank@example.com"),
        OnCreate::new("", EmailAddress::unverified("blank@example.com")),
    );
    let outcomes: Vec<_> = client
        .bulk()
        .concurrency(4)
        .upsert(inputs.clone())
        .collect()
        .await;
    let mut indexes: Vec<u64> = outcomes.iter().map(|o| o.index).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (0..30).collect::<Vec<u64>>());
    for outcome in &outcomes {
        assert_eq!(outcome.result.is_err(), outcome.index == 7, "{outcome:?}");
        // Each input comes back whole with its own outcome, failed or not.
        let index = usize::try_from(outcome.index).unwrap();
        assert_eq!(outcome.record, inputs[index]);
    }
    assert_eq!(server.customers().len(), 29);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_run_on_several_threads_stays_within_the_rate_limit() {
    // Answers are taken in out of order on two threads; the shared budget must hold anyway.
    let server = LocalServer::builder()
        .rate_limit(20, Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let client = server.client().unwrap();
    let outcomes: Vec<_> = client
        .bulk()
        .concurrency(8)
        .upsert((0..80).map(customer))
        .collect()
        .await;
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    let stats = server.stats();
    assert_eq!((stats.requests, stats.rate_limited), (80, 0), "{stats:?}");
    assert_eq!(client.stats().retries, 0);
    // Each window's budget is used: 80 requests at 20 a window take 4 windows. One more is
    // allowed for a machine so loaded that 20 requests straddle a second; a pacer that leaves
    // budget unused needs more.
    assert!((4..=5).contains(&stats.rate_limit_windows), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded() {
    let server = LocalServer::builder()
        .delay(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let client = server.client().unwrap();
    let started = Instant::now();
    let outcomes: Vec<_> = client
        .bulk()
        .concurrency(4)
        .upsert((0..20).map(customer))
        .collect()
        .await;
    assert_eq!(outcomes.len(), 20);
    // 20 requests of 100 ms, 4 at a time: at least 5 rounds.
    assert!(
        started.elapsed() >= Duration::from_millis(480),
        "{:?}",
        started.elapsed()
    );
    // Several at once, never more than 4 (each is held 100 ms by the server, so requests sent
    // together overlap there whatever the machine's load).
    let most = server.stats().most_concurrent;
    assert!((2..=4).contains(&most), "{most} at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_the_intake_and_reports_what_was_sent() {
    let server = LocalServer::builder()
        .delay(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let client = server.client().unwrap();
    let cancel = Cancel::new();
    let mut stream = client
        .bulk()
        .concurrency(5)
        .cancel(cancel.clone())
        .upsert((0..1000).map(customer));
    let mut reported = Vec::new();
    while let Some(outcome) = stream.next().await {
        assert!(outcome.result.is_ok(), "{outcome:?}");
        reported.push(outcome.index);
        if reported.len() == 10 {
            cancel.cancel();
        }
    }
    // In-flight requests finished and were reported; no more were taken.
    assert!(
        reported.len() >= 10 && reported.len() <= 16,
        "{}",
        reported.len()
    );
    assert_eq!(server.requests().len(), reported.len());
    assert_eq!(server.customers().len(), reported.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_run_stops_when_plain_refuses_the_key() {
    let server = LocalServer::builder()
        .api_key("the-right-key")
        .start()
        .await
        .unwrap();
    let client = plain_client::PlainClient::builder()
        .endpoint(server.endpoint())
        .api_key("a-wrong-key")
        .build()
        .unwrap();
    let mut run = client.bulk().concurrency(2).upsert((0..200).map(customer));
    let mut outcomes = Vec::new();
    while let Some(outcome) = run.next().await {
        outcomes.push(outcome);
    }
    assert_eq!(run.stop(), Some(plain_client::bulk::Stop::Unauthorized));
    // The records in flight when the first refusal came, and no more.
    assert!((1..=2).contains(&outcomes.len()), "{}", outcomes.len());
    assert!(outcomes.iter().all(|o| o
        .result
        .as_ref()
        .is_err_and(plain_client::Error::is_auth_failure)));
    assert_eq!(run.sent(), outcomes.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_run_pauses_in_an_outage_and_stops_past_its_limit() {
    let server = LocalServer::builder()
        .failure_rate(1.0)
        .start()
        .await
        .unwrap();
    let client = server
        .client_builder()
        .retry_policy(plain_client::RetryPolicy::default().max_attempts(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut run = client
        .bulk()
        .concurrency(1)
        .outage_limit(Duration::from_millis(1500))
        .upsert((0..1000).map(customer));
    let mut failed = 0;
    while let Some(outcome) = run.next().await {
        assert!(outcome.result.is_err(), "{outcome:?}");
        failed += 1;
    }
    assert_eq!(run.stop(), Some(plain_client::bulk::Stop::Outage));
    // 8 failures trip the breaker; after a pause of 1 s one record probes, fails, and the next
    // pause (2 s) would pass the limit.
    assert_eq!(failed, 9);
    assert_eq!(server.requests().len(), 9);
    assert!(run.outage().unwrap() >= Duration::from_secs(1));
    assert!(started.elapsed() >= Duration::from_secs(1));
}

// The command line.

/// Runs `plain sync-customers FILE args...` against `server`, off the async runtime.
async fn sync(server: &LocalServer, file: &str, args: &[&str], stdin: &str) -> Output {
    let mut all = vec![
        "sync-customers".to_owned(),
        file.to_owned(),
        "--api-url".to_owned(),
        server.endpoint().to_owned(),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let key = server.api_key().unwrap().to_owned();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        plain(&args, &[("PLAIN_API_KEY", &key)], &stdin)
    })
    .await
    .unwrap()
}

struct Dir(std::path::PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("plain-sync-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn file(&self, name: &str, content: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    fn jsonl(&self, name: &str) -> Vec<Value> {
        std::fs::read_to_string(self.0.join(name))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_with_created_updated_and_noop() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("mixed");
    let renamed = customer(0).on_update(OnUpdate::new().full_name("Renamed"));
    let file = dir.file(
        "in.jsonl",
        &[
            line(&customer(0)),
            line(&customer(1)),
            String::new(),
            line(&renamed),
            line(&customer(1)),
        ]
        .join("\n"),
    );
    let results = dir.path("results.jsonl");
    let output = sync(
        &server,
        &file,
        &["--concurrency", "1", "--results", &results],
        "",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results = dir.jsonl("results.jsonl");
    let seen: Vec<(u64, &str)> = results
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [(1, "CREATED"), (2, "CREATED"), (4, "UPDATED"), (5, "NOOP")]
    );
    assert!(results
        .iter()
        .all(|r| r["customerId"].as_str().unwrap().starts_with("c_")));
    let summary = stderr(&output);
    assert!(
        summary.contains("created 2, updated 1, noop 1, unchanged 0, failed 0"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_columns_map_to_identifier_on_create_and_on_update() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("csv");
    let file = dir.file(
        "customers.csv",
        "email,full_name,short_name,external_id,verified\n\
         donald@example.com,Donald Duck,Donald,u_1,true\n\
         daisy@example.com,Daisy Duck,,,no\n\
         ,No Email,,,\n\
         gus@example.com,Gus Goose,,,maybe\n",
    );
    let rejects = dir.path("rejects.jsonl");
    let output = sync(&server, &file, &["--rejects", &rejects], "").await;
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    let mut customers = server.customers();
    customers.sort_by(|a, b| a.email.cmp(&b.email));
    assert_eq!(customers.len(), 2);
    assert_eq!(
        (
            customers[1].email.as_str(),
            customers[1].external_id.as_deref(),
            customers[1].email_verified
        ),
        ("donald@example.com", Some("u_1"), true)
    );
    assert_eq!(customers[1].short_name.as_deref(), Some("Donald"));
    assert_eq!(
        (
            customers[0].full_name.as_str(),
            customers[0].short_name.as_deref(),
            customers[0].email_verified
        ),
        ("Daisy Duck", None, false)
    );
    let rejected = dir.jsonl("rejects.jsonl");
    let lines: Vec<u64> = rejected
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [4, 5]);
    assert!(rejected[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`email` is empty"));
    assert!(rejected[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`verified` is \"maybe\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_until_every_record_succeeds() {
    let server = LocalServer::start().await.unwrap();
    server.set_failure_rate(0.3, 42);
    let dir = Dir::new("faults");
    let file = dir.file(
        "in.jsonl",
        &(0..60)
            .map(|i| line(&customer(i)))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let output = sync(
        &server,
        &file,
        &["--concurrency", "8", "--max-attempts", "12"],
        "",
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(server.customers().len(), 60);
    assert!(server.stats().faults > 5, "{:?}", server.stats());
    let summary = stderr(&output);
    assert!(summary.contains("created 60"), "{summary}");
    assert!(!summary.contains(" 0 retries"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_failures_land_in_the_rejects_file_and_a_rerun_of_it_fixes_them() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("rejects");
    let blank = |i: usize| {
        let email = format!("blank{i}@example.com");
        UpsertCustomerInput::new(
            CustomerIdentifier::email(email.clone()),
            OnCreate::new(" ", EmailAddress::unverified(email)),
        )
    };
    let lines = [
        line(&customer(0)),
        line(&blank(1)),
        "{\"identifier\": ".to_owned(),
        line(&customer(3)),
        line(&blank(4)),
    ];
    let file = dir.file("in.jsonl", &lines.join("\n"));
    let rejects = dir.path("rejects.jsonl");
    let output = sync(&server, &file, &["--rejects", &rejects], "").await;
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    let mut rejected = dir.jsonl("rejects.jsonl");
    rejected.sort_by_key(|r| r["line"].as_u64());
    let lines: Vec<u64> = rejected
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 5]);
    assert_eq!(rejected[0]["error"]["code"], "input_validation");
    assert_eq!(rejected[1]["error"]["code"], "malformed");
    assert!(
        rejected[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("EOF"),
        "{}",
        rejected[1]
    );
    assert_eq!(server.customers().len(), 2);

    // Fix the names (the malformed line stays broken) and feed the rejects file back.
    let fixed: Vec<String> = rejected
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if r["input"].is_object() {
                r["input"]["onCreate"]["fullName"] = json!("Fixed Name");
            }
            r.to_string()
        })
        .collect();
    let again = dir.file("fixed.jsonl", &fixed.join("\n"));
    let rejects_again = dir.path("rejects-again.jsonl");
    let output = sync(&server, &again, &["--rejects", &rejects_again], "").await;
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    assert_eq!(server.customers().len(), 4);
    let still: Vec<u64> = dir
        .jsonl("rejects-again.jsonl")
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    // Only the malformed line is left, under its original line number.
    assert_eq!(still, [3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tight_rate_limit_fails_no_record() {
    let server = LocalServer::builder()
        .rate_limit(10, Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    let dir = Dir::new("limit");
    let file = dir.file(
        "in.jsonl",
        &(0..45)
            .map(|i| line(&customer(i)))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let output = sync(&server, &file, &["--concurrency", "16"], "").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(server.customers().len(), 45);
    assert_eq!(server.stats().rate_limited, 0, "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_input_and_quiet() {
    let server = LocalServer::start().await.unwrap();
    let input = (0..5)
        .map(|i| line(&customer(i)))
        .collect::<Vec<_>>()
        .join("\n");
    let output = sync(&server, "-", &["--quiet"], &input).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
    assert_eq!(server.customers().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_finishes_what_is_in_flight_and_lists_what_was_not_sent() {
    let server = LocalServer::builder()
        .delay(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let dir = Dir::new("interrupt");
    let total = 200;
    let file = dir.file(
        "in.jsonl",
        &(0..total)
            .map(|i| line(&customer(i)))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let rejects = dir.path("rejects.jsonl");
    let results = dir.path("results.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_plain"))
        .args([
            "sync-customers",
            &file,
            "--api-url",
            server.endpoint(),
            "--rejects",
            &rejects,
            "--results",
            &results,
            "--concurrency",
            "4",
        ])
        .env("PLAIN_API_KEY", server.api_key().unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Eight requests received mean at least four answered: the run is under way, whatever the
    // machine's load.
    sync_support::wait_until("eight requests", || server.stats().requests >= 8).await;
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    let done = dir.jsonl("results.jsonl");
    let rejected = dir.jsonl("rejects.jsonl");
    assert!(!done.is_empty() && done.len() < total, "{}", done.len());
    assert!(rejected.iter().all(|r| r["status"] == "not_attempted"));
    // Every record is accounted for, once.
    let mut lines: Vec<u64> = done
        .iter()
        .chain(&rejected)
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    lines.sort_unstable();
    assert_eq!(lines, (1..=total as u64).collect::<Vec<_>>());
    // What was reported done is exactly what the server got.
    assert_eq!(server.customers().len(), done.len());
    assert!(
        stderr(&output).contains("interrupted"),
        "{}",
        stderr(&output)
    );
    // Re-running the rejects file completes the job.
    let output = sync(&server, &rejects, &[], "").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(server.customers().len(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_result_of_an_existing_customer_is_noop_in_a_second_run() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("twice");
    let file = dir.file(
        "in.jsonl",
        &(0..10)
            .map(|i| line(&customer(i)))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(sync(&server, &file, &[], "").await.status.code(), Some(0));
    let results = dir.path("results.jsonl");
    let output = sync(&server, &file, &["--results", &results], "").await;
    assert_eq!(output.status.code(), Some(0));
    assert!(dir
        .jsonl("results.jsonl")
        .iter()
        .all(|r| r["result"] == json!(UpsertResult::Noop)));
}
