//! A local, in-memory server that behaves like Plain's `/graphql/v1` for customers and their
//! groups (feature `testing`).
//!
//! It parses the GraphQL document, validates it against the crate's vendored schema and
//! serves, with Plain's semantics:
//!
//! - the query `myWorkspace`: each server is a workspace of its own, with its own id
//!   ([`LocalServer::workspace_id`]), and can answer as to a key that may not read it
//!   ([`LocalServerBuilder::forbid_workspace_read`]);
//! - the queries `customer`, `customerByEmail` (any case) and `customerByExternalId`, which
//!   answer `null` when no customer matches;
//! - `upsertCustomer` (`CREATED`, `UPDATED`, `NOOP`, unique emails and external ids,
//!   `not_found` for an unknown customer id, validation errors, `onCreate`'s customer groups);
//! - `deleteCustomer`, after which the email address and external id are free again;
//! - `addCustomerToCustomerGroups` and `removeCustomerFromCustomerGroups`, over the customer
//!   groups given to [`LocalServerBuilder::customer_group`]. A group identifier that matches
//!   no group is a `MutationError` with the code `customer_group_not_found`, and nothing
//!   changes;
//! - the queries `customerGroups` and `customerGroup`, and every customer's
//!   `customerGroupMemberships`, paged as Plain pages (25 a page unless told, at most 100,
//!   opaque cursors, `BAD_USER_INPUT` past the bound). Groups are the color `#64748B`, made by
//!   the machine user `mu_local`.
//!
//! With [`LocalServerBuilder::webhook`], it delivers every change it makes to receivers as
//! Plain delivers webhooks: signed, with Plain's headers, retried with backoff, and never
//! holding up an answer.
//!
//! It answers with exactly the selected fields; other root fields and subscriptions are
//! refused as Plain refuses an invalid request (400 `GRAPHQL_VALIDATION_FAILED`). It checks
//! the API key, applies Plain's rate-limit headers and 429s, tags every answer with an
//! `apigw-requestid`, and can inject faults: scripted answers, a seeded rate of transient
//! failures, and a fixed delay. Every request is logged, the key redacted and the body cut
//! to its first [`limits::LOG_BODY_BYTES`]; a request refused for its key is logged without
//! its headers or body. What one connection, request or query may cost the server is
//! bounded: see [`limits`].
//!
//! ```
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use plain_client::testing::LocalServer;
//! use plain_client::{CustomerIdentifier, EmailAddress, OnCreate, UpsertCustomerInput, UpsertResult};
//!
//! let server = LocalServer::start().await?;
//! let client = server.client()?;
//! let input = UpsertCustomerInput::new(
//!     CustomerIdentifier::email("donald@example.com"),
//!     OnCreate::new("Donald Duck", EmailAddress::unverified("donald@example.com")),
//! );
//! assert_eq!(client.upsert_customer(input.clone()).await?.result, UpsertResult::Created);
//! assert_eq!(client.upsert_customer(input).await?.result, UpsertResult::Noop);
//! assert_eq!(server.customers().len(), 1);
//! assert_eq!(server.requests().len(), 2);
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run()).unwrap();
//! ```

mod connections;
mod cost;
mod deliveries;
mod events;
mod failure;
mod graphql;
mod http;
pub mod limits;
mod rate_limit;
mod scripted;
mod store;
#[allow(dead_code)]
#[path = "../codegen/validate.rs"]
mod validate;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::net::TcpListener;

use crate::client::PlainClient;
use crate::response::REQUEST_ID_HEADER;
use crate::rng::Rng;
use deliveries::{Deliveries, WebhookConfig};
pub use deliveries::{DeliveryAttempt, WebhookStats};
use http::{HttpAnswer, HttpRequest};
use rate_limit::{RateLimit, Window};
use scripted::random_fault;
pub use scripted::ScriptedAnswer;
use store::records::LocalWorkspace;
pub use store::records::{CustomerGroupSpec, StoredCustomer, StoredCustomerGroup};
use store::Store;

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

