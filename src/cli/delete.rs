//! `plain delete-customers FILE`: deletes the customers a `sync-customers --missing` file
//! lists (or a rejects file of an earlier run), every line accounted for as in a sync.
//!
//! Nothing is deleted unless this command is run on such a file: a sync never deletes. With
//! `--state`, a customer is deleted only while the state still says it is missing (no sync has
//! named it since the list was written), and the state marks it as no longer synced, durably,
//! before the deletion is sent. A run that would delete more than a set share of the
//! customers the state knows is refused before anything is sent; `--dry-run` lists what would
//! be deleted and sends nothing.
//!
//! A line without a `customerId` names a customer by its `externalId` alone: one Plain
//! confirmed only in a batch, whose id the state never learned. Its id is asked of Plain (with
//! `--state`, only when the state allows the deletion; the state learns it), then it is
//! deleted by that id as any other; one Plain no longer has is NOT_FOUND.

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::stream;
use plain_client::bulk::{BulkOutcome, Cancel, Done};
use plain_client::state::{DeletionRefused, StateStore};
use plain_client::{Error, PlainClient};
use serde_json::{json, Map, Value};

use super::deletions::{
    lock, next_for_engine, parse, Aside, Checks, Malformed, Reading, Settled, Tag,
};
use super::input::open_input;
use super::interrupts::listen_for_interrupts;
use super::ledger::Ledger;
use super::lines::{Split, Splitter};
use super::outputs;
use super::summary::{account, Stop, Summary};
use super::text;

/// The share of the customers the state knows that a run deletes at most, unless told more.
pub const DEFAULT_MAX_SHARE: f64 = 10.0;

/// Without a state, the most customers a run deletes unless told more.
pub const DEFAULT_MAX_UNCHECKED: u64 = 10;

/// What the run was asked to do. `--results` lines say DELETED, or NOT_FOUND for a customer
/// Plain no longer had, or FORGOTTEN for one the state no longer holds (an earlier run deleted
/// it). A line names its customer by `customerId`, or by an `externalId` identifier alone.
#[derive(Debug, clap::Args)]
pub struct DeleteOptions {
    /// The file `sync-customers --missing` wrote (one customer per line, with its customerId,
    /// or its externalId alone), or the rejects file of an earlier delete-customers run.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub bulk: super::BulkOptions,
    /// The state file the list was written from: a customer is deleted only while the state
    /// still says it is missing, is marked as no longer synced before its deletion is sent,
    /// and is forgotten once deleted (or not found).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "unchecked",
        conflicts_with = "unchecked"
    )]
    pub state: Option<PathBuf>,
    /// Delete every customer the file lists, without checking each against a state file:
    /// for a list made by hand.
    #[arg(long)]
    pub unchecked: bool,
    /// List what would be deleted (as JSON Lines on stdout, result WOULD_DELETE) and send
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse to run when more than this share (percent) of the customers the state knows
    /// would be deleted.
    #[arg(long, value_name = "PERCENT", default_value_t = DEFAULT_MAX_SHARE)]
    pub max_share: f64,
    /// Refuse to run when more than this many customers would be deleted (instead of
    /// --max-share; without --state, the default is 10).
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<u64>,
    /// Delete however many customers the file lists: no --max-share or --max-deletes.
    #[arg(long)]
    pub allow_mass_delete: bool,
}

/// The reject code of a refusal.
fn refusal_code(refused: &DeletionRefused) -> &'static str {
    match refused {
        DeletionRefused::NoList => "no_missing_list",
        DeletionRefused::OtherState { .. } => "other_state",
        DeletionRefused::NotInState { .. } => "not_in_state",
        DeletionRefused::Disagrees { .. } => "disagrees_with_state",
        DeletionRefused::NotMissing { .. } => "not_missing",
        _ => "state_failed",
    }
}

/// The state of a run.
struct Deleting {
    ledger: Ledger,
}

