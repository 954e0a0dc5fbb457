//! The `plain` binary: stdout, stderr and exit codes.

mod common;

use std::process::{Command, Output, Stdio};

use common::{fixture, plain};
use plain_client::testing::{LocalServer, ScriptedAnswer};
use serde_json::{json, Value};

const KEY: &str = "plainApiKey_CLISECRET_1234";

fn example() -> String {
    format!("{}/examples/donald.json", env!("CARGO_MANIFEST_DIR"))
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

/// Runs `plain upsert-customer` on the example against `server`, with [`KEY`].
async fn upsert_example(server: &LocalServer) -> Output {
    plain_async(
        vec![
            "upsert-customer".into(),
            "--input".into(),
            example(),
            "--api-url".into(),
            server.endpoint().to_owned(),
        ],
        vec![("PLAIN_API_KEY", KEY.into())],
    )
    .await
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
fn an_endpoint_with_a_password_exits_3_without_showing_it() {
    let url = "https://sync:hunter2pw@core-api.uk.plain.com/graphql/v1";
    for args in [
        vec!["upsert-customer", "--input", &example(), "--api-url", url],
        vec!["sync-customers", "-", "--api-url", url],
    ] {
        let output = plain(&args, &[("PLAIN_API_KEY", "plainApiKey_x")], "");
        assert_clean_error(&output, 3, "user name or password");
        assert!(
            !stderr(&output).contains("hunter2pw"),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn usage_errors_are_claps_2() {
    let output = plain(&["upsert-customer", "--no-such-flag"], &[], "");
    assert_eq!(output.status.code(), Some(2));
}

/// A local server expecting [`KEY`], with these answers scripted.
async fn server_with(answers: impl IntoIterator<Item = ScriptedAnswer>) -> LocalServer {
    let server = LocalServer::builder().api_key(KEY).start().await.unwrap();
    server.script(answers);
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn success_prints_result_and_customer_in_plains_names() {
    let server = server_with([]).await;
    let output = upsert_example(&server).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["result"], "CREATED");
    let stored = &server.customers()[0];
    assert_eq!(printed["customer"]["id"], stored.id.as_str());
    let keys: Vec<&String> = printed["customer"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "createdAt",
            "email",
            "externalId",
            "fullName",
            "id",
            "shortName",
            "status",
            "updatedAt"
        ]
    );
    assert_eq!(printed["customer"]["email"]["isVerified"], false);
    // The server accepted the key: it answers 401 otherwise.
    assert_eq!(server.requests()[0].status, Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_endpoint_can_come_from_plain_api_url() {
    let server = server_with([]).await;
    let output = plain_async(
        vec!["upsert-customer".into(), "--input".into(), example()],
        vec![
            ("PLAIN_API_KEY", KEY.into()),
            ("PLAIN_API_URL", server.endpoint().to_owned()),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_mutation_exits_4_with_plains_error_as_json() {
    let server =
        server_with([ScriptedAnswer::status(200).body(fixture("mutation_error_response.json"))])
            .await;
    let output = upsert_example(&server).await;
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
        let server = server_with([ScriptedAnswer::status(status)]).await;
        let output = upsert_example(&server).await;
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
    let server = server_with((0..5).map(|_| ScriptedAnswer::gateway(503))).await;
    let output = upsert_example(&server).await;
    assert_clean_error(&output, 1, "HTTP 503");
}

#[test]
fn the_main_job_shows_created_then_noop_then_updated_on_the_local_server() {
    let three = format!(
        "{}/examples/donald-three-times.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = plain(&["upsert-customer", "--local", "--input", &three], &[], "");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let results: Vec<Value> = serde_json::Deserializer::from_slice(&output.stdout)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect();
    let outcomes: Vec<&str> = results
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["CREATED", "NOOP", "UPDATED"]);
    assert_eq!(results[0]["customer"]["id"], results[2]["customer"]["id"]);
    assert_eq!(results[2]["customer"]["fullName"], "Donald Fauntleroy Duck");
    assert_eq!(results[2]["customer"]["email"]["isVerified"], true);
}

#[test]
fn the_second_of_several_inputs_is_named_in_errors() {
    let output = plain(
        &["upsert-customer", "--dry-run"],
        &[],
        &format!(
            "{}\n{{\"identifier\": {{}}}}",
            fixture("../../examples/donald.json")
        ),
    );
    assert_clean_error(&output, 3, "input 2: identifier:");
}

#[test]
fn serve_prints_its_endpoint_and_serves_until_stopped() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_plain"))
        .args([
            "serve",
            "--api-key",
            KEY,
            "--rate-limit",
            "100",
            "--window",
            "10",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut endpoint = String::new();
    stdout.read_line(&mut endpoint).unwrap();
    let endpoint = endpoint.trim().to_owned();
    assert!(
        endpoint.starts_with("http://127.0.0.1:") && endpoint.ends_with("/graphql/v1"),
        "{endpoint}"
    );
    let output = plain(
        &[
            "upsert-customer",
            "--input",
            &example(),
            "--api-url",
            &endpoint,
        ],
        &[("PLAIN_API_KEY", KEY)],
        "",
    );
    let refused = plain(
        &[
            "upsert-customer",
            "--input",
            &example(),
            "--api-url",
            &endpoint,
        ],
        &[("PLAIN_API_KEY", "plainApiKey_wrong")],
        "",
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["result"], "CREATED");
    assert_eq!(refused.status.code(), Some(5), "{}", stderr(&refused));
}

/// Starts `plain serve` with `args`, and returns the child, its endpoint and the stderr lines
/// it printed up to and including its workspace id.
fn serve_until_its_workspace_id(args: &[&str]) -> (std::process::Child, String, Vec<String>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_plain"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut endpoint = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut endpoint)
        .unwrap();
    // Read on a thread of its own, so that a server that never prints the line fails the test
    // instead of hanging it (the server runs until killed, so its stderr never ends).
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        match receive.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(line) => {
                let done = line.starts_with("plain: workspace id ");
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("plain serve printed no workspace id: {lines:?}");
            }
        }
    }
    (child, endpoint.trim().to_owned(), lines)
}

/// A client of `plain serve` at `endpoint`, with [`KEY`].
fn client_of(endpoint: String) -> plain_client::PlainClient {
    plain_client::PlainClient::builder()
        .endpoint(endpoint)
        .api_key(KEY)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_prints_its_workspace_id_and_answers_my_workspace_with_it() {
    let id = "w_01JCLIWORKSPACE00000000000";
    let (mut child, endpoint, lines) =
        tokio::task::spawn_blocking(move || serve_until_its_workspace_id(&["--workspace-id", id]))
            .await
            .unwrap();
    let client = client_of(endpoint);
    let workspace = client.my_workspace().await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        lines.last().map(String::as_str),
        Some(format!("plain: workspace id {id}").as_str()),
        "{lines:?}"
    );
    assert_eq!(workspace.unwrap().unwrap().id, id);

    // Without one, a new id each time: two `plain serve` runs are two workspaces, though both
    // have the default seed.
    let (ids, forbidden) = tokio::task::spawn_blocking(|| {
        let mut ids = Vec::new();
        for args in [&[][..], &["--forbid-workspace-read"][..]] {
            let (mut child, _, lines) = serve_until_its_workspace_id(args);
            child.kill().unwrap();
            child.wait().unwrap();
            ids.push(lines.last().cloned().unwrap_or_default());
        }
        (ids[0].clone(), ids[1].clone())
    })
    .await
    .unwrap();
    let own = ids
        .strip_prefix("plain: workspace id w_")
        .unwrap_or_default();
    assert_eq!(own.len(), 26, "{ids}");
    assert!(
        forbidden.ends_with(" (myWorkspace answers FORBIDDEN)"),
        "{forbidden}"
    );
    assert!(!forbidden.contains(own), "{ids} / {forbidden}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_the_import_requests_its_import_faults_name() {
    let (mut child, endpoint, _) = tokio::task::spawn_blocking(|| {
        serve_until_its_workspace_id(&["--import-fault", "2:skip-last=1"])
    })
    .await
    .unwrap();
    let client = client_of(endpoint);
    let batch = || {
        vec![
            plain_client::ImportCustomer::new("crm-1", "Ada").email("ada@example.com"),
            plain_client::ImportCustomer::new("crm-2", "Grace").email("grace@example.com"),
        ]
    };
    let first = client.import_customers(batch()).await;
    let second = client.import_customers(batch()).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!((first.added, first.updated, first.skipped), (2, 0, 0));
    assert_eq!((second.added, second.updated, second.skipped), (0, 1, 1));
}

#[test]
fn serve_refuses_an_import_fault_it_cannot_read_as_a_usage_error() {
    for (fault, says) in [
        ("0:drop", "the first is 1"),
        ("skip-last=1", "N:FAULT"),
        ("1:skip=1", "skip-last=N"),
    ] {
        let output = plain(&["serve", "--import-fault", fault], &[], "");
        assert_eq!(
            output.status.code(),
            Some(2),
            "{fault}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(says),
            "{fault}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn serve_refuses_a_schema_it_cannot_read_or_serve_with_exit_3() {
    let missing = format!("{}/no-such-schema.graphql", env!("CARGO_MANIFEST_DIR"));
    let output = plain(&["serve", "--schema", &missing], &[], "");
    assert_clean_error(&output, 3, "cannot read the schema");
    let unrelated = format!(
        "{}/tests/fixtures/schemas/operations/customerGroup.graphql",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = plain(&["serve", "--schema", &unrelated], &[], "");
    assert_clean_error(&output, 3, "the schema given");
}

#[test]
fn an_input_of_the_cap_is_read_and_one_byte_more_is_refused_with_exit_3() {
    let size = std::fs::metadata(example()).unwrap().len();
    let exact = size.to_string();
    let output = plain(
        &[
            "upsert-customer",
            "--dry-run",
            "--input",
            &example(),
            "--max-input-bytes",
            &exact,
        ],
        &[],
        "",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let short = (size - 1).to_string();
    let output = plain(
        &[
            "upsert-customer",
            "--dry-run",
            "--input",
            &example(),
            "--max-input-bytes",
            &short,
        ],
        &[],
        "",
    );
    assert_clean_error(&output, 3, &format!("longer than {short} bytes"));
    assert!(stderr(&output).contains("--max-input-bytes"));
    // Standard input too, however much more is coming (it stops reading: the rest of what
    // is written to it may meet a closed pipe).
    let mut child = Command::new(env!("CARGO_BIN_EXE_plain"))
        .args(["upsert-customer", "--dry-run", "--max-input-bytes", "100"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&vec![b' '; 1 << 20]);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_clean_error(&output, 3, "longer than 100 bytes");
}

#[test]
fn an_output_that_cannot_be_written_after_sending_exits_7() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_plain"))
        .args(["upsert-customer", "--local", "--input", &example()])
        .env_remove("PLAIN_API_KEY")
        .env_remove("PLAIN_API_URL")
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert!(stderr(&output).contains("cannot write the output"));
}

#[test]
fn input_text_in_an_error_is_escaped_onto_one_line() {
    let mut input: Value = serde_json::from_str(&fixture("../../examples/donald.json")).unwrap();
    input["on\u{1b}[31mUpdate\nX"] = json!({});
    let output = plain(&["upsert-customer", "--dry-run"], &[], &input.to_string());
    assert_clean_error(&output, 3, r"on\u001b[31mUpdate\nX");
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
}

#[test]
fn serve_serves_the_customer_groups_it_is_given() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_plain"))
        .args([
            "serve",
            "--customer-group",
            "vip=Very important",
            "--customer-group",
            "beta",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut endpoint = String::new();
    stdout.read_line(&mut endpoint).unwrap();
    let endpoint = endpoint.trim().to_owned();
    let upsert = |group: &str| {
        let input = json!({
            "identifier": {"emailAddress": format!("{group}@example.com")},
            "onCreate": {
                "fullName": "Gyro Gearloose",
                "email": {"email": format!("{group}@example.com"), "isVerified": false},
                "customerGroupIdentifiers": [{"customerGroupKey": group}]
            },
            "onUpdate": {}
        });
        plain(
            &["upsert-customer", "--api-url", &endpoint],
            &[("PLAIN_API_KEY", "any")],
            &input.to_string(),
        )
    };
    let member = upsert("vip");
    let unknown = upsert("nope");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert_eq!(member.status.code(), Some(0), "{}", stderr(&member));
    assert_eq!(unknown.status.code(), Some(4), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("customer_group_not_found"),
        "{}",
        stderr(&unknown)
    );
    assert!(
        log.contains("customer group vip (Very important) has id cg_"),
        "{log}"
    );
    assert!(
        log.contains("customer group beta (beta) has id cg_"),
        "{log}"
    );
}
