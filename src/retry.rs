//! Retrying what can succeed later, and pacing requests to Plain's rate limit.
//!
//! Whether a failed request is sent again depends on the operation ([`Idempotency`]). A
//! query only reads, so it is retried like any idempotent request. `upsertCustomer` is
//! idempotent too: sending the same input again finds the customer the first attempt created
//! or updated and answers `NOOP` (or the same change), never a duplicate. Any other mutation
//! sent with [`PlainClient::execute`](crate::PlainClient::execute) counts as
//! [`Idempotency::NotIdempotent`], which is sent again only when it surely never reached Plain
//! (the connection could not be made, or a 429), unless the caller declares it idempotent with
//! [`PlainClient::execute_with`](crate::PlainClient::execute_with).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::error::Error;
use crate::response::ResponseMeta;

/// How the client retries failures that can succeed later: HTTP 429; 500, 502, 503 and 504;
/// connection failures and timeouts; Plain's `INTERNAL_SERVER_ERROR`; a `MutationError` of
/// type `INTERNAL`. Never bad input, validation, authentication or permission errors.
///
/// Waits grow exponentially from `base_delay` up to `max_delay`, with full jitter. A 429 waits
/// until Plain's `x-ratelimit-reset` (or `Retry-After`), capped by `max_delay`.
///
/// Holding a request back because the rate-limit budget looks spent is a wait like any other:
/// one hold lasts at most `max_delay`, and holds and retry waits together stay within
/// `budget`. After the longest hold the request is sent anyway, so no rate-limit header,
/// however senseless (a limit of 0, a reset far in the future), can stall a request for longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    budget: Option<Duration>,
}

impl Default for RetryPolicy {
    /// Five attempts, waits from 250 ms up to 60 s, at most five minutes in all.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(60),
            budget: Some(Duration::from_secs(300)),
        }
    }
}

impl RetryPolicy {
    /// No retries: every request is sent once.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// How many times a request is sent at most, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first wait; each later one doubles, before jitter.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest single wait, a rate limit's reset included.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The most time a request may take over all its attempts and waits (`None`: no limit).
    pub fn budget(mut self, budget: Option<Duration>) -> Self {
        self.budget = budget;
        self
    }

    /// The number of attempts at most.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// How long a request that started at `started` may still be held for Plain's rate limit
    /// before it is sent: the longest single wait, and no more than its budget has left.
    pub(crate) fn hold_limit(&self, started: Instant) -> Duration {
        match self.budget {
            Some(budget) => self.max_delay.min(budget.saturating_sub(started.elapsed())),
            None => self.max_delay,
        }
    }

    /// The wait before attempt `attempt + 1` after `error`, or `None` to give up.
    pub(crate) fn wait(
        &self,
        attempt: u32,
        error: &Error,
        started: Instant,
        jitter: f64,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts || !error.is_retryable() {
            return None;
        }
        let wait = match rate_limit_wait(error) {
            Some(wait) => wait,
            None => {
                let exponential = self
                    .base_delay
                    .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
                exponential
                    .min(self.max_delay)
                    .mul_f64(jitter.clamp(0.0, 1.0))
            }
        };
        let wait = wait.min(self.max_delay);
        match self.budget {
            Some(budget) if started.elapsed() + wait > budget => None,
            _ => Some(wait),
        }
    }
}

/// How long Plain asked us to wait after a 429.
fn rate_limit_wait(error: &Error) -> Option<Duration> {
    let Error::RateLimited {
        reset_at,
        retry_after,
        ..
    } = error
    else {
        return None;
    };
    if let Some(wait) = retry_after {
        return Some(*wait);
    }
    let reset_at = (*reset_at)?;
    // A little after the reset, so the request lands in the new window.
    Some(
        reset_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            + RESET_MARGIN,
    )
}

/// Added to a reset time, against clocks that differ by a few milliseconds.
const RESET_MARGIN: Duration = Duration::from_millis(50);

/// Whether sending an operation twice is safe, which decides what is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Idempotency {
    /// Sending it again has the same effect as sending it once (every query;
    /// `upsertCustomer`): retried on every failure that can succeed later.
    Idempotent,
    /// Sending it again may repeat its effect (a mutation that creates a thread or sends a
    /// message, say): retried only when it surely did not reach Plain (no connection could be
    /// made, or HTTP 429).
    NotIdempotent,
}

