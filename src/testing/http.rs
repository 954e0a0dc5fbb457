//! A small HTTP/1.1 server: keep-alive, `Content-Length` and chunked request bodies,
//! `Expect: 100-continue`. Small enough to control every byte, which fault injection needs
//! (a dropped connection, a body cut short).
//!
//! Every read and every wait has a bound ([`super::limits`]): the number of connections, the
//! time a connection may sit idle or pause, the size of a head and of a body. A body the
//! server does not want (a request refused from its head) is read past, never kept.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, timeout_at, Instant};

use super::limits::{MAX_BODY_BYTES, MAX_CONNECTIONS, MAX_HEADERS, MAX_HEAD_BYTES};

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
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
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

/// The size of each chunk of a chunked or endless answer.
const CHUNK: usize = 16 * 1024;

/// How long to wait before accepting again when accepting failed for want of resources
/// (out of file descriptors, say): retrying at once would spin a core while the cause lasts.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections until the task is dropped, at most [`MAX_CONNECTIONS`] at a time,
/// and serves each on a task of its own. `idle_timeout` is how long a connection may take to
/// send a request's head, and the longest pause while reading a body or writing an answer.
pub async fn serve<S: Service>(listener: TcpListener, service: Arc<S>, idle_timeout: Duration) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let idle = Arc::new(IdleConnections::default());
    // Dropped with this task, which aborts every connection's task: a dropped server stops.
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                if !is_connection_error(&e) {
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                }
                continue;
            }
        };
        let Some(slot) = slot_for_new(&slots, &idle).await else {
            return;
        };
        service.connected();
        let (service, idle) = (service.clone(), idle.clone());
        connections.spawn(async move {
            serve_connection(stream, service, &idle, idle_timeout).await;
            // The connection is closed by now; only then is its slot free.
            drop(slot);
        });
        // Forget connections that have finished.
        while connections.try_join_next().is_some() {}
    }
}

/// A slot for a new connection: a free one, or one made by closing the connection idle the
/// longest. When every connection is busy with a request, waits for one to end or to become
/// idle (then closes it). `None` only if the slots were closed, which they never are.
async fn slot_for_new(
    slots: &Arc<Semaphore>,
    idle: &IdleConnections,
) -> Option<OwnedSemaphorePermit> {
    loop {
        if let Ok(slot) = slots.clone().try_acquire_owned() {
            return Some(slot);
        }
        idle.close_oldest();
        tokio::select! {
            slot = slots.clone().acquire_owned() => return slot.ok(),
            () = idle.entered.notified() => {}
        }
    }
}

/// An error that concerns one connection that failed while being accepted, not the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    )
}

/// The connections waiting for their next request, oldest first, so that the one idle the
/// longest can be closed to make room for a new connection.
#[derive(Default)]
struct IdleConnections {
    queue: Mutex<IdleQueue>,
    /// Told each time a connection becomes idle, for a new connection waiting for room.
    entered: Notify,
}

#[derive(Default)]
struct IdleQueue {
    next: u64,
    by_age: BTreeMap<u64, Arc<Notify>>,
}

impl IdleConnections {
    fn queue(&self) -> MutexGuard<'_, IdleQueue> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a connection idle for as long as the guard lives.
    fn enter(self: &Arc<Self>) -> Idle {
        let close = Arc::new(Notify::new());
        let mut queue = self.queue();
        let id = queue.next;
        queue.next += 1;
        queue.by_age.insert(id, close.clone());
        drop(queue);
        self.entered.notify_one();
        Idle {
            connections: self.clone(),
            id,
            close,
        }
    }

    /// Asks the connection idle the longest to close.
    fn close_oldest(&self) {
        if let Some((_, close)) = self.queue().by_age.pop_first() {
            close.notify_one();
        }
    }
}

/// A connection's place among the idle ones; it leaves them when dropped.
struct Idle {
    connections: Arc<IdleConnections>,
    id: u64,
    close: Arc<Notify>,
}

impl Idle {
    /// Completes when the connection was chosen to close, to make room.
    async fn closed(&self) {
        self.close.notified().await;
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        self.connections.queue().by_age.remove(&self.id);
    }
}

