//! `plain-schema`: keeps `graphql/schema.graphql` in step with Plain's schema.
//!
//! `update` reduces Plain's full schema to what the operations in `graphql/` use, writes it
//! and reports what changed; `check` says whether the vendored file is what `update` would
//! write. `webhooks update` and `webhooks check` do the same for the webhook JSON Schema
//! (`graphql/webhook-schema.json`), reporting which changes break a receiver. Exit codes: 0 success (`check`: up to date), 1 `check` found a difference or an error
//! occurred, 2 usage error.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use plain_client::codegen::{changes, reduce, webhook_schema, SCHEMA_FILE};

/// Where Plain publishes its full schema.
const PLAIN_SCHEMA_URL: &str = "https://core-api.uk.plain.com/graphql/v1/schema.graphql";

/// Keeps the vendored GraphQL schema in step with Plain's.
#[derive(Debug, Parser)]
#[command(name = "plain-schema", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Reduce Plain's schema to what the operations use, write it, and report what changed.
    Update {
        /// Plain's full schema: an http(s) URL or a file.
        #[arg(long, value_name = "URL|FILE", default_value = PLAIN_SCHEMA_URL)]
        from: String,
        #[command(flatten)]
        folder: Folder,
    },
    /// Exit 0 when the vendored schema is what `update` would write; else report and exit 1.
    Check {
        /// Plain's full schema file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        #[command(flatten)]
        folder: Folder,
    },
    /// The vendored webhook schema, `webhook-schema.json`.
    #[command(subcommand)]
    Webhooks(Webhooks),
}

#[derive(Debug, Subcommand)]
enum Webhooks {
    /// Write the project's copy of Plain's webhook schema (no descriptions) and report what
    /// changed, saying which changes break a receiver.
    Update {
        /// Plain's webhook JSON Schema file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        #[command(flatten)]
        folder: Folder,
    },
    /// Exit 0 when the vendored webhook schema is what `webhooks update` would write; else
    /// report and exit 1.
    Check {
        /// Plain's webhook JSON Schema file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        #[command(flatten)]
        folder: Folder,
    },
}

#[derive(Debug, clap::Args)]
struct Folder {
    /// The folder holding the operations and the vendored schema.
    #[arg(long, value_name = "DIR", default_value = "graphql")]
    graphql_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            // One line, even for a parser's message that spans several.
            let message: Vec<&str> = message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("plain-schema: error: {}", message.join(" "));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Webhooks(webhooks) => run_webhooks(webhooks),
        Command::Update { from, folder } => {
            let full = if from.starts_with("http://") || from.starts_with("https://") {
                fetch(&from)?
            } else {
                read(Path::new(&from))?
            };
            let (update, previous) = compute(&full, &folder.graphql_dir)?;
            let target = folder.graphql_dir.join(SCHEMA_FILE);
            if !update.is_current(&previous) {
                fs::write(&target, &update.schema)
                    .map_err(|e| format!("{}: cannot write: {e}", target.display()))?;
            }
            print!("{}", update.report);
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { from, folder } => {
            let (update, previous) = compute(&read(&from)?, &folder.graphql_dir)?;
            if update.is_current(&previous) {
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!(
                "plain-schema: {} is not what `update` writes",
                folder.graphql_dir.join(SCHEMA_FILE).display()
            );
            print!("{}", update.report);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn run_webhooks(command: Webhooks) -> Result<ExitCode, String> {
    let (Webhooks::Update { from, folder } | Webhooks::Check { from, folder }) = &command;
    let next = webhook_schema::reduce(&read(from)?)?;
    let target = folder.graphql_dir.join(webhook_schema::WEBHOOK_SCHEMA_FILE);
    let previous = if target.exists() {
        read(&target)?
    } else {
        String::new()
    };
    let report = if previous.is_empty() {
        None
    } else {
        Some(webhook_schema::report(&previous, &next)?)
    };
    let current = previous == next;
    match command {
        Webhooks::Update { .. } => {
            if !current {
                fs::write(&target, &next)
                    .map_err(|e| format!("{}: cannot write: {e}", target.display()))?;
            }
            match report {
                Some(report) => print!("{report}"),
                None => println!("webhook schema: written to {}", target.display()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Webhooks::Check { .. } => {
            if current {
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!(
                "plain-schema: {} is not what `webhooks update` writes",
                target.display()
            );
            if let Some(report) = report {
                print!("{report}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The update of the folder's vendored schema from `full`, and the vendored file's text.
fn compute(full: &str, dir: &Path) -> Result<(changes::Update, String), String> {
    let operations = operations(dir)?;
    let target = dir.join(SCHEMA_FILE);
    let previous = if target.exists() {
        read(&target)?
    } else {
        String::new()
    };
    let update = changes::update(full, &previous, &operations)?;
    Ok((update, previous))
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}

/// The operation files in `dir` (every `*.graphql` but the schema), sorted by name.
fn operations(dir: &Path) -> Result<Vec<reduce::Operation>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: cannot list: {e}", dir.display()))?;
    let mut operations = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("{}: cannot list: {e}", dir.display()))?
            .path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(name) = name.filter(|n| n.ends_with(".graphql") && n != SCHEMA_FILE) else {
            continue;
        };
        operations.push(reduce::Operation {
            text: read(&path)?,
            name,
        });
    }
    operations.sort_by(|a, b| a.name.cmp(&b.name));
    if operations.is_empty() {
        return Err(format!("{}: no operation files", dir.display()));
    }
    Ok(operations)
}

/// Downloads Plain's schema.
fn fetch(url: &str) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let failed = |e: reqwest::Error| format!("{url}: {e}");
        let response = reqwest::get(url).await.map_err(failed)?;
        let response = response.error_for_status().map_err(failed)?;
        response.text().await.map_err(failed)
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
