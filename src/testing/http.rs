//! A small HTTP/1.1 server loop: keep-alive, `Content-Length` and chunked request bodies,
//! `Expect: 100-continue`. Small enough to control every byte, which fault injection needs
//! (a dropped connection, a body cut short).

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Requests larger than this are refused (Plain's own limit is far lower than any sane sync).
const MAX_BODY: usize = 16 * 1024 * 1024;
const MAX_HEADER_LINE: usize = 64 * 1024;

/// One request as read from the connection.
#[derive(Debug)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
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

/// The size of each chunk of a chunked or endless answer.
const CHUNK: usize = 16 * 1024;

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

/// Why reading a request stopped.
enum ReadError {
    /// The peer closed the connection cleanly between requests.
    Closed,
    /// The request was malformed; answer 400 and close.
    Bad(String),
    /// The connection failed.
    Io,
}

async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Result<String, ReadError> {
    let mut line = Vec::new();
    let n = reader
        .take(MAX_HEADER_LINE as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|_| ReadError::Io)?;
    if n == 0 {
        return Err(ReadError::Closed);
    }
    if !line.ends_with(b"\n") {
        return Err(ReadError::Bad("header line too long".into()));
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
}

async fn read_request<R, W>(reader: &mut R, writer: &mut W) -> Result<HttpRequest, ReadError>
where
    R: AsyncBufReadExt + Unpin,
    W: AsyncWriteExt + Unpin,
{
    let mut request_line = read_line(reader).await?;
    while request_line.is_empty() {
        request_line = read_line(reader).await?;
    }
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(ReadError::Bad(format!("bad request line {request_line:?}")));
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader).await.map_err(|e| match e {
            ReadError::Closed => ReadError::Io,
            other => other,
        })?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad(format!("bad header line {line:?}")));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| ReadError::Io)?;
    }
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        read_chunked(reader).await?
    } else {
        let length = match header("content-length") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ReadError::Bad(format!("bad content-length {v:?}")))?,
            None => 0,
        };
        if length > MAX_BODY {
            return Err(ReadError::Bad("request body too large".into()));
        }
        let mut body = vec![0; length];
        reader
            .read_exact(&mut body)
            .await
            .map_err(|_| ReadError::Io)?;
        body
    };
    Ok(HttpRequest {
        method,
        path,
        headers,
        body,
    })
}

async fn read_chunked<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader).await?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| ReadError::Bad(format!("bad chunk size {size:?}")))?;
        if size == 0 {
            // Trailers, up to the blank line.
            while !read_line(reader).await?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(ReadError::Bad("request body too large".into()));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .await
            .map_err(|_| ReadError::Io)?;
        read_line(reader).await?;
    }
}

/// Serves one connection until the peer closes it or an answer closes it.
pub async fn serve_connection<H, F>(stream: TcpStream, handler: H)
where
    H: Fn(HttpRequest) -> F,
    F: std::future::Future<Output = HttpAnswer>,
{
    let _ = stream.set_nodelay(true);
    let (read, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let request = match read_request(&mut reader, &mut writer).await {
            Ok(request) => request,
            Err(ReadError::Bad(message)) => {
                let body = format!("{{\"errors\":[{{\"message\":{message:?}}}]}}").into_bytes();
                let mut out = head(400, &[], body.len(), true);
                out.extend_from_slice(&body);
                let _ = writer.write_all(&out).await;
                return;
            }
            Err(ReadError::Closed | ReadError::Io) => return,
        };
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        match handler(request).await {
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
                if writer.write_all(&out).await.is_err() || close {
                    return;
                }
            }
            HttpAnswer::Truncated {
                status,
                headers,
                body,
            } => {
                let mut out = head(status, &headers, body.len() * 2 + 1, true);
                out.extend_from_slice(&body);
                let _ = writer.write_all(&out).await;
                let _ = writer.shutdown().await;
                return;
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
                let _ = writer.write_all(&out).await;
                return;
            }
            HttpAnswer::Endless { status, headers } => {
                if writer
                    .write_all(&chunked_head(status, &headers))
                    .await
                    .is_err()
                {
                    return;
                }
                let mut piece = vec![b' '; CHUNK];
                piece[..9].copy_from_slice(b"{\"data\": ");
                let first = chunk(&piece);
                let rest = chunk(&[b' '; CHUNK]);
                let mut next = &first;
                while writer.write_all(next).await.is_ok() {
                    next = &rest;
                }
                return;
            }
            HttpAnswer::Drop => return,
        }
    }
}
