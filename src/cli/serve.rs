//! `plain serve`: the local Plain-compatible server, on its own.

use std::path::PathBuf;
use std::time::Duration;

use plain_client::testing::{limits, ImportFault, LocalServer};
use plain_client::webhooks::{WebhookSecret, SECRET_ENV};

use super::{runtime, Failure, LOCAL_LOG_LIMIT};

/// How long Ctrl-C waits for webhook deliveries under way (and their retries) to end before
/// the counts are printed and the server stops.
const SETTLE_ON_EXIT: Duration = Duration::from_secs(5);

/// The options of `plain serve`; its help ends with the server's limits.
#[derive(Debug, clap::Args)]
#[command(after_help = limits_help())]
pub struct ServeOptions {
    /// The port on 127.0.0.1 [default: a free one].
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Require this API key (Authorization: Bearer KEY). Without it, no key is checked.
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// Allow this many requests per window, with Plain's rate-limit headers and 429s.
    #[arg(long, value_name = "N")]
    rate_limit: Option<u64>,
    /// The rate-limit window in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 60.0,
        requires = "rate_limit"
    )]
    window: f64,
    /// Answer this share of requests (0 to 1) with a transient failure (500, 502, 503, 504).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    failure_rate: f64,
    /// Seed for the random failures, for repeatable runs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Validate requests against this schema file (such as Plain's full schema) instead of
    /// the crate's vendored part of it, to serve clients that select more, such as Plain's
    /// TypeScript SDK.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Serve a customer group with this key (and name, which defaults to the key), so that
    /// upserts and group calls can name it; give it once per group.
    #[arg(long = "customer-group", value_name = "KEY[=NAME]")]
    customer_groups: Vec<String>,
    /// The id of the workspace the server is, as `myWorkspace` answers it [default: a new
    /// random one, so that what was learnt against another server is not trusted here].
    #[arg(long, value_name = "ID")]
    workspace_id: Option<String>,
    /// Answer `myWorkspace` with Plain's FORBIDDEN error, as to a key that may not read the
    /// workspace.
    #[arg(long)]
    forbid_workspace_read: bool,
    /// Deliver every change (customer created, updated, deleted; group memberships changed)
    /// to this URL as Plain's webhooks, signed with the secret in PLAIN_WEBHOOK_SECRET; give
    /// it once per receiver.
    #[arg(long = "webhook", value_name = "URL")]
    webhooks: Vec<String>,
    /// Retry a failed webhook delivery after this many seconds, doubling each time.
    #[arg(long, value_name = "SECONDS", default_value_t = limits::WEBHOOK_FIRST_RETRY.as_secs_f64())]
    webhook_first_retry: f64,
    /// Give a webhook delivery up after this many attempts, the first included.
    #[arg(long, value_name = "N", default_value_t = limits::WEBHOOK_ATTEMPTS)]
    webhook_attempts: u32,
    /// Answer the Nth importCustomers request (from 1) with a fault: normal, skip-last=N,
    /// counts=ADDED,UPDATED,SKIPPED, internal-error, validation-error, status=500 (or 502,
    /// 503, 504), drop, applied-drop; give it once per faulty request.
    #[arg(long = "import-fault", value_name = "N:FAULT", value_parser = nth_import_fault)]
    import_faults: Vec<(usize, ImportFault)>,
}

/// Reads `N:FAULT`, such as `3:skip-last=1`.
fn nth_import_fault(text: &str) -> Result<(usize, ImportFault), String> {
    let (nth, fault) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not N:FAULT, such as 3:skip-last=1"))?;
    let nth = match nth.trim().parse::<usize>() {
        Ok(nth) if nth >= 1 => nth,
        _ => return Err(format!("{nth:?} is not a request number: the first is 1")),
    };
    Ok((nth, fault.parse().map_err(|e| format!("{e}"))?))
}

/// The limits that keep the server bounded, for `plain serve --help`, from the constants
/// the server uses.
fn limits_help() -> String {
    format!(
        "Limits: the server stays bounded in memory and time, whatever it is sent.
  - At most {connections} connections open; past it, the one idle the longest is closed.
  - A connection is closed after {idle} s without a whole request head (counted from when \
it connected or was last answered), or after a pause as long in a body or an answer.
  - At most {headers} header lines and {head} of head (431), and {body} of body (413); \
each answer closes the connection.
  - A query of at most {query}, {aliases} aliases, {depth} levels of nesting and {selections} \
selections, a fragment's counted each time it is spread (400 GRAPHQL_VALIDATION_FAILED).
  - The request log keeps the newest {log} requests, each body cut to its first {excerpt}; \
of a request refused for its API key, neither headers nor body.
  - Webhooks: at most {queue} events wait (past it, an event is dropped and counted), \
{in_flight} deliveries at once, {timeout} s for each attempt's answer.",
        connections = limits::MAX_CONNECTIONS,
        idle = limits::IDLE_TIMEOUT.as_secs(),
        headers = limits::MAX_HEADERS,
        head = size(limits::MAX_HEAD_BYTES),
        body = size(limits::MAX_BODY_BYTES),
        query = size(limits::MAX_QUERY_BYTES),
        aliases = limits::MAX_ALIASES,
        depth = limits::MAX_DEPTH,
        selections = limits::MAX_SELECTIONS,
        log = LOCAL_LOG_LIMIT,
        excerpt = size(limits::LOG_BODY_BYTES),
        queue = limits::WEBHOOK_QUEUE,
        in_flight = limits::WEBHOOK_IN_FLIGHT,
        timeout = limits::WEBHOOK_TIMEOUT.as_secs(),
    )
}

