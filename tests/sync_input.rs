//! `plain sync-customers`: what it reads and where it writes. Outputs never destroy the input,
//! records are bounded and keep their physical line numbers, and rejects can be fed back.

mod sync_support;

use std::process::Stdio;

use plain_client::testing::{LocalServer, ScriptedAnswer};
use serde_json::{json, Value};
use sync_support::*;

/// Runs a sync to its end: exit code and stderr.
async fn finish(mut command: std::process::Command) -> (Option<i32>, String) {
    command.stdin(Stdio::null());
    let mut child = command.spawn().unwrap();
    let status = wait_exit(&mut child).await;
    (status.code(), stderr_of(&mut child))
}

fn assert_one_error_line(stderr: &str, contains: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("plain: error: "), "{stderr}");
    assert!(lines[0].contains(contains), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_that_is_the_input_by_any_path_is_refused_before_anything_is_written() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("same-file");
    let content = customers(3);
    let input = dir.file("in.jsonl", &content);
    std::fs::hard_link(&input, dir.path("hard.jsonl")).unwrap();
    std::os::unix::fs::symlink(&input, dir.path("soft.jsonl")).unwrap();
    std::fs::create_dir(dir.path("sub")).unwrap();
    let other = dir.path("results.jsonl");
    for (flag, path) in [
        ("--rejects", input.clone()),
        ("--results", dir.path("hard.jsonl")),
        ("--rejects", dir.path("soft.jsonl")),
        ("--results", dir.path("sub/../in.jsonl")),
    ] {
        let (code, stderr) = finish(command(&server, &input, &[flag, &path])).await;
        assert_eq!(code, Some(3), "{flag} {path}: {stderr}");
        assert_one_error_line(&stderr, "is the input file");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), content);
    }
    // The input given as standard input is the same file too.
    let mut stdin = command(&server, "-", &["--rejects", &input, "--results", &other]);
    stdin.stdin(std::fs::File::open(&input).unwrap());
    let mut child = stdin.spawn().unwrap();
    let status = wait_exit(&mut child).await;
    let stderr = stderr_of(&mut child);
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert_one_error_line(&stderr, "is the input file");
    assert_eq!(std::fs::read_to_string(&input).unwrap(), content);
    // Nothing was opened for writing: the other output was not even created.
    assert!(!std::path::Path::new(&other).exists());
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_outputs_may_not_be_one_file_unless_it_is_a_device() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("two-outputs");
    let input = dir.file("in.jsonl", customers(3));
    let out = dir.path("out.jsonl");
    let (code, stderr) = finish(command(
        &server,
        &input,
        &[
            "--rejects",
            &out,
            "--results",
            &dir.path("sub/../out.jsonl"),
        ],
    ))
    .await;
    // `sub` does not exist: the path cannot be created.
    assert_eq!(code, Some(3), "{stderr}");
    std::fs::create_dir(dir.path("sub")).unwrap();
    let (code, stderr) = finish(command(
        &server,
        &input,
        &[
            "--rejects",
            &out,
            "--results",
            &dir.path("sub/../out.jsonl"),
        ],
    ))
    .await;
    assert_eq!(code, Some(3), "{stderr}");
    assert_one_error_line(&stderr, "are the same file");
    assert!(!std::path::Path::new(&out).exists());
    assert!(server.requests().is_empty());
    let (code, stderr) = finish(command(
        &server,
        &input,
        &["--rejects", "/dev/null", "--results", "/dev/null"],
    ))
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(server.customers().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_as_input_exits_3_before_anything_is_sent() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("directory");
    let rejects = dir.path("rejects.jsonl");
    let (code, stderr) = finish(command(&server, &dir.path(""), &["--rejects", &rejects])).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert_one_error_line(&stderr, "is a directory");
    assert!(!std::path::Path::new(&rejects).exists());
    assert!(server.requests().is_empty());
}

