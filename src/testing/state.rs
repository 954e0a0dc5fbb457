//! What the local server's request handling shares: its key and schema, and behind one lock
//! its store, scripted answers, faults, rate limit, request log, counts, registered answers and
//! import faults.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::deliveries::Deliveries;
use super::graphql::registered::Answers;
use super::import_faults::ImportFaults;
use super::rate_limit::{RateLimit, Window};
use super::request_log::RequestLog;
use super::scripted::ScriptedAnswer;
use super::store::Store;
use crate::rng::Rng;
use crate::schema_check::Schema;

/// Counts of what the server answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ServerStats {
    /// Requests received.
    pub requests: u64,
    /// Answers with status 429.
    pub rate_limited: u64,
    /// Injected faults (scripted or random).
    pub faults: u64,
    /// TCP connections accepted.
    pub connections: u64,
    /// Rate-limit windows in which requests were counted: a client that uses each window's
    /// whole budget needs the fewest.
    pub rate_limit_windows: u64,
    /// The most requests the server was handling at one time.
    pub most_concurrent: u64,
}

/// What changes from request to request.
pub(super) struct State {
    pub(super) store: Store,
    pub(super) scripted: VecDeque<ScriptedAnswer>,
    pub(super) failure_rate: f64,
    pub(super) fault_rng: Rng,
    pub(super) delay: Duration,
    pub(super) rate_limit: Option<RateLimit>,
    pub(super) window: Window,
    pub(super) log: RequestLog,
    pub(super) stats: ServerStats,
    /// Requests being handled now.
    pub(super) handling: u64,
    pub(super) next_request: u64,
    /// Answers registered for operations, by name.
    pub(super) answers: Answers,
    /// The faults scripted for the next `importCustomers` requests.
    pub(super) import_faults: ImportFaults,
}

/// What the server's tasks share: its settings, and its [`State`] behind a lock.
pub(super) struct Shared {
    pub(super) api_key: Option<String>,
    /// The schema requests are validated against, when not the vendored one.
    pub(super) schema: Option<Schema>,
    pub(super) started: SystemTime,
    pub(super) instance: String,
    pub(super) state: Mutex<State>,
    /// Where the server's changes are delivered as webhook events, if anywhere.
    pub(super) webhooks: Option<Deliveries>,
}

impl Shared {
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
