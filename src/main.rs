//! `plain`: one-off upserts against Plain's Core API from the command line.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

use std::time::Duration;

use plain_client::testing::LocalServer;
use plain_client::{Error, PlainClient, UpsertCustomerInput};

/// Exit codes, documented in the README. 2 is clap's own, for usage errors.
mod exit {
    /// Any failure not listed below (network, server, rate limit, unreadable answer).
    pub const FAILURE: u8 = 1;
    /// The input was invalid; nothing was sent.
    pub const INVALID_INPUT: u8 = 3;
    /// Plain refused the mutation (a `MutationError`, printed as JSON on stderr).
    pub const REJECTED: u8 = 4;
    /// The API key was refused or lacks a permission.
    pub const AUTH: u8 = 5;
    /// `sync-customers`: some records failed or were not attempted (see the rejects file).
    pub const SOME_FAILED: u8 = 6;
    /// Records were sent, but an output could not be written; the summary says how many
    /// records went unrecorded.
    pub const OUTPUT_FAILED: u8 = 7;
    /// `sync-customers` was stopped at once by a second Ctrl-C; records in flight may be
    /// missing from the outputs.
    pub const STOPPED_AT_ONCE: u8 = 8;
    /// `sync-customers` was interrupted (Ctrl-C); what was not sent is in the rejects file.
    pub const INTERRUPTED: u8 = 130;
}

/// Talk to Plain's Core GraphQL API.
#[derive(Debug, Parser)]
#[command(name = "plain", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a customer, or update the one that matches the identifier.
    ///
    /// Reads an UpsertCustomerInput in Plain's documented JSON shape (or several, one after
    /// the other, sent in order) and prints {"result": ..., "customer": {...}} for each. The
    /// API key comes from PLAIN_API_KEY.
    UpsertCustomer {
        /// The input JSON file, or - for standard input.
        #[arg(long, short, value_name = "FILE|-", default_value = "-")]
        input: PathBuf,
        /// The most input read, in bytes; a longer input is refused and nothing is sent.
        #[arg(
            long,
            value_name = "BYTES",
            default_value_t = MAX_INPUT_BYTES,
            value_parser = clap::value_parser!(u64).range(1..=1 << 32)
        )]
        max_input_bytes: u64,
        /// Print the request body that would be sent, and send nothing (no key needed).
        #[arg(long)]
        dry_run: bool,
        /// The GraphQL endpoint [default: Plain's production API].
        #[arg(long, env = "PLAIN_API_URL", value_name = "URL")]
        api_url: Option<String>,
        /// Run against a local, in-memory Plain-compatible server started for this run (no key
        /// needed, nothing leaves the machine).
        #[arg(long, conflicts_with = "api_url")]
        local: bool,
    },
    /// Upsert every customer of a file, as fast as Plain's rate limit allows.
    ///
    /// Reads JSON Lines (one UpsertCustomerInput per line, or a rejects file from an earlier
    /// run) or CSV (columns email, full_name, short_name, external_id, verified). Every record
    /// is accounted for: it succeeds, or lands in the rejects file with its line number.
    SyncCustomers {
        #[command(flatten)]
        options: cli::sync::SyncOptions,
        /// The GraphQL endpoint [default: Plain's production API].
        #[arg(long, env = "PLAIN_API_URL", value_name = "URL")]
        api_url: Option<String>,
        /// Run against a local, in-memory Plain-compatible server started for this run.
        #[arg(long, conflicts_with = "api_url")]
        local: bool,
        /// How many times a record is sent at most before it counts as failed.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
        max_attempts: u32,
    },
    /// Run a local, in-memory Plain-compatible server for development and tests.
    ///
    /// Prints its endpoint on stdout and serves until interrupted.
    Serve(ServeOptions),
}

/// The default of `upsert-customer --max-input-bytes`: 16 MiB.
const MAX_INPUT_BYTES: u64 = 16 << 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(failure) => {
            report(&failure);
            ExitCode::from(failure.exit_code())
        }
    }
}

/// An error for the command line: the library's, one of reading the input (nothing was sent),
/// or one of writing the output (something may have been sent).
#[derive(Debug)]
enum Failure {
    Plain(Error),
    Io(String),
    Output(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Plain(e)
    }
}

