//! The client, its builder and the one function that sends a request.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::Url;

use crate::deadline::Timers;
use crate::error::{Error, Result};
use crate::retry::{Pacer, RetryPolicy};

// Rustdoc lists a type's methods module by module, in the order the modules are declared:
// `PlainClient`'s constructors and settings (`constructors`) come before `execute` (`sending`).
mod constructors;
pub(crate) mod sending;

/// Plain's production endpoint for the Core GraphQL API.
pub const DEFAULT_ENDPOINT: &str = "https://core-api.uk.plain.com/graphql/v1";

/// The environment variable the API key is read from (as Plain's own CLI does).
pub const API_KEY_ENV: &str = "PLAIN_API_KEY";

/// The environment variable that overrides the endpoint.
pub const API_URL_ENV: &str = "PLAIN_API_URL";

/// How long a whole request may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer body the client reads by default: 4 MiB. Plain's answer to an upsert
/// is about a kilobyte; a larger body is a fault (of a proxy, say), not an answer.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

const DEFAULT_USER_AGENT: &str = concat!("plain-client-rust/", env!("CARGO_PKG_VERSION"));

/// An API key. Its `Debug` never shows the key.
#[derive(Clone)]
struct ApiKey(String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A client for Plain's Core GraphQL API.
///
/// Cheap to clone (clones share one connection pool) and safe to use from many tasks.
#[derive(Clone, Debug)]
pub struct PlainClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    endpoint: Url,
    /// `Bearer <key>`, marked sensitive so that it is never printed.
    authorization: HeaderValue,
    /// The key itself, to replace wherever an answer echoes it.
    secret: ApiKey,
    max_response_bytes: usize,
    user_agent: HeaderValue,
    timeout: Duration,
    retry: RetryPolicy,
    /// Plain's rate-limit budget, shared by every clone of this client.
    pacer: Pacer,
    /// Timers for the timeout, kept from one request to the next.
    timers: Timers,
    counters: Counters,
}

/// Running counts, shared by every clone of a client.
#[derive(Debug, Default)]
struct Counters {
    attempts: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

/// What a client has done so far (all its clones together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Requests sent, retries included.
    pub attempts: u64,
    /// Requests sent again after a failure.
    pub retries: u64,
    /// Answers with HTTP 429.
    pub rate_limited: u64,
}

/// Builds a [`PlainClient`]; see [`PlainClient::builder`].
#[derive(Debug, Default)]
#[must_use]
pub struct PlainClientBuilder {
    api_key: Option<ApiKey>,
    endpoint: Option<String>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    user_agent: Option<String>,
    http_client: Option<reqwest::Client>,
    allow_insecure_http: bool,
    retry: Option<RetryPolicy>,
    max_response_bytes: Option<usize>,
}

impl PlainClientBuilder {
    /// The API key (`plainApiKey_...`) of a machine user with `customer:create` and
    /// `customer:edit`.
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey(api_key.into()));
        self
    }

    /// The GraphQL endpoint; defaults to [`DEFAULT_ENDPOINT`].
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// How long a whole request may take (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long connecting may take (default 10 s). Ignored with [`Self::http_client`],
    /// whose own setting applies.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The `User-Agent` to send (default `plain-client-rust/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sends requests through an existing `reqwest::Client` (its pool, proxy and TLS
    /// settings, whatever the crate's TLS features choose). The API key, user agent and
    /// timeout are still set on every request.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// How failures that can succeed later are retried (default: [`RetryPolicy::default`];
    /// [`RetryPolicy::none`] turns retries off).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The largest answer body the client reads (default [`DEFAULT_MAX_RESPONSE_BYTES`],
    /// 4 MiB). A longer answer, whether its length is announced or found while reading it,
    /// ends the attempt with [`Error::ResponseTooLarge`], which is not retried; memory never
    /// follows what a server sends.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = Some(limit);
        self
    }

    /// Allows an `http://` endpoint that is not on a loopback address. The API key would
    /// travel unencrypted: only for trusted networks.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Builds the client, checking the key and the endpoint.
    ///
    /// The TLS backend is the one the crate's features choose (see "Features" in the crate
    /// docs). With `rustls-ring`, ring becomes the process's default rustls crypto provider
    /// unless the application installed one before.
    pub fn build(self) -> Result<PlainClient> {
        let config = |message: String| Error::Config { message };
        let key = self.api_key.ok_or_else(|| {
            config(format!(
                "no API key: pass one to the builder or set {API_KEY_ENV}"
            ))
        })?;
        let key = key.0.trim();
        if key.is_empty() {
            return Err(config(format!(
                "the API key is empty: set {API_KEY_ENV} to a key of a Plain machine user"
            )));
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            config("the API key contains characters that cannot be sent in a header".to_owned())
        })?;
        authorization.set_sensitive(true);
        let secret = ApiKey(key.to_owned());

        let endpoint = parse_endpoint(
            self.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT),
            self.allow_insecure_http,
        )?;
        let user_agent = self.user_agent.as_deref().unwrap_or(DEFAULT_USER_AGENT);
        let user_agent = HeaderValue::from_str(user_agent).map_err(|_| {
            config(format!(
                "the user agent {user_agent:?} cannot be sent in a header"
            ))
        })?;
        let http = match self.http_client {
            Some(http) => http,
            // No redirects: Plain's endpoint does not redirect, and the key must not follow one.
            None => crate::tls::choose(reqwest::Client::builder())
                .connect_timeout(self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT))
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(Duration::from_secs(90))
                .build()
                .map_err(|e| config(format!("cannot set up the HTTP client: {e}")))?,
        };
        Ok(PlainClient {
            inner: Arc::new(Inner {
                http,
                endpoint,
                authorization,
                secret,
                max_response_bytes: self
                    .max_response_bytes
                    .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
                user_agent,
                timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
                retry: self.retry.unwrap_or_default(),
                pacer: Pacer::default(),
                timers: Timers::default(),
                counters: Counters::default(),
            }),
        })
    }
}

/// Parses the endpoint, refusing plain `http://` except on loopback addresses, and a user
/// name or password in it (which would be sent as a second `Authorization` and shown in
/// errors). The URL is shown in messages without its user information.
fn parse_endpoint(endpoint: &str, allow_insecure_http: bool) -> Result<Url> {
    let shown = crate::redact::url_for_display(endpoint);
    let url = Url::parse(endpoint).map_err(|e| Error::Config {
        message: format!(
            "the endpoint {shown:?} is not a URL ({e}): use for example {DEFAULT_ENDPOINT}"
        ),
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config {
            message: format!(
                "the endpoint {shown} has a user name or password in it: remove it; the API \
                 key is the only credential Plain takes"
            ),
        });
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_insecure_http || is_loopback(&url) => Ok(url),
        "http" => Err(Error::Config {
            message: format!(
                "the endpoint {shown} is plain http on a non-loopback host, which would send \
                 the API key unencrypted: use https"
            ),
        }),
        other => Err(Error::Config {
            message: format!("the endpoint {shown} has scheme {other:?}: use https"),
        }),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
