//! A circuit breaker for outages: when most recent records failed transiently (server errors,
//! broken connections, after their retries), the whole sync waits instead of every record
//! burning its retries at full speed.
//!
//! Pure: the time is passed in, so the tests need no clock.
//!
//! - **Closed**: records go. It trips when [`TRIP_FAILURES`] of the last [`WINDOW`] finished
//!   records failed transiently.
//! - **Open**: no record goes, for a cool-down of [`FIRST_COOL_DOWN`], doubled at every trip in
//!   a row, at most [`MAX_COOL_DOWN`].
//! - **Half-open**: after the cool-down, exactly one record goes. Its success closes the
//!   breaker (and the cool-down starts again from the first); its transient failure opens it
//!   again.
//!
//! The time spent open (from a trip to the close) adds up over the run; the sync gives up when
//! the next cool-down would take it past the limit.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::Error;

/// How many of the last finished records are looked at.
pub const WINDOW: usize = 10;
/// How many of them must have failed transiently for the breaker to trip.
pub const TRIP_FAILURES: usize = 8;
/// The first cool-down.
pub const FIRST_COOL_DOWN: Duration = Duration::from_secs(1);
/// The longest cool-down.
pub const MAX_COOL_DOWN: Duration = Duration::from_secs(60);

/// How a sent record ended, as the breaker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Plain answered (a success).
    Success,
    /// A failure that says Plain or the way to it is down: a server error or a transport
    /// failure, after retries.
    Transient,
    /// Any other failure (bad input, a rejected mutation, a rate limit): not an outage.
    Other,
}

/// Whether a record may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Send it; `probe` when it is the one record of the half-open state.
    Go { probe: bool },
    /// Send nothing before this time.
    WaitUntil(Instant),
    /// Send nothing until the probe in flight has ended.
    WaitForProbe,
    /// The outage lasted too long: stop the sync.
    GiveUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probe_sent: bool },
}

/// The breaker's state.
#[derive(Debug)]
pub struct Breaker {
    state: State,
    /// The last finished records, newest last: `true` for a transient failure.
    recent: VecDeque<bool>,
    /// Trips in a row without a success in between.
    trips: u32,
    /// When the current outage began (the first trip since the breaker was last closed).
    outage_began: Option<Instant>,
    /// Time spent open in earlier outages.
    open_before: Duration,
    /// The most time it may spend open in all.
    limit: Duration,
    gave_up: bool,
}

impl Breaker {
    /// A closed breaker that gives up after `limit` spent open in all.
    pub fn new(limit: Duration) -> Self {
        Self {
            state: State::Closed,
            recent: VecDeque::with_capacity(WINDOW),
            trips: 0,
            outage_began: None,
            open_before: Duration::ZERO,
            limit,
            gave_up: false,
        }
    }

    /// Whether a record may be sent at `now`, changing nothing: [`Breaker::admit`] at the same
    /// or a later time says the same until a record finishes.
    pub fn peek(&self, now: Instant) -> Gate {
        if self.gave_up {
            return Gate::GiveUp;
        }
        match self.state {
            State::Closed => Gate::Go { probe: false },
            State::Open { until } if now < until => Gate::WaitUntil(until),
            State::Open { .. } | State::HalfOpen { probe_sent: false } => Gate::Go { probe: true },
            State::HalfOpen { probe_sent: true } => Gate::WaitForProbe,
        }
    }

    /// Whether a record may be sent at `now`. A `Go { probe: true }` is given once per
    /// half-open state: the caller must send that record and report it with `probe` set.
    pub fn admit(&mut self, now: Instant) -> Gate {
        let gate = self.peek(now);
        if let Gate::Go { probe: true } = gate {
            self.state = State::HalfOpen { probe_sent: true };
        }
        gate
    }

