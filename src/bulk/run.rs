//! A bulk run as its caller sees it: a stream of outcomes, and what the engine says as it
//! goes (why it stopped, how much it sent).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, Stream, StreamExt};

use super::engine::{Engine, Shared};
use super::work::Job;
use super::{Bulk, BulkOutcome, Stop};
use crate::input::UpsertCustomerInput;

/// A bulk run under way: a stream of [`BulkOutcome`]s, one per record taken, in the order they
/// end. It makes progress only while it is polled (requests already sent run on in their
/// tasks). Dropping it stops the intake.
///
/// Polling it needs a Tokio runtime: each request is a task of its own.
#[must_use = "a bulk run does nothing unless its outcomes are read"]
pub struct BulkRun<T, R = UpsertCustomerInput> {
    /// The engine, polled by the run's own polls; `None` once it has ended.
    driver: Option<BoxFuture<'static, ()>>,
    shared: Arc<Mutex<Shared<T, R>>>,
}

impl<T, R> std::fmt::Debug for BulkRun<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkRun")
            .field("stop", &self.stop())
            .field("sent", &self.sent())
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

/// Starts a run of `records` with `bulk`'s options.
pub(super) fn start<T: Send + 'static, R: Job>(
    bulk: Bulk,
    records: BoxStream<'static, (T, R)>,
) -> BulkRun<T, R> {
    // Room for an outcome of each request in flight; a commit's outcomes go over together.
    let shared = Arc::new(Mutex::new(Shared::new(bulk.concurrency.max(8))));
    #[cfg(feature = "state")]
    if let Some(state) = &bulk.state {
        // Outcomes wait for the engine's commits: the store commits only when told.
        state.defer_commits();
    }
    let engine = Engine::new(bulk, shared.clone());
    BulkRun {
        driver: Some(Box::pin(engine.run(records))),
        shared,
    }
}

impl<T, R> BulkRun<T, R> {
    /// Why the run stopped taking records, if it did: once it has, the records after the last
    /// one taken were never taken, and are not reported.
    pub fn stop(&self) -> Option<Stop> {
        self.shared().stop
    }

    /// How many records were sent to Plain so far, in requests of their own or in batches
    /// (not counting retries).
    pub fn sent(&self) -> u64 {
        self.shared().sent
    }

    /// How many requests were sent so far (not counting retries): one per record sent on its
    /// own, one per batch ([`Bulk::import`]), and one per record a batch fell back for.
    pub fn requests(&self) -> u64 {
        self.shared().requests
    }

    /// How long Plain looked unavailable in all, when the run stopped for an outage.
    pub fn outage(&self) -> Option<Duration> {
        self.shared().outage
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared<T, R>> {
        Shared::lock(&self.shared)
    }

    /// The next outcome; `None` once every record taken has one.
    pub async fn next(&mut self) -> Option<BulkOutcome<T, R>> {
        StreamExt::next(self).await
    }
}

// Nothing of a run is pinned in place: its driver is boxed, and outcomes are moved out.
impl<T, R> Unpin for BulkRun<T, R> {}

impl<T, R> Stream for BulkRun<T, R> {
    type Item = BulkOutcome<T, R>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // Every outcome queued is read before the engine goes on: the engine waits for room
        // without a wake-up, counting on this.
        if let Some(outcome) = this.shared().outcomes.pop_front() {
            return Poll::Ready(Some(outcome));
        }
        let Some(driver) = &mut this.driver else {
            return Poll::Ready(None);
        };
        let ended = driver.as_mut().poll(cx).is_ready();
        if ended {
            this.driver = None;
        }
        match this.shared().outcomes.pop_front() {
            Some(outcome) => Poll::Ready(Some(outcome)),
            // The engine ended with every outcome read.
            None if ended => Poll::Ready(None),
            // The engine waits for a request, a record or a timer, each of which wakes it.
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::bulk::{Deletion, Done};
    use crate::client::PlainClient;

    /// Outcomes decided at once (a dry run's) come faster than they are read: the run holds
    /// no more of them than its room, and every one comes, in order.
    #[tokio::test]
    async fn a_slow_reader_bounds_the_outcomes_held() {
        let client = PlainClient::builder()
            .api_key("k")
            .endpoint("http://127.0.0.1:9/graphql/v1")
            .build()
            .expect("a client");
        let deletions = (0..1000).map(|i| Deletion::new(format!("c_{i}")));
        let mut run = client.bulk().concurrency(3).dry_run(true).delete(deletions);
        let room = run.shared().room;
        assert_eq!(room, 8, "the room is the concurrency, at least 8");
        let mut most = 0;
        let mut seen = 0;
        while let Some(outcome) = run.next().await {
            most = most.max(run.shared().outcomes.len());
            assert_eq!(outcome.index, seen);
            assert!(
                matches!(&outcome.result, Ok(Done::WouldDelete { customer_id }) if *customer_id == format!("c_{seen}")),
                "{:?}",
                outcome.result
            );
            seen += 1;
            tokio::task::yield_now().await;
        }
        assert_eq!(seen, 1000);
        assert!(most < room, "{most} outcomes held past the room of {room}");
        assert!(most > 0, "the engine ran ahead of its reader");
    }
}
