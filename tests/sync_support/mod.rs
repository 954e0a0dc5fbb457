//! Helpers for the tests of `plain sync-customers` as a process: scratch folders, inputs,
//! starting the binary, and waiting for it with a generous deadline (a hang detector, not a
//! speed assertion).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use plain_client::testing::LocalServer;
use plain_client::{CustomerIdentifier, EmailAddress, OnCreate, UpsertCustomerInput};
use serde_json::Value;

/// How long a test pauses for something before it calls it a hang. Generous on purpose: it
/// detects a hang, and says nothing of speed, so a loaded machine never reaches it.
pub const DEADLINE: Duration = Duration::from_secs(300);

/// A hang detector that counts the pauses it made, not the time that passed: it runs out once
/// its pauses add up to [`DEADLINE`]. A loaded machine makes each pause longer, never shorter,
/// so only a hang runs it out.
#[derive(Debug, Default)]
pub struct Patience(Duration);

impl Patience {
    /// Pauses for `step`; `false` once the pauses add up to [`DEADLINE`].
    pub async fn pause(&mut self, step: Duration) -> bool {
        tokio::time::sleep(step).await;
        self.0 += step;
        self.0 < DEADLINE
    }
}

/// How often the helpers below look again.
const POLL: Duration = Duration::from_millis(20);

pub fn customer(i: usize) -> UpsertCustomerInput {
    let email = format!("customer{i}@example.com");
    UpsertCustomerInput::new(
        CustomerIdentifier::email(email.clone()),
        OnCreate::new(format!("Customer {i}"), EmailAddress::unverified(email)),
    )
}

/// Customer `i` under a name of its own, on creation and on update.
pub fn named(i: usize, name: &str) -> UpsertCustomerInput {
    let email = format!("customer{i}@example.com");
    UpsertCustomerInput::new(
        CustomerIdentifier::email(email.clone()),
        OnCreate::new(name, EmailAddress::unverified(email)),
    )
    .on_update(plain_client::OnUpdate::default().full_name(name))
}

/// The customer the server holds for customer `i`'s email address.
pub fn stored(server: &LocalServer, i: usize) -> plain_client::testing::StoredCustomer {
    let email = format!("customer{i}@example.com");
    server
        .customers()
        .into_iter()
        .find(|c| c.email == email)
        .unwrap_or_else(|| panic!("the server has no {email}"))
}

/// A customer Plain refuses (a blank full name), sent all the same.
pub fn blank(i: usize) -> UpsertCustomerInput {
    let email = format!("blank{i}@example.com");
    UpsertCustomerInput::new(
        CustomerIdentifier::email(email.clone()),
        OnCreate::new(" ", EmailAddress::unverified(email)),
    )
}

pub fn line(input: &UpsertCustomerInput) -> String {
    serde_json::to_string(input).unwrap()
}

/// `n` customers as JSON Lines.
pub fn customers(n: usize) -> String {
    (0..n).map(|i| line(&customer(i)) + "\n").collect()
}

/// A scratch folder, removed afterwards.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("plain-sync-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn file(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    /// Every line of a JSON Lines file, each of which must be whole JSON; none if it is absent.
    pub fn jsonl(&self, name: &str) -> Vec<Value> {
        jsonl(&self.0.join(name))
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every line of a JSON Lines file, each of which must be whole JSON ending in a newline.
pub fn jsonl(path: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends in a torn line: {:?}",
        path.display(),
        &text[text.len().saturating_sub(200)..]
    );
    text.lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: not whole JSON ({e}): {l}", path.display()))
        })
        .collect()
}

/// How many lines a file has so far (it may be being written).
pub fn line_count(path: &str) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// `plain sync-customers FILE --api-url ... args...` against `server`, with its key, ready to
/// spawn: stdin, stdout and stderr piped.
pub fn command(server: &LocalServer, file: &str, args: &[&str]) -> Command {
    let mut all = vec![file];
    all.extend_from_slice(args);
    plain_against(server, "sync-customers", &all)
}

