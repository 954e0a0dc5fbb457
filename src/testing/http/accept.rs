//! Accepting connections, at most [`MAX_CONNECTIONS`] open at once: past it, the connection
//! idle the longest is closed to make room, and when none is idle the new one waits.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::connection::serve_connection;
use super::idle::IdleConnections;
use super::Service;
use crate::testing::limits::MAX_CONNECTIONS;

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
