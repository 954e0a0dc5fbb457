//! The one error type of the crate.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::MutationError;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One entry of a GraphQL `errors` array: a request Plain refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestError {
    /// Plain's message.
    pub message: String,
    /// `extensions.code`, such as `BAD_USER_INPUT` or `GRAPHQL_VALIDATION_FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Which part of the transport failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (DNS, refused, TLS handshake).
    Connect,
    /// No complete answer within the configured timeout.
    Timeout,
    /// The connection broke while sending or receiving.
    Other,
}

/// Everything that can go wrong talking to Plain.
///
/// Every variant that came from an answer carries Plain's request id (the `apigw-requestid`
/// header) when Plain sent one: quote it to Plain's support. [`Error::is_retryable`] says
/// whether the same request can succeed later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Plain ran the mutation and refused it (a `MutationError`, in the data of a 200 answer).
    #[error("Plain rejected the mutation: {}{}", describe_mutation_error(.error), request_id_suffix(.request_id))]
    MutationRejected {
        /// Plain's error: message, type, stable code and the fields at fault.
        error: MutationError,
        /// Plain's request id.
        request_id: Option<String>,
    },

    /// Plain refused the request as a whole (GraphQL `errors`), for example because a
    /// variable does not fit the schema (`BAD_USER_INPUT`).
    #[error("Plain refused the request (HTTP {status}): {}; check the request against Plain's schema{}", describe_request_errors(.errors), request_id_suffix(.request_id))]
    Request {
        /// The HTTP status of the answer.
        status: u16,
        /// The GraphQL errors, each with its `extensions.code`.
        errors: Vec<RequestError>,
        /// Plain's request id.
        request_id: Option<String>,
    },

    /// The API key was missing, malformed or revoked (HTTP 401).
    #[error("Plain did not accept the API key ({message}): set PLAIN_API_KEY to a current key of a machine user{}", request_id_suffix(.request_id))]
    Unauthenticated {
        /// Plain's message.
        message: String,
        /// Plain's request id.
        request_id: Option<String>,
    },

    /// The API key is valid but lacks a permission: HTTP 403, or Plain's code `FORBIDDEN` in
    /// `errors`, which Plain sends with HTTP 200 for a field the key may not read (such as
    /// `myWorkspace`).
    #[error("the API key lacks a permission ({message}): give its machine user the permission the request needs (`customer:create` and `customer:edit` to upsert customers){}", request_id_suffix(.request_id))]
    Forbidden {
        /// Plain's message.
        message: String,
        /// Plain's request id.
        request_id: Option<String>,
    },

    /// The workspace's rate limit is spent (HTTP 429).
    #[error("Plain's rate limit is spent (HTTP 429): {}{}", describe_wait(.reset_at, .retry_after), request_id_suffix(.request_id))]
    RateLimited {
        /// When the current window ends (`x-ratelimit-reset`), when Plain said.
        reset_at: Option<SystemTime>,
        /// How long to wait (`Retry-After`), when Plain said.
        retry_after: Option<Duration>,
        /// Plain's request id.
        request_id: Option<String>,
    },

    /// Plain or a gateway in front of it failed (HTTP 5xx).
    #[error("Plain answered HTTP {status} (a server error): {message}; try again later, and if it persists contact Plain's support{}", request_id_suffix(.request_id))]
    Server {
        /// The HTTP status.
        status: u16,
        /// Plain's message, or the start of the body when it was not JSON.
        message: String,
        /// Plain's request id.
        request_id: Option<String>,
    },

    /// No answer: the connection failed, timed out, or broke.
    #[error("{}", describe_transport(*.kind, .endpoint))]
    Transport {
        /// What failed.
        kind: TransportErrorKind,
        /// The endpoint the request went to.
        endpoint: String,
        /// The HTTP client's error; `None` when the client's own timeout ended the request.
        #[source]
        source: Option<reqwest::Error>,
    },

    /// The answer was not what Plain's API answers (not JSON, or not the expected shape).
    #[error("Plain's answer (HTTP {status}) could not be read: {reason}; check the endpoint URL (body starts with \"{excerpt}\"){}", request_id_suffix(.request_id))]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What did not fit.
        reason: String,
        /// The start of the body, at most 200 characters.
        excerpt: String,
        /// Plain's request id.
        request_id: Option<String>,
    },

    /// The answer's body was longer than the client reads
    /// ([`PlainClientBuilder::max_response_bytes`](crate::PlainClientBuilder::max_response_bytes)).
    /// Not retried: the same request would get the same answer.
    #[error("Plain's answer (HTTP {status}) is longer than {limit} bytes, the most this client reads: check the endpoint URL, or raise max_response_bytes if such answers are expected{}", request_id_suffix(.request_id))]
    ResponseTooLarge {
        /// The HTTP status.
        status: u16,
        /// The cap, in bytes.
        limit: usize,
        /// Plain's request id.
        request_id: Option<String>,
    },

    /// Retries ran out: the request was sent `attempts` times and failed each time.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// How many times the request was sent.
        attempts: u32,
        /// The last failure, with its request id.
        last: Box<Error>,
    },

    /// The request's task was stopped before it finished (its runtime is shutting down).
    #[error("the request was interrupted before Plain answered: send it again")]
    Interrupted,

    /// Plain holds more of something than the call reads
    /// ([`PlainClient::customer_groups`](crate::PlainClient::customer_groups) reads at most
    /// [`MAX_CUSTOMER_GROUPS`](crate::operations::customer_groups::MAX_CUSTOMER_GROUPS)):
    /// nothing is returned rather than a part. Not retried: the same calls would read as much.
    #[error(
        "Plain holds more than {limit} {what}, the most this call reads: nothing was returned"
    )]
    TooMany {
        /// What there are too many of, such as `customer groups`.
        what: &'static str,
        /// The most the call reads.
        limit: usize,
    },

    /// The input was not valid; nothing was sent.
    #[error("invalid input, nothing was sent: {message}")]
    InvalidInput {
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The client's configuration is not usable (no API key, a bad endpoint URL).
    #[error("invalid configuration: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The state file could not be used (see [`crate::state`]): in use, not a state file,
    /// built against another workspace, or not writable.
    #[cfg(feature = "state")]
    #[cfg_attr(docsrs, doc(cfg(feature = "state")))]
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

impl Error {
    /// A copy of a failure that every request would meet the same way (the key, a
    /// permission, the rate limit, Plain or the way to it down), for each record of a batch
    /// that met it; `None` for any other failure. A copy keeps everything but the transport's
    /// underlying error.
    pub(crate) fn shared_copy(&self) -> Option<Error> {
        Some(match self {
            Error::Unauthenticated {
                message,
                request_id,
            } => Error::Unauthenticated {
                message: message.clone(),
                request_id: request_id.clone(),
            },
            Error::Forbidden {
                message,
                request_id,
            } => Error::Forbidden {
                message: message.clone(),
                request_id: request_id.clone(),
            },
            Error::RateLimited {
                reset_at,
                retry_after,
                request_id,
            } => Error::RateLimited {
                reset_at: *reset_at,
                retry_after: *retry_after,
                request_id: request_id.clone(),
            },
            Error::Server {
                status,
                message,
                request_id,
            } => Error::Server {
                status: *status,
                message: message.clone(),
                request_id: request_id.clone(),
            },
            Error::Transport { kind, endpoint, .. } => Error::Transport {
                kind: *kind,
                endpoint: endpoint.clone(),
                source: None,
            },
            Error::GaveUp { attempts, last } => Error::GaveUp {
                attempts: *attempts,
                last: Box::new(last.shared_copy()?),
            },
            Error::Interrupted => Error::Interrupted,
            _ => return None,
        })
    }

    /// Plain's `MutationError`, its words kept as one line of bounded length each.
    pub(crate) fn rejected(mut error: MutationError, request_id: Option<String>) -> Self {
        use crate::redact::{clean, MAX_FIELD_ERRORS, MAX_TEXT_CHARS};
        let tidy = |text: &mut String| *text = clean(text, MAX_TEXT_CHARS);
        tidy(&mut error.message);
        tidy(&mut error.code);
        error.fields.truncate(MAX_FIELD_ERRORS);
        for field in &mut error.fields {
            tidy(&mut field.field);
            tidy(&mut field.message);
        }
        Error::MutationRejected { error, request_id }
    }

    /// Turns the `MutationError` of an operation of your own (generated by graphql_client with
    /// `response_derives = "Serialize"`, or any type with Plain's fields: `message`, `type`,
    /// `code`, `fields`) into [`Error::MutationRejected`], so that it matches as the crate's
    /// own operations' refusals do. A value without Plain's shape is an [`Error::Decode`].
    pub fn from_mutation_error<E: Serialize>(error: &E) -> Self {
        let value = serde_json::to_value(error);
        match value.and_then(serde_json::from_value::<MutationError>) {
            Ok(error) => Error::rejected(error, None),
            Err(e) => Error::Decode {
                status: 200,
                reason: format!("the MutationError does not have Plain's shape: {e}"),
                excerpt: String::new(),
                request_id: None,
            },
        }
    }

    /// `Ok(())` when a mutation of your own was accepted (its `error` is `None`), else Plain's
    /// refusal as [`Error::MutationRejected`] ([`Error::from_mutation_error`]).
    ///
    /// # Errors
    ///
    /// [`Error::MutationRejected`] when `error` is `Some`.
    pub fn check_mutation<E: Serialize>(error: Option<&E>) -> Result<()> {
        error.map_or(Ok(()), |error| Err(Error::from_mutation_error(error)))
    }

    /// Whether the same request may succeed if sent again later: rate limits, server errors,
    /// transport failures, Plain's `INTERNAL_SERVER_ERROR` and a `MutationError` of type
    /// `INTERNAL`. Never bad input, validation, authentication or permission errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited { .. } | Error::Transport { .. } | Error::Interrupted => true,
            Error::Server { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            Error::GaveUp { last, .. } => last.is_retryable(),
            Error::MutationRejected { error, .. } => {
                error.type_ == crate::MutationErrorType::Internal
            }
            Error::Request { errors, .. } => {
                !errors.is_empty()
                    && errors
                        .iter()
                        .all(|e| e.code.as_deref() == Some("INTERNAL_SERVER_ERROR"))
            }
            _ => false,
        }
    }

    /// Plain's request id (`apigw-requestid`), for errors that came from an answer that had one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::MutationRejected { request_id, .. }
            | Error::Request { request_id, .. }
            | Error::Unauthenticated { request_id, .. }
            | Error::Forbidden { request_id, .. }
            | Error::RateLimited { request_id, .. }
            | Error::Server { request_id, .. }
            | Error::Decode { request_id, .. }
            | Error::ResponseTooLarge { request_id, .. } => request_id.as_deref(),
            Error::GaveUp { last, .. } => last.request_id(),
            _ => None,
        }
    }

    /// The failure itself: for [`Error::GaveUp`], the last attempt's error; otherwise `self`.
    pub fn last_cause(&self) -> &Error {
        match self {
            Error::GaveUp { last, .. } => last.last_cause(),
            other => other,
        }
    }

    /// Whether the failure was Plain's rate limit (HTTP 429), whether or not the request was
    /// retried first ([`Error::GaveUp`]).
    pub fn is_rate_limited(&self) -> bool {
        matches!(self.last_cause(), Error::RateLimited { .. })
    }

    /// For a rate limit (retried or not), how long from now until Plain's window resets, as
    /// its `x-ratelimit-reset` says, else its `Retry-After`; `None` for other failures, or
    /// when Plain said neither. Zero when the reset has passed.
    pub fn retry_after(&self) -> Option<Duration> {
        let Error::RateLimited {
            reset_at,
            retry_after,
            ..
        } = self.last_cause()
        else {
            return None;
        };
        match reset_at {
            Some(at) => Some(
                at.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO),
            ),
            None => *retry_after,
        }
    }

    /// Whether Plain refused the API key (401) or a permission (403, or the code `FORBIDDEN`),
    /// retried or not: every request with this key would fail the same way.
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self.last_cause(),
            Error::Unauthenticated { .. } | Error::Forbidden { .. }
        )
    }

    /// Plain's `MutationError`, when Plain ran the mutation and refused it (retried or not).
    pub fn mutation_error(&self) -> Option<&MutationError> {
        match self.last_cause() {
            Error::MutationRejected { error, .. } => Some(error),
            _ => None,
        }
    }

    /// How many times the request was sent (1 unless it was retried).
    pub fn attempts(&self) -> u32 {
        match self {
            Error::GaveUp { attempts, .. } => *attempts,
            _ => 1,
        }
    }

    /// The HTTP status of the answer the error came from, if any. For the classes that have a
    /// status of their own it is that status: [`Error::Forbidden`] is 403 even when Plain sent
    /// its `FORBIDDEN` code with a 200.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::MutationRejected { .. } => Some(200),
            Error::Request { status, .. }
            | Error::Server { status, .. }
            | Error::Decode { status, .. } => Some(*status),
            Error::Unauthenticated { .. } => Some(401),
            Error::Forbidden { .. } => Some(403),
            Error::RateLimited { .. } => Some(429),
            Error::GaveUp { last, .. } => last.status(),
            _ => None,
        }
    }
}

