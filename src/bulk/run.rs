//! A bulk run as its caller sees it: a stream of outcomes, and what the engine says as it
//! goes (why it stopped, how much it sent).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use tokio::sync::mpsc;

use super::engine::{Engine, Handed, Shared};
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
    outcomes: mpsc::Receiver<Handed<T, R>>,
    /// Outcomes handed over together, not yet read.
    ready: std::vec::IntoIter<BulkOutcome<T, R>>,
    driver: Option<BoxFuture<'static, ()>>,
    shared: Arc<Mutex<Shared>>,
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
    let shared = Arc::new(Mutex::new(Shared::default()));
    // Room for an outcome of each request in flight; a commit's outcomes go over together.
    let (sender, outcomes) = mpsc::channel(bulk.concurrency.max(8));
    #[cfg(feature = "state")]
    if let Some(state) = &bulk.state {
        // Outcomes wait for the engine's commits: the store commits only when told.
        state.defer_commits();
    }
    let engine = Engine::new(bulk, sender, shared.clone());
    BulkRun {
        outcomes,
        ready: Vec::new().into_iter(),
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

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        if let Some(outcome) = this.ready.next() {
            return Poll::Ready(Some(outcome));
        }
        if let Some(driver) = &mut this.driver {
            if driver.as_mut().poll(cx).is_ready() {
                this.driver = None;
            }
        }
        loop {
            // `None` once the engine has ended and every outcome was taken.
            match std::task::ready!(this.outcomes.poll_recv(cx)) {
                Some(Handed::One(outcome)) => return Poll::Ready(Some(outcome)),
                Some(Handed::Many(outcomes)) => {
                    this.ready = outcomes.into_iter();
                    if let Some(outcome) = this.ready.next() {
                        return Poll::Ready(Some(outcome));
                    }
                }
                None => return Poll::Ready(None),
            }
        }
    }
}