/// The path Plain serves its GraphQL API on.
pub const GRAPHQL_PATH: &str = "/graphql/v1";

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// The request id the server answered with.
    pub request_id: String,
    /// The HTTP method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The headers, names lower-cased, with the `Authorization` value redacted.
    pub headers: Vec<(String, String)>,
    /// The body as JSON, or as a string when it was not JSON or the log kept only its first
    /// bytes (see [`LoggedRequest::body_truncated`]).
    pub body: serde_json::Value,
    /// The body's bytes, exactly as received: all of them, or the first
    /// [`limits::LOG_BODY_BYTES`] of a longer body.
    #[serde(skip)]
    pub raw_body: Vec<u8>,
    /// The body's whole length in bytes.
    pub body_length: usize,
    /// The status answered, or `None` when the connection was dropped or cut.
    pub status: Option<u16>,
}

impl LoggedRequest {
    /// Whether the log kept only the first [`limits::LOG_BODY_BYTES`] of the body: then
    /// `raw_body` holds those and `body` is them as a string.
    pub fn body_truncated(&self) -> bool {
        self.raw_body.len() < self.body_length
    }

    /// A header's value, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

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

struct State {
    store: Store,
    scripted: VecDeque<ScriptedAnswer>,
    failure_rate: f64,
    fault_rng: Rng,
    delay: Duration,
    rate_limit: Option<RateLimit>,
    window: Window,
    log: VecDeque<LogEntry>,
    /// How many log entries are kept (the newest); `None` keeps all.
    log_limit: Option<usize>,
    stats: ServerStats,
    /// Requests being handled now.
    handling: u64,
    next_request: u64,
    /// Answers registered for operations, by name.
    answers: graphql::registered::Answers,
}

struct Shared {
    api_key: Option<String>,
    /// The schema requests are validated against, when not the vendored one.
    schema: Option<validate::Schema>,
    started: SystemTime,
    instance: String,
    state: Mutex<State>,
    /// Where the server's changes are delivered as webhook events, if anywhere.
    webhooks: Option<Deliveries>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Configures and starts a [`LocalServer`].
#[must_use]
pub struct LocalServerBuilder {
    api_key: Option<String>,
    rate_limit: Option<RateLimit>,
    failure_rate: f64,
    seed: u64,
    delay: Duration,
    idle_timeout: Duration,
    address: SocketAddr,
    log_limit: Option<usize>,
    schema: Option<String>,
    customer_groups: Vec<CustomerGroupSpec>,
    answers: graphql::registered::Answers,
    workspace_id: Option<String>,
    workspace_name: String,
    workspace_readable: bool,
    webhooks: WebhookConfig,
}

/// The name of a local server's workspace unless told otherwise.
const DEFAULT_WORKSPACE_NAME: &str = "Local workspace";

impl fmt::Debug for LocalServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalServerBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("rate_limit", &self.rate_limit)
            .field("failure_rate", &self.failure_rate)
            .field("seed", &self.seed)
            .field("delay", &self.delay)
            .field("idle_timeout", &self.idle_timeout)
            .field("address", &self.address)
            .field("log_limit", &self.log_limit)
            .field(
                "schema",
                &self.schema.as_ref().map(|s| format!("{} bytes", s.len())),
            )
            .field("customer_groups", &self.customer_groups)
            .field("answers", &self.answers.keys().collect::<Vec<_>>())
            .field("workspace_id", &self.workspace_id)
            .field("workspace_name", &self.workspace_name)
            .field("workspace_readable", &self.workspace_readable)
            .field("webhooks", &self.webhooks)
            .finish()
    }
}

impl Default for LocalServerBuilder {
    fn default() -> Self {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        let mut rng = Rng::new(seed ^ u64::from(std::process::id()));
        let key = format!("plainApiKey_local{:016x}", rng.next_u64());
        Self {
            api_key: Some(key),
            rate_limit: None,
            failure_rate: 0.0,
            seed,
            delay: Duration::ZERO,
            idle_timeout: limits::IDLE_TIMEOUT,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_limit: None,
            schema: None,
            customer_groups: Vec::new(),
            answers: graphql::registered::Answers::new(),
            workspace_id: None,
            workspace_name: DEFAULT_WORKSPACE_NAME.to_owned(),
            workspace_readable: true,
            webhooks: WebhookConfig::default(),
        }
    }
}

impl LocalServerBuilder {
    /// The API key requests must carry (`Authorization: Bearer <key>`). By default a random
    /// key is made; read it with [`LocalServer::api_key`].
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Accepts requests without a key.
    pub fn no_auth(mut self) -> Self {
        self.api_key = None;
        self
    }