    /// A sent record ended at `now`; `probe` as [`Breaker::admit`] said when it was sent.
    pub fn finished(&mut self, outcome: Outcome, probe: bool, now: Instant) {
        if self.gave_up {
            return;
        }
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(outcome == Outcome::Transient);
        match self.state {
            State::Closed => {
                if self.recent.iter().filter(|&&t| t).count() >= TRIP_FAILURES {
                    self.outage_began = Some(now);
                    self.trip(now);
                }
            }
            // Records sent before the trip end while it is open: only the probe decides.
            State::Open { .. } | State::HalfOpen { .. } if !probe => {}
            State::Open { .. } | State::HalfOpen { .. } => match outcome {
                Outcome::Success => self.close(now),
                Outcome::Transient => self.trip(now),
                // Neither up nor down: let another record probe.
                Outcome::Other => self.state = State::HalfOpen { probe_sent: false },
            },
        }
    }

    /// Whether the breaker gave up.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// How long it has been open in all, up to `now`.
    pub fn open_for(&self, now: Instant) -> Duration {
        self.open_before
            + self
                .outage_began
                .map_or(Duration::ZERO, |began| now.saturating_duration_since(began))
    }

    fn trip(&mut self, now: Instant) {
        let cool_down = FIRST_COOL_DOWN
            .saturating_mul(1 << self.trips.min(16))
            .min(MAX_COOL_DOWN);
        self.trips += 1;
        if self.open_for(now) + cool_down > self.limit {
            self.gave_up = true;
            return;
        }
        self.state = State::Open {
            until: now + cool_down,
        };
    }

    fn close(&mut self, now: Instant) {
        self.open_before = self.open_for(now);
        self.outage_began = None;
        self.trips = 0;
        self.recent.clear();
        self.state = State::Closed;
    }
}

