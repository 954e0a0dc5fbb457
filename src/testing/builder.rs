//! Configuring and starting a local server: its key, rate limit, faults, address, schema,
//! customer groups, registered answers, workspace, webhook targets and import faults.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;

use super::deliveries::{Deliveries, WebhookConfig};
use super::graphql::registered::Answers;
use super::graphql::schema::served_schema;
use super::http::accept::serve;
use super::import_faults::{ImportFault, ImportFaults};
use super::limits;
use super::rate_limit::{RateLimit, Window};
use super::request_log::RequestLog;
use super::server::LocalServer;
use super::service::GRAPHQL_PATH;
use super::state::{ServerStats, Shared, State};
use super::store::ids::new_workspace_id;
use super::store::records::{CustomerGroupSpec, LocalWorkspace};
use super::store::Store;
use crate::rng::Rng;
use crate::webhooks::WebhookSecret;

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
    answers: Answers,
    workspace_id: Option<String>,
    workspace_name: String,
    workspace_readable: bool,
    webhooks: WebhookConfig,
    import_faults: Vec<(usize, ImportFault)>,
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
            .field("import_faults", &self.import_faults)
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
            answers: Answers::new(),
            workspace_id: None,
            workspace_name: DEFAULT_WORKSPACE_NAME.to_owned(),
            workspace_readable: true,
            webhooks: WebhookConfig::default(),
            import_faults: Vec::new(),
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
    /// `FORBIDDEN`, which the client reports as [`Error::Forbidden`](crate::error::Error::Forbidden).
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
    pub fn webhook(mut self, url: impl Into<String>, secret: WebhookSecret) -> Self {
        self.webhooks.targets.push((url.into(), secret));
        self
    }

    /// How failed webhook deliveries are retried: the first retry after `first_retry`
    /// (default [`limits::WEBHOOK_FIRST_RETRY`]), each later one after twice the wait before
    /// it (at most [`limits::WEBHOOK_LONGEST_WAIT`]), and `attempts` attempts in all, the
    /// first included (default [`limits::WEBHOOK_ATTEMPTS`]), after which the delivery is
    /// given up and counted in [`WebhookStats::gave_up`]. [`LocalServerBuilder::start`]
    /// fails with [`std::io::ErrorKind::InvalidInput`] when `attempts` is 0.
    ///
    /// [`WebhookStats::gave_up`]: crate::testing::WebhookStats::gave_up
    pub fn webhook_retries(mut self, first_retry: Duration, attempts: u32) -> Self {
        self.webhooks.first_retry = first_retry;
        self.webhooks.max_attempts = attempts;
        self
    }

    /// Answers the `nth` `importCustomers` request the server serves (1 for the first) as
    /// `fault` says: see [`ImportFault`]. Call it once per faulty request; the requests with
    /// no fault are served as usual. [`LocalServerBuilder::start`] fails with
    /// [`std::io::ErrorKind::InvalidInput`] when `nth` is 0.
    pub fn import_fault(mut self, nth: usize, fault: ImportFault) -> Self {
        self.import_faults.push((nth, fault));
        self
    }

    /// Starts the server on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<LocalServer> {
        let invalid =
            |message: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
        let mut import_faults = ImportFaults::default();
        for (nth, fault) in self.import_faults {
            if nth == 0 {
                return Err(invalid(
                    "import faults are numbered from 1, the first importCustomers request; 0 \
                     names none",
                ));
            }
            import_faults.put(nth, fault);
        }
        let schema = self.schema.as_deref().map(served_schema).transpose()?;
        let now = SystemTime::now();
        let workspace_id = match self.workspace_id {
            Some(id) if id.trim().is_empty() => return Err(invalid("the workspace id is blank")),
            Some(id) => id,
            None => new_workspace_id(now),
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
                log: RequestLog::new(self.log_limit),
                stats: ServerStats::default(),
                handling: 0,
                next_request: 0,
                answers: self.answers,
                import_faults,
            }),
            webhooks,
        });
        let task = tokio::spawn(serve(listener, shared.clone(), self.idle_timeout));
        Ok(LocalServer {
            endpoint: format!("http://{address}{GRAPHQL_PATH}"),
            address,
            shared,
            task,
            webhook_task,
        })
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
}
