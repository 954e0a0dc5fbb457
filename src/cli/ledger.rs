//! What a bulk run owes its operator: the summary, and the rejects and results files, written
//! a whole line at a time as each record's fate is known. A sync and a run of deletions keep
//! their accounts the same way.

use plain_client::bulk::{self, BulkRun};
use plain_client::Error;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::outputs::{Identity, Output};
use super::summary::{Stop, Summary};
use super::text;

/// A line of the results file for a failure (the rejects file has the details).
#[derive(Serialize)]
struct Failure<'a> {
    line: u64,
    result: &'static str,
    error: &'a str,
}

/// The accounts of a run.
pub struct Ledger {
    pub summary: Summary,
    pub rejects: Output,
    pub results: Output,
}

impl Ledger {
    /// Creates the rejects and results files `options` name, after [`super::outputs::check`].
    pub fn create(options: &super::BulkOptions, input: &Identity) -> Result<Self, String> {
        let rejects = match &options.rejects {
            Some(path) => Output::create(path, input, &[])?,
            None => Output::none(),
        };
        let results = match &options.results {
            Some(path) => Output::create(path, input, &[&rejects])?,
            None => Output::none(),
        };
        Ok(Self {
            summary: Summary::default(),
            rejects,
            results,
        })
    }

    /// Stops taking records, for the first reason given.
    pub fn stop(&mut self, stop: Stop) {
        self.summary.stop.get_or_insert(stop);
    }

    /// A failure to write an output stops the run.
    pub fn note_write(&mut self, written: Result<(), String>) {
        if let Err(message) = written {
            eprintln!("plain: error: {message}; stopping");
            self.stop(Stop::WriteFailed);
        }
    }

    pub fn write_reject(&mut self, line: &Value) {
        let written = self.rejects.write(line);
        self.note_write(written);
    }

    pub fn write_result<T: Serialize>(&mut self, line: &T) {
        let written = self.results.write(line);
        self.note_write(written);
    }

    pub fn count_failure(&mut self, code: &str) {
        *self
            .summary
            .failures_by_code
            .entry(code.to_owned())
            .or_default() += 1;
    }

    /// A record that could not be read: `raw` is what the rejects line keeps of it.
    pub fn malformed(&mut self, line: u64, code: &str, message: String, raw: Map<String, Value>) {
        self.summary.malformed += 1;
        self.count_failure(code);
        let mut out = raw;
        out.insert("line".to_owned(), line.into());
        out.insert(
            "error".to_owned(),
            json!({"message": message, "code": code}),
        );
        out.insert("status".to_owned(), "failed".into());
        self.write_reject(&Value::Object(out));
        // Every record has a results line: one that could not be read says so.
        self.write_result(&Failure {
            line,
            result: "MALFORMED",
            error: code,
        });
    }

    /// A record read and never sent, because the run stopped.
    pub fn not_attempted<T: Serialize>(&mut self, line: u64, input: &T) {
        self.summary.not_attempted += 1;
        let why = match self.summary.stop {
            Some(Stop::Unauthorized) => "Plain refused the API key, so every record would fail",
            Some(Stop::Outage) => "Plain looked unavailable for longer than --outage-limit",
            Some(Stop::WriteFailed) => "an output could not be written",
            Some(Stop::ReadFailed) => "the input could not be read",
            Some(Stop::Interrupted) | None => "the run was interrupted",
        };
        self.write_reject(&json!({
            "line": line,
            "input": input,
            "error": {"message": format!("not sent: {why}"), "code": "not_attempted"},
            "status": "not_attempted",
        }));
    }

    /// A record Plain's answer failed: counted, in both files; an authentication failure stops
    /// the run, since every record would fail the same way.
    pub fn failed<T: Serialize>(&mut self, line: u64, input: &T, error: &Error) {
        self.summary.failed += 1;
        let code = error_code(error);
        self.count_failure(&code);
        self.write_reject(&json!({
            "line": line,
            "input": input,
            "error": error_json(error),
            "status": "failed",
        }));
        self.write_result(&Failure {
            line,
            result: "FAILED",
            error: &code,
        });
        let auth = matches!(
            error.last_cause(),
            Error::Unauthenticated { .. } | Error::Forbidden { .. }
        );
        if auth && self.summary.stop.is_none() {
            eprintln!(
                "plain: error: {}; stopping: every record would fail the same way",
                text::clean(&error.to_string(), 1000)
            );
            self.stop(Stop::Unauthorized);
        }
    }

    /// Says once why the engine stopped taking records, when it stopped for a reason of its
    /// own: a refused key is said with Plain's answer, by [`Ledger::failed`]; a cancel is the
    /// command's own, said where it was decided.
    pub fn engine_stopped<T, R>(&mut self, run: &BulkRun<T, R>, outage_limit: u64) {
        if self.summary.stop.is_some() {
            return;
        }
        match run.stop() {
            Some(bulk::Stop::Outage) => {
                let open = run.outage().unwrap_or_default();
                self.summary.outage = Some(open);
                eprintln!(
                    "plain: error: Plain looked unavailable (most records failed with server \
                     errors or broken connections) for {:.0} s, and waiting longer would pass \
                     --outage-limit {outage_limit}; stopping",
                    open.as_secs_f64(),
                );
                self.stop(Stop::Outage);
            }
            Some(bulk::Stop::StateFailed) => {
                eprintln!(
                    "plain: error: Plain's answers can no longer be recorded in the state file; \
                     stopping"
                );
                self.stop(Stop::WriteFailed);
            }
            _ => {}
        }
    }

    /// The summary, with the lines each output could not take.
    pub fn close(&mut self) -> Summary {
        let mut summary = std::mem::take(&mut self.summary);
        for output in [&self.rejects, &self.results] {
            if let Some(why) = &output.failed {
                summary.unwritten.push((why.clone(), output.unrecorded));
            }
        }
        summary
    }
}

fn error_json(error: &Error) -> Value {
    let last = error.last_cause();
    // Plain's text may quote the input: one line, capped, like every message with input in it.
    let mut out = json!({
        "message": text::clean(&error.to_string(), 1000),
        "code": error_code(error),
        "attempts": error.attempts(),
    });
    if let Error::MutationRejected {
        error: rejected, ..
    } = last
    {
        out["mutationError"] = serde_json::to_value(rejected).unwrap_or(Value::Null);
    }
    if let Some(id) = error.request_id() {
        out["requestId"] = Value::String(id.to_owned());
    }
    out
}

/// A short, stable name for the kind of failure, for the summary and the rejects file.
fn error_code(error: &Error) -> String {
    match error.last_cause() {
        Error::MutationRejected { error, .. } => error.code.clone(),
        Error::Request { errors, .. } => errors
            .iter()
            .find_map(|e| e.code.clone())
            .unwrap_or_else(|| "request_error".to_owned()),
        Error::Unauthenticated { .. } => "unauthenticated".to_owned(),
        Error::Forbidden { .. } => "forbidden".to_owned(),
        Error::RateLimited { .. } => "rate_limited".to_owned(),
        Error::Server { status, .. } => format!("http_{status}"),
        Error::Transport { kind, .. } => format!("transport_{kind}"),
        Error::Decode { .. } => "undecodable_answer".to_owned(),
        Error::ResponseTooLarge { .. } => "response_too_large".to_owned(),
        Error::InvalidInput { .. } => "invalid_input".to_owned(),
        _ => "other".to_owned(),
    }
}