impl Idempotency {
    /// What an operation is by its kind: a query is idempotent; a mutation (or an operation
    /// that cannot be found in `document`) is not, until its caller says otherwise.
    pub fn of_operation(document: &str, operation_name: &str) -> Self {
        match crate::document::operation_kind(document, operation_name) {
            Some(crate::document::OperationKind::Query) => Idempotency::Idempotent,
            _ => Idempotency::NotIdempotent,
        }
    }
}

/// The rate-limit budget Plain reports, shared by every clone of a client and every task.
///
/// Plain counts requests in fixed windows and tells, with each answer, how many the window
/// has left (`x-ratelimit-remaining`) and when it ends (`x-ratelimit-reset`). Answers can be
/// taken in out of order, so the lowest count seen is the newest. Requests sent and not yet
/// answered may or may not have been counted in it; the pacer assumes they have not, which
/// never overruns the limit, and the estimate recovers as their answers arrive.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pacer {
    state: Arc<Mutex<Budget>>,
    /// Told of every answer (or failure to get one), which may free room in the budget.
    answered: Arc<tokio::sync::Notify>,
}

#[derive(Debug, Default)]
struct Budget {
    /// Whether any answer has come back yet. Until one does, the budget is unknown and one
    /// request at a time goes out, so that a burst at start-up cannot overrun a small limit.
    heard: bool,
    /// Requests allowed per window (`x-ratelimit-limit`).
    limit: Option<u64>,
    /// The lowest `x-ratelimit-remaining` heard for the window that ends at `reset_at`; the
    /// whole `limit` once that window has passed and nothing was heard of the next one.
    remaining: Option<u64>,
    /// When the current window ends (`x-ratelimit-reset`).
    reset_at: Option<SystemTime>,
    /// Whether `reset_at` has passed: answers that still name it are from an old window.
    rolled_over: bool,
    /// Requests sent and not answered yet.
    in_flight: u64,
}

impl Budget {
    /// Requests that can go out now: what Plain said is left, less what was sent since.
    fn available(&self) -> Option<u64> {
        self.remaining.map(|r| r.saturating_sub(self.in_flight))
    }

    /// Takes in what an answer's rate-limit headers say. Values that make no sense (a limit
    /// of 0, more remaining than the limit) are not believed; however long a reset is, the
    /// hold it causes is bounded by the caller (see [`Pacer::acquire`]).
    fn take_in(&mut self, meta: &ResponseMeta) {
        let limit = meta.rate_limit.filter(|&limit| limit > 0);
        if limit.is_some() {
            self.limit = limit;
        }
        let (Some(remaining), Some(reset)) = (meta.rate_limit_remaining, meta.rate_limit_reset)
        else {
            return;
        };
        let remaining = self.limit.map_or(remaining, |limit| remaining.min(limit));
        let known = self.reset_at;
        if known.is_none_or(|known| reset > known) {
            // A window not heard of before.
            self.reset_at = Some(reset);
            self.rolled_over = false;
            self.remaining = Some(remaining);
        } else if known == Some(reset) && !self.rolled_over {
            let lowest = self.remaining.unwrap_or(remaining).min(remaining);
            self.remaining = Some(lowest);
        }
        // Otherwise the answer is from a window that has passed.
    }
}

/// One request's share of the rate-limit budget, taken by [`Pacer::acquire`]. Dropped
/// without an answer (a failed attempt, or a caller that stopped waiting), it gives the share
/// back all the same.
#[derive(Debug)]
#[must_use]
pub(crate) struct Permit {
    pacer: Pacer,
    answered: bool,
}

impl Permit {
    /// The request was answered with these headers.
    pub(crate) fn answered(mut self, meta: &ResponseMeta) {
        self.answered = true;
        self.pacer.observe(Some(meta));
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.answered {
            self.pacer.observe(None);
        }
    }
}

/// What a request waiting for the budget does next.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Go,
    /// Wait for an answer: the first one, or one that may show room in the budget.
    AwaitAnswer,
    /// Wait for an answer, or this long, whichever comes first.
    AwaitAnswerOrSleep(Duration),
}

/// How long to poll when the budget is spent and the reset time is not known yet.
const UNKNOWN_RESET_POLL: Duration = Duration::from_millis(25);

