//! Reading a request: its head within [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`], then its body,
//! framed by `Content-Length` or sent in chunks, within [`MAX_BODY_BYTES`] and with no pause
//! longer than the idle timeout. A body the server does not want is read past, never kept.

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};
use tokio::time::timeout;

use super::HttpRequest;
use crate::testing::limits::{MAX_BODY_BYTES, MAX_HEADERS, MAX_HEAD_BYTES};

/// Why reading a request stopped.
#[derive(Debug)]
pub(super) enum Failure {
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
pub(super) enum Framing {
    Length(usize),
    Chunked,
}

/// A request's head: the request without its body, and how to read the body.
pub(super) struct Head {
    pub(super) request: HttpRequest,
    pub(super) framing: Framing,
    /// The client waits for `100 Continue` before it sends the body.
    pub(super) expects_continue: bool,
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
pub(super) async fn read_head<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Head, Failure> {
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
pub(super) async fn read_body<R: AsyncBufRead + Unpin>(
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
