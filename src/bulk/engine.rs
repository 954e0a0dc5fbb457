//! The engine every bulk run goes through: one loop that takes records as slots and the
//! breaker allow, sends each in a task of its own, commits the state, and hands each outcome
//! over as a [`BulkOutcome`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, FuturesUnordered, Stream, StreamExt};
use futures_util::FutureExt;
use tokio::sync::mpsc;

use super::breaker::{Breaker, Gate, Outcome};
use super::work::{is_outage, spawned, Checks, Intake, Job};
use super::{Bulk, BulkOutcome, Cancel, Done, Stop};
use crate::client::PlainClient;
use crate::error::Result;
use crate::input::UpsertCustomerInput;
#[cfg(feature = "state")]
use crate::state::{StateStore, COMMIT_AFTER, COMMIT_EVERY};

/// A bulk run under way: a stream of [`BulkOutcome`]s, one per record taken, in the order they
/// end. It makes progress only while it is polled (requests already sent run on in their
/// tasks). Dropping it stops the intake.
///
/// Polling it needs a Tokio runtime: each request is a task of its own.
#[must_use = "a bulk run does nothing unless its outcomes are read"]
pub struct BulkRun<T, R = UpsertCustomerInput> {
    outcomes: mpsc::Receiver<BulkOutcome<T, R>>,
    driver: Option<BoxFuture<'static, ()>>,
    shared: Arc<Mutex<Shared>>,
}

/// What the engine tells its run as it goes.
#[derive(Default)]
struct Shared {
    stop: Option<Stop>,
    sent: u64,
    outage: Option<Duration>,
}

impl<T, R> std::fmt::Debug for BulkRun<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkRun")
            .field("stop", &self.stop())
            .field("sent", &self.sent())
            .finish_non_exhaustive()
    }
}

/// Starts a run of `records` with `bulk`'s options.
pub(super) fn start<T: Send + 'static, R: Job>(
    bulk: Bulk,
    records: BoxStream<'static, (T, R)>,
) -> BulkRun<T, R> {
    {
        let shared = Arc::new(Mutex::new(Shared::default()));
        // Room for a commit's outcomes, so that one commit hands them over in one go.
        let (sender, outcomes) = mpsc::channel(bulk.concurrency.max(64));
        #[cfg(feature = "state")]
        if let Some(state) = &bulk.state {
            // Outcomes wait for the engine's commits: the store commits only when told.
            state.defer_commits();
        }
        let engine = Engine {
            client: bulk.client,
            concurrency: bulk.concurrency,
            cancel: bulk.cancel,
            breaker: Breaker::new(bulk.outage_limit),
            checks: Checks {
                #[cfg(feature = "state")]
                state: bulk.state,
                dry_run: bulk.dry_run,
            },
            sender,
            shared: shared.clone(),
            stopped: false,
            awaiting: Vec::new(),
            last_commit: Instant::now(),
            next_index: 0,
        };
        BulkRun {
            outcomes,
            driver: Some(Box::pin(engine.run(records))),
            shared,
        }
    }
}

impl<T, R> BulkRun<T, R> {
    /// Why the run stopped taking records, if it did: once it has, the records after the last
    /// one taken were never taken, and are not reported.
    pub fn stop(&self) -> Option<Stop> {
        self.shared().stop
    }

    /// How many records were sent to Plain so far (a request each, not counting retries).
    pub fn sent(&self) -> u64 {
        self.shared().sent
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

impl<T, R> Stream for BulkRun<T, R> {
    type Item = BulkOutcome<T, R>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(driver) = &mut this.driver {
            if driver.as_mut().poll(cx).is_ready() {
                this.driver = None;
            }
        }
        // `None` once the engine has ended and every outcome was taken.
        this.outcomes.poll_recv(cx)
    }
}

/// What woke the engine.
#[expect(
    clippy::large_enum_variant,
    reason = "an event is matched at once: boxing it would cost an allocation a record"
)]
enum Event<T, R> {
    Cancelled,
    Answered(Answered<T, R>),
    Record(Option<(T, R)>),
    Woke,
}

/// A sent record, when its answer is in.
struct Answered<T, R> {
    index: u64,
    tag: T,
    record: R,
    probe: bool,
    result: Result<Done>,
}

struct Engine<T, R> {
    client: PlainClient,
    concurrency: usize,
    cancel: Cancel,
    breaker: Breaker,
    checks: Checks,
    sender: mpsc::Sender<BulkOutcome<T, R>>,
    shared: Arc<Mutex<Shared>>,
    /// Whether the intake stopped.
    stopped: bool,
    /// Outcomes that wait for the state's next commit.
    awaiting: Vec<BulkOutcome<T, R>>,
    last_commit: Instant,
    next_index: u64,
}

