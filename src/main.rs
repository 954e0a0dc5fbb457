//! `plain`: one-off upserts against Plain's Core API from the command line.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// Reads one UpsertCustomerInput in Plain's documented JSON shape and prints
    /// {"result": ..., "customer": {...}}. The API key comes from PLAIN_API_KEY.
    UpsertCustomer {
        /// The input JSON file, or - for standard input.
        #[arg(long, short, value_name = "FILE|-", default_value = "-")]
        input: PathBuf,
        /// Print the request body that would be sent, and send nothing (no key needed).
        #[arg(long)]
        dry_run: bool,
        /// The GraphQL endpoint [default: Plain's production API].
        #[arg(long, env = "PLAIN_API_URL", value_name = "URL")]
        api_url: Option<String>,
    },
}

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

/// An error for the command line: the library's, or one of reading the input.
#[derive(Debug)]
enum Failure {
    Plain(Error),
    Io(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Plain(e)
    }
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Io(_) | Failure::Plain(Error::InvalidInput { .. }) => exit::INVALID_INPUT,
            Failure::Plain(Error::MutationRejected { .. }) => exit::REJECTED,
            Failure::Plain(Error::Unauthenticated { .. } | Error::Forbidden { .. }) => exit::AUTH,
            Failure::Plain(Error::Config { .. }) => exit::INVALID_INPUT,
            Failure::Plain(_) => exit::FAILURE,
        }
    }
}

/// `plain: error: <message>: <cause>...` on one line; Plain's `MutationError` as JSON after it.
fn report(failure: &Failure) {
    let mut stderr = std::io::stderr().lock();
    let line = match failure {
        Failure::Io(message) => message.clone(),
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
    let _ = writeln!(stderr, "plain: error: {line}");
    if let Failure::Plain(Error::MutationRejected { error, .. }) = failure {
        if let Ok(json) = serde_json::to_string(error) {
            let _ = writeln!(stderr, "{json}");
        }
    }
}

fn read_input(path: &PathBuf) -> Result<String, Failure> {
    let mut text = String::new();
    let result = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
    };
    result.map_err(|e| {
        let name = if path.as_os_str() == "-" {
            "standard input".to_owned()
        } else {
            path.display().to_string()
        };
        Failure::Io(format!("cannot read the input from {name}: {e}"))
    })?;
    Ok(text)
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Io(format!("cannot encode the output: {e}")))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{json}").map_err(|e| Failure::Io(format!("cannot write the output: {e}")))
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::UpsertCustomer {
            input,
            dry_run,
            api_url,
        } => {
            let text = read_input(&input)?;
            let input = UpsertCustomerInput::from_json(&text)?;
            if dry_run {
                print_json(&plain_client::upsert_customer_request(input))?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut builder = PlainClient::builder();
            if let Ok(key) = std::env::var(plain_client::client::API_KEY_ENV) {
                builder = builder.api_key(key);
            }
            if let Some(url) = api_url {
                builder = builder.endpoint(url);
            }
            let client = builder.build()?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::Io(format!("cannot start the runtime: {e}")))?;
            let upserted = runtime.block_on(client.upsert_customer(input))?;
            print_json(&upserted)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