/// A results line: the customer by its id, or by its identifier when the line had no id.
fn result_line(tag: &Tag, result: &str, error: Option<&str>) -> Value {
    let mut line = json!({"line": tag.line, "result": result});
    if let Some(error) = error {
        line["error"] = error.into();
    }
    match (&tag.customer_id, &tag.identifier) {
        (None, Some(identifier)) => line["identifier"] = json!(identifier),
        (customer_id, _) => line["customerId"] = json!(customer_id),
    }
    line
}

impl Deleting {
    fn malformed(&mut self, bad: Malformed) {
        let mut raw = Map::new();
        raw.insert("input".to_owned(), bad.input);
        self.ledger.malformed(bad.line, bad.code, bad.message, raw);
    }

    /// A line the state does not allow deleting: its rejects line, or, for a customer an
    /// earlier run already deleted and forgot, a FORGOTTEN result.
    fn refused(&mut self, deletion: &Tag, refused: &DeletionRefused) {
        if let DeletionRefused::NotInState { .. } = refused {
            self.ledger.summary.forgotten += 1;
            self.ledger
                .write_result(&result_line(deletion, "FORGOTTEN", None));
            return;
        }
        if let DeletionRefused::State(e) = refused {
            eprintln!("plain: error: {e}; stopping");
            self.ledger.summary.unwritten.push((e.to_string(), 1));
            self.ledger.stop(Stop::WriteFailed);
        }
        let code = refusal_code(refused);
        self.ledger.summary.refused += 1;
        self.ledger.count_failure(code);
        self.ledger.write_reject(&json!({
            "line": deletion.line,
            "input": deletion.input,
            "error": {"message": format!("not deleted: {refused}"), "code": code},
            "status": "refused",
        }));
        self.ledger
            .write_result(&result_line(deletion, "REFUSED", Some(code)));
    }

    /// A record the engine took, when it is done: counted and written.
    fn outcome(&mut self, outcome: BulkOutcome<Tag, plain_client::Deletion>) {
        let tag = outcome.tag;
        let result = match outcome.result {
            Ok(Done::Deleted { .. }) => {
                self.ledger.summary.deleted += 1;
                "DELETED"
            }
            Ok(Done::NotFound { .. }) => {
                self.ledger.summary.not_found += 1;
                "NOT_FOUND"
            }
            Ok(Done::WouldDelete { .. }) => return self.would_delete(&tag),
            Ok(Done::Refused(refused)) => return self.refused(&tag, &refused),
            Ok(_) => {
                self.ledger.summary.other += 1;
                "OTHER"
            }
            // With a state, the customer stays marked as no longer synced, and still missing:
            // the deletion can be tried again from the rejects file.
            Err(error) => return self.ledger.failed(tag.line, &tag.input, &error),
        };
        self.ledger.write_result(&result_line(&tag, result, None));
    }

    /// What the file had that the engine did not take.
    fn aside(&mut self, aside: Aside) {
        match aside {
            Aside::Malformed(bad) => self.malformed(bad),
            Aside::ReadFailed(after, error) => {
                eprintln!("plain: error: cannot read the input past line {after}: {error}");
                self.ledger.summary.read_failed = Some((after, error));
                self.ledger.stop(Stop::ReadFailed);
            }
            Aside::Settled(tag, Settled::NotInPlain) => {
                self.ledger.summary.not_found += 1;
                self.ledger
                    .write_result(&result_line(&tag, "NOT_FOUND", None));
            }
            Aside::Settled(tag, Settled::Refused(refused)) => self.refused(&tag, &refused),
            // Fed back from the rejects file, the line is asked of Plain again.
            Aside::Settled(tag, Settled::Failed(error)) => {
                self.ledger.failed(tag.line, &tag.input, &error);
            }
        }
    }

    /// A dry run's line: what would be deleted.
    fn would_delete(&mut self, deletion: &Tag) {
        self.ledger.summary.would_delete += 1;
        let mut line = result_line(deletion, "WOULD_DELETE", None);
        line["identifier"] = json!(deletion.identifier);
        let mut stdout = std::io::stdout().lock();
        let written = writeln!(stdout, "{line}").map_err(|e| format!("cannot write stdout: {e}"));
        self.ledger.note_write(written);
        self.ledger.write_result(&line);
    }
}

