//! `plain serve`: the local Plain-compatible server, on its own.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use plain_client::testing::LocalServer;

use super::{runtime, Failure, LOCAL_LOG_LIMIT};

#[derive(Debug, clap::Args)]
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
}

/// Runs `plain serve` until Ctrl-C.
pub fn run(options: ServeOptions) -> Result<ExitCode, Failure> {
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
            let (key, name) = group.split_once('=').unwrap_or((group, group));
            builder = builder.customer_group(key, name);
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
        for group in server.customer_groups() {
            eprintln!(
                "plain: customer group {} ({}) has id {}",
                super::text::message(&group.key),
                super::text::message(&group.name),
                group.id
            );
        }
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| Failure::Io(format!("cannot wait for Ctrl-C: {e}")))?;
        let stats = server.stats();
        eprintln!(
            "plain: served {} requests ({} answered 429)",
            stats.requests, stats.rate_limited
        );
        Ok(ExitCode::SUCCESS)
    })
}
