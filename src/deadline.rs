//! Request timeouts on timers that stay registered between requests.
//!
//! Registering a new tokio timer wakes the runtime's driver (a system call) whenever no earlier
//! timer is pending, which one request at a time is every request. Moving a registered timer
//! to a later deadline does not. So the client keeps the timers of finished requests, still
//! registered, and moves them to the next requests' deadlines.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::runtime::{Handle, Id};
use tokio::time::{Instant, Sleep};

/// More timers than this are not kept: a burst of concurrency does not hold memory for ever.
const KEPT: usize = 256;

/// Timers of finished requests, ready for the next ones.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    idle: Mutex<Vec<Timer>>,
}

#[derive(Debug)]
struct Timer {
    /// A timer belongs to the runtime it was made on, and works only while that one runs.
    runtime: Id,
    sleep: Pin<Box<Sleep>>,
}

impl Timers {
    /// Runs `future` for at most `timeout`: `None` when the time ran out first.
    pub(crate) async fn within<F: Future>(
        &self,
        timeout: Duration,
        future: F,
    ) -> Option<F::Output> {
        let deadline = Instant::now() + timeout;
        let mut timer = self.take(deadline);
        let mut future = pin!(future);
        let output = std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            timer.sleep.as_mut().poll(cx).map(|()| None)
        })
        .await;
        self.keep(timer);
        output
    }

    /// A kept timer of this runtime moved to `deadline`, or a new one.
    fn take(&self, deadline: Instant) -> Timer {
        let runtime = Handle::current().id();
        let kept = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            // Timers of other runtimes (of tests, say, each with its own) are dropped.
            while idle.last().is_some_and(|t| t.runtime != runtime) {
                idle.pop();
            }
            idle.pop()
        };
        match kept {
            Some(mut timer) => {
                timer.sleep.as_mut().reset(deadline);
                timer
            }
            None => Timer {
                runtime,
                sleep: Box::pin(tokio::time::sleep_until(deadline)),
            },
        }
    }

    /// Keeps a timer for the next request. It stays registered until its deadline, but wakes
    /// nothing: the finished request's waker is swapped for one that does nothing.
    fn keep(&self, mut timer: Timer) {
        if timer.sleep.is_elapsed() {
            return;
        }
        let _ = timer
            .sleep
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEPT {
            idle.push(timer);
        }
    }
}

// The async tests run on tokio's paused clock: timers fire in deadline order, however loaded
// the machine is.
#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[tokio::test(start_paused = true)]
    async fn a_future_that_ends_in_time_gives_its_output_and_its_timer_is_kept() {
        let timers = Timers::default();
        assert_eq!(timers.within(ms(5000), async { 7 }).await, Some(7));
        assert_eq!(timers.idle.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_future_slower_than_the_timeout_is_cut_off() {
        let timers = Timers::default();
        let started = Instant::now();
        let slow = tokio::time::sleep(ms(10_000));
        assert_eq!(timers.within(ms(50), slow).await, None);
        let took = started.elapsed();
        assert!(took >= ms(50) && took < ms(5000), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_timer_counts_from_its_new_start_not_its_old_one() {
        let timers = Timers::default();
        assert_eq!(timers.within(ms(300), async {}).await, Some(()));
        tokio::time::sleep(ms(200)).await;
        // The kept timer would end 100 ms from now; moved, it ends 300 ms from now.
        let in_time = tokio::time::sleep(ms(200));
        assert_eq!(timers.within(ms(300), in_time).await, Some(()));
        let started = Instant::now();
        let slow = tokio::time::sleep(ms(10_000));
        assert_eq!(timers.within(ms(300), slow).await, None);
        assert!(started.elapsed() >= ms(300));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_that_fired_is_not_kept_and_a_kept_one_that_expires_breaks_nothing() {
        let timers = Timers::default();
        let slow = tokio::time::sleep(ms(10_000));
        assert_eq!(timers.within(ms(20), slow).await, None);
        assert!(timers.idle.lock().unwrap().is_empty());
        assert_eq!(timers.within(ms(50), async {}).await, Some(()));
        // Its deadline passes while it is kept: it wakes nothing, and it is not handed out as
        // already fired.
        tokio::time::sleep(ms(150)).await;
        let in_time = tokio::time::sleep(ms(50));
        assert_eq!(timers.within(ms(1000), in_time).await, Some(()));
    }

    #[test]
    fn timers_of_a_runtime_that_is_gone_are_not_used() {
        let timers = Timers::default();
        for _ in 0..3 {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            // A timer of the runtime before would never fire: this one must.
            let slow = async { tokio::time::sleep(ms(10_000)).await };
            runtime.block_on(async {
                assert_eq!(timers.within(ms(20), slow).await, None);
                assert_eq!(timers.within(ms(5000), async {}).await, Some(()));
            });
            drop(runtime);
            assert_eq!(timers.idle.lock().unwrap().len(), 1);
        }
    }
}