/// Counts the customers the file would delete, checked against the state as the run will:
/// nothing is sent or written.
fn count_deletable(
    options: &DeleteOptions,
    state: Option<&StateStore>,
    cap: usize,
) -> Result<u64, String> {
    let input = open_input(&options.file)?;
    let mut lines = Splitter::new(
        BufReader::with_capacity(64 * 1024, input.reader),
        Split::Lines,
        cap,
    );
    let mut deletable = 0;
    loop {
        let chunk = lines
            .next_chunk()
            .map_err(|e| format!("cannot read {}: {e}", input.name))?;
        let Some(chunk) = chunk else {
            return Ok(deletable);
        };
        let Some(Ok(deletion)) = parse(chunk, cap) else {
            continue;
        };
        // A line without a customer id is counted when the state allows it: Plain may
        // no longer have the customer, and then nothing is deleted.
        let allowed = match (state, &deletion.customer_id, &deletion.identifier) {
            (Some(state), Some(customer_id), identifier) => state
                .check_deletion(customer_id, identifier.as_ref(), deletion.list.as_ref())
                .is_ok(),
            (Some(state), None, Some(identifier)) => state
                .check_missing(identifier, deletion.list.as_ref())
                .is_ok(),
            (Some(_), None, None) => false,
            (None, _, _) => true,
        };
        deletable += u64::from(allowed);
    }
}

/// The guard against deleting much at once: why the run is refused, if it is.
fn guard(options: &DeleteOptions, deletable: u64, known: Option<u64>) -> Option<String> {
    if options.allow_mass_delete {
        return None;
    }
    let (limit, why) = match (options.max_deletes, known) {
        (Some(n), _) => (n, format!("--max-deletes {n}")),
        (None, Some(known)) => {
            let share = options.max_share.clamp(0.0, 100.0);
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let limit = (known as f64 * share / 100.0).floor() as u64;
            (
                limit,
                format!("{share}% of the {known} customers the state knows (--max-share)"),
            )
        }
        (None, None) => (
            DEFAULT_MAX_UNCHECKED,
            format!("{DEFAULT_MAX_UNCHECKED} without a state file (--max-deletes)"),
        ),
    };
    (deletable > limit).then(|| {
        format!(
            "refused: {} lists {deletable} customers to delete, more than the {limit} allowed \
             by {why}; nothing was sent. Look at the list with --dry-run, then pass \
             --max-deletes {deletable} or --allow-mass-delete to delete them all",
            options.file.display()
        )
    })
}