/// A valid line of exactly `len` bytes (spaces pad the JSON).
fn padded(i: usize, len: usize) -> String {
    let line = line(&customer(i));
    format!("{line}{}", " ".repeat(len - line.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_of_exactly_the_cap_is_sent_and_one_byte_more_is_rejected() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("cap");
    let input = dir.file(
        "in.jsonl",
        format!(
            "{}\n{}\n{}\r\n",
            padded(1, 300),
            padded(2, 301),
            padded(3, 300)
        ),
    );
    let rejects = dir.path("rejects.jsonl");
    let (code, stderr) = finish(command(
        &server,
        &input,
        &["--max-record-bytes", "300", "--rejects", &rejects],
    ))
    .await;
    assert_eq!(code, Some(6), "{stderr}");
    assert_eq!(server.customers().len(), 2);
    let rejected = dir.jsonl("rejects.jsonl");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["line"], 2);
    assert_eq!(rejected[0]["error"]["code"], "too_long");
    let message = rejected[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("300 bytes") && message.contains("--max-record-bytes"),
        "{message}"
    );
    assert!(stderr.contains("too_long 1"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_without_newlines_is_one_record_and_is_not_held_in_memory() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("no-newline");
    // 64 MiB on one line: read whole, it would take at least as much memory. Written in
    // pieces: the child's peak memory counts this process's at the time it starts.
    let input = dir.path("in.jsonl");
    let mut file = std::fs::File::create(&input).unwrap();
    for _ in 0..1024 {
        std::io::Write::write_all(&mut file, &[b'x'; 64 << 10]).unwrap();
    }
    drop(file);
    let rejects = dir.path("rejects.jsonl");
    let (status, stderr, peak) =
        run_measured(command(&server, &input, &["--rejects", &rejects])).await;
    assert_eq!(status.code(), Some(6), "{stderr}");
    let rejected = dir.jsonl("rejects.jsonl");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["error"]["code"], "too_long");
    assert_eq!(rejected[0]["inputTruncated"], true);
    assert!(rejected[0]["input"].as_str().unwrap().len() <= 1024);
    assert!(peak < 48 << 20, "peak memory {} MiB", peak >> 20);
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_that_is_not_utf8_keeps_its_bytes_in_the_rejects_file() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("utf8");
    let mut content = customers(1).into_bytes();
    content.extend_from_slice(b"{\"x\": \"\xff\"}\n");
    let input = dir.file("in.jsonl", content);
    let rejects = dir.path("rejects.jsonl");
    let (code, stderr) = finish(command(&server, &input, &["--rejects", &rejects])).await;
    assert_eq!(code, Some(6), "{stderr}");
    let rejected = dir.jsonl("rejects.jsonl");
    assert_eq!(rejected[0]["line"], 2);
    assert_eq!(rejected[0]["input"], "{\"x\": \"\u{fffd}\"}");
    assert_eq!(rejected[0]["inputBase64"], "eyJ4IjogIv8ifQ==");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_line_numbers_are_physical_whatever_the_line_endings() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("csv-lines");
    let input = dir.file(
        "in.csv",
        "email,full_name,verified\r\n\
         a@example.com,A,no\r\n\
         b@example.com,\"B\r\non two lines\",no\r\n\
         \r\n\
         c@example.com,C,no,extra\r\n\
         d@example.com,D\r\n\
         e@example.com,E,maybe\r\n\
         f@example.com,F,yes\r\n",
    );
    let rejects = dir.path("rejects.jsonl");
    let results = dir.path("results.jsonl");
    let (code, stderr) = finish(command(
        &server,
        &input,
        &[
            "--rejects",
            &rejects,
            "--results",
            &results,
            "--concurrency",
            "1",
        ],
    ))
    .await;
    assert_eq!(code, Some(6), "{stderr}");
    let results = dir.jsonl("results.jsonl");
    let lines_of = |malformed: bool| -> Vec<u64> {
        results
            .iter()
            .filter(|r| (r["result"] == "MALFORMED") == malformed)
            .map(|r| r["line"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(lines_of(false), [2, 3, 9]);
    // The records that could not be read have results lines too, as they were read.
    assert_eq!(lines_of(true), [6, 7, 8]);
    let rejected = dir.jsonl("rejects.jsonl");
    let lines: Vec<u64> = rejected
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [6, 7, 8]);
    let messages: Vec<&str> = rejected
        .iter()
        .map(|r| r["error"]["message"].as_str().unwrap())
        .collect();
    assert!(
        messages[0].contains("4 cells and the header 3"),
        "{messages:?}"
    );
    assert!(
        messages[1].contains("2 cells and the header 3"),
        "{messages:?}"
    );
    assert!(messages[2].contains("`verified`"), "{messages:?}");
    let names: Vec<String> = server
        .customers()
        .iter()
        .map(|c| c.full_name.clone())
        .collect();
    assert!(names.contains(&"B\r\non two lines".to_owned()), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_of_a_csv_input_can_be_fed_back() {
    let server = LocalServer::start().await.unwrap();
    // The first request fails (and is not retried); the second row does not convert.
    server.script([ScriptedAnswer::gateway(503)]);
    let dir = Dir::new("csv-feed-back");
    let input = dir.file(
        "in.csv",
        "email,full_name,verified\n\
         a@example.com,A,no\n\
         b@example.com,B,maybe\n\
         c@example.com,C,yes\n",
    );
    let rejects = dir.path("rejects.jsonl");
    let (code, stderr) = finish(command(
        &server,
        &input,
        &[
            "--rejects",
            &rejects,
            "--concurrency",
            "1",
            "--max-attempts",
            "1",
        ],
    ))
    .await;
    assert_eq!(code, Some(6), "{stderr}");
    let mut rejected = dir.jsonl("rejects.jsonl");
    rejected.sort_by_key(|r| r["line"].as_u64());
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(rejected[0]["line"], 2);
    assert_eq!(
        rejected[0]["input"]["identifier"]["emailAddress"],
        "a@example.com"
    );
    assert_eq!(rejected[1]["line"], 3);
    assert_eq!(
        rejected[1]["csv"],
        json!({"email": "b@example.com", "full_name": "B", "verified": "maybe"})
    );
    assert!(rejected[1].get("input").is_none());
    // Fix the cell, and feed the rejects file back as JSON Lines.
    rejected[1]["csv"]["verified"] = json!("yes");
    let fixed: String = rejected.iter().map(|r| format!("{r}\n")).collect();
    let again = dir.file("fixed.jsonl", fixed);
    let results = dir.path("results-again.jsonl");
    let (code, stderr) = finish(command(&server, &again, &["--results", &results])).await;
    assert_eq!(code, Some(0), "{stderr}");
    let mut lines: Vec<u64> = dir
        .jsonl("results-again.jsonl")
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    lines.sort_unstable();
    assert_eq!(lines, [2, 3]);
    let mut customers = server.customers();
    customers.sort_by(|a, b| a.email.cmp(&b.email));
    let emails: Vec<(&str, bool)> = customers
        .iter()
        .map(|c| (c.email.as_str(), c.email_verified))
        .collect();
    assert_eq!(
        emails,
        [
            ("a@example.com", false),
            ("b@example.com", true),
            ("c@example.com", true)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_text_in_messages_is_escaped_and_capped() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("escaped");
    // A header naming an unknown column with an escape sequence and a newline in it.
    let input = dir.file("header.csv", "email,\"na\u{1b}[31mme\nx\"\n");
    let (code, stderr) = finish(command(&server, &input, &[])).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert_one_error_line(&stderr, r#""na\u001b[31mme\nx""#);
    assert!(!stderr.contains('\u{1b}'));

    let long = format!("\u{1b}[2J{}", "y".repeat(5000));
    let input = dir.file(
        "rows.csv",
        format!("email,full_name,verified\na@example.com,A,\"{long}\"\n"),
    );
    let rejects = dir.path("rejects.jsonl");
    let (code, stderr) = finish(command(&server, &input, &["--rejects", &rejects])).await;
    assert_eq!(code, Some(6), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    let rejected = dir.jsonl("rejects.jsonl");
    let message = rejected[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains(r"\u001b[2J"), "{message}");
    assert!(
        message.contains('…') && message.chars().count() < 400,
        "{message}"
    );
    // The cells themselves are kept whole, to be fixed and fed back.
    assert_eq!(rejected[0]["csv"]["verified"], Value::String(long));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_has_a_results_line_and_csv_given_as_json_says_so() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("papercuts");
    let content = format!(
        "{}not json\n{}",
        line(&customer(0)) + "\n",
        line(&customer(1)) + "\n"
    );
    let input = dir.file("in.jsonl", content);
    let results = dir.path("results.jsonl");
    let (code, stderr) = finish(command(&server, &input, &["--results", &results])).await;
    assert_eq!(code, Some(6), "{stderr}");
    let mut lines = dir.jsonl("results.jsonl");
    lines.sort_by_key(|l| l["line"].as_u64());
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["result"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["CREATED", "MALFORMED", "CREATED"]);
    assert_eq!(lines[1]["error"], "malformed");

    // A CSV file piped in as JSON Lines: the rejects say to pass --format csv.
    let csv = dir.file("in.txt", "email,full_name\na@example.com,A\n");
    let rejects = dir.path("rejects.jsonl");
    let (code, _) = finish(command(&server, &csv, &["--rejects", &rejects])).await;
    assert_eq!(code, Some(6));
    let rejected = dir.jsonl("rejects.jsonl");
    assert_eq!(rejected.len(), 2);
    for reject in &rejected {
        let message = reject["error"]["message"].as_str().unwrap();
        assert!(message.contains("pass --format csv"), "{message}");
    }
    // A line that is JSON, but not a customer, gets no such hint.
    let json = dir.file("bad.jsonl", "{\"a\": 1, \"b\": 2}\n");
    let (_, _) = finish(command(&server, &json, &["--rejects", &rejects])).await;
    let message = dir.jsonl("rejects.jsonl")[0]["error"]["message"].clone();
    assert!(
        !message.as_str().unwrap().contains("--format csv"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_runs_serve_customer_groups_and_the_help_names_the_csv_columns() {
    let dir = Dir::new("local-groups");
    let record = json!({
        "identifier": {"emailAddress": "vip@example.com"},
        "onCreate": {
            "fullName": "V",
            "email": {"email": "vip@example.com", "isVerified": false},
            "customerGroupIdentifiers": [{"customerGroupKey": "vip"}]
        },
        "onUpdate": {}
    });
    let input = dir.file("in.jsonl", format!("{record}\n"));
    let results = dir.path("results.jsonl");
    let run = |groups: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_plain"));
        command
            .args(["sync-customers", &input, "--local", "--results", &results])
            .args(groups)
            .env_remove("PLAIN_API_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    };
    let (code, stderr) = finish(run(&[])).await;
    assert_eq!(
        code,
        Some(6),
        "without the group, Plain refuses it: {stderr}"
    );
    let (code, stderr) = finish(run(&["--customer-group", "vip=VIPs"])).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(dir.jsonl("results.jsonl")[0]["result"], "CREATED");

    let help = std::process::Command::new(env!("CARGO_BIN_EXE_plain"))
        .args(["sync-customers", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for column in [
        "email",
        "full_name",
        "short_name",
        "external_id",
        "verified",
    ] {
        assert!(help.contains(column), "{column}: {help}");
    }
}
