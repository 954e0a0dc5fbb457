//! `plain export-customers` as a process: every customer once as a JSON line, against
//! `plain serve` and the local server, and once more after a `kill -9` and a re-run.

mod sync_support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use plain_client::testing::{LocalServer, ScriptedAnswer};
use plain_client::PlainClient;
use serde_json::Value;
use sync_support::*;

/// `plain export-customers ARGS... --api-url ...` against `server`, with its key.
fn export(server: &LocalServer, args: &[&str]) -> Command {
    let mut command = plain_against(server, "export-customers", args);
    command.stdin(Stdio::null());
    command
}

async fn seed(client: &PlainClient, range: std::ops::Range<usize>) {
    for i in range {
        client.upsert_customer(customer(i)).await.unwrap();
    }
}

/// How many `customers` requests the server received.
fn pages_asked(server: &LocalServer) -> usize {
    sent(server, "customers")
}

/// The customer ids of the lines, checking that each is there once.
fn ids(lines: &[Value]) -> Vec<String> {
    let ids: Vec<String> = lines
        .iter()
        .map(|l| l["customerId"].as_str().unwrap().to_owned())
        .collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "a customer twice");
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_from_plain_serve_writes_each_customer_once_and_a_rerun_adds_only_new_ones() {
    let serve = Serve::start(&[]);
    let client = serve.client();
    seed(&client, 0..250).await;
    let dir = Dir::new("export-serve");
    let output = dir.path("customers.jsonl");
    let (code, stdout, stderr) = serve.run("export-customers", &["--output", &output]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("exported 250 customers in 3 pages (3 requests)"),
        "{stderr}"
    );
    let lines = dir.jsonl("customers.jsonl");
    assert_eq!(lines.len(), 250);
    let first = &lines[0];
    let mut fields: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "createdAt",
            "cursor",
            "customerId",
            "email",
            "externalId",
            "fullName",
            "shortName",
            "updatedAt"
        ]
    );
    assert_eq!(first["fullName"], "Customer 0");
    assert_eq!(first["email"]["email"], "customer0@example.com");
    assert_eq!(first["email"]["isVerified"], false);
    assert!(
        first["createdAt"].as_str().unwrap().ends_with('Z'),
        "{first}"
    );
    let stored = client
        .customer_by_email("customer249@example.com")
        .await
        .unwrap();
    assert_eq!(lines[249]["customerId"], stored.unwrap().id);
    assert_eq!(ids(&lines).len(), 250);

    // Again with the same file: nothing new, nothing twice.
    let (code, _, stderr) = serve.run("export-customers", &["--output", &output]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("holds 250 customers"), "{stderr}");
    assert!(stderr.contains("exported 0 customers"), "{stderr}");
    assert_eq!(dir.jsonl("customers.jsonl"), lines);
    // Customers created since come after the others.
    seed(&client, 250..253).await;
    let (code, _, stderr) = serve.run("export-customers", &["--output", &output]).await;
    assert_eq!(code, 0, "{stderr}");
    let all = dir.jsonl("customers.jsonl");
    assert_eq!(all.len(), 253);
    assert_eq!(all[252]["fullName"], "Customer 252");
    assert_eq!(ids(&all).len(), 253);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_output_the_lines_go_to_stdout_in_pages_of_100() {
    let server = LocalServer::start().await.unwrap();
    seed(&server.client().unwrap(), 0..120).await;
    let (code, stdout, stderr) = finish(export(&server, &["--quiet"])).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ids(&lines).len(), 120);
    assert_eq!(pages_asked(&server), 2, "⌈120/100⌉ requests");
    for request in server.requests() {
        if request.body["operationName"] == "customers" {
            assert_eq!(request.body["variables"]["first"], 100);
        }
    }
}