impl Failure {
    fn exit_code(&self) -> u8 {
        let error = match self {
            Failure::Io(_) => return exit::INVALID_INPUT,
            Failure::Output(_) => return exit::OUTPUT_FAILED,
            Failure::Plain(error) => error.last_cause(),
        };
        match error {
            Error::InvalidInput { .. } | Error::Config { .. } => exit::INVALID_INPUT,
            Error::MutationRejected { .. } => exit::REJECTED,
            Error::Unauthenticated { .. } | Error::Forbidden { .. } => exit::AUTH,
            _ => exit::FAILURE,
        }
    }
}

/// The longest error line printed: one line always, however long a cause chain or a quoted input.
const REPORT_MAX: usize = 2000;

/// `plain: error: <message>: <cause>...` on one line; Plain's `MutationError` as JSON after it.
fn report(failure: &Failure) {
    let mut stderr = std::io::stderr().lock();
    let line = match failure {
        Failure::Io(message) | Failure::Output(message) => message.clone(),
        Failure::Plain(error) => {
            let mut line = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                line.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            line
        }
    };
    let _ = writeln!(
        stderr,
        "plain: error: {}",
        cli::text::clean(&line, REPORT_MAX)
    );
    let last = match failure {
        Failure::Plain(error) => Some(error.last_cause()),
        Failure::Io(_) | Failure::Output(_) => None,
    };
    if let Some(Error::MutationRejected { error, .. }) = last {
        if let Ok(json) = serde_json::to_string(error) {
            let _ = writeln!(stderr, "{json}");
        }
    }
}

/// Reads the whole input, at most `max` bytes: one byte more is refused before anything is sent.
fn read_input(path: &PathBuf, max: u64) -> Result<String, Failure> {
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
fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Output(format!("cannot encode the output: {e}")))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{json}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Output(format!("cannot write the output: {e}")))
}

/// The requests a local server started by the command line remembers: it can serve millions.
const LOCAL_LOG_LIMIT: usize = 1000;

/// The local server that `--local` runs against.
async fn start_local() -> Result<LocalServer, Failure> {
    LocalServer::builder()
        .request_log_limit(LOCAL_LOG_LIMIT)
        .start()
        .await
        .map_err(|e| Failure::Io(format!("cannot start the local server: {e}")))
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Io(format!("cannot start the runtime: {e}")))
}

/// Reads one or more inputs, one JSON object after the other.
fn parse_inputs(text: &str) -> Result<Vec<UpsertCustomerInput>, Failure> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
    let mut inputs = Vec::new();
    let mut start = 0;
    while let Some(next) = stream.next() {
        let number = inputs.len() + 1;
        let prefix = |message: String| {
            if number == 1 {
                message
            } else {
                format!("input {number}: {message}")
            }
        };
        if let Err(e) = next {
            return Err(Failure::Plain(Error::InvalidInput {
                message: prefix(cli::text::message(&e.to_string())),
            }));
        }
        let end = stream.byte_offset();
        let input = UpsertCustomerInput::from_json(&text[start..end]).map_err(|e| match e {
            // The message may quote the input: escaped and capped.
            Error::InvalidInput { message } => Failure::Plain(Error::InvalidInput {
                message: prefix(cli::text::message(&message)),
            }),
            other => Failure::Plain(other),
        })?;
        inputs.push(input);
        start = end;
    }
    if inputs.is_empty() {
        return Err(Failure::Plain(Error::InvalidInput {
            message: "the input is empty: give an UpsertCustomerInput as JSON".to_owned(),
        }));
    }
    Ok(inputs)
}

async fn upsert_all(client: &PlainClient, inputs: Vec<UpsertCustomerInput>) -> Result<(), Failure> {
    for input in inputs {
        let upserted = client.upsert_customer(input).await?;
        print_json(&upserted)?;
    }
    Ok(())
}