/// A size in bytes as people read it: `64 KiB`, `16 MiB`.
fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Runs `plain serve` until Ctrl-C.
pub fn run(options: ServeOptions) -> Result<(), Failure> {
    if !(options.window > 0.0 && options.window.is_finite()) {
        return Err(Failure::Io(
            "--window must be a positive number of seconds".to_owned(),
        ));
    }
    if !(0.0..=1.0).contains(&options.failure_rate) {
        return Err(Failure::Io(
            "--failure-rate must be between 0 and 1".to_owned(),
        ));
    }
    if !(options.webhook_first_retry >= 0.0 && options.webhook_first_retry.is_finite()) {
        return Err(Failure::Io(
            "--webhook-first-retry must be a number of seconds, 0 or more".to_owned(),
        ));
    }
    let secret = match (options.webhooks.is_empty(), WebhookSecret::from_env()) {
        (true, _) => None,
        (false, Some(secret)) => Some(secret),
        (false, None) => {
            return Err(Failure::Io(format!(
                "--webhook needs the secret to sign deliveries with: set {SECRET_ENV}"
            )))
        }
    };
    let schema =
        match &options.schema {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                Failure::Io(format!("cannot read the schema {}: {e}", path.display()))
            })?),
            None => None,
        };
    runtime()?.block_on(async {
        let mut builder = LocalServer::builder()
            .request_log_limit(LOCAL_LOG_LIMIT)
            .port(options.port)
            .failure_rate(options.failure_rate)
            .seed(options.seed);
        builder = match options.api_key {
            Some(key) => builder.api_key(key),
            None => builder.no_auth(),
        };
        if let Some(limit) = options.rate_limit {
            builder = builder.rate_limit(limit, Duration::from_secs_f64(options.window));
        }
        if let Some(schema) = schema {
            builder = builder.schema(schema);
        }
        for group in &options.customer_groups {
            let (key, name) = super::group_key_and_name(group);
            builder = builder.customer_group(key, name);
        }
        if let Some(id) = options.workspace_id {
            builder = builder.workspace_id(id);
        }
        if options.forbid_workspace_read {
            builder = builder.forbid_workspace_read();
        }
        for (nth, fault) in options.import_faults {
            builder = builder.import_fault(nth, fault);
        }
        if let Some(secret) = secret {
            for url in &options.webhooks {
                builder = builder.webhook(url.clone(), secret.clone());
            }
            let first_retry = Duration::from_secs_f64(options.webhook_first_retry);
            builder = builder.webhook_retries(first_retry, options.webhook_attempts);
        }
        let server = builder.start().await.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => Failure::Io(e.to_string()),
            _ => Failure::Io(format!("cannot listen on port {}: {e}", options.port)),
        })?;
        println!("{}", server.endpoint());
        let auth = if server.api_key().is_some() {
            "the API key given"
        } else {
            "no API key"
        };
        eprintln!(
            "plain: serving Plain's GraphQL API on {} ({auth} required); Ctrl-C stops",
            server.endpoint()
        );
        let readable = if options.forbid_workspace_read {
            " (myWorkspace answers FORBIDDEN)"
        } else {
            ""
        };
        eprintln!(
            "plain: workspace id {}{readable}",
            super::text::message(&server.workspace_id())
        );
        for group in server.customer_groups() {
            eprintln!(
                "plain: customer group {} ({}) has id {}",
                super::text::message(&group.key),
                super::text::message(&group.name),
                group.id
            );
        }
        for (id, url) in server.webhook_targets() {
            eprintln!(
                "plain: delivering webhooks to {} (target id {id})",
                super::text::message(&url)
            );
        }
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| Failure::Io(format!("cannot wait for Ctrl-C: {e}")))?;
        // Deliveries under way get a moment to end, so that the counts below hold them.
        let settled = server.webhooks_settled();
        let _ = tokio::time::timeout(SETTLE_ON_EXIT, settled).await;
        let stats = server.stats();
        eprintln!(
            "plain: served {} requests ({} answered 429)",
            stats.requests, stats.rate_limited
        );
        if !options.webhooks.is_empty() {
            let sent = server.webhook_stats();
            eprintln!(
                "plain: {} webhook events: {} deliveries answered 2xx, {} given up, {} dropped \
                 (queue full), {} failed attempts",
                sent.events, sent.delivered, sent.gave_up, sent.dropped, sent.failed_attempts
            );
        }
        Ok(())
    })
}
