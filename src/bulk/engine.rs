//! The engine every bulk run goes through: one loop that takes records as slots and the
//! breaker allow, sends each in a task of its own (or gathers them in batches), commits the
//! state, and hands each outcome over as a [`BulkOutcome`].

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, FuturesUnordered, StreamExt};
use futures_util::FutureExt;

use super::breaker::{is_outage, Breaker, Gate, Outcome};
use super::import::{BatchAnswer, BatchFailure, BATCH};
use super::work::{spawned, Checks, Intake, Job};
use super::{Bulk, BulkOutcome, Cancel, Done, Stop};
use crate::client::PlainClient;
use crate::error::{Error, Result};
#[cfg(feature = "state")]
use crate::state::{StateStore, COMMIT_AFTER, COMMIT_EVERY};

/// What the engine tells its run as it goes, and the outcomes it hands over.
///
/// The engine runs inside its run's own polls ([`super::BulkRun`] drives it), so outcomes go
/// over in a queue both hold, not a channel, which would take a permit for each outcome and
/// wake the task that is already running.
pub(super) struct Shared<T, R> {
    pub(super) stop: Option<Stop>,
    /// Records sent.
    pub(super) sent: u64,
    /// Requests sent: a batch is one.
    pub(super) requests: u64,
    pub(super) outage: Option<Duration>,
    /// Outcomes handed over, not yet read. The engine waits while `room` or more wait here; a
    /// commit's outcomes go in together.
    pub(super) outcomes: VecDeque<BulkOutcome<T, R>>,
    /// How many outcomes may wait before the engine waits for its run to read them.
    pub(super) room: usize,
}

impl<T, R> Shared<T, R> {
    pub(super) fn new(room: usize) -> Self {
        Self {
            stop: None,
            sent: 0,
            requests: 0,
            outage: None,
            outcomes: VecDeque::new(),
            room,
        }
    }

    /// Locks what the engine and its run share. A panic never leaves it half-written, so a
    /// poisoned lock is taken as it is.
    pub(super) fn lock(shared: &Mutex<Self>) -> MutexGuard<'_, Self> {
        shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The most records decided without a request (unchanged ones) taken in one go, without going
/// round the loop.
const BURST: usize = 256;

/// What woke the engine.
#[expect(
    clippy::large_enum_variant,
    reason = "an event is matched at once: boxing it would cost an allocation a record"
)]
enum Event<T, R> {
    Cancelled,
    Answered(Answer<T, R>),
    Record(Option<(T, R)>),
    /// The input has no record ready now: an open batch waits [`LINGER`] for more.
    Idle,
    Woke,
}

/// A request's answer, when it is in.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every answer is a record's own: boxing them would cost an allocation each"
)]
enum Answer<T, R> {
    /// A record sent on its own.
    One {
        index: u64,
        tag: T,
        record: R,
        probe: bool,
        result: Result<Done>,
    },
    /// A batch: its records' positions and tags, the records, and what became of them.
    Batch {
        tags: Vec<(u64, T)>,
        records: Vec<R>,
        probe: bool,
        answer: BatchAnswer,
    },
}

/// A record in the open batch.
struct Member<T, R: Job> {
    index: u64,
    tag: T,
    record: R,
    ticket: R::Ticket,
    batched: R::Batched,
}

/// A record taken that waits for the open batch to be sent first.
struct Held<T, R: Job> {
    index: u64,
    tag: T,
    record: R,
    ticket: R::Ticket,
}

pub(super) struct Engine<T, R: Job> {
    client: PlainClient,
    concurrency: usize,
    cancel: Cancel,
    breaker: Breaker,
    checks: Checks,
    shared: Arc<Mutex<Shared<T, R>>>,
    /// Whether the intake stopped.
    stopped: bool,
    /// Outcomes that wait for the state's next commit.
    awaiting: Vec<BulkOutcome<T, R>>,
    last_commit: Instant,
    next_index: u64,
    /// Records gathered for the next batch ([`super::Bulk::import`]).
    batch: Vec<Member<T, R>>,
    held: Option<Held<T, R>>,
}

