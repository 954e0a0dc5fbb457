//! The request log: every request the server received, its `Authorization` redacted and its
//! body cut to [`limits::LOG_BODY_BYTES`], with the status it was answered; past a limit, only
//! the newest are kept.

use std::collections::VecDeque;

use serde::Serialize;

use super::http::{find_header, HttpRequest};
use super::limits;

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// The request id the server answered with.
    pub request_id: String,
    /// The HTTP method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The headers, names lower-cased, with the `Authorization` value redacted.
    pub headers: Vec<(String, String)>,
    /// The body as JSON, or as a string when it was not JSON or the log kept only its first
    /// bytes (see [`LoggedRequest::body_truncated`]).
    pub body: serde_json::Value,
    /// The body's bytes, exactly as received: all of them, or the first
    /// [`limits::LOG_BODY_BYTES`] of a longer body.
    #[serde(skip)]
    pub raw_body: Vec<u8>,
    /// The body's whole length in bytes.
    pub body_length: usize,
    /// The status answered, or `None` when the connection was dropped or cut.
    pub status: Option<u16>,
}

impl LoggedRequest {
    /// Whether the log kept only the first [`limits::LOG_BODY_BYTES`] of the body: then
    /// `raw_body` holds those and `body` is them as a string.
    pub fn body_truncated(&self) -> bool {
        self.raw_body.len() < self.body_length
    }

    /// A header's value, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// One request as the log keeps it: its body cut to [`limits::LOG_BODY_BYTES`] and kept as
/// bytes, parsed only when the log is read, so that an entry never holds more than its
/// head (at most [`limits::MAX_HEAD_BYTES`]) and that excerpt.
#[derive(Debug, Clone)]
pub(super) struct LogEntry {
    pub(super) request_id: String,
    pub(super) method: String,
    pub(super) path: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body_excerpt: Vec<u8>,
    pub(super) body_length: usize,
    pub(super) status: Option<u16>,
}

impl LogEntry {
    pub(super) fn into_logged(self) -> LoggedRequest {
        let cut = self.body_excerpt.len() < self.body_length;
        let parsed = if cut {
            None
        } else {
            serde_json::from_slice(&self.body_excerpt).ok()
        };
        let body = parsed.unwrap_or_else(|| {
            serde_json::Value::String(String::from_utf8_lossy(&self.body_excerpt).into_owned())
        });
        LoggedRequest {
            request_id: self.request_id,
            method: self.method,
            path: self.path,
            headers: self.headers,
            body,
            raw_body: self.body_excerpt,
            body_length: self.body_length,
            status: self.status,
        }
    }
}

pub(super) fn log_entry(request: &HttpRequest, request_id: &str) -> LogEntry {
    let headers = request
        .headers
        .iter()
        .map(|(name, value)| {
            let value = if name == "authorization" {
                match value.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} <redacted>"),
                    None => "<redacted>".to_owned(),
                }
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect();
    let excerpt = &request.body[..request.body.len().min(limits::LOG_BODY_BYTES)];
    LogEntry {
        request_id: request_id.to_owned(),
        method: request.method.clone(),
        path: request.path.clone(),
        headers,
        body_excerpt: excerpt.to_vec(),
        body_length: request.body.len(),
        status: None,
    }
}

/// The requests the server received, oldest first: the newest `limit` of them, or all.
pub(super) struct RequestLog {
    entries: VecDeque<LogEntry>,
    /// How many entries are kept (the newest); `None` keeps all.
    limit: Option<usize>,
}

impl RequestLog {
    pub(super) fn new(limit: Option<usize>) -> Self {
        Self {
            entries: VecDeque::new(),
            limit,
        }
    }

    /// Adds an entry, dropping the oldest past the log limit.
    pub(super) fn keep(&mut self, entry: LogEntry) {
        self.entries.push_back(entry);
        if self.limit.is_some_and(|limit| self.entries.len() > limit) {
            self.entries.pop_front();
        }
    }

    /// Notes the status a request was answered with, if its entry is still kept.
    pub(super) fn answered(&mut self, request_id: &str, status: u16) {
        // Recent, so near the back (and gone if the log limit dropped it meanwhile).
        if let Some(entry) = self
            .entries
            .iter_mut()
            .rev()
            .find(|e| e.request_id == request_id)
        {
            entry.status = Some(status);
        }
    }

    /// The entries kept, oldest first.
    pub(super) fn entries(&self) -> Vec<LogEntry> {
        self.entries.iter().cloned().collect()
    }
}
