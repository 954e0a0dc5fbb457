//! `plain`: one-off upserts against Plain's Core API from the command line.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

use cli::Failure;
use plain_client::Error;

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
    /// `webhooks verify`: the delivery failed a check (stderr says which).
    pub const WEBHOOK_REFUSED: u8 = 9;
    /// `sync-customers` was interrupted (Ctrl-C); what was not sent is in the rejects file.
    pub const INTERRUPTED: u8 = 130;
}

/// The one way out of the process other than returning from `main`: a second Ctrl-C during a
/// bulk run ends it at once with [`exit::STOPPED_AT_ONCE`], from the thread that listens for
/// Ctrl-C. The outputs are unbuffered, so every line written so far is in them.
fn stop_at_once() -> ! {
    eprintln!(
        "plain: stopped at once by a second Ctrl-C; records in flight may be missing from the \
         outputs"
    );
    std::process::exit(i32::from(exit::STOPPED_AT_ONCE))
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
    UpsertCustomer(cli::upsert::UpsertOptions),
    /// Upsert every customer of a file, as fast as Plain's rate limit allows.
    ///
    /// Reads JSON Lines (one UpsertCustomerInput per line, or a rejects file from an earlier
    /// run) or CSV (columns email, full_name, short_name, external_id, verified). Every record
    /// is accounted for: it succeeds, or lands in the rejects file with its line number.
    SyncCustomers {
        #[command(flatten)]
        options: cli::sync::SyncOptions,
        #[command(flatten)]
        endpoint: cli::Endpoint,
        /// How many times a record is sent at most before it counts as failed.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
        max_attempts: u32,
    },
    /// Delete the customers a `sync-customers --missing` file lists.
    ///
    /// Every line is accounted for as in a sync: deleted (or not found, already gone), or in
    /// the rejects file with its line number. With --state, each customer deleted is
    /// forgotten in the state file.
    DeleteCustomers {
        #[command(flatten)]
        options: cli::delete::DeleteOptions,
        #[command(flatten)]
        endpoint: cli::Endpoint,
        /// How many times a deletion is sent at most before it counts as failed.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
        max_attempts: u32,
    },
    /// Write every customer of the workspace as JSON Lines, one customer a line.
    ///
    /// Each line ends with its customer's cursor: run again with the same --output, the export
    /// goes on after the last whole line, whatever stopped it.
    ExportCustomers(cli::export::ExportOptions),
    /// Run a local, in-memory Plain-compatible server for development and tests.
    ///
    /// Prints its endpoint on stdout and serves until interrupted.
    Serve(cli::serve::ServeOptions),
    /// Plain's webhooks: check a delivery as a receiver would.
    #[command(subcommand)]
    Webhooks(cli::webhooks::WebhooksCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(failure) => {
            report(&failure);
            ExitCode::from(exit_code(&failure))
        }
    }
}

/// The exit code of a failure, by what it says about what was sent.
fn exit_code(failure: &Failure) -> u8 {
    let error = match failure {
        Failure::Io(_) => return exit::INVALID_INPUT,
        Failure::Output(_) => return exit::OUTPUT_FAILED,
        Failure::WebhookRefused(_) => return exit::WEBHOOK_REFUSED,
        Failure::Plain(error) => error.last_cause(),
    };
    match error {
        Error::InvalidInput { .. } | Error::Config { .. } => exit::INVALID_INPUT,
        Error::MutationRejected { .. } => exit::REJECTED,
        Error::Unauthenticated { .. } | Error::Forbidden { .. } => exit::AUTH,
        _ => exit::FAILURE,
    }
}

/// The longest error line printed: one line always, however long a cause chain or a quoted input.
const REPORT_MAX: usize = 2000;

/// `plain: error: <message>: <cause>...` on one line; Plain's `MutationError` as JSON after it.
fn report(failure: &Failure) {
    let mut stderr = std::io::stderr().lock();
    let line = match failure {
        Failure::Io(message) | Failure::Output(message) => message.clone(),
        Failure::WebhookRefused(e) => format!("the delivery was refused: {e}"),
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
        Failure::Io(_) | Failure::Output(_) | Failure::WebhookRefused(_) => None,
    };
    if let Some(Error::MutationRejected { error, .. }) = last {
        if let Ok(json) = serde_json::to_string(error) {
            let _ = writeln!(stderr, "{json}");
        }
    }
}

/// The exit code of a sync: an output that could not be written first (the files are not the
/// whole account), then the reason the run stopped, then whether every record succeeded.
fn sync_exit_code(summary: &cli::summary::Summary) -> u8 {
    use cli::summary::Stop;
    if !summary.unwritten.is_empty() || summary.unrecorded > 0 {
        return exit::OUTPUT_FAILED;
    }
    if summary.refused_whole {
        return exit::INVALID_INPUT;
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
        Command::UpsertCustomer(options) => cli::upsert::run(options).map(|()| ExitCode::SUCCESS),
        Command::SyncCustomers {
            options,
            endpoint,
            max_attempts,
        } => cli::sync::command(options, endpoint, max_attempts)
            .map(|summary| ExitCode::from(sync_exit_code(&summary))),
        Command::DeleteCustomers {
            options,
            endpoint,
            max_attempts,
        } => cli::delete::command(options, endpoint, max_attempts)
            .map(|summary| ExitCode::from(sync_exit_code(&summary))),
        Command::ExportCustomers(options) => cli::export::run(options).map(|()| ExitCode::SUCCESS),
        Command::Serve(options) => cli::serve::run(options).map(|()| ExitCode::SUCCESS),
        Command::Webhooks(command) => cli::webhooks::run(command).map(|()| ExitCode::SUCCESS),
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

    #[test]
    fn a_sync_exits_by_what_stopped_it_and_an_unwritten_output_first() {
        use cli::summary::{Stop, Summary};
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