/// How long an open batch waits for more records once the input had none ready: a slow input
/// never holds a record back for longer, and a file read in chunks still fills whole batches.
const LINGER: Duration = Duration::from_millis(20);

type InFlight<T, R> = FuturesUnordered<BoxFuture<'static, Answer<T, R>>>;

impl<T: Send + 'static, R: Job> Engine<T, R> {
    pub(super) fn new(bulk: Bulk, shared: Arc<Mutex<Shared<T, R>>>) -> Self {
        Self {
            client: bulk.client,
            concurrency: bulk.concurrency,
            cancel: bulk.cancel,
            breaker: Breaker::new(bulk.outage_limit),
            checks: Checks {
                #[cfg(feature = "state")]
                state: bulk.state,
                dry_run: bulk.dry_run,
                import: bulk.import,
            },
            shared,
            stopped: false,
            awaiting: Vec::new(),
            last_commit: Instant::now(),
            next_index: 0,
            batch: Vec::new(),
            held: None,
        }
    }

    pub(super) async fn run(mut self, mut records: BoxStream<'static, (T, R)>) {
        let mut in_flight: InFlight<T, R> = FuturesUnordered::new();
        let mut reading = true;
        // When the open batch goes even though it is not full: the input had no record ready.
        let mut linger: Option<Instant> = None;
        let cancelled = self.cancel.cancelled();
        tokio::pin!(cancelled);
        loop {
            let slot = in_flight.len() < self.concurrency;
            let mut wake = None;
            let go = match self.breaker.peek(Instant::now()) {
                Gate::Go { .. } => true,
                Gate::WaitUntil(at) => {
                    wake = Some(at);
                    false
                }
                Gate::WaitForProbe | Gate::GiveUp => false,
            };
            // What was taken is sent, after a stop too (as requests in flight finish).
            if slot && (go || self.stopped) {
                if let Some(held) = self.held.take() {
                    in_flight.push(self.send(held));
                    continue;
                }
                let lingered = linger.is_some_and(|at| at <= Instant::now());
                let due = self.batch.len() >= BATCH || !reading || self.stopped || lingered;
                if !self.batch.is_empty() && due {
                    linger = None;
                    in_flight.push(self.send_batch());
                    continue;
                }
            }
            // A record is taken only when it can be sent at once, or go in the open batch:
            // records never taken are never reported.
            let taking = reading
                && !self.stopped
                && slot
                && go
                && self.held.is_none()
                && self.batch.len() < BATCH;
            let taken = self.batch.is_empty() && self.held.is_none();
            if in_flight.is_empty() && taken && (!reading || self.stopped) {
                break;
            }
            let commit_at = self.commit_at();
            if commit_at.is_some_and(|at| at <= Instant::now()) {
                self.commit().await;
                continue;
            }
            let sleep = async move {
                match wake.into_iter().chain(commit_at).chain(linger).min() {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let listening = !self.stopped;
            let batching = !self.batch.is_empty() && linger.is_none();
            tokio::pin!(sleep);
            let event = std::future::poll_fn(|cx| {
                if listening && cancelled.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::Cancelled);
                }
                if let Poll::Ready(Some(answer)) = in_flight.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Answered(answer));
                }
                if taking {
                    match records.poll_next_unpin(cx) {
                        Poll::Ready(record) => return Poll::Ready(Event::Record(record)),
                        Poll::Pending if batching => return Poll::Ready(Event::Idle),
                        Poll::Pending => {}
                    }
                }
                sleep.as_mut().poll(cx).map(|()| Event::Woke)
            })
            .await;
            match event {
                Event::Cancelled => self.stop(Stop::Cancelled),
                Event::Answered(answer) => {
                    self.answered(answer).await;
                    // The answers already in are taken together: one commit for them all.
                    while let Some(Some(answer)) = in_flight.next().now_or_never() {
                        self.answered(answer).await;
                    }
                }
                Event::Record(Some((tag, record))) => {
                    let mut decided = self.take(tag, record, &mut in_flight).await;
                    // Records decided without a request (unchanged) come many at a time: those
                    // ready now are taken at once. Such a record changes nothing that allowed
                    // taking it, but the outcomes waiting for a commit.
                    let mut burst = 0;
                    while decided && !self.stopped && burst < BURST && self.awaiting.len() < BURST {
                        burst += 1;
                        match records.next().now_or_never() {
                            Some(Some((tag, record))) => {
                                decided = self.take(tag, record, &mut in_flight).await;
                            }
                            Some(None) => {
                                reading = false;
                                break;
                            }
                            None => break,
                        }
                    }
                }
                Event::Record(None) => reading = false,
                Event::Idle => linger = Some(Instant::now() + LINGER),
                Event::Woke => {}
            }
        }
        self.commit().await;
    }

    /// Takes a record: decided now (`true`), sent now, or gathered in the open batch.
    async fn take(&mut self, tag: T, record: R, in_flight: &mut InFlight<T, R>) -> bool {
        let index = self.next_index;
        self.next_index += 1;
        match record.intake(&self.checks) {
            Intake::Now {
                record,
                done,
                commit,
            } => {
                self.emit(index, tag, record, Ok(done), commit).await;
                return true;
            }
            Intake::Send(record, ticket) => {
                let held = Held {
                    index,
                    tag,
                    record,
                    ticket,
                };
                if !self.batch.is_empty() && R::waits(&held.ticket) {
                    // It may wait for a record of the open batch: the batch goes first.
                    in_flight.push(self.send_batch());
                    self.held = Some(held);
                } else {
                    in_flight.push(self.send(held));
                }
            }
            Intake::Batch(record, ticket, batched) => {
                if self.batch.iter().any(|m| m.record.same_customer(&record)) {
                    // A batch carries a customer once: this record starts the next one.
                    in_flight.push(self.send_batch());
                }
                self.batch.push(Member {
                    index,
                    tag,
                    record,
                    ticket,
                    batched,
                });
            }
        }
        false
    }

    /// Sends a record in a task of its own; the breaker allowed it just before it was taken.
    fn send(&mut self, held: Held<T, R>) -> BoxFuture<'static, Answer<T, R>> {
        let Held {
            index,
            tag,
            record,
            ticket,
        } = held;
        let probe = matches!(self.breaker.admit(Instant::now()), Gate::Go { probe: true });
        {
            let mut shared = self.shared();
            shared.sent += 1;
            shared.requests += 1;
        }
        let client = self.client.clone();
        Box::pin(async move {
            let (record, result) = spawned(record, ticket, &client).await;
            Answer::One {
                index,
                tag,
                record,
                probe,
                result,
            }
        })
    }

    /// Sends the open batch in a task of its own.
    fn send_batch(&mut self) -> BoxFuture<'static, Answer<T, R>> {
        let probe = matches!(self.breaker.admit(Instant::now()), Gate::Go { probe: true });
        let members = std::mem::take(&mut self.batch);
        {
            let mut shared = self.shared();
            shared.sent += members.len() as u64;
            shared.requests += 1;
        }
        let mut tags = Vec::with_capacity(members.len());
        let mut records = Vec::with_capacity(members.len());
        let mut tickets = Vec::with_capacity(members.len());
        for member in members {
            tags.push((member.index, member.tag));
            records.push(member.record);
            tickets.push((member.ticket, member.batched));
        }
        let size = records.len();
        let records = Arc::new(records);
        // Boxed first, so that spawning moves a pointer, not the whole request's state.
        let task = tokio::spawn(Box::pin(R::send_batch(
            records.clone(),
            tickets,
            self.client.clone(),
        )));
        Box::pin(async move {
            let answer = match task.await {
                Ok(answer) => answer,
                Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                Err(_) => BatchAnswer {
                    results: (0..size).map(|_| Err(Error::Interrupted)).collect(),
                    requests: 1,
                    failure: Some(BatchFailure::Other),
                },
            };
            // The task, and its share of the records, ended before its handle was ready.
            let records = Arc::try_unwrap(records).unwrap_or_else(|shared| shared.to_vec());
            Answer::Batch {
                tags,
                records,
                probe,
                answer,
            }
        })
    }

    /// A request's answer: heard by the breaker and the stops, and its outcomes handed over.
    async fn answered(&mut self, answer: Answer<T, R>) {
        match answer {
            Answer::One {
                index,
                tag,
                record,
                probe,
                result,
            } => {
                let outcome = match &result {
                    Ok(_) => Outcome::Success,
                    Err(error) if is_outage(error) => Outcome::Transient,
                    Err(_) => Outcome::Other,
                };
                if matches!(result, Ok(Done::Unchanged { .. })) {
                    // It waited for an earlier record of the same customer, which made it so.
                    let mut shared = self.shared();
                    shared.sent -= 1;
                    shared.requests -= 1;
                }
                let refused = result.as_ref().is_err_and(Error::is_auth_failure);
                self.heard(outcome, probe, refused);
                let commit = self.needs_commit(&result);
                self.emit(index, tag, record, result, commit).await;
            }
            Answer::Batch {
                tags,
                records,
                probe,
                answer,
            } => {
                let outcome = match answer.failure {
                    None => Outcome::Success,
                    Some(BatchFailure::Outage) => Outcome::Transient,
                    Some(BatchFailure::Other) => Outcome::Other,
                };
                self.shared().requests += answer.requests.saturating_sub(1);
                let refused = answer
                    .results
                    .iter()
                    .any(|result| result.as_ref().is_err_and(Error::is_auth_failure));
                self.heard(outcome, probe, refused);
                for (((index, tag), record), result) in
                    tags.into_iter().zip(records).zip(answer.results)
                {
                    let commit = self.needs_commit(&result);
                    self.emit(index, tag, record, result, commit).await;
                }
            }
        }
        #[cfg(feature = "state")]
        if self.checks.state.as_ref().is_some_and(StateStore::failed) {
            self.stop(Stop::StateFailed);
        }
    }

    /// What a request's answer tells the breaker and the stops.
    fn heard(&mut self, outcome: Outcome, probe: bool, refused: bool) {
        if refused {
            self.stop(Stop::Unauthorized);
        }
        self.breaker.finished(outcome, probe, Instant::now());
        if self.breaker.gave_up() && !self.stopped {
            self.shared().outage = Some(self.breaker.open_for(Instant::now()));
            self.stop(Stop::Outage);
        }
    }

    /// Whether an outcome waits for the state's commit: what the state decided or recorded.
    fn needs_commit(&self, result: &Result<Done>) -> bool {
        #[cfg(feature = "state")]
        if self.checks.state.is_some() {
            return matches!(
                result,
                Ok(Done::Upserted(_) | Done::Unchanged { .. } | Done::Imported { .. })
            );
        }
        let _ = result;
        false
    }

    fn stop(&mut self, stop: Stop) {
        self.stopped = true;
        self.shared().stop.get_or_insert(stop);
    }

    fn shared(&self) -> MutexGuard<'_, Shared<T, R>> {
        Shared::lock(&self.shared)
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
        self.send_out(std::iter::once(outcome)).await;
    }

    /// Queues outcomes for the run, once fewer than its room wait there. The run reads every
    /// queued outcome before it polls the engine again, so waiting needs no wake-up.
    async fn send_out(&mut self, outcomes: impl IntoIterator<Item = BulkOutcome<T, R>>) {
        let (shared, mut outcomes) = (&self.shared, Some(outcomes));
        std::future::poll_fn(|_| {
            let mut shared = Shared::lock(shared);
            if shared.outcomes.len() >= shared.room {
                // Full: the run has outcomes to read, and polls the engine once it has.
                return Poll::Pending;
            }
            shared
                .outcomes
                .extend(outcomes.take().into_iter().flatten());
            Poll::Ready(())
        })
        .await;
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
        let mut outcomes = std::mem::take(&mut self.awaiting);
        if !committed {
            for outcome in &mut outcomes {
                if let Ok(done) = std::mem::replace(&mut outcome.result, Err(Error::Interrupted)) {
                    outcome.result = Ok(Done::Unrecorded(Box::new(done)));
                }
            }
        }
        // A commit's outcomes go over together.
        self.send_out(outcomes).await;
    }
}