impl<T: Send + 'static, R: Job> Engine<T, R> {
    async fn run(mut self, mut records: BoxStream<'static, (T, R)>) {
        let mut in_flight = FuturesUnordered::new();
        let mut reading = true;
        let cancelled = self.cancel.cancelled();
        tokio::pin!(cancelled);
        loop {
            // A record is taken only when it can be sent at once: records never taken are
            // never reported.
            let mut taking = reading && !self.stopped && in_flight.len() < self.concurrency;
            let mut wake = None;
            if taking {
                match self.breaker.peek(Instant::now()) {
                    Gate::Go { .. } => {}
                    Gate::WaitUntil(at) => (taking, wake) = (false, Some(at)),
                    Gate::WaitForProbe | Gate::GiveUp => taking = false,
                }
            }
            if in_flight.is_empty() && (!reading || self.stopped) {
                break;
            }
            let commit_at = self.commit_at();
            if commit_at.is_some_and(|at| at <= Instant::now()) {
                self.commit().await;
                continue;
            }
            let sleep = async move {
                match wake.into_iter().chain(commit_at).min() {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let listening = !self.stopped;
            tokio::pin!(sleep);
            let event = std::future::poll_fn(|cx| {
                if listening && cancelled.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::Cancelled);
                }
                if let Poll::Ready(Some(answered)) = in_flight.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Answered(answered));
                }
                if taking {
                    if let Poll::Ready(record) = records.poll_next_unpin(cx) {
                        return Poll::Ready(Event::Record(record));
                    }
                }
                sleep.as_mut().poll(cx).map(|()| Event::Woke)
            })
            .await;
            match event {
                Event::Cancelled => self.stop(Stop::Cancelled),
                Event::Answered(answered) => {
                    self.answered(answered).await;
                    // The answers already in are taken together: one commit for them all.
                    while let Some(Some(answered)) = in_flight.next().now_or_never() {
                        self.answered(answered).await;
                    }
                }
                Event::Record(Some((tag, record))) => {
                    let index = self.next_index;
                    self.next_index += 1;
                    match record.intake(&self.checks) {
                        Intake::Now {
                            record,
                            done,
                            commit,
                        } => {
                            self.emit(index, tag, record, Ok(done), commit).await;
                        }
                        Intake::Send(record, ticket) => {
                            in_flight.push(self.send(index, tag, record, ticket));
                        }
                    }
                }
                Event::Record(None) => reading = false,
                Event::Woke => {}
            }
        }
        self.commit().await;
    }

    /// Sends a record in a task of its own; the breaker allowed it just before it was taken.
    fn send(
        &mut self,
        index: u64,
        tag: T,
        record: R,
        ticket: R::Ticket,
    ) -> BoxFuture<'static, Answered<T, R>> {
        let probe = matches!(self.breaker.admit(Instant::now()), Gate::Go { probe: true });
        self.shared().sent += 1;
        let client = self.client.clone();
        Box::pin(async move {
            let (record, result) = spawned(record, ticket, &client).await;
            Answered {
                index,
                tag,
                record,
                probe,
                result,
            }
        })
    }

    /// A sent record's answer: heard by the breaker and the stops, and handed over.
    async fn answered(&mut self, answered: Answered<T, R>) {
        let Answered {
            index,
            tag,
            record,
            probe,
            result,
        } = answered;
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(error) if is_outage(error) => Outcome::Transient,
            Err(_) => Outcome::Other,
        };
        if let Err(error) = &result {
            if error.is_auth_failure() {
                self.stop(Stop::Unauthorized);
            }
        }
        if matches!(result, Ok(Done::Unchanged { .. })) {
            // It waited for an earlier record of the same customer, which made it so.
            self.shared().sent -= 1;
        }
        self.breaker.finished(outcome, probe, Instant::now());
        if self.breaker.gave_up() && !self.stopped {
            self.shared().outage = Some(self.breaker.open_for(Instant::now()));
            self.stop(Stop::Outage);
        }
        let commit = self.needs_commit(&result);
        self.emit(index, tag, record, result, commit).await;
        #[cfg(feature = "state")]
        if self.checks.state.as_ref().is_some_and(StateStore::failed) {
            self.stop(Stop::StateFailed);
        }
    }

    /// Whether an outcome waits for the state's commit: what the state decided or recorded.
    fn needs_commit(&self, result: &Result<Done>) -> bool {
        #[cfg(feature = "state")]
        if self.checks.state.is_some() {
            return matches!(result, Ok(Done::Upserted(_) | Done::Unchanged { .. }));
        }
        let _ = result;
        false
    }

    fn stop(&mut self, stop: Stop) {
        self.stopped = true;
        self.shared().stop.get_or_insert(stop);
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands an outcome over, or keeps it for the next commit.
    async fn emit(&mut self, index: u64, tag: T, record: R, result: Result<Done>, commit: bool) {
        let outcome = BulkOutcome {
            index,
            tag,
            record,
            result,
        };
        if commit {
            self.awaiting.push(outcome);
            return;
        }
        self.hand_over(outcome).await;
    }

    async fn hand_over(&mut self, outcome: BulkOutcome<T, R>) {
        if self.sender.send(outcome).await.is_err() {
            // Nobody reads the outcomes any more: take nothing more.
            self.stop(Stop::Cancelled);
        }
    }

    /// When the outcomes waiting for a commit are due.
    fn commit_at(&self) -> Option<Instant> {
        #[cfg(feature = "state")]
        if !self.awaiting.is_empty() {
            return Some(if self.awaiting.len() >= COMMIT_EVERY {
                self.last_commit
            } else {
                self.last_commit + COMMIT_AFTER
            });
        }
        None
    }

    /// Commits Plain's answers to the state, then hands their outcomes over. Those the state
    /// could not commit come as [`Done::Unrecorded`].
    async fn commit(&mut self) {
        self.last_commit = Instant::now();
        if self.awaiting.is_empty() {
            return;
        }
        #[cfg(feature = "state")]
        let committed = self.checks.state.as_ref().is_none_or(StateStore::flush);
        #[cfg(not(feature = "state"))]
        let committed = true;
        if !committed {
            self.stop(Stop::StateFailed);
        }
        for mut outcome in std::mem::take(&mut self.awaiting) {
            if !committed {
                if let Ok(done) = outcome.result {
                    outcome.result = Ok(Done::Unrecorded(Box::new(done)));
                }
            }
            self.hand_over(outcome).await;
        }
    }
}
