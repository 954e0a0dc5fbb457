//! `plain sync-customers --state`: a re-sync sends only what changed, resumes after a crash,
//! lists what the input no longer has, and `plain delete-customers` deletes those.

use std::process::{Command, Output};
use std::time::Duration;

mod sync_support;

use plain_client::testing::LocalServer;
use serde_json::Value;
use sync_support::{
    command, customers, line, line_count, named, signal, wait_exit, wait_until, Dir,
};

/// Runs a command to its end: its output, with stderr as text for messages.
async fn finish(mut command: Command) -> (Output, String) {
    use std::process::Stdio;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let status = wait_exit(&mut child).await;
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (Output { status, ..output }, stderr)
}

async fn sync(server: &LocalServer, input: &str, args: &[&str]) -> (i32, String) {
    let (output, stderr) = finish(command(server, input, args)).await;
    (output.status.code().unwrap_or(-1), stderr)
}

/// `plain delete-customers FILE args...` against `server`.
fn delete(server: &LocalServer, file: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plain"));
    command
        .args(["delete-customers", file])
        .args(args)
        .args(["--api-url", server.endpoint()])
        .env(
            "PLAIN_API_KEY",
            server.api_key().unwrap_or("plainApiKey_none"),
        );
    command
}

fn results_of(values: &[Value]) -> Vec<&str> {
    values
        .iter()
        .map(|v| v["result"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_resync_sends_nothing_and_a_partial_change_sends_only_it() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("state-unchanged");
    let state = dir.path("customers.state");
    let input = dir.file("in.jsonl", customers(30));
    let first = dir.path("first.jsonl");
    let (code, stderr) = sync(&server, &input, &["--state", &state, "--results", &first]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sync_support::upserts(&server), 30);

    let second = dir.path("second.jsonl");
    let (code, stderr) = sync(&server, &input, &["--state", &state, "--results", &second]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        sync_support::upserts(&server),
        30,
        "an unchanged re-sync sends nothing"
    );
    assert!(stderr.contains("unchanged 30"), "{stderr}");
    let (first, second) = (dir.jsonl("first.jsonl"), dir.jsonl("second.jsonl"));
    assert_eq!(results_of(&second), ["UNCHANGED"; 30]);
    let mut first_ids: Vec<_> = first
        .iter()
        .map(|v| (v["line"].clone(), v["customerId"].clone()))
        .collect();
    let mut second_ids: Vec<_> = second
        .iter()
        .map(|v| (v["line"].clone(), v["customerId"].clone()))
        .collect();
    first_ids.sort_by_key(|(line, _)| line.as_u64());
    second_ids.sort_by_key(|(line, _)| line.as_u64());
    assert_eq!(first_ids, second_ids, "each line keeps its customer id");

    // Three records change: three requests.
    let changed: String = (0..30)
        .map(|i| {
            let input = if [4, 15, 29].contains(&i) {
                named(i, &format!("Renamed {i}"))
            } else {
                sync_support::customer(i)
            };
            line(&input) + "\n"
        })
        .collect();
    let input = dir.file("in.jsonl", changed);
    let third = dir.path("third.jsonl");
    let (code, stderr) = sync(&server, &input, &["--state", &state, "--results", &third]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sync_support::upserts(&server), 33);
    let mut outcomes = results_of(&dir.jsonl("third.jsonl"))
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    outcomes.sort();
    let mut expected = vec!["UNCHANGED".to_owned(); 27];
    expected.extend(vec!["UPDATED".to_owned(); 3]);
    expected.sort();
    assert_eq!(outcomes, expected);

    // --full sends every record again, and Plain has nothing to change.
    let (code, stderr) = sync(&server, &input, &["--state", &state, "--full", "-q"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sync_support::upserts(&server), 63);
    let (code, _) = sync(&server, &input, &["--state", &state]).await;
    assert_eq!(code, 0);
    assert_eq!(sync_support::upserts(&server), 63);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_later_record_for_one_customer_wins() {
    let server = LocalServer::start().await.unwrap();
    server.set_delay(Duration::from_millis(20));
    let dir = Dir::new("state-duplicates");
    let state = dir.path("customers.state");
    let content = [
        named(1, "First"),
        named(2, "Other"),
        named(1, "Second"),
        named(1, "Third"),
    ]
    .iter()
    .map(|i| line(i) + "\n")
    .collect::<String>();
    let input = dir.file("in.jsonl", content);
    let (code, stderr) = sync(&server, &input, &["--state", &state, "--concurrency", "8"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sync_support::stored(&server, 1).full_name, "Third");
    let sent = sync_support::upserts(&server);
    let input = dir.file("last.jsonl", line(&named(1, "Third")) + "\n");
    let (code, stderr) = sync(&server, &input, &["--state", &state]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        sync_support::upserts(&server),
        sent,
        "the state holds the later record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_customers_are_listed_and_deleted_only_by_the_second_command() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("state-missing");
    let state = dir.path("customers.state");
    let input = dir.file("in.jsonl", customers(10));
    let (code, stderr) = sync(&server, &input, &["--state", &state]).await;
    assert_eq!(code, 0, "{stderr}");
    let kept: String = (0..10)
        .filter(|i| ![2, 5, 7].contains(i))
        .map(|i| line(&sync_support::customer(i)) + "\n")
        .collect();
    let input = dir.file("kept.jsonl", kept);
    let missing = dir.path("missing.jsonl");
    let (code, stderr) = sync(&server, &input, &["--state", &state, "--missing", &missing]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("3 customers in the state are missing"),
        "{stderr}"
    );
    assert_eq!(server.customers().len(), 10, "a sync deletes nothing");
    let listed = dir.jsonl("missing.jsonl");
    let emails: Vec<_> = listed
        .iter()
        .map(|v| v["identifier"]["emailAddress"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        emails,
        [
            "customer2@example.com",
            "customer5@example.com",
            "customer7@example.com"
        ]
    );
    for entry in &listed {
        let email = entry["identifier"]["emailAddress"].as_str().unwrap();
        let stored = server
            .customers()
            .into_iter()
            .find(|c| c.email == email)
            .unwrap();
        assert_eq!(entry["customerId"], stored.id.as_str());
        assert_eq!(entry["lastResult"], "CREATED");
    }

    let results = dir.path("deleted.jsonl");
    let deleting = delete(
        &server,
        &missing,
        &[
            "--state",
            &state,
            "--results",
            &results,
            "--max-deletes",
            "3",
        ],
    );
    let (output, stderr) = finish(deleting).await;
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("deleted 3"), "{stderr}");
    assert_eq!(server.customers().len(), 7);
    assert_eq!(results_of(&dir.jsonl("deleted.jsonl")), ["DELETED"; 3]);

    // The state forgot them: nothing is missing any more.
    let (code, stderr) = sync(&server, &input, &["--state", &state, "--missing", &missing]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(dir.jsonl("missing.jsonl"), Vec::<Value>::new());

    // Deleting again with the state sends nothing: it forgot them when they were deleted.
    let listed_again = dir.file(
        "again.jsonl",
        listed
            .iter()
            .map(|v| v.to_string() + "\n")
            .collect::<String>(),
    );
    let deletions = sync_support::sent(&server, "deleteCustomer");
    let again = delete(
        &server,
        &listed_again,
        &["--state", &state, "--results", &results],
    );
    let (output, stderr) = finish(again).await;
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(results_of(&dir.jsonl("deleted.jsonl")), ["FORGOTTEN"; 3]);
    assert_eq!(sync_support::sent(&server, "deleteCustomer"), deletions);
    // Without it, Plain is asked, finds them gone, and says so without failing.
    let again = delete(
        &server,
        &listed_again,
        &["--unchecked", "--results", &results],
    );
    let (output, stderr) = finish(again).await;
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(results_of(&dir.jsonl("deleted.jsonl")), ["NOT_FOUND"; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_missing_list_when_a_record_could_not_be_read() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("state-missing-malformed");
    let state = dir.path("customers.state");
    let input = dir.file("in.jsonl", customers(4));
    sync(&server, &input, &["--state", &state]).await;
    let input = dir.file("in.jsonl", format!("{}not json\n", customers(2)));
    let missing = dir.path("missing.jsonl");
    let (code, stderr) = sync(&server, &input, &["--state", &state, "--missing", &missing]).await;
    assert_eq!(code, 6, "{stderr}");
    assert!(
        stderr.contains("--missing not written: 1 records could not be read"),
        "{stderr}"
    );
    assert!(!std::path::Path::new(&missing).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_in_use_or_not_ours_stops_the_run_before_anything_is_sent() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("state-refused");
    let state = dir.path("customers.state");
    let input = dir.file("in.jsonl", customers(3));
    let results = dir.path("results.jsonl");
    std::fs::write(&results, "kept\n").unwrap();

    let held = plain_client::state::StateStore::open(&state).unwrap();
    let (code, stderr) = sync(&server, &input, &["--state", &state, "--results", &results]).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("in use by another process"), "{stderr}");
    drop(held);

    let notes = dir.file("notes.txt", "not a database at all\n".repeat(100));
    let (code, stderr) = sync(&server, &input, &["--state", &notes, "--results", &results]).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("not a plain state file"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "not a database at all\n".repeat(100)
    );
    let (code, stderr) = sync(&server, &input, &["--state", &input]).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(server.requests().is_empty());
    assert_eq!(
        std::fs::read_to_string(&results).unwrap(),
        "kept\n",
        "no output was touched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_a_rerun_sends_only_what_was_not_confirmed() {
    let server = LocalServer::start().await.unwrap();
    // The 300 records left after the first 100 take at least 300 / 8 × 50 ms = 1.9 s: the
    // kill comes before the end even when this test is slow to send it.
    server.set_delay(Duration::from_millis(50));
    let dir = Dir::new("state-resume");
    let state = dir.path("customers.state");
    let n = 400;
    let input = dir.file("in.jsonl", customers(n));
    let results = dir.path("first.jsonl");
    let concurrency = 8;
    let mut child = command(
        &server,
        &input,
        &[
            "--state",
            &state,
            "--results",
            &results,
            "--concurrency",
            "8",
        ],
    )
    .spawn()
    .unwrap();
    wait_until("100 results", || line_count(&results) >= 100).await;
    signal(&child, libc::SIGKILL);
    wait_exit(&mut child).await;
    let confirmed = dir.jsonl("first.jsonl").len();
    assert!(confirmed < n, "killed before the end");
    let sent_before = sync_support::upserts(&server);

    let (code, stderr) = sync(&server, &input, &["--state", &state, "--concurrency", "8"]).await;
    assert_eq!(code, 0, "{stderr}");
    let resent = sync_support::upserts(&server) - sent_before;
    assert!(
        resent <= n - confirmed + concurrency,
        "{resent} sent again, {confirmed} were confirmed before the kill"
    );
    assert_eq!(server.customers().len(), n, "every customer, once");
    let (code, _) = sync(&server, &input, &["--state", &state]).await;
    assert_eq!(code, 0);
    assert_eq!(
        sync_support::upserts(&server) - sent_before,
        resent,
        "all recorded now"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_to_a_deletion_fails_it_within_the_runs_share_of_memory() {
    use plain_client::testing::ScriptedAnswer;
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("delete-endless");
    let missing = dir.file(
        "missing.jsonl",
        "{\"identifier\":{\"emailAddress\":\"a@example.com\"},\"customerId\":\"c_1\"}\n",
    );
    server.script([ScriptedAnswer::endless(200)]);
    let rejects = dir.path("rejects.jsonl");
    let args = [
        "--unchecked",
        "--rejects",
        &rejects,
        "--concurrency",
        "1024",
        "--max-attempts",
        "1",
    ];
    let (output, stderr) = finish(delete(&server, &missing, &args)).await;
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    let rejected = dir.jsonl("rejects.jsonl");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["error"]["code"], "response_too_large");
    // At concurrency 1,024, each answer gets 24 KiB of the run's 24 MiB.
    let message = rejected[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("24576"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_plain_lists_the_customers_plain_has_that_the_input_does_not_name() {
    let server = LocalServer::start().await.unwrap();
    let client = server.client().unwrap();
    // Created outside the sync: by hand in Plain, or by another tool.
    let stranger = plain_client::UpsertCustomerInput::new(
        plain_client::CustomerIdentifier::external_id("crm-77"),
        plain_client::OnCreate::new(
            "Gyro Gearloose",
            plain_client::EmailAddress::unverified("gyro@example.com"),
        )
        .external_id("crm-77"),
    );
    let gyro = client.upsert_customer(stranger).await.unwrap().customer.id;
    let dir = Dir::new("against-plain");
    let input = dir.file("in.jsonl", customers(30));
    let missing = dir.path("missing.jsonl");
    // No state file: the list comes from Plain.
    let (code, stderr) = sync(&server, &input, &["--missing", &missing, "--against-plain"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("1 customers in Plain are missing"),
        "{stderr}"
    );
    let listed = dir.jsonl("missing.jsonl");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["customerId"], gyro.as_str());
    assert_eq!(listed[0]["identifier"]["externalId"], "crm-77");
    // The same input in another case, and by another identifier, still names its customers.
    let shouting: String = (0..30)
        .map(|i| {
            let email = format!("CUSTOMER{i}@EXAMPLE.COM");
            line(&plain_client::UpsertCustomerInput::new(
                plain_client::CustomerIdentifier::email(email.clone()),
                plain_client::OnCreate::new(
                    format!("Customer {i}"),
                    plain_client::EmailAddress::unverified(email),
                ),
            )) + "\n"
        })
        .collect();
    let input = dir.file("shouting.jsonl", shouting);
    let (code, stderr) = sync(&server, &input, &["--missing", &missing, "--against-plain"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(dir.jsonl("missing.jsonl").len(), 1);
    // A record that cannot be read names customers nobody knows: nothing is written.
    let broken = dir.file("broken.jsonl", format!("{}not json\n", customers(30)));
    std::fs::remove_file(&missing).unwrap();
    let (code, stderr) = sync(
        &server,
        &broken,
        &["--missing", &missing, "--against-plain"],
    )
    .await;
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("--missing not written"), "{stderr}");
    assert!(!std::path::Path::new(&missing).exists());
    // --missing alone says what it needs.
    let (code, stderr) = sync(&server, &input, &["--missing", &missing]).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("--against-plain"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_refused_while_looking_up_external_ids_stops_the_deletions_and_lists_the_rest() {
    let server = LocalServer::builder()
        .api_key("plainApiKey_right")
        .start()
        .await
        .unwrap();
    let dir = Dir::new("delete-lookup-refused");
    let lines: String = (0..4)
        .map(|i| format!("{{\"identifier\":{{\"externalId\":\"imp-{i}\"}}}}\n"))
        .collect();
    let file = dir.file("hand.jsonl", lines);
    let (results, rejects) = (dir.path("results.jsonl"), dir.path("rejects.jsonl"));
    let mut deleting = delete(
        &server,
        &file,
        &["--unchecked", "--results", &results, "--rejects", &rejects],
    );
    deleting.env("PLAIN_API_KEY", "plainApiKey_wrong");
    let (output, stderr) = finish(deleting).await;
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("authentication failure"), "{stderr}");
    let rejected = dir.jsonl("rejects.jsonl");
    // One look-up, then the run stops: the rest is listed, not looked up.
    let status: Vec<_> = rejected
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        status,
        ["failed", "not_attempted", "not_attempted", "not_attempted"]
    );
    assert_eq!(rejected[3]["input"]["identifier"]["externalId"], "imp-3");
    assert_eq!(results_of(&dir.jsonl("results.jsonl")), ["FAILED"]);
}