/// Why reading a request stopped.
#[derive(Debug)]
enum Failure {
    /// The peer went away, paused too long or the connection failed: nothing to answer.
    Gone,
    /// Answer with this status and message, then close.
    Refuse(u16, String),
}

fn bad(message: String) -> Failure {
    Failure::Refuse(400, message)
}

/// How the request's body is framed.
#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(usize),
    Chunked,
}

/// A request's head: the request without its body, and how to read the body.
struct Head {
    request: HttpRequest,
    framing: Framing,
    /// The client waits for `100 Continue` before it sends the body.
    expects_continue: bool,
}

/// Reads one line, within what is left of `budget` (bytes), which it lowers. A line cut by
/// the budget is `Ok(None)`.
async fn read_line_within<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    budget: &mut usize,
) -> Result<Option<String>, Failure> {
    let mut line = Vec::new();
    let n = reader
        .take(*budget as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|_| Failure::Gone)?;
    *budget -= n;
    if line.ends_with(b"\n") {
        return Ok(Some(String::from_utf8_lossy(&line).trim_end().to_owned()));
    }
    if *budget == 0 {
        return Ok(None);
    }
    // The peer closed the connection, between requests or in the middle of one.
    Err(Failure::Gone)
}

fn head_too_large() -> Failure {
    Failure::Refuse(
        431,
        format!("The request head is larger than {MAX_HEAD_BYTES} bytes, the local server's limit"),
    )
}

/// Reads header (or trailer) lines up to the blank line, at most [`MAX_HEADERS`] of them
/// within `budget`.
async fn read_fields<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    budget: &mut usize,
) -> Result<Vec<(String, String)>, Failure> {
    let mut fields = Vec::new();
    loop {
        let line = read_line_within(reader, budget)
            .await?
            .ok_or_else(head_too_large)?;
        if line.is_empty() {
            return Ok(fields);
        }
        if fields.len() == MAX_HEADERS {
            return Err(Failure::Refuse(
                431,
                format!("The request has more than {MAX_HEADERS} header lines, the local server's limit"),
            ));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad(format!("bad header line {line:?}")));
        };
        fields.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

/// Reads a request's head, within [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`].
async fn read_head<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Head, Failure> {
    let mut budget = MAX_HEAD_BYTES;
    let request_line = loop {
        // Blank lines before a request are allowed (RFC 9112, 2.2), and count.
        let line = read_line_within(reader, &mut budget)
            .await?
            .ok_or_else(head_too_large)?;
        if !line.is_empty() {
            break line;
        }
    };
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(bad(format!("bad request line {request_line:?}")));
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let headers = read_fields(reader, &mut budget).await?;
    let request = HttpRequest {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let expects_continue = request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let framing = if chunked {
        Framing::Chunked
    } else {
        let length = match request.header("content-length") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| bad(format!("bad content-length {v:?}")))?,
            None => 0,
        };
        if length > MAX_BODY_BYTES {
            return Err(body_too_large());
        }
        Framing::Length(length)
    };
    Ok(Head {
        request,
        framing,
        expects_continue,
    })
}

fn body_too_large() -> Failure {
    Failure::Refuse(
        413,
        format!("The request body is larger than {MAX_BODY_BYTES} bytes, the local server's limit"),
    )
}

/// Reads a body, into `keep` when given, else past it. No pause may last longer than
/// `pause`.
async fn read_body<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    framing: Framing,
    mut keep: Option<&mut Vec<u8>>,
    pause: Duration,
) -> Result<(), Failure> {
    let length = match framing {
        Framing::Length(length) => length,
        Framing::Chunked => return read_chunked(reader, keep, pause).await,
    };
    if let Some(body) = keep.as_deref_mut() {
        // Only reserved: memory is used as the bytes arrive, not as they are announced.
        body.reserve_exact(length);
    }
    read_bytes(reader, length, keep, pause).await
}

