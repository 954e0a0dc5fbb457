//! Why a webhook delivery was refused.

use std::time::Duration;

/// Why a delivery was refused: each check has its own variant.
///
/// Its own type rather than a variant of the crate's [`Error`](crate::Error): that one is
/// about requests sent to Plain (retryable or not, Plain's request id); this one is about a
/// request received from Plain, and a receiver turns it into an HTTP answer
/// ([`WebhookError::is_signature_failure`] says whether it was refused as forged). No variant
/// holds the secret; texts quoted from the body are one line of at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The secret is empty: every body would verify against some signature made without it.
    #[error("the webhook secret is empty; set it from Plain's Settings, Request signing")]
    EmptySecret,
    /// The body is longer than the bound
    /// ([`Webhook::max_body_bytes`](crate::webhooks::Webhook::max_body_bytes)).
    #[error("the body is longer than {limit} bytes")]
    BodyTooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
    /// The body is empty.
    #[error("the body is empty")]
    EmptyBody,
    /// The `Plain-Request-Signature` header is missing or empty.
    #[error("the Plain-Request-Signature header is missing or empty")]
    EmptySignature,
    /// The signature is not 64 hexadecimal digits (a SHA-256 HMAC).
    #[error("the Plain-Request-Signature header is not a hex HMAC-SHA256 (64 hex digits)")]
    SignatureNotHex,
    /// The signature is not the body's: the body was changed, or signed with another secret.
    #[error("the signature does not match the body: the body was changed (re-serialized?) or signed with another secret")]
    SignatureMismatch,
    /// The delivery attempt is older than the tolerance allows (a replay, or a slow queue).
    #[error("the delivery attempt is {} old, more than the {} allowed", secs(*age), secs(*tolerance))]
    TooOld {
        /// How long before the receiver's clock the attempt was made.
        age: Duration,
        /// The tolerance that was applied.
        tolerance: Duration,
    },
    /// The delivery attempt is further in the future than the tolerance allows (a clock off).
    #[error("the delivery attempt is {} in the future, more than the {} allowed", secs(*ahead), secs(*tolerance))]
    TooNew {
        /// How far after the receiver's clock the attempt's timestamp is.
        ahead: Duration,
        /// The tolerance that was applied.
        tolerance: Duration,
    },
    /// The body is not JSON.
    #[error("the body is not JSON: {message}")]
    NotJson {
        /// The parser's message.
        message: String,
    },
    /// The body is JSON but not a Plain webhook of the schema this crate was built from.
    #[error("the body is not a Plain webhook event: {message}")]
    NotPlainWebhook {
        /// What did not fit, and where.
        message: String,
    },
    /// The body does not fit this crate's schema, and the target's schema version differs:
    /// the webhook target is set to a version this crate was not built from.
    #[error("the body does not fit webhook schema {expected}, and the webhook target is on version {received}: set the target to {expected}, or update plain-client ({message})")]
    VersionMismatch {
        /// The target's version (`webhookMetadata.webhookTargetVersion`).
        received: String,
        /// The version of the schema this crate was built from.
        expected: String,
        /// What did not fit.
        message: String,
    },
}

impl WebhookError {
    /// Whether the delivery was refused as not coming from Plain (a signature that is missing,
    /// malformed or wrong): answer 401. Other failures (a stale attempt, a body that does not
    /// fit) are answered 400.
    pub fn is_signature_failure(&self) -> bool {
        matches!(
            self,
            Self::EmptySignature | Self::SignatureNotHex | Self::SignatureMismatch
        )
    }
}

/// A duration as the messages give it: whole seconds, or seconds with milliseconds.
pub(super) fn secs(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{} s", millis / 1000)
    } else {
        format!("{}.{:03} s", millis / 1000, millis % 1000)
    }
}