    /// Allows `limit` requests per `window`, as Plain's per-workspace limit does. Without it
    /// the server does not limit and sends no rate-limit headers.
    pub fn rate_limit(mut self, limit: u64, window: Duration) -> Self {
        self.rate_limit = Some(RateLimit { limit, window });
        self
    }

    /// Answers this share of requests (0.0 to 1.0) with a transient failure: 500
    /// `INTERNAL_SERVER_ERROR`, or a gateway's 502, 503 or 504 HTML page.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Seeds the random choices (faults and ids), for repeatable runs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Waits this long before every answer.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Closes a connection that takes longer than this to send a request's whole head,
    /// counted from when it connected or was last answered, or that pauses longer than this
    /// while sending a body or reading an answer (default [`limits::IDLE_TIMEOUT`]).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Listens on this port of 127.0.0.1 (default: a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.address.set_port(port);
        self
    }

    /// Keeps only the newest `limit` requests in the log, so that a long-running server (or a
    /// large bulk run against it) does not grow without bound. By default every request is
    /// kept, which tests want.
    pub fn request_log_limit(mut self, limit: usize) -> Self {
        self.log_limit = Some(limit);
        self
    }

    /// Listens on this address. Anything but a loopback address exposes the server.
    pub fn address(mut self, address: SocketAddr) -> Self {
        self.address = address;
        self
    }

    /// Validates requests against this schema (its SDL text, such as Plain's full public
    /// schema) instead of the part of it this crate vendors, so that clients which select more
    /// of Plain's schema, such as Plain's TypeScript SDK, are served too. Fields the server
    /// does not model (a customer's company, say) answer `null`.
    ///
    /// [`LocalServerBuilder::start`] fails with [`std::io::ErrorKind::InvalidInput`] when the
    /// schema does not parse or cannot validate this crate's `upsertCustomer`.
    pub fn schema(mut self, sdl: impl Into<String>) -> Self {
        self.schema = Some(sdl.into());
        self
    }

    /// Holds a customer group with this key (such as `enterprise`) and name from the start,
    /// so that `addCustomerToCustomerGroups`, `removeCustomerFromCustomerGroups` and
    /// `upsertCustomer`'s `onCreate.customerGroupIdentifiers` can name it (by its key, or by
    /// the `cg_...` id [`LocalServer::customer_groups`] shows). Call it once per group; for a
    /// group with an external id, use [`LocalServerBuilder::customer_group_spec`].
    ///
    /// [`LocalServerBuilder::start`] fails with [`std::io::ErrorKind::InvalidInput`] when a
    /// key or name is blank, or two groups share a key or an external id.
    pub fn customer_group(self, key: impl Into<String>, name: impl Into<String>) -> Self {
        self.customer_group_spec(CustomerGroupSpec::new(key, name))
    }

    /// Holds this customer group from the start: as
    /// [`LocalServerBuilder::customer_group`], with your external id for it when it has one,
    /// so that `{"externalId": ...}` identifies it too.
    ///
    /// ```
    /// # async fn run() -> std::io::Result<()> {
    /// use plain_client::testing::{CustomerGroupSpec, LocalServer};
    ///
    /// let server = LocalServer::builder()
    ///     .customer_group("free", "Free tier")
    ///     .customer_group_spec(CustomerGroupSpec::new("vip", "VIP").external_id("crm-vip"))
    ///     .start()
    ///     .await?;
    /// let groups = server.customer_groups();
    /// assert_eq!(groups[1].external_id.as_deref(), Some("crm-vip"));
    /// assert!(groups[1].id.starts_with("cg_"));
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn customer_group_spec(mut self, spec: CustomerGroupSpec) -> Self {
        self.customer_groups.push(spec);
        self
    }

    /// Answers the operation named `operation` (any query or mutation the schema has, modeled
    /// by the server or not) with the `data` that `answer` makes of its variables. The
    /// operation is validated against the server's schema as any request is, and the answer
    /// against the operation: the server sends only what the operation selects, under its
    /// aliases, and refuses an answer that lacks a selected field, has a value of the wrong
    /// type, or a null where the schema allows none (HTTP 400, code `LOCAL_ANSWER_INVALID`,
    /// naming the path), so that a wrong answer fails your test. Give the `data` keyed by
    /// field names; a value of an interface or union carries its `__typename`.
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use plain_client::testing::LocalServer;
    /// use serde_json::json;
    ///
    /// let server = LocalServer::builder()
    ///     .answer("workspaceName", |_variables| json!({"myWorkspace": {"id": "w_1", "name": "Acme"}}))
    ///     .start()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn answer<F>(mut self, operation: impl Into<String>, answer: F) -> Self
    where
        F: Fn(&serde_json::Value) -> serde_json::Value + Send + Sync + 'static,
    {
        self.answers.insert(operation.into(), Arc::new(answer));
        self
    }

    /// The id of the workspace the server is, as `myWorkspace` answers it (Plain's look:
    /// `w_` and 26 characters).
    ///
    /// By default every server makes its own random id, whatever its
    /// [`seed`](LocalServerBuilder::seed): each server is a workspace of its own, with its own
    /// customers, so what was learnt against one must not be taken for true of another. Give
    /// the same id to servers that should pass for one workspace, such as one restarted
    /// with the same data. [`LocalServerBuilder::start`] fails with
    /// [`std::io::ErrorKind::InvalidInput`] when the id is blank.
    pub fn workspace_id(mut self, id: impl Into<String>) -> Self {
        self.workspace_id = Some(id.into());
        self
    }

    /// The name of the workspace, as `myWorkspace` answers it (default: `Local workspace`).
    /// [`LocalServerBuilder::start`] fails with [`std::io::ErrorKind::InvalidInput`] when
    /// the name is blank.
    pub fn workspace_name(mut self, name: impl Into<String>) -> Self {
        self.workspace_name = name.into();
        self
    }

    /// Answers `myWorkspace` as Plain answers a key whose machine user may not read the
    /// workspace: HTTP 200, `myWorkspace` `null`, and an `errors[]` entry with the code
    /// `FORBIDDEN`, which the client reports as [`Error::Forbidden`](crate::Error::Forbidden).
    /// The customer operations are served as usual.
    pub fn forbid_workspace_read(mut self) -> Self {
        self.workspace_readable = false;
        self
    }

    /// Delivers every change the server makes to `url` as Plain delivers webhooks, signed
    /// with `secret`; call it once per target. The events are `customer.customer_created`,
    /// `customer.customer_updated`, `customer.customer_deleted`, and
    /// `customer.customer_group_memberships_changed` once per membership added or removed,
    /// each shaped as Plain's webhook schema (this crate's version,
    /// [`SCHEMA_VERSION`](crate::webhooks::events::SCHEMA_VERSION)). A `NOOP` upsert changes
    /// nothing and sends nothing.
    ///
    /// Each attempt is a POST with the JSON body and the headers Plain sends
    /// (`Plain-Request-Signature`, `Plain-Event-Id`, `Plain-Event-Type`,
    /// `Plain-Webhook-Delivery-Attempt-Id`, `-Attempt-Number`, `-Attempt-Timestamp`,
    /// `Plain-Workspace-Id`, `Plain-Webhook-Target-Id`), each agreeing with the body. An
    /// answer other than 2xx, or none within [`limits::WEBHOOK_TIMEOUT`], is retried with the
    /// same event id, a new attempt id and the next attempt number: see
    /// [`LocalServerBuilder::webhook_retries`]. Deliveries never hold up the GraphQL answers:
    /// see [`limits::WEBHOOK_QUEUE`]. [`LocalServer::webhooks_settled`] waits for them.
    ///
    /// [`LocalServerBuilder::start`] fails with [`std::io::ErrorKind::InvalidInput`] when the
    /// URL is not an `http` or `https` URL.
    ///
    /// ```
    /// # async fn run() -> std::io::Result<()> {
    /// use plain_client::testing::LocalServer;
    /// use plain_client::webhooks::WebhookSecret;
    ///
    /// let server = LocalServer::builder()
    ///     .webhook("http://127.0.0.1:8787/plain", WebhookSecret::new("local secret"))
    ///     .start()
    ///     .await?;
    /// assert_eq!(server.webhook_targets().len(), 1);
    /// # Ok(())
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run()).unwrap();
    /// ```
    pub fn webhook(
        mut self,
        url: impl Into<String>,
        secret: crate::webhooks::WebhookSecret,
    ) -> Self {
        self.webhooks.targets.push((url.into(), secret));
        self
    }

    /// How failed webhook deliveries are retried: the first retry after `first_retry`
    /// (default [`limits::WEBHOOK_FIRST_RETRY`]), each later one after twice the wait before
    /// it (at most [`limits::WEBHOOK_LONGEST_WAIT`]), and `attempts` attempts in all, the
    /// first included (default [`limits::WEBHOOK_ATTEMPTS`]), after which the delivery is
    /// given up and counted in [`WebhookStats::gave_up`]. [`LocalServerBuilder::start`]
    /// fails with [`std::io::ErrorKind::InvalidInput`] when `attempts` is 0.
    pub fn webhook_retries(mut self, first_retry: Duration, attempts: u32) -> Self {
        self.webhooks.first_retry = first_retry;
        self.webhooks.max_attempts = attempts;
        self
    }

    /// Starts the server on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<LocalServer> {
        let invalid =
            |message: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
        let schema = self
            .schema
            .as_deref()
            .map(graphql::schema::served_schema)
            .transpose()?;
        let now = SystemTime::now();
        let workspace_id = match self.workspace_id {
            Some(id) if id.trim().is_empty() => return Err(invalid("the workspace id is blank")),
            Some(id) => id,
            None => store::ids::new_workspace_id(now),
        };
        if self.workspace_name.trim().is_empty() {
            return Err(invalid("the workspace name is blank"));
        }
        let workspace = LocalWorkspace {
            id: workspace_id,
            name: self.workspace_name,
            readable: self.workspace_readable,
        };
        let mut store = Store::new(self.seed, workspace);
        for spec in &self.customer_groups {
            store
                .create_customer_group(spec, now)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        }
        let webhooks = if self.webhooks.targets.is_empty() {
            None
        } else {
            store.record_changes();
            let workspace_id = store.workspace().id.clone();
            Some(Deliveries::start(self.webhooks, workspace_id, self.seed)?)
        };
        let (webhooks, webhook_task) = webhooks.unzip();
        let listener = TcpListener::bind(self.address).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            api_key: self.api_key,
            schema,
            started: SystemTime::now(),
            instance: format!("{:06x}", self.seed & 0xff_ffff),
            state: Mutex::new(State {
                store,
                scripted: VecDeque::new(),
                failure_rate: self.failure_rate,
                fault_rng: Rng::new(self.seed.rotate_left(17)),
                delay: self.delay,
                rate_limit: self.rate_limit,
                window: Window::default(),
                log: VecDeque::new(),
                log_limit: self.log_limit,
                stats: ServerStats::default(),
                handling: 0,
                next_request: 0,
                answers: self.answers,
            }),
            webhooks,
        });
        let task = tokio::spawn(http::accept::serve(
            listener,
            shared.clone(),
            self.idle_timeout,
        ));
        Ok(LocalServer {
            endpoint: format!("http://{address}{GRAPHQL_PATH}"),
            address,
            shared,
            task,
            webhook_task,
        })
    }
}

