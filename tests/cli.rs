//! The `plain` binary: stdout, stderr and exit codes.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{fixture, Reply, ScriptedServer};
use serde_json::{json, Value};

const KEY: &str = "plainApiKey_CLISECRET_1234";

fn example() -> String {
    format!("{}/examples/donald.json", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `plain` with `args`, feeding `stdin`, with no key or endpoint inherited.
fn plain(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plain"));
    command
        .args(args)
        .env_remove("PLAIN_API_KEY")
        .env_remove("PLAIN_API_URL")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `plain` off the async runtime, so that a scripted server can answer it.
async fn plain_async(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
        plain(&args, &env, "")
    })
    .await
    .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_clean_error(output: &Output, code: i32, contains: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(first.starts_with("plain: error: "), "{err}");
    assert!(first.contains(contains), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(!err.contains("CLISECRET"), "{err}");
    assert!(output.stdout.is_empty());
}

#[test]
fn dry_run_prints_the_exact_request_body_without_a_key() {
    let output = plain(
        &["upsert-customer", "--dry-run", "--input", &example()],
        &[],
        "",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let input =
        plain_client::UpsertCustomerInput::from_json(&fixture("../../examples/donald.json"))
            .unwrap();
    let expected = serde_json::to_value(plain_client::upsert_customer_request(input)).unwrap();
    assert_eq!(printed, expected);
    assert_eq!(
        printed["variables"]["input"],
        serde_json::from_str::<Value>(&fixture("../../examples/donald.json")).unwrap()
    );
}

#[test]
fn dry_run_reads_standard_input() {
    let output = plain(
        &["upsert-customer", "--dry-run"],
        &[],
        &fixture("../../examples/donald.json"),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["operationName"], "upsertCustomer");
}

#[test]
fn invalid_input_exits_3_and_says_what_to_fix() {
    let output = plain(
        &["upsert-customer", "--dry-run", "-i", "-"],
        &[],
        r#"{"identifier":{"emailAddress":"a@example.com","customerId":"c_1"},"onCreate":{"fullName":"A","email":{"email":"a@example.com","isVerified":false}},"onUpdate":{}}"#,
    );
    assert_clean_error(&output, 3, "`emailAddress` and `customerId`: keep one");
}

#[test]
fn a_missing_file_exits_3() {
    let output = plain(
        &["upsert-customer", "--input", "/nonexistent/input.json"],
        &[],
        "",
    );
    assert_clean_error(
        &output,
        3,
        "cannot read the input from /nonexistent/input.json",
    );
}

#[test]
fn a_missing_key_exits_3_before_sending() {
    let output = plain(&["upsert-customer", "--input", &example()], &[], "");
    assert_clean_error(&output, 3, "PLAIN_API_KEY");
}

#[test]
fn usage_errors_are_claps_2() {
    let output = plain(&["upsert-customer", "--no-such-flag"], &[], "");
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn success_prints_result_and_customer_in_plains_names() {
    let server = ScriptedServer::start(vec![Reply::new(200, fixture("noop_response.json"))]).await;
    let output = plain_async(
        vec![
            "upsert-customer".into(),
            "--input".into(),
            example(),
            "--api-url".into(),
            server.url.clone(),
        ],
        vec![("PLAIN_API_KEY", KEY.into())],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let documented: Value = serde_json::from_str(&fixture("noop_response.json")).unwrap();
    assert_eq!(printed["result"], "NOOP");
    assert_eq!(
        printed["customer"],
        documented["data"]["upsertCustomer"]["customer"]
    );
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_endpoint_can_come_from_plain_api_url() {
    let server = ScriptedServer::start(vec![Reply::new(
        200,
        fixture("recipe_create_response.json"),
    )])
    .await;
    let output = plain_async(
        vec!["upsert-customer".into(), "--input".into(), example()],
        vec![
            ("PLAIN_API_KEY", KEY.into()),
            ("PLAIN_API_URL", server.url.clone()),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_mutation_exits_4_with_plains_error_as_json() {
    let server = ScriptedServer::start(vec![Reply::new(
        200,
        fixture("mutation_error_response.json"),
    )])
    .await;
    let output = plain_async(
        vec![
            "upsert-customer".into(),
            "--input".into(),
            example(),
            "--api-url".into(),
            server.url.clone(),
        ],
        vec![("PLAIN_API_KEY", KEY.into())],
    )
    .await;
    assert_clean_error(&output, 4, "Plain rejected the mutation");
    let err = stderr(&output);
    let json_line = err.lines().nth(1).unwrap();
    let error: Value = serde_json::from_str(json_line).unwrap();
    assert_eq!(error["code"], "input_validation");
    assert_eq!(
        error["fields"][0],
        json!({"field": "fullName", "message": "Required", "type": "REQUIRED"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_failures_exit_5() {
    for status in [401, 403] {
        let server = ScriptedServer::start(vec![Reply::new(status, "")]).await;
        let output = plain_async(
            vec![
                "upsert-customer".into(),
                "--input".into(),
                example(),
                "--api-url".into(),
                server.url.clone(),
            ],
            vec![("PLAIN_API_KEY", KEY.into())],
        )
        .await;
        assert_clean_error(
            &output,
            5,
            if status == 401 {
                "API key"
            } else {
                "permission"
            },
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn other_failures_exit_1() {
    let server = ScriptedServer::start(vec![Reply::new(503, "<html>down</html>")]).await;
    let output = plain_async(
        vec![
            "upsert-customer".into(),
            "--input".into(),
            example(),
            "--api-url".into(),
            server.url.clone(),
        ],
        vec![("PLAIN_API_KEY", KEY.into())],
    )
    .await;
    assert_clean_error(&output, 1, "HTTP 503");
}