/// Reads `length` bytes, into `keep` when given, each pause shorter than `pause`.
async fn read_bytes<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    mut length: usize,
    mut keep: Option<&mut Vec<u8>>,
    pause: Duration,
) -> Result<(), Failure> {
    while length > 0 {
        let available = match timeout(pause, reader.fill_buf()).await {
            Ok(Ok(available)) if !available.is_empty() => available,
            _ => return Err(Failure::Gone),
        };
        let n = available.len().min(length);
        if let Some(body) = keep.as_deref_mut() {
            body.extend_from_slice(&available[..n]);
        }
        reader.consume(n);
        length -= n;
    }
    Ok(())
}

/// A line inside a chunked body (a chunk's size, the end of a chunk), within
/// [`MAX_HEAD_BYTES`] and read within `pause`.
async fn read_body_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    pause: Duration,
) -> Result<String, Failure> {
    let mut budget = MAX_HEAD_BYTES;
    match timeout(pause, read_line_within(reader, &mut budget)).await {
        Ok(Ok(Some(line))) => Ok(line),
        Ok(Ok(None)) => Err(bad("a line of the chunked body is too long".into())),
        Ok(Err(failure)) => Err(failure),
        Err(_) => Err(Failure::Gone),
    }
}

async fn read_chunked<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    mut keep: Option<&mut Vec<u8>>,
    pause: Duration,
) -> Result<(), Failure> {
    let mut total = 0usize;
    loop {
        let line = read_body_line(reader, pause).await?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| bad(format!("bad chunk size {size:?}")))?;
        if size == 0 {
            // Trailers, up to the blank line, bounded as a head is.
            let mut budget = MAX_HEAD_BYTES;
            return match timeout(pause, read_fields(reader, &mut budget)).await {
                Ok(trailers) => trailers.map(drop),
                Err(_) => Err(Failure::Gone),
            };
        }
        total = total.saturating_add(size);
        if total > MAX_BODY_BYTES {
            return Err(body_too_large());
        }
        read_bytes(reader, size, keep.as_deref_mut(), pause).await?;
        read_body_line(reader, pause).await?;
    }
}

/// Waits, idle, for the first byte of the next request. `false` when the connection should
/// close instead: the peer went away, `deadline` passed, or its room was needed.
async fn wait_for_request<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    idle: &Arc<IdleConnections>,
    deadline: Instant,
) -> bool {
    let idle = idle.enter();
    tokio::select! {
        biased;
        filled = reader.fill_buf() => matches!(filled, Ok(bytes) if !bytes.is_empty()),
        () = idle.closed() => false,
        () = sleep_until(deadline) => false,
    }
}

/// Serves one connection until the peer closes it, an answer closes it, it stays idle past
/// `idle_timeout`, or its room is needed.
async fn serve_connection<S: Service>(
    stream: TcpStream,
    service: Arc<S>,
    idle: &Arc<IdleConnections>,
    idle_timeout: Duration,
) {
    let _ = stream.set_nodelay(true);
    let (read, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        // The whole head must come within the idle timeout, counted from the connection or
        // the last answer.
        let deadline = Instant::now() + idle_timeout;
        if !wait_for_request(&mut reader, idle, deadline).await {
            return;
        }
        let head = match timeout_at(deadline, read_head(&mut reader)).await {
            Ok(Ok(head)) => head,
            Ok(Err(failure)) => return fail(&mut reader, &mut writer, failure, idle_timeout).await,
            Err(_) => return,
        };
        let Head {
            mut request,
            framing,
            expects_continue,
        } = head;
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if let Some(answer) = service.refuse(&request) {
            if expects_continue {
                // The body was never asked for, so it cannot be told from the next request.
                write_answer(&mut writer, answer, true, idle_timeout).await;
                linger(&mut reader, &mut writer, idle_timeout).await;
                return;
            }
            if let Err(failure) = read_body(&mut reader, framing, None, idle_timeout).await {
                return fail(&mut reader, &mut writer, failure, idle_timeout).await;
            }
            if !write_answer(&mut writer, answer, close, idle_timeout).await {
                return;
            }
            continue;
        }
        if expects_continue
            && !write_paced(&mut writer, b"HTTP/1.1 100 Continue\r\n\r\n", idle_timeout).await
        {
            return;
        }
        let mut body = Vec::new();
        if let Err(failure) = read_body(&mut reader, framing, Some(&mut body), idle_timeout).await {
            return fail(&mut reader, &mut writer, failure, idle_timeout).await;
        }
        request.body = body;
        let answer = service.clone().answer(request).await;
        if !write_answer(&mut writer, answer, close, idle_timeout).await {
            return;
        }
    }
}

