//! Scripted answers: faults a test queues for the next requests, consumed in order before
//! normal processing.

use std::time::Duration;

use super::failure;
use super::http::{HttpAnswer, HttpRequest};
use crate::response::REQUEST_ID_HEADER;
use crate::rng::Rng;

/// One answer scripted for the next request, consumed in order before normal processing.
#[derive(Debug, Clone)]
pub struct ScriptedAnswer {
    kind: Scripted,
    delay: Duration,
}

#[derive(Debug, Clone)]
enum Scripted {
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Truncated {
        status: u16,
        body: Vec<u8>,
    },
    /// The answer's body sent in chunks, its length not announced.
    Chunked {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Endless {
        status: u16,
    },
    Echo {
        status: u16,
    },
    Drop,
    Normal,
}

impl ScriptedAnswer {
    /// An answer with this status and an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            kind: Scripted::Answer {
                status,
                headers: Vec::new(),
                body: Vec::new(),
            },
            delay: Duration::ZERO,
        }
    }

    /// An answer with a JSON body.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::status(status)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// Plain's request-level error: `{"errors":[{"message":...,"extensions":{"code":...}}]}`.
    pub fn graphql_error(status: u16, code: &str, message: &str) -> Self {
        Self::status(status)
            .header("content-type", "application/json")
            .body(failure::error_body(message, code))
    }

    /// A gateway's HTML error page (502, 503, 504 in front of Plain).
    pub fn gateway(status: u16) -> Self {
        Self::status(status)
            .header("content-type", "text/html")
            .body(format!(
                "<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
            ))
    }

    /// Replaces the body with these bytes, sent as they are.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        if let Scripted::Answer { body, .. }
        | Scripted::Truncated { body, .. }
        | Scripted::Chunked { body, .. } = &mut self.kind
        {
            *body = bytes.into();
        }
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Scripted::Answer { headers, .. } | Scripted::Chunked { headers, .. } = &mut self.kind
        {
            headers.push((name.to_ascii_lowercase(), value.to_owned()));
        }
        self
    }

    /// Sends the body in chunks (`Transfer-Encoding: chunked`) without announcing its length,
    /// then closes the connection.
    pub fn chunked(mut self) -> Self {
        if let Scripted::Answer {
            status,
            headers,
            body,
        } = self.kind
        {
            self.kind = Scripted::Chunked {
                status,
                headers,
                body,
            };
        }
        self
    }

    /// An answer whose chunked body never ends: it streams until the client goes away.
    pub fn endless(status: u16) -> Self {
        Self {
            kind: Scripted::Endless { status },
            delay: Duration::ZERO,
        }
    }

    /// A server that echoes the request: a GraphQL error whose message is the whole request
    /// as received, its `Authorization` header (the API key) and body included.
    pub fn echo(status: u16) -> Self {
        Self {
            kind: Scripted::Echo { status },
            delay: Duration::ZERO,
        }
    }

    /// Waits this long before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Closes the connection without answering.
    pub fn drop_connection() -> Self {
        Self {
            kind: Scripted::Drop,
            delay: Duration::ZERO,
        }
    }

    /// Promises more body than it sends, then closes the connection.
    pub fn truncated(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            kind: Scripted::Truncated {
                status,
                body: body.into(),
            },
            delay: Duration::ZERO,
        }
    }

    /// Processes the request normally (after [`ScriptedAnswer::delay`], if set).
    pub fn normal() -> Self {
        Self {
            kind: Scripted::Normal,
            delay: Duration::ZERO,
        }
    }
}

impl ScriptedAnswer {
    /// The answer to send for `request`, or `None` to process it normally.
    pub(super) fn answer(self, request: &HttpRequest, request_id: &str) -> Option<HttpAnswer> {
        Some(match self.kind {
            Scripted::Answer {
                status,
                mut headers,
                body,
            } => {
                if !headers.iter().any(|(n, _)| n == REQUEST_ID_HEADER) {
                    headers.push((REQUEST_ID_HEADER.into(), request_id.to_owned()));
                }
                HttpAnswer::Full {
                    status,
                    headers,
                    body,
                    delay: Duration::ZERO,
                }
            }
            Scripted::Truncated { status, body } => HttpAnswer::Truncated {
                status,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    (REQUEST_ID_HEADER.into(), request_id.to_owned()),
                ],
                body,
            },
            Scripted::Chunked {
                status,
                mut headers,
                body,
            } => {
                headers.push((REQUEST_ID_HEADER.into(), request_id.to_owned()));
                HttpAnswer::Chunked {
                    status,
                    headers,
                    body,
                }
            }
            Scripted::Endless { status } => HttpAnswer::Endless {
                status,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    (REQUEST_ID_HEADER.into(), request_id.to_owned()),
                ],
            },
            Scripted::Echo { status } => {
                let body = failure::error_body(&echo(request), "ECHO");
                HttpAnswer::json(
                    status,
                    vec![(REQUEST_ID_HEADER.into(), request_id.to_owned())],
                    body,
                )
            }
            Scripted::Drop => HttpAnswer::Drop,
            Scripted::Normal => return None,
        })
    }

    /// How long to wait before answering.
    pub(super) fn wait(&self) -> Duration {
        self.delay
    }

    /// Whether this is a fault, not a normal answer.
    pub(super) fn is_fault(&self) -> bool {
        !matches!(self.kind, Scripted::Normal)
    }
}

/// A transient failure, as Plain or its gateways give them.
pub(super) fn random_fault(rng: &mut Rng) -> ScriptedAnswer {
    match rng.next_u64() % 4 {
        0 => ScriptedAnswer::graphql_error(500, "INTERNAL_SERVER_ERROR", "Internal server error"),
        1 => ScriptedAnswer::gateway(502),
        2 => ScriptedAnswer::gateway(503),
        _ => ScriptedAnswer::gateway(504),
    }
}

/// The request as received, as text: request line, headers (unredacted) and body.
fn echo(request: &HttpRequest) -> String {
    let mut text = format!("{} {}\n", request.method, request.path);
    for (name, value) in &request.headers {
        text.push_str(&format!("{name}: {value}\n"));
    }
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&request.body));
    text
}
