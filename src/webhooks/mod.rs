//! Plain's webhooks: verifying a delivery and reading it as a typed event (feature
//! `webhooks`, with no web framework).
//!
//! Plain POSTs each event as JSON, signed with the workspace's request-signing secret:
//! `Plain-Request-Signature` is the HMAC-SHA256 of the raw body, as lowercase hex.
//! [`Webhook::verify`] checks, in order, and names the first check that failed
//! ([`WebhookError`]):
//!
//! 1. the body's length, at most 5 MiB by default ([`Webhook::max_body_bytes`]);
//! 2. an empty body, an empty secret, an empty or non-hex signature;
//! 3. the signature, in constant time over the raw bytes: verify the bytes you received, never
//!    JSON you parsed and wrote again;
//! 4. that the body is JSON, and a Plain envelope whose payload fits its event type, typed
//!    from the webhook schema this crate was built from (version [`events::SCHEMA_VERSION`]).
//!    When it does not fit and the target's version differs, the error is
//!    [`WebhookError::VersionMismatch`]. An event type this crate does not know is no error:
//!    it is kept as [`EventPayload::Unknown`] with its type and raw JSON, so that a receiver
//!    can acknowledge it. The body is read once: the payload is typed as it is read;
//! 5. the attempt's timestamp (`webhookMetadata.webhookDeliveryAttemptTimestamp`, inside the
//!    signed body), at most 300 s from the receiver's clock either way
//!    ([`Webhook::tolerance`]), so that a captured delivery cannot be replayed later.
//!
//! The typing stands in for Plain's JSON Schema validation: required fields, types, and enum
//! values are checked (an unknown enum value is kept as `Unknown(text)`); string patterns and
//! lengths are not.
//!
//! # Who did it
//!
//! An actor (`createdBy`, `updatedBy`, `markedAsSpamBy`, an entry's `actor`) is an enum told
//! apart by its `actorType`: [`events::Actor`] (anyone), [`events::InternalActor`] (a user, a
//! machine user or Plain itself, never a customer) and [`events::EmailActor`]. So are the other
//! unions of shapes that one property tells apart: a customer group change (`changeType`), a
//! thread's `statusDetail`, a timeline entry, service level agreements, UI components. A
//! value this crate does not know (a newer Plain) is `Unknown(json)`, the object as Plain sent
//! it, written back unchanged; a `null` actor is `None`.
//!
//! ```
//! use plain_client::webhooks::events::{Actor, EventPayload};
//!
//! fn changed_by(payload: &EventPayload) -> Option<String> {
//!     let EventPayload::CustomerUpdated(updated) = payload else {
//!         return None;
//!     };
//!     Some(match &updated.customer.updated_by {
//!         Actor::User(user) => format!("user {}", user.user_id),
//!         Actor::MachineUser(machine) => format!("machine user {}", machine.machine_user_id),
//!         Actor::Unknown(raw) => format!("a newer kind of actor: {raw}"),
//!         other => format!("{other:?}"),
//!     })
//! }
//!
//! let actor: Actor = serde_json::from_str(r#"{"actorType": "robot", "robotId": "r_7"}"#)?;
//! assert!(matches!(actor, Actor::Unknown(_)));
//! assert_eq!(serde_json::to_string(&actor)?, r#"{"actorType":"robot","robotId":"r_7"}"#);
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! # Receiving
//!
//! Plain retries a delivery not answered with 2xx, over several days, with the same event
//! `id`, a new attempt id and the attempt number plus one. So a receiver:
//!
//! 1. verifies the raw body, and answers 401 to a signature failure
//!    ([`WebhookError::is_signature_failure`]) and 400 to the rest;
//! 2. answers 2xx quickly, before the work, which it queues;
//! 3. does each event's work once, deduplicating on the event id: [`Deduplicator`] in memory,
//!    or, with the `state` feature, `SqliteDeduplicator` in a file that survives restarts.
//!
//! ```
//! use plain_client::webhooks::{Deduplicator, EventPayload, Webhook, WebhookSecret};
//!
//! fn receive(webhook: &Webhook, seen: &mut Deduplicator, body: &[u8], signature: &str) -> u16 {
//!     let event = match webhook.verify(body, signature) {
//!         Ok(event) => event,
//!         Err(e) if e.is_signature_failure() => return 401,
//!         Err(_) => return 400,
//!     };
//!     if !seen.first_time(&event.id) {
//!         return 200; // a retry of an event already handled
//!     }
//!     match event.payload {
//!         EventPayload::CustomerCreated(created) => println!("new customer {}", created.customer.id),
//!         _ => {} // acknowledged, not used
//!     }
//!     200
//! }
//! # let webhook = Webhook::new(WebhookSecret::new("secret"));
//! # assert_eq!(receive(&webhook, &mut Deduplicator::new(10), b"{}", "00"), 401);
//! ```

mod dedupe;
#[cfg(feature = "state")]
mod dedupe_sqlite;
mod error;
mod event;
mod verify;

/// The event types, generated at build time from `graphql/webhook-schema.json`: one struct per
/// payload shape, one enum per set of values (each with `Unknown(String)`), one enum per union
/// of shapes that a property tells apart, such as [`events::Actor`] (each with
/// `Unknown(serde_json::Value)`), [`EventType`] and [`EventPayload`].
pub use crate::generated::webhook_events as events;

pub use dedupe::Deduplicator;
#[cfg(feature = "state")]
#[cfg_attr(docsrs, doc(cfg(feature = "state")))]
pub use dedupe_sqlite::{DedupeStoreError, SqliteDeduplicator, DEFAULT_MAX_IDS};
pub use error::WebhookError;
pub use event::Event;
pub use events::{EventPayload, EventType, WebhookMetadata};
pub use verify::{
    Webhook, WebhookSecret, DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, SECRET_ENV, SIGNATURE_HEADER,
};