impl Pacer {
    fn budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the budget allows one more request, and takes it: at most `max_hold`,
    /// after which the request goes out anyway (Plain's own answer, a 429, is authoritative;
    /// the pacer's estimate is not). The permit gives its share back when it is dropped, so a
    /// caller that drops the request at any await point leaves the budget as it found it.
    pub(crate) async fn acquire(&self, max_hold: Duration) -> (Permit, Duration) {
        let started = tokio::time::Instant::now();
        loop {
            // Made before looking at the budget, so that no answer in between is missed.
            let answered = self.answered.notified();
            let left = max_hold.saturating_sub(started.elapsed());
            let step = if left.is_zero() {
                self.budget().in_flight += 1;
                Step::Go
            } else {
                self.try_take(SystemTime::now())
            };
            let wait = match step {
                Step::Go => return (self.permit(), started.elapsed()),
                Step::AwaitAnswer => left,
                Step::AwaitAnswerOrSleep(wait) => wait.min(left),
            };
            let sleep = std::pin::pin!(tokio::time::sleep(wait));
            let answered = std::pin::pin!(answered);
            futures_util::future::select(answered, sleep).await;
        }
    }

    fn permit(&self) -> Permit {
        Permit {
            pacer: self.clone(),
            answered: false,
        }
    }

    /// Takes one request from the budget if it allows, or says what to wait for.
    fn try_take(&self, now: SystemTime) -> Step {
        let mut budget = self.budget();
        if !budget.heard && budget.in_flight > 0 {
            return Step::AwaitAnswer;
        }
        if !budget.rolled_over && budget.reset_at.is_some_and(|reset| now >= reset) {
            // A new window: Plain's limit applies afresh.
            budget.rolled_over = true;
            budget.remaining = budget.limit;
        }
        if budget.available() == Some(0) {
            let until_reset = match budget.reset_at {
                Some(reset) if !budget.rolled_over => {
                    reset.duration_since(now).unwrap_or_default() + RESET_MARGIN
                }
                _ => UNKNOWN_RESET_POLL,
            };
            // An answer to a request in flight may show that it was counted already.
            return Step::AwaitAnswerOrSleep(until_reset);
        }
        budget.in_flight += 1;
        Step::Go
    }

    /// Gives back a request's share: it was answered (with these headers) or never will be.
    fn observe(&self, meta: Option<&ResponseMeta>) {
        let mut budget = self.budget();
        budget.in_flight = budget.in_flight.saturating_sub(1);
        if let Some(meta) = meta {
            budget.heard = true;
            budget.take_in(meta);
        }
        drop(budget);
        self.answered.notify_waiters();
    }

    /// What the client knows of the budget.
    pub(crate) fn snapshot(&self) -> RateLimitBudget {
        let budget = self.budget();
        RateLimitBudget {
            available: budget.available(),
            limit: budget.limit,
            reset_at: budget.reset_at,
            in_flight: budget.in_flight,
        }
    }
}

/// What a client last heard of Plain's rate-limit budget (see
/// [`PlainClient::rate_limit_budget`](crate::PlainClient::rate_limit_budget)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitBudget {
    /// Requests that can go out now: what Plain said the window has left
    /// (`x-ratelimit-remaining`), less the requests sent since. `None` until Plain has said.
    pub available: Option<u64>,
    /// Requests allowed per window (`x-ratelimit-limit`), when Plain has said.
    pub limit: Option<u64>,
    /// When the current window ends (`x-ratelimit-reset`), when Plain has said.
    pub reset_at: Option<SystemTime>,
    /// Requests sent and not answered yet (a request its caller stopped waiting for is not
    /// counted).
    pub in_flight: u64,
}

#[cfg(test)]
mod pacer_tests {
    use super::*;

    fn answer(remaining: u64, reset: SystemTime) -> ResponseMeta {
        ResponseMeta {
            rate_limit: Some(50),
            rate_limit_remaining: Some(remaining),
            rate_limit_reset: Some(reset),
            ..ResponseMeta::default()
        }
    }

    fn take(pacer: &Pacer, now: SystemTime, n: usize) {
        for i in 0..n {
            assert_eq!(pacer.try_take(now), Step::Go, "request {i}");
        }
    }

