//! How a bulk run (a sync, or deletions) ended, and the summary line that says so.

use std::collections::BTreeMap;
use std::time::Duration;

use plain_client::PlainClient;

use super::text;

/// Why a run stopped taking records before the end of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// Plain refused the API key or a permission (HTTP 401 or 403): every record would fail.
    Unauthorized,
    /// Plain looked unavailable for longer than `--outage-limit`.
    Outage,
    /// The input could not be read to its end.
    ReadFailed,
    /// An output (rejects or results) could not be written.
    WriteFailed,
}

/// How the run ended.
#[derive(Debug, Default)]
pub struct Summary {
    pub created: u64,
    pub updated: u64,
    pub noop: u64,
    /// Records the state says Plain already has: not sent.
    pub unchanged: u64,
    /// `sync-customers --import`: records a batch's counts confirmed.
    pub imported: u64,
    /// `delete-customers`: customers deleted, and those Plain no longer had.
    pub deleted: u64,
    pub not_found: u64,
    /// `delete-customers`: lines the state did not allow deleting (in rejects).
    pub refused: u64,
    /// `delete-customers`: customers the state no longer holds (an earlier run deleted them).
    pub forgotten: u64,
    /// `delete-customers --dry-run`: customers that would be deleted.
    pub would_delete: u64,
    /// `delete-customers --dry-run`: the real run would be refused as a mass deletion.
    pub refused_whole: bool,
    pub other: u64,
    pub failed: u64,
    pub malformed: u64,
    pub not_attempted: u64,
    pub failures_by_code: BTreeMap<String, u64>,
    /// Records sent to Plain.
    pub sent: u64,
    /// The requests that sent them (not counting retries): a batch is one.
    pub requests: u64,
    /// Why the run stopped early (the first reason), if it did.
    pub stop: Option<Stop>,
    /// Whether Ctrl-C was pressed.
    pub interrupted: bool,
    /// The input failed to read after this line, with the error.
    pub read_failed: Option<(u64, String)>,
    /// Standard input (or a pipe) was left unread after this line.
    pub unread_after: Option<u64>,
    /// Outputs that could not be written: why, and how many lines they miss.
    pub unwritten: Vec<(String, u64)>,
    /// The time Plain looked unavailable, when the sync gave up on it.
    pub outage: Option<Duration>,
    /// Customers listed in the --missing file; why it was not written, if it was not.
    pub missing: Option<Result<u64, String>>,
    /// Whether the --missing file lists customers read from Plain (`--against-plain`), not
    /// from the state.
    pub missing_in_plain: bool,
    /// Records Plain confirmed that the state could not record: not in the results file,
    /// in rejects (`unrecorded`), and sent again by the next run.
    pub unrecorded: u64,
}

impl Summary {
    /// How many records have an outcome so far.
    pub fn done(&self) -> u64 {
        self.created
            + self.updated
            + self.noop
            + self.unchanged
            + self.imported
            + self.deleted
            + self.not_found
            + self.refused
            + self.forgotten
            + self.would_delete
            + self.other
            + self.failed
            + self.malformed
    }

    /// Whether every record succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.failed == 0
            && self.malformed == 0
            && self.refused == 0
            && !self.refused_whole
            && self.not_attempted == 0
            && self.stop.is_none()
            && !self.interrupted
            && self.unwritten.is_empty()
            && self.unrecorded == 0
            && !matches!(self.missing, Some(Err(_)))
    }
}

/// The end of a run's summary line, after its own counts: failures by code, what was not
/// attempted, the requests, and why the run stopped.
pub fn account(summary: &Summary, client: &PlainClient, input: &str, line: &mut String) {
    let stats = client.stats();
    let failed = summary.failed + summary.malformed;
    line.push_str(&format!(", failed {failed}"));
    if !summary.failures_by_code.is_empty() {
        let codes: Vec<String> = summary
            .failures_by_code
            .iter()
            .map(|(code, n)| format!("{} {n}", text::clean(code, 100)))
            .collect();
        line.push_str(&format!(" ({})", codes.join(", ")));
    }
    if summary.not_attempted > 0 {
        line.push_str(&format!(", not attempted {}", summary.not_attempted));
    }
    if summary.requests > 0 && summary.requests != summary.sent {
        // Batches: records and requests are counted apart.
        line.push_str(&format!(
            "; {} records sent in {} requests",
            summary.sent, summary.requests
        ));
    }
    line.push_str(&format!(
        "; {} requests, {} retries, {} answered 429",
        stats.attempts, stats.retries, stats.rate_limited
    ));
    match summary.stop {
        Some(Stop::Unauthorized) => line.push_str("; stopped at the first authentication failure"),
        Some(Stop::Outage) => line.push_str(&format!(
            "; stopped: Plain looked unavailable for {:.0} s",
            summary.outage.unwrap_or_default().as_secs_f64()
        )),
        Some(Stop::WriteFailed) => line.push_str("; stopped: an output could not be written"),
        Some(Stop::ReadFailed) | Some(Stop::Interrupted) | None => {}
    }
    if summary.interrupted {
        line.push_str("; interrupted");
    }
    if let Some((after, error)) = &summary.read_failed {
        line.push_str(&format!(
            "; the input could not be read past line {after} ({})",
            text::clean(error, 200)
        ));
    }
    if let Some(after) = summary.unread_after {
        line.push_str(&format!("; {input} was not read past line {after}"));
    }
    match &summary.missing {
        Some(Ok(n)) => line.push_str(&format!(
            "; {n} customers in {} are missing from the input (see --missing)",
            if summary.missing_in_plain {
                "Plain"
            } else {
                "the state"
            }
        )),
        Some(Err(why)) => line.push_str(&format!("; --missing {}", text::clean(why, 300))),
        None => {}
    }
    if summary.unrecorded > 0 {
        line.push_str(&format!(
            "; {} answers not recorded in the state (in the rejects file as unrecorded; the \
             next run sends them again)",
            summary.unrecorded
        ));
    }
    for (why, missing) in &summary.unwritten {
        let why = text::clean(why, 300);
        match missing {
            0 => line.push_str(&format!("; {why}")),
            n => line.push_str(&format!("; {n} lines unrecorded ({why})")),
        }
    }
}