fn upsert_customer(
    input: PathBuf,
    max_input_bytes: u64,
    dry_run: bool,
    api_url: Option<String>,
    local: bool,
) -> Result<ExitCode, Failure> {
    let inputs = parse_inputs(&read_input(&input, max_input_bytes)?)?;
    if dry_run {
        for input in inputs {
            // Nothing is sent in a dry run: a failure to print is a plain input/output error.
            print_json(&plain_client::upsert_customer_request(input)).map_err(|e| match e {
                Failure::Output(message) => Failure::Io(message),
                other => other,
            })?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = runtime()?;
    if local {
        runtime.block_on(async {
            let server = start_local().await?;
            upsert_all(&server.client()?, inputs).await
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let client = client(api_url, plain_client::RetryPolicy::default())?;
    runtime.block_on(upsert_all(&client, inputs))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
struct ServeOptions {
    /// The port on 127.0.0.1 [default: a free one].
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Require this API key (Authorization: Bearer KEY). Without it, no key is checked.
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// Allow this many requests per window, with Plain's rate-limit headers and 429s.
    #[arg(long, value_name = "N")]
    rate_limit: Option<u64>,
    /// The rate-limit window in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 60.0,
        requires = "rate_limit"
    )]
    window: f64,
    /// Answer this share of requests (0 to 1) with a transient failure (500, 502, 503, 504).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    failure_rate: f64,
    /// Seed for the random failures, for repeatable runs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Validate requests against this schema file (such as Plain's full schema) instead of
    /// the crate's vendored part of it, to serve clients that select more, such as Plain's
    /// TypeScript SDK.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Serve a customer group with this key (and name, which defaults to the key), so that
    /// upserts and group calls can name it; give it once per group.
    #[arg(long = "customer-group", value_name = "KEY[=NAME]")]
    customer_groups: Vec<String>,
}

fn serve(options: ServeOptions) -> Result<ExitCode, Failure> {
    if !(options.window > 0.0 && options.window.is_finite()) {
        return Err(Failure::Io(
            "--window must be a positive number of seconds".to_owned(),
        ));
    }
    if !(0.0..=1.0).contains(&options.failure_rate) {
        return Err(Failure::Io(
            "--failure-rate must be between 0 and 1".to_owned(),
        ));
    }
    let schema =
        match &options.schema {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                Failure::Io(format!("cannot read the schema {}: {e}", path.display()))
            })?),
            None => None,
        };
    runtime()?.block_on(async {
        let mut builder = LocalServer::builder()
            .request_log_limit(LOCAL_LOG_LIMIT)
            .port(options.port)
            .failure_rate(options.failure_rate)
            .seed(options.seed);
        builder = match options.api_key {
            Some(key) => builder.api_key(key),
            None => builder.no_auth(),
        };
        if let Some(limit) = options.rate_limit {
            builder = builder.rate_limit(limit, Duration::from_secs_f64(options.window));
        }
        if let Some(schema) = schema {
            builder = builder.schema(schema);
        }
        for group in &options.customer_groups {
            let (key, name) = group.split_once('=').unwrap_or((group, group));
            builder = builder.customer_group(key, name);
        }
        let server = builder.start().await.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => Failure::Io(e.to_string()),
            _ => Failure::Io(format!("cannot listen on port {}: {e}", options.port)),
        })?;
        println!("{}", server.endpoint());
        let auth = if server.api_key().is_some() {
            "the API key given"
        } else {
            "no API key"
        };
        eprintln!(
            "plain: serving Plain's GraphQL API on {} ({auth} required); Ctrl-C stops",
            server.endpoint()
        );
        for group in server.customer_groups() {
            eprintln!(
                "plain: customer group {} ({}) has id {}",
                cli::text::message(&group.key),
                cli::text::message(&group.name),
                group.id
            );
        }
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| Failure::Io(format!("cannot wait for Ctrl-C: {e}")))?;
        let stats = server.stats();
        eprintln!(
            "plain: served {} requests ({} answered 429)",
            stats.requests, stats.rate_limited
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn client(
    api_url: Option<String>,
    policy: plain_client::RetryPolicy,
) -> Result<PlainClient, Failure> {
    Ok(client_builder(api_url, policy).build()?)
}

fn client_builder(
    api_url: Option<String>,
    policy: plain_client::RetryPolicy,
) -> plain_client::PlainClientBuilder {
    let mut builder = PlainClient::builder().retry_policy(policy);
    if let Ok(key) = std::env::var(plain_client::client::API_KEY_ENV) {
        builder = builder.api_key(key);
    }
    if let Some(url) = api_url {
        builder = builder.endpoint(url);
    }
    builder
}

/// The most answer bytes a sync holds at once, all its requests in flight together. Plain's
/// answer to an upsert is about a kilobyte; a server that sends more cannot take the memory.
const SYNC_ANSWER_MEMORY: usize = 24 * 1024 * 1024;

/// The largest answer a sync reads for one request: its share of [`SYNC_ANSWER_MEMORY`] at
/// this concurrency (24 KiB at the most concurrency, 1024), at most the library's default.
fn sync_answer_cap(concurrency: u16) -> usize {
    (SYNC_ANSWER_MEMORY / usize::from(concurrency.max(1)))
        .clamp(16 * 1024, plain_client::client::DEFAULT_MAX_RESPONSE_BYTES)
}

fn sync_customers(
    options: cli::sync::SyncOptions,
    api_url: Option<String>,
    local: bool,
    max_attempts: u32,
) -> Result<ExitCode, Failure> {
    let policy = plain_client::RetryPolicy::default().max_attempts(max_attempts);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Io(format!("cannot start the runtime: {e}")))?;
    let summary = runtime.block_on(async {
        let server = if local {
            Some(start_local().await?)
        } else {
            None
        };
        let builder = match &server {
            Some(server) => server.client_builder().retry_policy(policy),
            None => client_builder(api_url, policy),
        };
        let client = builder
            .max_response_bytes(sync_answer_cap(options.concurrency))
            .build()?;
        cli::sync::run(client, options).await.map_err(Failure::Io)
    })?;
    Ok(ExitCode::from(sync_exit_code(&summary)))
}

/// The exit code of a sync: an output that could not be written first (the files are not the
/// whole account), then the reason the run stopped, then whether every record succeeded.
fn sync_exit_code(summary: &cli::sync::Summary) -> u8 {
    use cli::sync::Stop;
    if !summary.unwritten.is_empty() {
        return exit::OUTPUT_FAILED;
    }
    match summary.stop {
        Some(Stop::Interrupted) => exit::INTERRUPTED,
        Some(Stop::Unauthorized) => exit::AUTH,
        Some(Stop::ReadFailed) if summary.sent == 0 => exit::INVALID_INPUT,
        Some(Stop::Outage | Stop::ReadFailed | Stop::WriteFailed) => exit::FAILURE,
        None if summary.all_succeeded() => 0,
        None => exit::SOME_FAILED,
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::SyncCustomers {
            options,
            api_url,
            local,
            max_attempts,
        } => sync_customers(options, api_url, local, max_attempts),
        Command::UpsertCustomer {
            input,
            max_input_bytes,
            dry_run,
            api_url,
            local,
        } => upsert_customer(input, max_input_bytes, dry_run, api_url, local),
        Command::Serve(options) => serve(options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_sync_exits_by_what_stopped_it_and_an_unwritten_output_first() {
        use cli::sync::{Stop, Summary};
        let code = |change: &dyn Fn(&mut Summary)| {
            let mut summary = Summary::default();
            change(&mut summary);
            sync_exit_code(&summary)
        };
        assert_eq!(code(&|_| {}), 0);
        assert_eq!(code(&|s| s.failed = 1), exit::SOME_FAILED);
        assert_eq!(
            code(&|s| s.stop = Some(Stop::Interrupted)),
            exit::INTERRUPTED
        );
        assert_eq!(code(&|s| s.stop = Some(Stop::Unauthorized)), exit::AUTH);
        assert_eq!(code(&|s| s.stop = Some(Stop::Outage)), exit::FAILURE);
        // A read error before anything was sent is an input error; after, a failure.
        assert_eq!(
            code(&|s| s.stop = Some(Stop::ReadFailed)),
            exit::INVALID_INPUT
        );
        let read_after_sending = |s: &mut Summary| {
            s.stop = Some(Stop::ReadFailed);
            s.sent = 1;
        };
        assert_eq!(code(&read_after_sending), exit::FAILURE);
        let unwritten = |s: &mut Summary| {
            s.stop = Some(Stop::Interrupted);
            s.unwritten.push(("cannot write /dev/full".to_owned(), 3));
        };
        assert_eq!(code(&unwritten), exit::OUTPUT_FAILED);
    }
}