/// A running local server; it stops when dropped.
pub struct LocalServer {
    endpoint: String,
    address: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    webhook_task: Option<tokio::task::JoinHandle<()>>,
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
    /// Starts a server on a free port of 127.0.0.1 with a random API key and no limits.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// A builder for the key, rate limit, faults and address.
    pub fn builder() -> LocalServerBuilder {
        LocalServerBuilder::default()
    }

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
    pub fn client(&self) -> crate::Result<PlainClient> {
        self.client_builder().build()
    }

    /// A client builder set up for this server, to change other settings.
    pub fn client_builder(&self) -> crate::PlainClientBuilder {
        PlainClient::builder()
            .endpoint(self.endpoint.clone())
            .api_key(self.api_key().unwrap_or("plainApiKey_local"))
    }

    /// Queues answers for the next requests, in order. A request without the right key is
    /// refused before it reaches them.
    pub fn script(&self, answers: impl IntoIterator<Item = ScriptedAnswer>) {
        self.shared.state().scripted.extend(answers);
    }

    /// Answers the operation named `operation` from now on: see
    /// [`LocalServerBuilder::answer`].
    pub fn answer<F>(&self, operation: impl Into<String>, answer: F)
    where
        F: Fn(&serde_json::Value) -> serde_json::Value + Send + Sync + 'static,
    {
        let answer: graphql::registered::AnswerFn = Arc::new(answer);
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
        let log: Vec<LogEntry> = self.shared.state().log.iter().cloned().collect();
        // Bodies are parsed out of the lock, so reading the log does not hold up requests.
        log.into_iter().map(LogEntry::into_logged).collect()
    }