/// Runs `plain delete-customers`: the summary says what happened to every line. An `Err`
/// means nothing was sent.
pub async fn run(client: PlainClient, options: DeleteOptions) -> Result<Summary, String> {
    let started = Instant::now();
    let input = open_input(&options.file)?;
    if !input.regular {
        return Err(format!(
            "{} is not a regular file: give the file sync-customers --missing wrote",
            input.name
        ));
    }
    outputs::check(
        &input.identity,
        &[
            ("--rejects", options.bulk.rejects.as_deref()),
            ("--results", options.bulk.results.as_deref()),
            ("--state", options.state.as_deref()),
        ],
    )?;
    let state = match &options.state {
        Some(path) => {
            let state = StateStore::open(path).map_err(|e| e.to_string())?;
            // Deleting by a state built against another workspace would delete the wrong
            // customers, or none.
            state.bind(&client).await.map_err(|e| match e {
                Error::State(e) => e.to_string(),
                e => format!(
                    "cannot learn which workspace the API key reaches, to check the state \
                     file against it: {}",
                    text::clean(&e.to_string(), 1000)
                ),
            })?;
            Some(state)
        }
        None => None,
    };
    let cap = usize::try_from(options.bulk.max_record_bytes).unwrap_or(usize::MAX);
    let deletable = count_deletable(&options, state.as_ref(), cap)?;
    let known = match &state {
        Some(state) => Some(state.len().map_err(|e| e.to_string())?),
        None => None,
    };
    let refused = guard(&options, deletable, known);
    if let (Some(refused), false) = (&refused, options.dry_run) {
        return Err(refused.clone());
    }
    let ledger = Ledger::create(&options.bulk, &input.identity)?;
    let mut interrupts = listen_for_interrupts()?;
    let input_name = input.name.clone();
    let lines = Splitter::new(
        BufReader::with_capacity(64 * 1024, input.reader),
        Split::Lines,
        cap,
    );
    let reading = Arc::new(Mutex::new(Reading {
        lines,
        cap,
        aside: Vec::new(),
        ended: false,
        resolving: None,
    }));
    let checks = Checks {
        client: client.clone(),
        state: state.clone(),
        dry_run: options.dry_run,
    };
    let records = stream::unfold((reading.clone(), checks), |(reading, checks)| async move {
        let next = next_for_engine(&reading, &checks).await?;
        Some((next, (reading, checks)))
    });
    let cancel = Cancel::new();
    let mut bulk = options
        .bulk
        .engine(&client)
        .cancel(cancel.clone())
        .dry_run(options.dry_run);
    if let Some(state) = &state {
        bulk = bulk.state(state);
    }
    let mut engine = bulk.delete_stream(records);
    let mut run = Deleting { ledger };
    let mut listening = true;
    loop {
        tokio::select! {
            outcome = engine.next() => match outcome {
                Some(outcome) => run.outcome(outcome),
                None => break,
            },
            signal = &mut interrupts, if listening => {
                listening = false;
                if signal.is_ok() {
                    run.ledger.summary.interrupted = true;
                    run.ledger.stop(Stop::Interrupted);
                }
            }
        }
        for aside in std::mem::take(&mut lock(&reading).aside) {
            run.aside(aside);
        }
        run.ledger
            .engine_stopped(&engine, options.bulk.outage_limit);
        if run.ledger.summary.stop.is_some() {
            cancel.cancel();
        }
    }
    run.ledger.summary.sent = engine.sent();
    // After a stop, the rest of the file is listed: nothing is left unaccounted for, not even
    // a line whose customer id was being asked of Plain.
    let resolving = lock(&reading).resolving.take();
    if let Some((line, input)) = resolving {
        run.ledger.not_attempted(line, &input);
    }
    loop {
        let next = lock(&reading).next_deletion();
        for aside in std::mem::take(&mut lock(&reading).aside) {
            run.aside(aside);
        }
        match next {
            Some(deletion) => run.ledger.not_attempted(deletion.line, &deletion.input),
            None => break,
        }
    }
    let mut summary = run.ledger.close();
    if let Some(state) = state {
        if let Err(e) = state.commit() {
            summary.unwritten.push((e.to_string(), 0));
        }
    }
    if let Some(refused) = refused {
        // A dry run says the real one would be refused, and fails as it would.
        eprintln!("plain: {refused}");
        summary.refused_whole = true;
    }
    if !options.bulk.quiet || !summary.all_succeeded() {
        report(
            &summary,
            &client,
            &input_name,
            started.elapsed().as_secs_f64(),
            options.dry_run,
        );
    }
    Ok(summary)
}

/// The final summary on stderr.
fn report(summary: &Summary, client: &PlainClient, input: &str, seconds: f64, dry_run: bool) {
    let mut line = if dry_run {
        format!(
            "plain: {} customers in {seconds:.1} s: would delete {} (dry run, nothing sent), \
             refused {}, forgotten {}",
            summary.done(),
            summary.would_delete,
            summary.refused,
            summary.forgotten,
        )
    } else {
        format!(
            "plain: {} customers in {seconds:.1} s: deleted {}, not found {}, refused {}, \
             forgotten {}",
            summary.done(),
            summary.deleted,
            summary.not_found,
            summary.refused,
            summary.forgotten,
        )
    };
    account(summary, client, input, &mut line);
    eprintln!("{line}");
}

/// Runs `plain delete-customers` on its own runtime, as a sync runs.
pub fn command(
    options: DeleteOptions,
    endpoint: super::Endpoint,
    max_attempts: u32,
) -> Result<Summary, super::Failure> {
    let concurrency = options.bulk.concurrency;
    super::run_bulk(endpoint, max_attempts, concurrency, async |client| {
        run(client, options).await
    })
}
