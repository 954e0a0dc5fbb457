//! Making a [`PlainClient`], and what it tells of itself: its endpoint, retry policy,
//! counters and rate-limit budget.

use std::sync::atomic::Ordering;

use super::{ClientStats, PlainClient, PlainClientBuilder, API_KEY_ENV, API_URL_ENV};
use crate::error::{Error, Result};
use crate::retry::{RateLimitBudget, RetryPolicy};

impl PlainClient {
    /// A client for Plain's production API with this API key and default settings.
    pub fn new(api_key: impl Into<String>) -> Result<Self> {
        Self::builder().api_key(api_key).build()
    }

    /// A builder for every setting.
    pub fn builder() -> PlainClientBuilder {
        PlainClientBuilder::default()
    }

    /// A client configured from the environment: the key from `PLAIN_API_KEY`, and the
    /// endpoint from `PLAIN_API_URL` when it is set.
    pub fn from_env() -> Result<Self> {
        let key = std::env::var(API_KEY_ENV).map_err(|_| Error::Config {
            message: format!(
                "{API_KEY_ENV} is not set: set it to the API key of a Plain machine user"
            ),
        })?;
        let mut builder = Self::builder().api_key(key);
        if let Ok(url) = std::env::var(API_URL_ENV) {
            builder = builder.endpoint(url);
        }
        builder.build()
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint.as_str()
    }

    /// A one-way fingerprint of the API key: the first 16 bytes of its SHA-256, in hex. The
    /// key cannot be recovered from it; a state file records it to tell one key's workspace
    /// from another's.
    #[cfg(feature = "state")]
    #[cfg_attr(docsrs, doc(cfg(feature = "state")))]
    pub fn key_fingerprint(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.inner.secret.0.as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    /// Requests sent, retries made and 429 answers seen, by this client and its clones.
    pub fn stats(&self) -> ClientStats {
        let counters = &self.inner.counters;
        ClientStats {
            attempts: counters.attempts.load(Ordering::Relaxed),
            retries: counters.retries.load(Ordering::Relaxed),
            rate_limited: counters.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// What the client last heard of Plain's rate-limit budget: requests left in the window
    /// (less those sent since), the limit, when the window ends, and requests in flight.
    pub fn rate_limit_budget(&self) -> RateLimitBudget {
        self.inner.pacer.snapshot()
    }
}
