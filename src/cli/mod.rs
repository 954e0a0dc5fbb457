//! The `plain` command line: one module per subcommand, and what they share. `main.rs`
//! parses, dispatches and maps every outcome to an exit code.

pub mod against_plain;
pub mod delete;
pub mod deletions;
pub mod export;
pub mod feed;
pub mod input;
pub mod interrupts;
pub mod ledger;
pub mod lines;
pub mod missing;
pub mod outputs;
pub mod progress;
pub mod reader;
pub mod records;
pub mod serve;
pub mod summary;
pub mod sync;
pub mod text;
pub mod upsert;
pub mod webhooks;

use std::io::{Read, Write};
use std::path::PathBuf;

use plain_client::testing::LocalServer;
use plain_client::{Error, PlainClient, PlainClientBuilder, RetryPolicy};

/// An error for the command line: the library's, one of reading the input (nothing was sent),
/// or one of writing the output (something may have been sent).
#[derive(Debug)]
pub enum Failure {
    /// The library's error.
    Plain(Error),
    /// Reading the input or setting up failed; nothing was sent.
    Io(String),
    /// Writing the output failed; something may have been sent.
    Output(String),
    /// `webhooks verify`: the delivery failed a check.
    WebhookRefused(plain_client::webhooks::WebhookError),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Plain(e)
    }
}

/// The default of `--max-record-bytes`: 1 MiB.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// How a bulk run (a sync, or deletions) sends its records and accounts for them.
#[derive(Debug, clap::Args)]
pub struct BulkOptions {
    /// How many requests are in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Write every record that failed (or was not attempted) here, as JSON Lines with its
    /// line number, input and error; give this file back as input to retry them.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Write one JSON line per record here: line number, result, customer id.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Print no progress, and the summary only when something failed.
    #[arg(long, short)]
    pub quiet: bool,
    /// The longest record read (a JSON line, or a CSV row), in bytes; a longer one is rejected
    /// (code too_long) and skipped without being held in memory.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = MAX_RECORD_BYTES,
        value_parser = clap::value_parser!(u64).range(1..=1 << 30)
    )]
    pub max_record_bytes: u64,
    /// When most records fail with server errors or broken connections, the run pauses
    /// (1 s, doubling up to 60 s) and then tries one record; it stops once the pauses would
    /// add up to more than this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub outage_limit: u64,
}

impl BulkOptions {
    /// The library's bulk engine, as these options set it.
    pub fn engine(&self, client: &PlainClient) -> plain_client::bulk::Bulk {
        client
            .bulk()
            .concurrency(usize::from(self.concurrency))
            .outage_limit(std::time::Duration::from_secs(self.outage_limit))
    }
}

/// Where requests go: Plain, another endpoint, or a local server started for the run.
#[derive(Debug, clap::Args)]
pub struct Endpoint {
    /// The GraphQL endpoint [default: Plain's production API].
    #[arg(long, env = "PLAIN_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// Run against a local, in-memory Plain-compatible server started for this run (no key
    /// needed, nothing leaves the machine).
    #[arg(long, conflicts_with = "api_url")]
    pub local: bool,
    /// With --local: serve a customer group with this key (and name, which defaults to the
    /// key), so that records can name it; give it once per group.
    #[arg(long = "customer-group", value_name = "KEY[=NAME]", requires = "local")]
    pub customer_groups: Vec<String>,
}

/// Reads the whole input, at most `max` bytes: one byte more is refused before anything is sent.
pub fn read_input(path: &PathBuf, max: u64) -> Result<String, Failure> {
    let name = if path.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    };
    let cannot = |e: std::io::Error| Failure::Io(format!("cannot read the input from {name}: {e}"));
    let source: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(cannot)?)
    };
    let mut bytes = Vec::new();
    source
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > max {
        return Err(Failure::Io(format!(
            "the input from {name} is longer than {max} bytes, the most --max-input-bytes allows; nothing was sent"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        Failure::Io(format!(
            "the input from {name} is not UTF-8 text (byte {} is not valid UTF-8)",
            e.utf8_error().valid_up_to() + 1
        ))
    })
}

/// Prints a value as JSON on stdout. A failure to write comes after the request was sent.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Output(format!("cannot encode the output: {e}")))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{json}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Output(format!("cannot write the output: {e}")))
}