    #[test]
    fn one_probe_goes_first_then_the_budget_is_known() {
        let pacer = Pacer::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let reset = now + Duration::from_secs(2);
        take(&pacer, now, 1);
        assert_eq!(pacer.try_take(now), Step::AwaitAnswer);
        pacer.observe(Some(&answer(49, reset)));
        let seen = pacer.snapshot();
        assert_eq!((seen.available, seen.reset_at), (Some(49), Some(reset)));
    }

    #[test]
    fn answers_taken_in_out_of_order_leave_no_budget_unused() {
        let pacer = Pacer::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let reset = now + Duration::from_secs(2);
        take(&pacer, now, 1);
        pacer.observe(Some(&answer(49, reset)));
        take(&pacer, now, 8);
        assert_eq!(pacer.snapshot().available, Some(41));
        // Plain counted the eight as 48 down to 41; the last counted is read first.
        for remaining in [41, 48, 47, 46, 45, 44, 43, 42] {
            pacer.observe(Some(&answer(remaining, reset)));
        }
        assert_eq!(pacer.snapshot().available, Some(41));
        // Meanwhile, the count never overstates what is left.
        take(&pacer, now, 41);
        assert!(matches!(pacer.try_take(now), Step::AwaitAnswerOrSleep(_)));
    }

    #[test]
    fn a_spent_budget_waits_for_the_reset_or_an_answer() {
        let pacer = Pacer::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let reset = now + Duration::from_secs(2);
        take(&pacer, now, 1);
        pacer.observe(Some(&answer(2, reset)));
        take(&pacer, now, 2);
        assert_eq!(
            pacer.try_take(now),
            Step::AwaitAnswerOrSleep(Duration::from_secs(2) + RESET_MARGIN)
        );
        // After the reset, the whole limit is there again.
        let later = reset + Duration::from_millis(60);
        pacer.observe(Some(&answer(1, reset)));
        pacer.observe(Some(&answer(0, reset)));
        take(&pacer, later, 50);
        assert_eq!(
            pacer.try_take(later),
            Step::AwaitAnswerOrSleep(UNKNOWN_RESET_POLL)
        );
    }

    #[test]
    fn a_late_answer_from_a_past_window_does_not_refill_the_budget() {
        let pacer = Pacer::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let reset = now + Duration::from_secs(2);
        take(&pacer, now, 1);
        pacer.observe(Some(&answer(1, reset)));
        take(&pacer, now, 1); // still in flight when the window ends
        let later = reset + Duration::from_millis(60);
        take(&pacer, later, 49); // the new window's 50, less the one in flight
        pacer.observe(Some(&answer(0, reset)));
        assert_eq!(pacer.snapshot().available, Some(1));
        take(&pacer, later, 1);
        assert!(matches!(pacer.try_take(later), Step::AwaitAnswerOrSleep(_)));
        // The new window's first answer takes over.
        pacer.observe(Some(&answer(0, reset + Duration::from_secs(2))));
        let seen = pacer.snapshot();
        assert_eq!(
            (seen.available, seen.reset_at),
            (Some(0), Some(reset + Duration::from_secs(2)))
        );
    }

    fn meta(limit: Option<u64>, remaining: Option<u64>, reset: Option<SystemTime>) -> ResponseMeta {
        ResponseMeta {
            rate_limit: limit,
            rate_limit_remaining: remaining,
            rate_limit_reset: reset,
            ..ResponseMeta::default()
        }
    }

