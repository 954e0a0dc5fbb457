//! A small HTTP/1.1 server: keep-alive, `Content-Length` and chunked request bodies,
//! `Expect: 100-continue`. Small enough to control every byte, which fault injection needs
//! (a dropped connection, a body cut short).
//!
//! Every read and every wait has a bound ([`super::limits`]): the number of connections, the
//! time a connection may sit idle or pause, the size of a head and of a body. A body the
//! server does not want (a request refused from its head) is read past, never kept.

pub mod accept;
mod connection;
mod idle;
mod read;
mod write;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// One request as read from the connection.
#[derive(Debug)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body; empty while only the head has been read.
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// The value of the header `name` (lower-case) among `headers`: the first, if it is repeated.
pub fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// What to write back.
#[derive(Debug, Clone)]
pub enum HttpAnswer {
    /// A whole answer.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delay: Duration,
    },
    /// Headers that promise `body.len() * 2` bytes, half of them, then a closed connection.
    Truncated {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// The body sent in chunks (`Transfer-Encoding: chunked`), its length never announced.
    Chunked {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A chunked body that never ends: chunks are sent until the peer goes away.
    Endless {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// Close the connection without a word.
    Drop,
}

impl HttpAnswer {
    /// A whole answer with a JSON body, sent at once.
    pub fn json(status: u16, mut headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        headers.push(("content-type".into(), "application/json".into()));
        Self::Full {
            status,
            headers,
            body,
            delay: Duration::ZERO,
        }
    }
}

/// What the server does with requests.
pub trait Service: Send + Sync + 'static {
    /// A connection was accepted.
    fn connected(&self);

    /// An answer decided from the head alone (`request.body` is still empty), such as a
    /// refused API key: the body is then read past and dropped, never kept. `None` reads
    /// the body and asks [`Service::answer`].
    fn refuse(&self, head: &HttpRequest) -> Option<HttpAnswer>;

    /// The answer to a whole request.
    fn answer(self: Arc<Self>, request: HttpRequest) -> impl Future<Output = HttpAnswer> + Send;
}