/// `plain SUBCOMMAND args... --api-url ...` against `server`, with its key, ready to spawn:
/// stdin, stdout and stderr piped.
pub fn plain_against(server: &LocalServer, subcommand: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plain"));
    command
        .arg(subcommand)
        .args(args)
        .args(["--api-url", server.endpoint()])
        .env_remove("PLAIN_API_URL")
        .env(
            "PLAIN_API_KEY",
            server.api_key().unwrap_or("plainApiKey_none"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits (politely, off the server's threads' way) until `ready` holds; panics once its
/// [`Patience`] runs out, saying what was awaited.
pub async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let mut patience = Patience::default();
    while !ready() {
        assert!(
            patience.pause(POLL).await,
            "gave up waiting after {DEADLINE:?}, which only a hang reaches: {what}"
        );
    }
}

/// Waits for the process to exit; kills it and panics if its [`Patience`] runs out first.
pub async fn wait_exit(child: &mut Child) -> ExitStatus {
    let mut patience = Patience::default();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if !patience.pause(POLL).await {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process did not exit within {DEADLINE:?}: it hangs");
        }
    }
}

/// The process's stderr, after it exited.
pub fn stderr_of(child: &mut Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    text
}

/// Sends a signal to a process.
pub fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a pid of our own child and a valid signal number.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill({pid}, {signal})");
}

/// Runs a command to its end (with a [`Patience`]): exit status, stderr, and the peak
/// resident memory of the process in bytes.
pub async fn run_measured(mut command: Command) -> (ExitStatus, String, u64) {
    command.stdin(Stdio::null());
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by wait4, which also gives its resource usage"
    )]
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        use std::io::Read;
        let mut text = String::new();
        let mut stderr = stderr;
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut patience = Patience::default();
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to locals; WNOHANG returns at once.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(reaped >= 0, "wait4 failed");
        if reaped == pid {
            break (status, usage);
        }
        if !patience.pause(POLL).await {
            let _ = child.kill();
            panic!("the process did not exit within {DEADLINE:?}: it hangs");
        }
    };
    use std::os::unix::process::ExitStatusExt;
    let status = ExitStatus::from_raw(status);
    // ru_maxrss is in KiB on Linux.
    let peak = u64::try_from(usage.ru_maxrss).unwrap() * 1024;
    (status, log.join().unwrap(), peak)
}

/// How many requests of one operation (`upsertCustomer`, `deleteCustomer`...) the server got.
pub fn sent(server: &LocalServer, operation: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.body["operationName"] == operation)
        .count()
}

/// How many upserts the server got (a run with a state file also asks which workspace it is).
pub fn upserts(server: &LocalServer) -> usize {
    sent(server, "upsertCustomer")
}

/// `plain serve` as a process of its own, stopped when dropped.
pub struct Serve {
    child: Child,
    /// Its endpoint.
    pub endpoint: String,
}

impl Serve {
    /// Starts `plain serve ARGS...` and reads the endpoint it prints.
    pub fn start(args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_plain"))
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut endpoint = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut endpoint)
            .unwrap();
        let endpoint = endpoint.trim().to_owned();
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint:?}");
        Self { child, endpoint }
    }

    /// A client of it.
    pub fn client(&self) -> plain_client::PlainClient {
        plain_client::PlainClient::builder()
            .api_key("plainApiKey_none")
            .endpoint(&self.endpoint)
            .allow_insecure_http(true)
            .build()
            .unwrap()
    }

    /// `plain SUBCOMMAND ARGS... --api-url ENDPOINT`, ready to spawn (stdio piped).
    pub fn plain(&self, subcommand: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_plain"));
        command
            .arg(subcommand)
            .args(args)
            .args(["--api-url", &self.endpoint])
            .env_remove("PLAIN_API_URL")
            .env("PLAIN_API_KEY", "plainApiKey_none")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs `plain SUBCOMMAND ARGS...` to its end: exit code, stdout and stderr.
    pub async fn run(&self, subcommand: &str, args: &[&str]) -> (i32, String, String) {
        finish(self.plain(subcommand, args)).await
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command (stdio piped) to its end: exit code, stdout and stderr.
pub async fn finish(mut command: Command) -> (i32, String, String) {
    use std::io::Read;
    command.stdin(Stdio::null());
    let mut child = command.spawn().unwrap();
    // Read both pipes on threads, so that a full pipe never stops the child.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let status = wait_exit(&mut child).await;
    (
        status.code().unwrap_or(-1),
        out.join().unwrap(),
        err.join().unwrap(),
    )
}