/// The start of a line, as a kill in the middle of a write leaves it.
const TORN: &[u8] = br#"{"customerId":"c_01TORN","fullNa"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_killed_midway_and_run_again_has_every_customer_exactly_once() {
    let server = LocalServer::start().await.unwrap();
    let n = 1500;
    seed(&server.client().unwrap(), 0..n).await;
    // 15 pages of at least 200 ms each: the kill comes long before the end.
    server.set_delay(Duration::from_millis(200));
    let dir = Dir::new("export-kill");
    let output = dir.path("customers.jsonl");
    let mut child = export(&server, &["--output", &output]).spawn().unwrap();
    wait_until("300 lines exported", || line_count(&output) >= 300).await;
    signal(&child, libc::SIGKILL);
    wait_exit(&mut child).await;
    let written = dir.jsonl("customers.jsonl").len();
    assert!(written < n, "killed before the end: {written}");
    // As if the kill had come in the middle of a write: a torn last line.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&output)
        .unwrap();
    std::io::Write::write_all(&mut file, TORN).unwrap();
    drop(file);

    server.set_delay(Duration::ZERO);
    let asked_before = pages_asked(&server);
    let (code, _, stderr) = finish(export(&server, &["--output", &output])).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("holds {written} customers")),
        "{stderr}"
    );
    let dropped = format!("a torn last line of {} bytes was dropped", TORN.len());
    assert!(stderr.contains(&dropped), "{stderr}");
    let lines = dir.jsonl("customers.jsonl");
    let expected: Vec<String> = server.customers().into_iter().map(|c| c.id).collect();
    assert_eq!(
        ids(&lines),
        expected,
        "every customer exactly once, in order"
    );
    let asked = pages_asked(&server) - asked_before;
    assert!(
        asked <= (n - written).div_ceil(100) + 1,
        "went on after the last line: {asked} pages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_keeps_what_was_read_exits_1_and_a_rerun_finishes() {
    let server = LocalServer::start().await.unwrap();
    seed(&server.client().unwrap(), 0..250).await;
    server.script([
        ScriptedAnswer::normal(),
        ScriptedAnswer::graphql_error(400, "BAD_USER_INPUT", "no"),
    ]);
    let dir = Dir::new("export-fail");
    let output = dir.path("customers.jsonl");
    let (code, _, stderr) = finish(export(&server, &["--output", &output])).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("plain: error: "), "{stderr}");
    assert_eq!(
        dir.jsonl("customers.jsonl").len(),
        100,
        "the page read is kept"
    );
    let (code, _, stderr) = finish(export(&server, &["--output", &output])).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ids(&dir.jsonl("customers.jsonl")).len(), 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_an_export_did_not_write_is_refused_untouched_with_exit_3() {
    let server = LocalServer::start().await.unwrap();
    seed(&server.client().unwrap(), 0..3).await;
    let dir = Dir::new("export-refuse");
    for (name, content) in [
        ("notes.txt", "my notes\nthat matter\n"),
        ("torn.txt", "no newline at all"),
        ("other.jsonl", "{\"id\": \"c_1\"}\n"),
    ] {
        let path = dir.file(name, content);
        let (code, _, stderr) = finish(export(&server, &["--output", &path])).await;
        assert_eq!(code, 3, "{name}: {stderr}");
        assert!(
            stderr.contains("not a file plain export-customers wrote"),
            "{stderr}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), content, "{name}");
    }
    let (code, _, stderr) = finish(export(&server, &["--output", &dir.path("")])).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("directory"), "{stderr}");
    assert_eq!(pages_asked(&server), 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_refused_key_exits_3_or_5() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("export-key");
    let output = dir.path("customers.jsonl");
    let mut command = export(&server, &["--output", &output]);
    command.env_remove("PLAIN_API_KEY");
    let (code, _, stderr) = finish(command).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("PLAIN_API_KEY"), "{stderr}");
    assert!(!std::path::Path::new(&output).exists(), "nothing created");

    let mut command = export(&server, &["--output", &output]);
    command.env("PLAIN_API_KEY", "plainApiKey_wrong");
    let (code, _, stderr) = finish(command).await;
    assert_eq!(code, 5, "{stderr}");
}
