//! One connection, served request after request: keep-alive, `Expect: 100-continue`, the
//! idle timeout, and the end of a connection whose peer is still sending.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, timeout_at, Instant};

use super::idle::IdleConnections;
use super::read::{read_body, read_head, Failure, Head};
use super::write::{head, write_answer, write_paced, CHUNK};
use super::Service;
use crate::testing::limits::MAX_BODY_BYTES;

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
pub(super) async fn serve_connection<S: Service>(
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