/// The requests a local server started by the command line remembers: it can serve millions.
pub const LOCAL_LOG_LIMIT: usize = 1000;

/// `KEY[=NAME]` of `--customer-group`: the name defaults to the key.
pub fn group_key_and_name(group: &str) -> (&str, &str) {
    group.split_once('=').unwrap_or((group, group))
}

/// The local server that `--local` runs against, with the customer groups `--customer-group`
/// names (`KEY[=NAME]`).
pub async fn start_local(customer_groups: &[String]) -> Result<LocalServer, Failure> {
    let mut builder = LocalServer::builder().request_log_limit(LOCAL_LOG_LIMIT);
    for group in customer_groups {
        let (key, name) = group_key_and_name(group);
        builder = builder.customer_group(key, name);
    }
    builder
        .start()
        .await
        .map_err(|e| Failure::Io(format!("cannot start the local server: {e}")))
}

/// The most answer bytes a sync holds at once, all its requests in flight together. Plain's
/// answer to an upsert is about a kilobyte; a server that sends more cannot take the memory.
const SYNC_ANSWER_MEMORY: usize = 24 * 1024 * 1024;

/// The largest answer a bulk run (a sync, or deletions) reads for one request: its share of [`SYNC_ANSWER_MEMORY`] at
/// this concurrency (24 KiB at the most concurrency, 1024), at most the library's default.
pub fn sync_answer_cap(concurrency: u16) -> usize {
    (SYNC_ANSWER_MEMORY / usize::from(concurrency.max(1)))
        .clamp(16 * 1024, plain_client::client::DEFAULT_MAX_RESPONSE_BYTES)
}

/// Runs a bulk command (a sync, or deletions) on the command line's one-threaded runtime, with
/// a client for the endpoint, or for a local server started for it (`--local`). Each answer is
/// read up to its share of the memory the run allows answers at this concurrency.
pub fn run_bulk<T>(
    endpoint: Endpoint,
    max_attempts: u32,
    concurrency: u16,
    run: impl AsyncFnOnce(PlainClient) -> Result<T, String>,
) -> Result<T, Failure> {
    let policy = RetryPolicy::default().max_attempts(max_attempts);
    runtime()?.block_on(async {
        let server = if endpoint.local {
            Some(start_local(&endpoint.customer_groups).await?)
        } else {
            None
        };
        let builder = match &server {
            Some(server) => server.client_builder().retry_policy(policy),
            None => client_builder(endpoint.api_url, policy),
        };
        let client = builder
            .max_response_bytes(sync_answer_cap(concurrency))
            .build()?;
        run(client).await.map_err(Failure::Io)
    })
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Io(format!("cannot start the runtime: {e}")))
}

pub fn client(api_url: Option<String>, policy: RetryPolicy) -> Result<PlainClient, Failure> {
    Ok(client_builder(api_url, policy).build()?)
}

pub fn client_builder(api_url: Option<String>, policy: RetryPolicy) -> PlainClientBuilder {
    let mut builder = PlainClient::builder().retry_policy(policy);
    if let Ok(key) = std::env::var(plain_client::client::API_KEY_ENV) {
        builder = builder.api_key(key);
    }
    if let Some(url) = api_url {
        builder = builder.endpoint(url);
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_holds_at_most_24_mib_of_answers_at_any_concurrency() {
        assert_eq!(sync_answer_cap(1), 4 << 20);
        assert_eq!(sync_answer_cap(8), 3 << 20);
        assert_eq!(sync_answer_cap(1024), 24 << 10);
        for concurrency in 1..=1024u16 {
            let held = sync_answer_cap(concurrency) * usize::from(concurrency);
            assert!(held <= SYNC_ANSWER_MEMORY, "{concurrency}: {held}");
        }
    }
}
