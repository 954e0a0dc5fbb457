//! Plain's per-workspace rate limit as the local server applies it: so many requests per
//! fixed window, the windows counted from the server's start, told in `x-ratelimit-*` headers;
//! and the shape of the times Plain writes, as `x-ratelimit-reset` carries them.

use std::time::{Duration, SystemTime};

/// `limit` requests per `window`.
#[derive(Debug, Clone, Copy)]
pub(super) struct RateLimit {
    pub(super) limit: u64,
    pub(super) window: Duration,
}

/// The window requests are being counted in.
#[derive(Debug, Default)]
pub(super) struct Window {
    index: u64,
    count: u64,
}

/// What the rate limit says of one request.
pub(super) struct Verdict {
    /// `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset`.
    pub(super) headers: [(String, String); 3],
    /// Over the limit: the answer is a 429.
    pub(super) over: bool,
    /// The first request counted in its window.
    pub(super) opens_window: bool,
}

impl Window {
    /// Counts a request made at `now` against `limit`, on a server started at `started`.
    pub(super) fn count(
        &mut self,
        limit: RateLimit,
        started: SystemTime,
        now: SystemTime,
    ) -> Verdict {
        let elapsed = now.duration_since(started).unwrap_or_default();
        let window_nanos = limit.window.as_nanos().max(1);
        let index = (elapsed.as_nanos() / window_nanos) as u64;
        if index != self.index {
            self.index = index;
            self.count = 0;
        }
        let reset = started + limit.window * (index as u32 + 1);
        let over = self.count >= limit.limit;
        let opens_window = !over && self.count == 0;
        if !over {
            self.count += 1;
        }
        Verdict {
            headers: [
                ("x-ratelimit-limit".into(), limit.limit.to_string()),
                (
                    "x-ratelimit-remaining".into(),
                    (limit.limit - self.count).to_string(),
                ),
                (
                    "x-ratelimit-reset".into(),
                    crate::time::format_rfc3339(reset),
                ),
            ],
            over,
            opens_window,
        }
    }

    /// Starts the current window's count over, as for a new limit.
    pub(super) fn start_over(&mut self) {
        self.count = 0;
    }
}

/// Formats a time as Plain writes `x-ratelimit-reset`: `2026-01-06T15:30:00.000Z`. For
/// scripting answers such as a 429 whose window ends at a given time.
pub fn format_timestamp(time: SystemTime) -> String {
    crate::time::format_rfc3339(time)
}

/// Parses a time in the shape Plain uses (`2026-01-06T15:30:00.000Z`), as found in
/// `x-ratelimit-reset` or a `DateTime`'s `iso8601`.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    crate::time::parse_rfc3339_utc(text)
}