    /// A pacer that has heard these headers, with nothing in flight.
    fn heard(meta: &ResponseMeta) -> Pacer {
        let pacer = Pacer::default();
        take(&pacer, SystemTime::now(), 1);
        pacer.observe(Some(meta));
        pacer
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_far_in_the_future_holds_a_request_only_as_long_as_allowed() {
        let day = SystemTime::now() + Duration::from_secs(24 * 3600);
        let pacer = heard(&answer(0, day));
        let (permit, held) = pacer.acquire(Duration::from_secs(60)).await;
        assert_eq!(held, Duration::from_secs(60));
        assert_eq!(pacer.snapshot().in_flight, 1);
        drop(permit);
        assert_eq!(pacer.snapshot().in_flight, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_limit_of_zero_is_not_believed() {
        let past = SystemTime::now() - Duration::from_secs(3600);
        let pacer = heard(&meta(Some(0), Some(0), Some(past)));
        let (_permit, held) = pacer.acquire(Duration::from_secs(60)).await;
        assert_eq!(held, Duration::ZERO);
        assert_eq!(pacer.snapshot().limit, None);
    }

    #[test]
    fn more_remaining_than_the_limit_counts_as_the_limit() {
        let reset = SystemTime::now() + Duration::from_secs(60);
        let pacer = heard(&meta(Some(50), Some(u64::MAX), Some(reset)));
        assert_eq!(pacer.snapshot().available, Some(50));
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_with_no_known_reset_holds_only_as_long_as_allowed() {
        // Spent, and the window it was spent in has passed: no reset is known any more.
        let soon = SystemTime::now() + Duration::from_millis(1);
        let pacer = heard(&meta(None, Some(0), Some(soon)));
        std::thread::sleep(Duration::from_millis(5));
        let (_permit, held) = pacer.acquire(Duration::from_secs(3)).await;
        assert_eq!(
            held,
            Duration::ZERO,
            "the window rolled over and had no limit"
        );
        // The first answer not heard yet, and the probe still out: the next one waits for it,
        // but no longer than allowed.
        let fresh = Pacer::default();
        let (_probe, _) = fresh.acquire(Duration::from_secs(3)).await;
        let (_next, held) = fresh.acquire(Duration::from_secs(3)).await;
        assert_eq!(held, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_lets_the_next_request_go() {
        let pacer = Pacer::default();
        let (probe, _) = pacer.acquire(Duration::from_secs(60)).await;
        let waiting = tokio::spawn({
            let pacer = pacer.clone();
            async move { pacer.acquire(Duration::from_secs(60)).await.1 }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(probe);
        let held = waiting.await.unwrap();
        assert_eq!(
            held,
            Duration::from_secs(1),
            "woken by the drop, not the limit"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_dropped_while_held_takes_nothing_from_the_budget() {
        let reset = SystemTime::now() + Duration::from_secs(3600);
        let pacer = heard(&answer(0, reset));
        let held = pacer.acquire(Duration::from_secs(60));
        assert!(tokio::time::timeout(Duration::from_secs(1), held)
            .await
            .is_err());
        assert_eq!(pacer.snapshot().in_flight, 0);
        assert_eq!(pacer.snapshot().available, Some(0));
    }

    #[test]
    fn a_reset_beyond_the_longest_wait_is_capped() {
        let policy = RetryPolicy::default().max_delay(Duration::from_millis(300));
        let error = Error::RateLimited {
            reset_at: Some(SystemTime::now() + Duration::from_secs(30)),
            retry_after: None,
            request_id: None,
        };
        let wait = policy.wait(1, &error, Instant::now(), 0.5);
        assert_eq!(wait, Some(Duration::from_millis(300)));
        let error = Error::RateLimited {
            reset_at: None,
            retry_after: Some(Duration::from_secs(u64::MAX / 4)),
            request_id: None,
        };
        let wait = policy.wait(1, &error, Instant::now(), 0.5);
        assert_eq!(wait, Some(Duration::from_millis(300)));
    }

    #[test]
    fn the_hold_limit_is_the_longest_wait_within_what_the_budget_has_left() {
        let policy = RetryPolicy::default()
            .max_delay(Duration::from_secs(60))
            .budget(Some(Duration::from_secs(100)));
        let now = Instant::now();
        assert_eq!(policy.hold_limit(now), Duration::from_secs(60));
        let long_ago = now - Duration::from_secs(90);
        let left = policy.hold_limit(long_ago);
        assert!(
            left <= Duration::from_secs(10) && left > Duration::from_secs(9),
            "{left:?}"
        );
        assert_eq!(
            policy.hold_limit(now - Duration::from_secs(200)),
            Duration::ZERO
        );
        assert_eq!(
            policy.budget(None).hold_limit(long_ago),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn no_rate_limit_headers_mean_no_pacing() {
        let pacer = Pacer::default();
        let now = SystemTime::UNIX_EPOCH;
        take(&pacer, now, 1);
        pacer.observe(Some(&ResponseMeta::default()));
        take(&pacer, now, 1000);
        // A failed attempt with no answer lets the next probe go when nothing was heard yet.
        let fresh = Pacer::default();
        take(&fresh, now, 1);
        fresh.observe(None);
        take(&fresh, now, 1);
    }
}