/// Answers a request that could not be read with its status, then the connection closes.
async fn fail<R: AsyncRead + Unpin>(
    reader: &mut R,
    writer: &mut OwnedWriteHalf,
    failure: Failure,
    pause: Duration,
) {
    let Failure::Refuse(status, message) = failure else {
        return;
    };
    let body = serde_json::json!({"errors": [{"message": message}]})
        .to_string()
        .into_bytes();
    let headers = [("content-type".to_owned(), "application/json".to_owned())];
    let mut out = head(status, &headers, body.len(), true);
    out.extend_from_slice(&body);
    if write_paced(writer, &out, pause).await {
        linger(reader, writer, pause).await;
    }
}

/// The longest a connection is kept, after an answer that ends it early, to read past what
/// the peer still sends.
const LINGER: Duration = Duration::from_secs(2);

/// Ends a connection whose peer may still be sending (the rest of a request refused early):
/// sends the end of the answer, then reads and drops what comes for a while, at most
/// [`MAX_BODY_BYTES`]. Closing with bytes unread would reset the connection, and a reset
/// can destroy the answer before the peer reads it.
async fn linger<R: AsyncRead + Unpin>(
    reader: &mut R,
    writer: &mut OwnedWriteHalf,
    pause: Duration,
) {
    if timeout(pause, writer.shutdown()).await.is_err() {
        return;
    }
    let drain = async {
        let mut left = MAX_BODY_BYTES;
        let mut buffer = vec![0; CHUNK];
        while left > 0 {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = timeout(LINGER.min(pause), drain).await;
}

/// Writes `bytes`, a piece at a time, each within `pause`: a peer that stops reading is left.
async fn write_paced(writer: &mut OwnedWriteHalf, bytes: &[u8], pause: Duration) -> bool {
    for piece in bytes.chunks(4 * CHUNK) {
        match timeout(pause, writer.write_all(piece)).await {
            Ok(Ok(())) => {}
            _ => return false,
        }
    }
    true
}

/// Writes an answer; `true` when the connection may serve another request.
async fn write_answer(
    writer: &mut OwnedWriteHalf,
    answer: HttpAnswer,
    close: bool,
    pause: Duration,
) -> bool {
    match answer {
        HttpAnswer::Full {
            status,
            headers,
            body,
            delay,
        } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut out = head(status, &headers, body.len(), close);
            out.extend_from_slice(&body);
            write_paced(writer, &out, pause).await && !close
        }
        HttpAnswer::Truncated {
            status,
            headers,
            body,
        } => {
            let mut out = head(status, &headers, body.len() * 2 + 1, true);
            out.extend_from_slice(&body);
            if write_paced(writer, &out, pause).await {
                let _ = timeout(pause, writer.shutdown()).await;
            }
            false
        }
        HttpAnswer::Chunked {
            status,
            headers,
            body,
        } => {
            let mut out = chunked_head(status, &headers);
            for piece in body.chunks(CHUNK) {
                out.extend_from_slice(&chunk(piece));
            }
            out.extend_from_slice(b"0\r\n\r\n");
            write_paced(writer, &out, pause).await;
            false
        }
        HttpAnswer::Endless { status, headers } => {
            if !write_paced(writer, &chunked_head(status, &headers), pause).await {
                return false;
            }
            let mut piece = vec![b' '; CHUNK];
            piece[..9].copy_from_slice(b"{\"data\": ");
            let first = chunk(&piece);
            let rest = chunk(&[b' '; CHUNK]);
            let mut next = &first;
            while write_paced(writer, next, pause).await {
                next = &rest;
            }
            false
        }
        HttpAnswer::Drop => false,
    }
}

fn chunked_head(status: u16, headers: &[(String, String)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    out.into_bytes()
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn head(status: u16, headers: &[(String, String)], length: usize, close: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {length}\r\n"));
    if close {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}
