//! Writing an answer: whole, promised longer than sent, in chunks, or endless, each piece
//! within the idle timeout so that a peer that stops reading is left.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::time::timeout;

use super::HttpAnswer;

/// The size of each chunk of a chunked or endless answer.
pub(super) const CHUNK: usize = 16 * 1024;

/// Writes `bytes`, a piece at a time, each within `pause`: a peer that stops reading is left.
pub(super) async fn write_paced(
    writer: &mut OwnedWriteHalf,
    bytes: &[u8],
    pause: Duration,
) -> bool {
    for piece in bytes.chunks(4 * CHUNK) {
        match timeout(pause, writer.write_all(piece)).await {
            Ok(Ok(())) => {}
            _ => return false,
        }
    }
    true
}

/// Writes an answer; `true` when the connection may serve another request.
pub(super) async fn write_answer(
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

pub(super) fn head(
    status: u16,
    headers: &[(String, String)],
    length: usize,
    close: bool,
) -> Vec<u8> {
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
