//! The connections waiting for their next request, so that the one idle the longest can make
//! room for a new connection.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// The connections waiting for their next request, oldest first, so that the one idle the
/// longest can be closed to make room for a new connection.
#[derive(Default)]
pub(super) struct IdleConnections {
    queue: Mutex<IdleQueue>,
    /// Told each time a connection becomes idle, for a new connection waiting for room.
    pub(super) entered: Notify,
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
    pub(super) fn enter(self: &Arc<Self>) -> Idle {
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
    pub(super) fn close_oldest(&self) {
        if let Some((_, close)) = self.queue().by_age.pop_first() {
            close.notify_one();
        }
    }
}

/// A connection's place among the idle ones; it leaves them when dropped.
pub(super) struct Idle {
    connections: Arc<IdleConnections>,
    id: u64,
    close: Arc<Notify>,
}

impl Idle {
    /// Completes when the connection was chosen to close, to make room.
    pub(super) async fn closed(&self) {
        self.close.notified().await;
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        self.connections.queue().by_age.remove(&self.id);
    }
}