    /// The id of the workspace the server is, as `myWorkspace` answers it: the one given to
    /// [`LocalServerBuilder::workspace_id`], or the server's own random one.
    pub fn workspace_id(&self) -> String {
        self.shared.state().store.workspace().id.clone()
    }

    /// Every customer, in the order they were created (deleted ones gone), each with the ids
    /// of its customer groups.
    pub fn customers(&self) -> Vec<StoredCustomer> {
        self.shared.state().store.customers().to_vec()
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

/// One request as the log keeps it: its body cut to [`limits::LOG_BODY_BYTES`] and kept as
/// bytes, parsed only when the log is read, so that an entry never holds more than its
/// head (at most [`limits::MAX_HEAD_BYTES`]) and that excerpt.
#[derive(Debug, Clone)]
struct LogEntry {
    request_id: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body_excerpt: Vec<u8>,
    body_length: usize,
    status: Option<u16>,
}

impl LogEntry {
    fn into_logged(self) -> LoggedRequest {
        let cut = self.body_excerpt.len() < self.body_length;
        let parsed = if cut {
            None
        } else {
            serde_json::from_slice(&self.body_excerpt).ok()
        };
        let body = parsed.unwrap_or_else(|| {
            serde_json::Value::String(String::from_utf8_lossy(&self.body_excerpt).into_owned())
        });
        LoggedRequest {
            request_id: self.request_id,
            method: self.method,
            path: self.path,
            headers: self.headers,
            body,
            raw_body: self.body_excerpt,
            body_length: self.body_length,
            status: self.status,
        }
    }
}

fn log_entry(request: &HttpRequest, request_id: &str) -> LogEntry {
    let headers = request
        .headers
        .iter()
        .map(|(name, value)| {
            let value = if name == "authorization" {
                match value.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} <redacted>"),
                    None => "<redacted>".to_owned(),
                }
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect();
    let excerpt = &request.body[..request.body.len().min(limits::LOG_BODY_BYTES)];
    LogEntry {
        request_id: request_id.to_owned(),
        method: request.method.clone(),
        path: request.path.clone(),
        headers,
        body_excerpt: excerpt.to_vec(),
        body_length: request.body.len(),
        status: None,
    }
}

/// Adds an entry to the log, dropping the oldest past the log limit.
fn keep(state: &mut State, entry: LogEntry) {
    state.log.push_back(entry);
    if state.log_limit.is_some_and(|limit| state.log.len() > limit) {
        state.log.pop_front();
    }
}

/// Counts a request and gives it its id.
fn next_request_id(shared: &Shared, state: &mut State) -> String {
    state.next_request += 1;
    state.stats.requests += 1;
    format!("local-{}-{:08}", shared.instance, state.next_request)
}

impl http::Service for Shared {
    fn connected(&self) {
        self.state().stats.connections += 1;
    }

    fn refuse(&self, head: &HttpRequest) -> Option<HttpAnswer> {
        refuse_unauthenticated(self, head)
    }

    fn answer(
        self: Arc<Self>,
        request: HttpRequest,
    ) -> impl std::future::Future<Output = HttpAnswer> + Send {
        handle(self, request)
    }
}

/// Refuses a request to the API without the right key from its head alone, before any of
/// its body is read: the body is read past, never kept, and the log keeps only the
/// request's id, method, route and status (a stranger's request may be anything, of any
/// size). Other paths and methods are answered 404 and 405 first, as before the key.
fn refuse_unauthenticated(shared: &Shared, head: &HttpRequest) -> Option<HttpAnswer> {
    let key = shared.api_key.as_ref()?;
    let path = head.path.split('?').next().unwrap_or_default();
    if path != GRAPHQL_PATH || head.method != "POST" {
        return None;
    }
    if head.header("authorization") == Some(format!("Bearer {key}").as_str()) {
        return None;
    }
    let mut state = shared.state();
    let request_id = next_request_id(shared, &mut state);
    let entry = LogEntry {
        request_id: request_id.clone(),
        method: head.method.clone(),
        path: GRAPHQL_PATH.to_owned(),
        headers: Vec::new(),
        body_excerpt: Vec::new(),
        body_length: 0,
        status: Some(401),
    };
    keep(&mut state, entry);
    let body = failure::error_body(
        "Authentication failed: the API key is missing or invalid",
        "UNAUTHENTICATED",
    );
    let headers = vec![
        (REQUEST_ID_HEADER.to_owned(), request_id),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    Some(HttpAnswer::Full {
        status: 401,
        headers,
        body,
        delay: state.delay,
    })
}

/// What the state decided for one request, before any waiting.
enum Decision {
    Scripted(ScriptedAnswer),
    Process,
}

/// Counts a request as being handled for as long as it lives, whatever ends it.
struct Handling(Arc<Shared>);

impl Handling {
    fn start(shared: &Arc<Shared>) -> Self {
        let mut state = shared.state();
        state.handling += 1;
        state.stats.most_concurrent = state.stats.most_concurrent.max(state.handling);
        Self(shared.clone())
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.state().handling -= 1;
    }
}

async fn handle(shared: Arc<Shared>, request: HttpRequest) -> HttpAnswer {
    let _handling = Handling::start(&shared);
    let (request_id, decision, delay) = {
        let mut state = shared.state();
        let request_id = next_request_id(&shared, &mut state);
        keep(&mut state, log_entry(&request, &request_id));
        let decision = match state.scripted.pop_front() {
            Some(answer) => Decision::Scripted(answer),
            None if state.failure_rate > 0.0 && state.fault_rng.next_f64() < state.failure_rate => {
                let answer = random_fault(&mut state.fault_rng);
                Decision::Scripted(answer)
            }
            None => Decision::Process,
        };
        if matches!(&decision, Decision::Scripted(a) if a.is_fault()) {
            state.stats.faults += 1;
        }
        (request_id, decision, state.delay)
    };
    let mut total_delay = delay;
    let answer = match decision {
        Decision::Scripted(scripted) => {
            total_delay += scripted.wait();
            match scripted.answer(&request, &request_id) {
                Some(answer) => answer,
                None => process(&shared, &request, &request_id),
            }
        }
        Decision::Process => process(&shared, &request, &request_id),
    };
    if !total_delay.is_zero() {
        tokio::time::sleep(total_delay).await;
    }
    let mut state = shared.state();
    if let HttpAnswer::Full { status, .. } = &answer {
        // Recent, so near the back (and gone if the log limit dropped it meanwhile).
        if let Some(entry) = state
            .log
            .iter_mut()
            .rev()
            .find(|e| e.request_id == request_id)
        {
            entry.status = Some(*status);
        }
        if *status == 429 {
            state.stats.rate_limited += 1;
        }
    }
    answer
}

/// Normal processing: path, method, rate limit, then GraphQL (the key was checked from the
/// request's head, in [`refuse_unauthenticated`]).
fn process(shared: &Shared, request: &HttpRequest, request_id: &str) -> HttpAnswer {
    let mut headers = vec![(REQUEST_ID_HEADER.to_owned(), request_id.to_owned())];
    let path = request.path.split('?').next().unwrap_or_default();
    if path != GRAPHQL_PATH {
        let body = failure::error_body(
            &format!("No route for {path}; use {GRAPHQL_PATH}"),
            "NOT_FOUND",
        );
        return HttpAnswer::json(404, headers, body);
    }
    if request.method != "POST" {
        headers.push(("allow".into(), "POST".into()));
        let body = failure::error_body("Use POST with a JSON body", "METHOD_NOT_ALLOWED");
        return HttpAnswer::json(405, headers, body);
    }
    let now = SystemTime::now();
    let mut state = shared.state();
    if let Some(limit) = state.rate_limit {
        let verdict = state.window.count(limit, shared.started, now);
        if verdict.opens_window {
            state.stats.rate_limit_windows += 1;
        }
        headers.extend(verdict.headers);
        if verdict.over {
            let body =
                failure::error_body("Too Many Requests - Rate limit exceeded", "RATE_LIMITED");
            return HttpAnswer::json(429, headers, body);
        }
    }
    let schema = shared
        .schema
        .as_ref()
        .unwrap_or_else(|| graphql::schema::vendored_schema());
    let state = &mut *state;
    let answer = graphql::execute(schema, &request.body, &mut state.store, now, &state.answers);
    if let Some(webhooks) = &shared.webhooks {
        webhooks.enqueue(state.store.take_changes(), now);
    }
    match answer {
        Ok(answer) => HttpAnswer::json(200, headers, answer.body()),
        Err(failure) => HttpAnswer::json(failure.status, headers, failure.body()),
    }
}
