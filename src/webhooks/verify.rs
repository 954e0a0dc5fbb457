//! Checking a delivery: the signature over the raw body, the attempt's age, the body's shape.

use std::fmt;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::WebhookError;
use super::event::{Envelope, Event};

/// How far a delivery attempt's timestamp may be from the receiver's clock, either way, by
/// default: 300 s, as Plain's own SDK.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The largest body [`Webhook::verify`] reads by default: 5 MiB. A larger one is refused
/// ([`WebhookError::BodyTooLarge`]) before any other work.
pub const DEFAULT_MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

/// The environment variable [`WebhookSecret::from_env`] reads.
pub const SECRET_ENV: &str = "PLAIN_WEBHOOK_SECRET";

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Plain-Request-Signature";

/// The workspace's request-signing secret (Plain's Settings, Request signing).
///
/// Its `Debug` shows `WebhookSecret(<redacted>)`; it has no `Display`, and no error of this
/// module holds it.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// The secret, as Plain shows it.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret from `PLAIN_WEBHOOK_SECRET`; `None` when unset, empty or not UTF-8.
    pub fn from_env() -> Option<Self> {
        std::env::var(SECRET_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .map(Self)
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length: this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Checks Plain's webhook deliveries for one workspace, and signs bodies for tests.
///
/// ```
/// use plain_client::webhooks::{Webhook, WebhookSecret};
/// use std::time::Duration;
///
/// let webhook = Webhook::new(WebhookSecret::new("whsec_example"))
///     .tolerance(Duration::from_secs(300))
///     .max_body_bytes(1 << 20);
/// let error = webhook.verify(b"{}", "not-hex").unwrap_err();
/// assert_eq!(error, plain_client::webhooks::WebhookError::SignatureNotHex);
/// ```
#[derive(Debug, Clone)]
pub struct Webhook {
    secret: WebhookSecret,
    tolerance: Duration,
    max_body_bytes: usize,
}

impl Webhook {
    /// Checks deliveries signed with `secret`, with the default tolerance (300 s) and body
    /// bound (5 MiB).
    pub fn new(secret: WebhookSecret) -> Self {
        Self {
            secret,
            tolerance: DEFAULT_TOLERANCE,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// How far an attempt's timestamp may be from now, either way; exactly this far passes.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The longest body accepted, in bytes; one byte more is [`WebhookError::BodyTooLarge`].
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The longest body accepted, in bytes.
    pub fn body_limit(&self) -> usize {
        self.max_body_bytes
    }

    /// Checks a delivery against the system clock and parses it: `body` the raw bytes
    /// received (never re-serialized JSON), `signature` the `Plain-Request-Signature` header.
    pub fn verify(&self, body: &[u8], signature: &str) -> Result<Event, WebhookError> {
        self.verify_at(body, signature, SystemTime::now())
    }

    /// [`Webhook::verify`] as if the clock read `now`.
    pub fn verify_at(
        &self,
        body: &[u8],
        signature: &str,
        now: SystemTime,
    ) -> Result<Event, WebhookError> {
        self.check_signature(body, signature)?;
        let envelope = Envelope::parse(body)?;
        self.check_time(&envelope, now)?;
        envelope.into_event()
    }

    /// The signature checks alone: bound, empty body, secret, header shape, HMAC.
    pub fn check_signature(&self, body: &[u8], signature: &str) -> Result<(), WebhookError> {
        if body.len() > self.max_body_bytes {
            return Err(WebhookError::BodyTooLarge {
                limit: self.max_body_bytes,
            });
        }
        if body.is_empty() {
            return Err(WebhookError::EmptyBody);
        }
        if self.secret.0.is_empty() {
            return Err(WebhookError::EmptySecret);
        }
        let signature = signature.trim();
        if signature.is_empty() {
            return Err(WebhookError::EmptySignature);
        }
        let expected = decode_hex(signature).ok_or(WebhookError::SignatureNotHex)?;
        let mut mac = self.secret.mac();
        mac.update(body);
        // Constant time over the raw bytes.
        mac.verify_slice(&expected)
            .map_err(|_| WebhookError::SignatureMismatch)
    }

    fn check_time(&self, envelope: &Envelope<'_>, now: SystemTime) -> Result<(), WebhookError> {
        let text = &envelope.webhook_metadata.webhook_delivery_attempt_timestamp;
        let Some(attempt) = crate::time::parse_rfc3339_utc(text) else {
            return Err(WebhookError::NotPlainWebhook {
                message: format!(
                    "webhookMetadata.webhookDeliveryAttemptTimestamp is not an RFC 3339 time: {}",
                    super::event::excerpt(text)
                ),
            });
        };
        match now.duration_since(attempt) {
            Ok(age) if age > self.tolerance => Err(WebhookError::TooOld {
                age,
                tolerance: self.tolerance,
            }),
            Ok(_) => Ok(()),
            Err(ahead) if ahead.duration() > self.tolerance => Err(WebhookError::TooNew {
                ahead: ahead.duration(),
                tolerance: self.tolerance,
            }),
            Err(_) => Ok(()),
        }
    }

    /// The `Plain-Request-Signature` value for `body`: its HMAC-SHA256 under the secret, as
    /// lowercase hex. For tests and local servers; the attempt timestamp that
    /// [`Webhook::verify`] checks is inside the body.
    pub fn sign(&self, body: &[u8]) -> String {
        let mut mac = self.secret.mac();
        mac.update(body);
        encode_hex(&mac.finalize().into_bytes())
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

/// 32 bytes from 64 hex digits (either case); `None` for anything else.
fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let value = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (value(pair[0])? << 4) | value(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_other_shapes() {
        let bytes: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37)).collect();
        let text = encode_hex(&bytes);
        assert_eq!(decode_hex(&text).map(|b| b.to_vec()), Some(bytes));
        assert_eq!(
            decode_hex(&text.to_uppercase()),
            decode_hex(&text),
            "either case"
        );
        assert_eq!(decode_hex(&text[..62]), None);
        assert_eq!(decode_hex(&format!("{}zz", &text[..62])), None);
    }

    #[test]
    fn the_secret_never_shows() {
        let secret = WebhookSecret::new("hunter2-secret");
        let webhook = Webhook::new(secret.clone());
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{webhook:?}").contains("hunter2"));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(super::super::error::secs(Duration::from_secs(301)), "301 s");
        assert_eq!(
            super::super::error::secs(Duration::from_millis(1500)),
            "1.500 s"
        );
    }
}
