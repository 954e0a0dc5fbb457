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
#[derive(Debug, Clone, Default)]
pub(crate) struct Pacer {
    state: Arc<Mutex<Budget>>,
    answered: Arc<tokio::sync::Notify>,
}

#[derive(Debug, Default)]
struct Budget {
    /// Whether any answer has come back yet. Until one does, the budget is unknown and one
    /// request at a time goes out, so that a burst at start-up cannot overrun a small limit.
    heard: bool,
    /// Requests allowed per window (`x-ratelimit-limit`).
    limit: Option<u64>,
    /// Requests left in the current window, less the ones sent since Plain said so.
    remaining: Option<u64>,
    /// When the current window ends (`x-ratelimit-reset`).
    reset_at: Option<SystemTime>,
    /// Requests sent and not answered yet.
    in_flight: u64,
}

/// What a request waiting for the budget does next.
enum Step {
    Go,
    AwaitFirstAnswer,
    Sleep(Duration),
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
            let first_answer = self.answered.notified();
            let step = self.try_take(SystemTime::now());
            match step {
                Step::Go => return waited,
                Step::AwaitFirstAnswer => first_answer.await,
                Step::Sleep(wait) => {
                    waited += wait;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Takes one request from the budget if it allows, or says what to wait for.
    fn try_take(&self, now: SystemTime) -> Step {
        let mut budget = self.budget();
        if !budget.heard && budget.in_flight > 0 {
            return Step::AwaitFirstAnswer;
        }
        if budget.reset_at.is_some_and(|reset| now >= reset) {
            // A new window: Plain's limit applies afresh.
            budget.reset_at = None;
            budget.remaining = budget.limit;
        }
        match budget.remaining {
            Some(0) => {
                return Step::Sleep(match budget.reset_at {
                    Some(reset) => reset.duration_since(now).unwrap_or_default() + RESET_MARGIN,
                    None => UNKNOWN_RESET_POLL,
                })
            }
            Some(left) => budget.remaining = Some(left - 1),
            None => {}
        }
        budget.in_flight += 1;
        Step::Go
    }

    /// Takes in what an answer's headers say (or that no answer came).
    pub(crate) fn observe(&self, meta: Option<&ResponseMeta>) {
        let mut budget = self.budget();
        budget.in_flight = budget.in_flight.saturating_sub(1);
        let Some(meta) = meta else {
            if !budget.heard {
                // No answer: let the next request probe.
                drop(budget);
                self.answered.notify_waiters();
            }
            return;
        };
        if !budget.heard {
            budget.heard = true;
            self.answered.notify_waiters();
        }
        if meta.rate_limit.is_some() {
            budget.limit = meta.rate_limit;
        }
        let (Some(remaining), Some(reset)) = (meta.rate_limit_remaining, meta.rate_limit_reset)
        else {
            return;
        };
        let newer = budget.reset_at.is_none_or(|known| reset > known);
        let same = budget.reset_at == Some(reset);
        if newer {
            // A window we had not heard of: what Plain counted, less what is still on its way.
            budget.reset_at = Some(reset);
            budget.remaining = Some(remaining.saturating_sub(budget.in_flight));
        } else if same {
            let known = budget.remaining.unwrap_or(remaining);
            budget.remaining = Some(known.min(remaining.saturating_sub(budget.in_flight)));
        }
    }

    /// What the client knows of the budget: requests left and when the window ends.
    pub(crate) fn snapshot(&self) -> (Option<u64>, Option<SystemTime>) {
        let budget = self.budget();
        (budget.remaining, budget.reset_at)
    }
}
