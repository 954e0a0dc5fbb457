//! A running local server: its address and key, clients for it, what it was sent and holds,
//! its counts, and the faults (import faults included), delay and rate limit it applies,
//! changed while it runs.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::deliveries::{Deliveries, DeliveryAttempt, WebhookStats};
use super::graphql::registered::AnswerFn;
use super::import_faults::ImportFault;
use super::rate_limit::RateLimit;
use super::request_log::{LogEntry, LoggedRequest};
use super::scripted::ScriptedAnswer;
use super::state::{ServerStats, Shared};
use super::store::records::{StoredCustomer, StoredCustomerGroup, StoredTenant};
use crate::client::{PlainClient, PlainClientBuilder};
use crate::error::Result;
use crate::rng::Rng;

/// A running local server; it stops when dropped.
pub struct LocalServer {
    pub(super) endpoint: String,
    pub(super) address: SocketAddr,
    pub(super) shared: Arc<Shared>,
    pub(super) task: tokio::task::JoinHandle<()>,
    pub(super) webhook_task: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalServer")
            .field("endpoint", &self.endpoint)
            .field(
                "api_key",
                &self.shared.api_key.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(task) = &self.webhook_task {
            task.abort();
        }
    }
}

impl LocalServer {
    /// The GraphQL endpoint, such as `http://127.0.0.1:41234/graphql/v1`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The API key requests must carry, if the server checks one.
    pub fn api_key(&self) -> Option<&str> {
        self.shared.api_key.as_deref()
    }

    /// A client for this server, with its key.
    pub fn client(&self) -> Result<PlainClient> {
        self.client_builder().build()
    }

    /// A client builder set up for this server, to change other settings.
    pub fn client_builder(&self) -> PlainClientBuilder {
        PlainClient::builder()
            .endpoint(self.endpoint.clone())
            .api_key(self.api_key().unwrap_or("plainApiKey_local"))
    }

    /// Queues answers for the next requests, in order. A request without the right key is
    /// refused before it reaches them.
    pub fn script(&self, answers: impl IntoIterator<Item = ScriptedAnswer>) {
        self.shared.state().scripted.extend(answers);
    }

    /// Answers the `nth` `importCustomers` request from now (1 for the next one) as `fault`
    /// says, in place of any fault scripted for it: see [`ImportFault`]. The requests before
    /// it with no fault are served as usual.
    ///
    /// # Panics
    ///
    /// When `nth` is 0.
    pub fn script_import(&self, nth: usize, fault: ImportFault) {
        self.shared.state().import_faults.put(nth, fault);
    }

    /// Answers the operation named `operation` from now on: see
    /// [`LocalServerBuilder::answer`].
    ///
    /// [`LocalServerBuilder::answer`]: crate::testing::LocalServerBuilder::answer
    pub fn answer<F>(&self, operation: impl Into<String>, answer: F)
    where
        F: Fn(&serde_json::Value) -> serde_json::Value + Send + Sync + 'static,
    {
        let answer: AnswerFn = Arc::new(answer);
        self.shared.state().answers.insert(operation.into(), answer);
    }

    /// Changes the share of requests answered with a transient failure.
    pub fn set_failure_rate(&self, rate: f64, seed: u64) {
        let mut state = self.shared.state();
        state.failure_rate = rate.clamp(0.0, 1.0);
        state.fault_rng = Rng::new(seed);
    }

    /// Changes the delay before every answer.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.state().delay = delay;
    }

    /// Changes the rate limit (`None` for none); the current window starts over.
    pub fn set_rate_limit(&self, limit: Option<(u64, Duration)>) {
        let mut state = self.shared.state();
        state.rate_limit = limit.map(|(limit, window)| RateLimit { limit, window });
        state.window.start_over();
    }

    /// Every request so far (the newest ones, with a log limit), in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        let log: Vec<LogEntry> = self.shared.state().log.entries();
        // Bodies are parsed out of the lock, so reading the log does not hold up requests.
        log.into_iter().map(LogEntry::into_logged).collect()
    }

    /// The id of the workspace the server is, as `myWorkspace` answers it: the one given to
    /// [`LocalServerBuilder::workspace_id`], or the server's own random one.
    ///
    /// [`LocalServerBuilder::workspace_id`]: crate::testing::LocalServerBuilder::workspace_id
    pub fn workspace_id(&self) -> String {
        self.shared.state().store.workspace().id.clone()
    }

    /// Every customer, in the order they were created (deleted ones gone), each with the ids
    /// of its customer groups.
    pub fn customers(&self) -> Vec<StoredCustomer> {
        self.shared.state().store.customers().to_vec()
    }

    /// Every tenant, in the order they were created (by `importCustomers`), each with its
    /// `te_...` id; [`StoredCustomer::tenant_ids`] says who belongs to which.
    pub fn tenants(&self) -> Vec<StoredTenant> {
        self.shared.state().store.tenants().to_vec()
    }

    /// Every customer group, in the order they were given to the builder.
    pub fn customer_groups(&self) -> Vec<StoredCustomerGroup> {
        self.shared.state().store.customer_groups().to_vec()
    }

    /// Counts of what the server answered.
    pub fn stats(&self) -> ServerStats {
        self.shared.state().stats
    }

    /// The webhook targets ([`LocalServerBuilder::webhook`]): each one's id, as
    /// `Plain-Webhook-Target-Id` carries it, and its URL.
    ///
    /// [`LocalServerBuilder::webhook`]: crate::testing::LocalServerBuilder::webhook
    pub fn webhook_targets(&self) -> Vec<(String, String)> {
        let webhooks = self.shared.webhooks.as_ref();
        webhooks.map(Deliveries::targets).unwrap_or_default()
    }

    /// Counts of the webhook deliveries so far.
    pub fn webhook_stats(&self) -> WebhookStats {
        let webhooks = self.shared.webhooks.as_ref();
        webhooks.map(Deliveries::stats).unwrap_or_default()
    }

    /// The webhook delivery attempts so far (the newest [`limits::WEBHOOK_LOG`]), in the
    /// order they ended.
    ///
    /// [`limits::WEBHOOK_LOG`]: crate::testing::limits::WEBHOOK_LOG
    pub fn webhook_attempts(&self) -> Vec<DeliveryAttempt> {
        let webhooks = self.shared.webhooks.as_ref();
        webhooks.map(Deliveries::attempts).unwrap_or_default()
    }

    /// Waits until every webhook event made so far has been delivered to every target,
    /// given up or dropped: after an upsert's answer, its events are among them. Returns at
    /// once without targets. Bound the wait yourself (`tokio::time::timeout`) when a target
    /// may be slow.
    pub async fn webhooks_settled(&self) {
        if let Some(webhooks) = &self.shared.webhooks {
            webhooks.settled().await;
        }
    }
}
