//! Helpers shared by the test files: fixtures, and running the `plain` binary.
#![allow(dead_code)]

use std::path::PathBuf;

/// A fixture from `tests/fixtures/`.
pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A file of Plain's from `../shared/plain/` (its full schema, say), when it is there (CI has
/// it); see [`shared`].
pub fn shared_plain(name: &str) -> Option<PathBuf> {
    shared(&format!("plain/{name}"))
}

/// A file from `../shared/` (or `$PLAIN_SHARED_DIR`), Plain's material beside the checkout.
/// CI has it, so under
/// `CI=true` a missing file fails the test; elsewhere the test skips its comparison and says
/// why.
pub fn shared(name: &str) -> Option<PathBuf> {
    // A copy of the crate elsewhere (CI's run with Plain's full schema) names the folder.
    let dir = std::env::var_os("PLAIN_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let path = dir.join(name);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{} is missing, and CI must have it", path.display());
    }
    eprintln!(
        "skipped: {} is not here, nothing to compare with",
        path.display()
    );
    None
}

/// A client of the local server that sends every request once: the tests that use it look at
/// single answers, and at the requests the server received.
#[cfg(feature = "testing")]
pub fn once_client(server: &plain_client::testing::LocalServer) -> plain_client::PlainClient {
    server
        .client_builder()
        .retry_policy(plain_client::RetryPolicy::none())
        .build()
        .unwrap()
}

/// Posts a GraphQL query with its variables to the local server, with its key: the HTTP
/// status and the answer's JSON.
#[cfg(feature = "testing")]
pub async fn post_query(
    server: &plain_client::testing::LocalServer,
    query: &str,
    variables: serde_json::Value,
) -> (u16, serde_json::Value) {
    let body = serde_json::json!({"query": query, "variables": variables});
    let response = reqwest::Client::new()
        .post(server.endpoint())
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("Bearer {}", server.api_key().unwrap_or_default()),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

/// A fixture parsed as JSON.
pub fn fixture_json(name: &str) -> serde_json::Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// Runs the `plain` binary with `args`, feeding `stdin`, with no key or endpoint inherited.
#[cfg(feature = "cli")]
pub fn plain(args: &[&str], env: &[(&str, &str)], stdin: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
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
