//! Turns Plain's answer (status, headers, body) into data or an [`Error`].
//!
//! Pure functions over bytes: no I/O, so every status class and malformed body can be tested
//! and fuzzed without a server.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Error, RequestError, Result};
use crate::redact;

/// The header Plain's gateway puts its request id in.
pub const REQUEST_ID_HEADER: &str = "apigw-requestid";

// Named once: looking a header up by a `&str` parses the name on every call.
static REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
static RATE_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The most characters of a request id kept (Plain's are about 20).
const MAX_REQUEST_ID_CHARS: usize = 100;

/// What the headers of an answer say, apart from the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseMeta {
    /// `apigw-requestid`.
    pub request_id: Option<String>,
    /// `x-ratelimit-limit`.
    pub rate_limit: Option<u64>,
    /// `x-ratelimit-remaining`.
    pub rate_limit_remaining: Option<u64>,
    /// `x-ratelimit-reset`, parsed.
    pub rate_limit_reset: Option<SystemTime>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<Duration>,
}

impl ResponseMeta {
    /// Reads the headers Plain sends with every answer.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let number = |name: &HeaderName| text(name).and_then(|v| v.parse::<u64>().ok());
        Self {
            request_id: text(&REQUEST_ID).map(|id| redact::clean(id, MAX_REQUEST_ID_CHARS)),
            rate_limit: number(&RATE_LIMIT),
            rate_limit_remaining: number(&RATE_LIMIT_REMAINING),
            rate_limit_reset: text(&RATE_LIMIT_RESET).and_then(crate::time::parse_rfc3339_utc),
            retry_after: number(&RETRY_AFTER).map(Duration::from_secs),
        }
    }
}

#[derive(Deserialize)]
struct WireError {
    message: Option<String>,
    extensions: Option<WireExtensions>,
}

#[derive(Deserialize)]
struct WireExtensions {
    code: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
    errors: Option<Vec<WireError>>,
}

#[derive(Deserialize)]
struct ErrorsOnly {
    errors: Option<Vec<WireError>>,
}

/// The most errors of one answer that are kept.
const MAX_ERRORS: usize = 20;

fn request_errors(errors: Vec<WireError>) -> Vec<RequestError> {
    errors
        .into_iter()
        .take(MAX_ERRORS)
        .map(|e| RequestError {
            message: clean(&e.message.unwrap_or_default()),
            code: e.extensions.and_then(|x| x.code).map(|code| clean(&code)),
        })
        .collect()
}

/// Server text as an error keeps it: control characters escaped, length capped.
fn clean(text: &str) -> String {
    redact::clean(text, redact::MAX_TEXT_CHARS)
}

/// At most 200 characters of the body, cut on a character boundary, control characters
/// escaped.
pub(crate) fn excerpt(body: &[u8]) -> String {
    // Enough bytes for 200 characters of any width: a huge body is not decoded whole.
    let head = &body[..body.len().min(200 * 4 + 4)];
    redact::clean(&String::from_utf8_lossy(head), 200)
}

/// The GraphQL errors of a body that may not even be JSON.
fn errors_of(body: &[u8]) -> Vec<RequestError> {
    serde_json::from_slice::<ErrorsOnly>(body)
        .ok()
        .and_then(|e| e.errors)
        .map(request_errors)
        .unwrap_or_default()
}

fn first_message(errors: &[RequestError], fallback: &str) -> String {
    errors
        .iter()
        .map(|e| e.message.as_str())
        .find(|m| !m.is_empty())
        .unwrap_or(fallback)
        .to_owned()
}

/// The error for an answer whose status or error codes say the request failed as a whole.
fn classify(status: u16, errors: Vec<RequestError>, meta: &ResponseMeta, body: &[u8]) -> Error {
    let has_code = |code: &str| errors.iter().any(|e| e.code.as_deref() == Some(code));
    let request_id = meta.request_id.clone();
    if status == 401 || has_code("UNAUTHENTICATED") {
        let message = first_message(&errors, "401 Unauthorized");
        return Error::Unauthenticated {
            message,
            request_id,
        };
    }
    if status == 403 || has_code("FORBIDDEN") {
        let message = first_message(&errors, "403 Forbidden");
        return Error::Forbidden {
            message,
            request_id,
        };
    }
    if status == 429 || has_code("RATE_LIMITED") {
        return Error::RateLimited {
            reset_at: meta.rate_limit_reset,
            retry_after: meta.retry_after,
            request_id,
        };
    }
    if status >= 500 {
        let message = if errors.is_empty() {
            format!("body starts with \"{}\"", excerpt(body))
        } else {
            first_message(&errors, "no message")
        };
        return Error::Server {
            status,
            message,
            request_id,
        };
    }
    Error::Request {
        status,
        errors,
        request_id,
    }
}

/// Decodes an answer to a GraphQL request into its `data`, or the error it stands for.
///
/// The status is checked before the body: 401, 403, 429 and 5xx are errors whatever the body
/// holds (a gateway's HTML page included). A body with `errors` is an error even when it also
/// has `data`, since Plain only sends both when part of the request failed.
pub fn decode<T: DeserializeOwned>(status: u16, meta: &ResponseMeta, body: &[u8]) -> Result<T> {
    if matches!(status, 401 | 403 | 429) || status >= 500 {
        return Err(classify(status, errors_of(body), meta, body));
    }
    let decode_error = |reason: String| Error::Decode {
        status,
        reason,
        excerpt: excerpt(body),
        request_id: meta.request_id.clone(),
    };
    // Checked for UTF-8 once as a whole, rather than string by string.
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    };
    let envelope: Envelope<T> = parsed.map_err(|e| {
        if errors_of(body).is_empty() {
            decode_error(clean(&format!(
                "not a GraphQL answer of the expected shape ({e})"
            )))
        } else {
            classify(status, errors_of(body), meta, body)
        }
    })?;
    if let Some(errors) = envelope.errors.filter(|e| !e.is_empty()) {
        return Err(classify(status, request_errors(errors), meta, body));
    }
    if !(200..300).contains(&status) {
        return Err(decode_error(format!("unexpected HTTP status {status}")));
    }
    envelope
        .data
        .ok_or_else(|| decode_error("the answer has neither `data` nor `errors`".to_owned()))
}