/// Whether a failure says Plain or the way to it is down: a retryable failure that is not
/// the rate limit (which the client paces by itself).
pub(super) fn is_outage(error: &Error) -> bool {
    error.is_retryable() && !error.is_rate_limited()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(900);

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// A breaker, tripped at `t0` by eight transient failures.
    fn tripped(t0: Instant) -> Breaker {
        let mut breaker = Breaker::new(LIMIT);
        for _ in 0..8 {
            assert_eq!(breaker.admit(t0), Gate::Go { probe: false });
            breaker.finished(Outcome::Transient, false, t0);
        }
        breaker
    }

    #[test]
    fn it_trips_at_eight_transient_failures_of_the_last_ten() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(LIMIT);
        // Seven of ten: it stays closed.
        for outcome in [Outcome::Success, Outcome::Other, Outcome::Other]
            .into_iter()
            .chain([Outcome::Transient; 7])
        {
            breaker.finished(outcome, false, t0);
            assert_eq!(breaker.admit(t0), Gate::Go { probe: false });
        }
        // The success leaves the window as the eighth failure comes in.
        breaker.finished(Outcome::Transient, false, t0);
        assert_eq!(breaker.admit(t0), Gate::WaitUntil(t0 + secs(1.0)));
    }

    #[test]
    fn failures_spread_wider_than_the_window_do_not_trip_it() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(LIMIT);
        for i in 0..100 {
            let outcome = if i % 3 == 0 {
                Outcome::Success
            } else {
                Outcome::Transient
            };
            breaker.finished(outcome, false, t0);
            assert_eq!(breaker.admit(t0), Gate::Go { probe: false }, "after {i}");
        }
    }

    #[test]
    fn after_the_cool_down_exactly_one_record_goes() {
        let t0 = Instant::now();
        let mut breaker = tripped(t0);
        assert_eq!(
            breaker.admit(t0 + secs(0.5)),
            Gate::WaitUntil(t0 + secs(1.0))
        );
        assert_eq!(breaker.admit(t0 + secs(1.0)), Gate::Go { probe: true });
        assert_eq!(breaker.admit(t0 + secs(1.1)), Gate::WaitForProbe);
        // A record sent before the trip ends: it changes nothing.
        breaker.finished(Outcome::Success, false, t0 + secs(1.2));
        assert_eq!(breaker.admit(t0 + secs(1.2)), Gate::WaitForProbe);
        breaker.finished(Outcome::Success, true, t0 + secs(1.5));
        assert_eq!(breaker.admit(t0 + secs(1.5)), Gate::Go { probe: false });
        assert_eq!(breaker.open_for(t0 + secs(9.0)), secs(1.5));
    }

    #[test]
    fn the_cool_down_doubles_while_probes_fail_up_to_a_minute() {
        let t0 = Instant::now();
        let mut breaker = tripped(t0);
        let mut now = t0;
        let mut cool_downs = Vec::new();
        for _ in 0..9 {
            let Gate::WaitUntil(until) = breaker.admit(now) else {
                panic!("not open")
            };
            cool_downs.push((until - now).as_secs());
            now = until;
            assert_eq!(breaker.admit(now), Gate::Go { probe: true });
            breaker.finished(Outcome::Transient, true, now);
        }
        assert_eq!(cool_downs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn a_success_resets_the_doubling() {
        let t0 = Instant::now();
        let mut breaker = tripped(t0);
        breaker.admit(t0 + secs(1.0));
        breaker.finished(Outcome::Transient, true, t0 + secs(1.0));
        assert_eq!(breaker.admit(t0 + secs(3.0)), Gate::Go { probe: true });
        breaker.finished(Outcome::Success, true, t0 + secs(3.0));
        // Closed, with an empty window: it takes eight new failures to trip again, and the
        // cool-down is the first one again.
        let t1 = t0 + secs(10.0);
        for _ in 0..7 {
            breaker.finished(Outcome::Transient, false, t1);
        }
        assert_eq!(breaker.admit(t1), Gate::Go { probe: false });
        breaker.finished(Outcome::Transient, false, t1);
        assert_eq!(breaker.admit(t1), Gate::WaitUntil(t1 + secs(1.0)));
    }

    #[test]
    fn a_probe_that_fails_for_another_reason_lets_another_probe_go() {
        let t0 = Instant::now();
        let mut breaker = tripped(t0);
        assert_eq!(breaker.admit(t0 + secs(1.0)), Gate::Go { probe: true });
        breaker.finished(Outcome::Other, true, t0 + secs(1.1));
        assert_eq!(breaker.admit(t0 + secs(1.1)), Gate::Go { probe: true });
        assert_eq!(breaker.admit(t0 + secs(1.1)), Gate::WaitForProbe);
    }

    #[test]
    fn it_gives_up_when_the_next_cool_down_would_pass_the_limit() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(secs(7.0));
        for _ in 0..8 {
            breaker.finished(Outcome::Transient, false, t0);
        }
        // Open 1 s, then 2 s, then 4 s would make 7 s: allowed; the next (8 s) is not.
        let mut now = t0;
        for _ in 0..3 {
            let Gate::WaitUntil(until) = breaker.admit(now) else {
                panic!("not open")
            };
            now = until;
            breaker.admit(now);
            breaker.finished(Outcome::Transient, true, now);
        }
        assert_eq!(breaker.admit(now), Gate::GiveUp);
        assert!(breaker.gave_up());
        assert_eq!(breaker.open_for(now), secs(7.0));
    }

    #[test]
    fn a_limit_of_zero_gives_up_at_the_first_trip() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(Duration::ZERO);
        for _ in 0..7 {
            breaker.finished(Outcome::Transient, false, t0);
        }
        assert_eq!(breaker.admit(t0), Gate::Go { probe: false });
        breaker.finished(Outcome::Transient, false, t0);
        assert_eq!(breaker.admit(t0), Gate::GiveUp);
    }

    #[test]
    fn time_open_adds_up_over_outages() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(secs(2.5));
        for round in 0..2 {
            let start = t0 + secs(100.0 * f64::from(round));
            for _ in 0..8 {
                breaker.finished(Outcome::Transient, false, start);
            }
            assert_eq!(breaker.admit(start + secs(1.0)), Gate::Go { probe: true });
            breaker.finished(Outcome::Success, true, start + secs(1.0));
        }
        // 2 s open so far; the next outage's first cool-down (1 s) would make 3 s.
        let start = t0 + secs(300.0);
        for _ in 0..8 {
            breaker.finished(Outcome::Transient, false, start);
        }
        assert_eq!(breaker.admit(start), Gate::GiveUp);
    }
}
