//! Retrying what can succeed later, and pacing requests to Plain's rate limit.
//!
//! Retrying `upsertCustomer` is safe because it is idempotent: sending the same input again
//! finds the customer the first attempt created or updated and answers `NOOP` (or the same
//! change), never a duplicate. Every operation this client sends today is an upsert. A future
//! operation that is not idempotent (one that creates a thread or sends a message, say) must
//! be sent with `Idempotency::NotIdempotent`, which never retries once a request may have
//! reached Plain.

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

/// Whether sending a request twice is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub(crate) enum Idempotency {
    /// Sending it again has the same effect as sending it once (`upsertCustomer`).
    Idempotent,
    /// Sending it again may repeat its effect: retried only when it surely did not reach Plain.
    NotIdempotent,
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

    /// Waits until the budget allows one more request, and takes it.
    pub(crate) async fn acquire(&self) -> Duration {
        let mut waited = Duration::ZERO;
        loop {
            // Made before looking at the budget, so that no answer in between is missed.
            let answered = self.answered.notified();
            let step = self.try_take(SystemTime::now());
            match step {
                Step::Go => return waited,
                Step::AwaitAnswer => answered.await,
                Step::AwaitAnswerOrSleep(wait) => {
                    let started = Instant::now();
                    let sleep = std::pin::pin!(tokio::time::sleep(wait));
                    let answered = std::pin::pin!(answered);
                    futures_util::future::select(answered, sleep).await;
                    waited += started.elapsed();
                }
            }
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

    /// Takes in what an answer's headers say (or that no answer came).
    pub(crate) fn observe(&self, meta: Option<&ResponseMeta>) {
        let mut budget = self.budget();
        budget.in_flight = budget.in_flight.saturating_sub(1);
        if let Some(meta) = meta {
            budget.heard = true;
            if meta.rate_limit.is_some() {
                budget.limit = meta.rate_limit;
            }
            if let (Some(remaining), Some(reset)) =
                (meta.rate_limit_remaining, meta.rate_limit_reset)
            {
                let known = budget.reset_at;
                if known.is_none_or(|known| reset > known) {
                    // A window not heard of before.
                    budget.reset_at = Some(reset);
                    budget.rolled_over = false;
                    budget.remaining = Some(remaining);
                } else if known == Some(reset) && !budget.rolled_over {
                    let lowest = budget.remaining.unwrap_or(remaining).min(remaining);
                    budget.remaining = Some(lowest);
                }
                // Otherwise the answer is from a window that has passed.
            }
        }
        drop(budget);
        self.answered.notify_waiters();
    }

    /// What the client knows of the budget: requests that can go out now and when the
    /// window ends.
    pub(crate) fn snapshot(&self) -> (Option<u64>, Option<SystemTime>) {
        let budget = self.budget();
        (budget.available(), budget.reset_at)
    }
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
        assert_eq!(pacer.snapshot(), (Some(49), Some(reset)));
    }

    #[test]
    fn answers_taken_in_out_of_order_leave_no_budget_unused() {
        let pacer = Pacer::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let reset = now + Duration::from_secs(2);
        take(&pacer, now, 1);
        pacer.observe(Some(&answer(49, reset)));
        take(&pacer, now, 8);
        assert_eq!(pacer.snapshot().0, Some(41));
        // Plain counted the eight as 48 down to 41; the last counted is read first.
        for remaining in [41, 48, 47, 46, 45, 44, 43, 42] {
            pacer.observe(Some(&answer(remaining, reset)));
        }
        assert_eq!(pacer.snapshot().0, Some(41));
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
        assert_eq!(pacer.snapshot().0, Some(1));
        take(&pacer, later, 1);
        assert!(matches!(pacer.try_take(later), Step::AwaitAnswerOrSleep(_)));
        // The new window's first answer takes over.
        pacer.observe(Some(&answer(0, reset + Duration::from_secs(2))));
        assert_eq!(
            pacer.snapshot(),
            (Some(0), Some(reset + Duration::from_secs(2)))
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