fn request_id_suffix(request_id: &Option<String>) -> String {
    match request_id {
        Some(id) => format!(" (request id {id})"),
        None => String::new(),
    }
}

fn describe_mutation_error(error: &MutationError) -> String {
    let mut out = format!(
        "{} (type {}, code `{}`)",
        error.message,
        error.type_.as_str(),
        error.code
    );
    for field in &error.fields {
        out.push_str(&format!(
            "; `{}` {}: {}",
            field.field,
            field.type_.as_str(),
            field.message
        ));
    }
    out.push_str(match error.type_ {
        crate::MutationErrorType::Internal => "; try again later",
        crate::MutationErrorType::Forbidden => "; give the API key's machine user the permission",
        _ => "; fix the input and send it again",
    });
    out
}

fn describe_request_errors(errors: &[RequestError]) -> String {
    if errors.is_empty() {
        return String::from("no error message");
    }
    errors
        .iter()
        .map(|e| match &e.code {
            Some(code) => format!("{} [{code}]", e.message),
            None => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_wait(reset_at: &Option<SystemTime>, retry_after: &Option<Duration>) -> String {
    if let Some(wait) = retry_after {
        return format!("wait {} s before sending more", wait.as_secs_f64().ceil());
    }
    match reset_at {
        Some(at) => format!(
            "wait until {} before sending more, or lower the request rate",
            crate::time::format_rfc3339(*at)
        ),
        None => String::from("wait a minute before sending more, or lower the request rate"),
    }
}

fn describe_transport(kind: TransportErrorKind, endpoint: &str) -> String {
    match kind {
        TransportErrorKind::Connect => format!(
            "could not connect to Plain at {endpoint}: check the network and the endpoint URL \
             (PLAIN_API_URL)"
        ),
        TransportErrorKind::Timeout => format!(
            "Plain at {endpoint} did not answer in time: try again, or raise the client's timeout"
        ),
        TransportErrorKind::Other => {
            format!("the connection to Plain at {endpoint} broke: try again")
        }
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::Connect => "connect",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Other => "other",
        })
    }
}
