//! A verified webhook event: the envelope Plain wraps every event in, and its typed payload.

use std::borrow::Cow;

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::Serialize;
use serde_json::value::RawValue;

use super::error::WebhookError;
use super::events::{EventPayload, EventType, WebhookMetadata, SCHEMA_VERSION};

/// The longest text quoted from a body in an error, in characters.
const EXCERPT_CHARS: usize = 200;

/// One webhook event, verified: the envelope's fields and the typed payload.
///
/// Serializes to the envelope's JSON shape (`id`, `type`, `timestamp`, `workspaceId`,
/// `webhookMetadata`, `payload`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The event id: the same on every delivery attempt of the event. Deduplicate on it.
    pub id: String,
    /// The event type (`type`), such as `customer.customer_created`.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the event happened (RFC 3339).
    pub timestamp: String,
    /// The workspace the event belongs to.
    #[serde(rename = "workspaceId")]
    pub workspace_id: String,
    /// The target, its schema version, and this delivery attempt.
    #[serde(rename = "webhookMetadata")]
    pub webhook_metadata: WebhookMetadata,
    /// The payload, typed by event type; an event type this crate does not know is kept as
    /// [`EventPayload::Unknown`].
    pub payload: EventPayload,
}

impl Event {
    /// The number of this delivery attempt, from 1.
    pub fn attempt_number(&self) -> i64 {
        self.webhook_metadata.webhook_delivery_attempt_number
    }
}

/// The envelope, read in one pass: when `type` comes before `payload` (as Plain writes it),
/// the payload is typed as it is read; otherwise it is kept as raw JSON and typed afterwards.
pub(crate) struct Envelope<'a> {
    id: String,
    event_type: Cow<'a, str>,
    timestamp: String,
    workspace_id: String,
    pub(crate) webhook_metadata: WebhookMetadata,
    payload: Payload<'a>,
    /// The whole body, for the version in an error.
    body: &'a [u8],
}

enum Payload<'a> {
    Typed(EventPayload),
    Raw(&'a RawValue),
}

impl<'a> Envelope<'a> {
    /// The envelope of a body: [`WebhookError::NotJson`] when it is not JSON, else
    /// [`WebhookError::NotPlainWebhook`] (or a version mismatch) when it is not an envelope
    /// or its payload does not fit its type.
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, WebhookError> {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let parts = serde::Deserializer::deserialize_map(&mut deserializer, EnvelopeVisitor)
            .and_then(|parts| deserializer.end().map(|()| parts))
            .map_err(|e| shape_error(body, &e))?;
        Ok(Envelope { body, ..parts })
    }

    /// The event, its payload typed by its event type.
    pub(crate) fn into_event(self) -> Result<Event, WebhookError> {
        let payload = match self.payload {
            Payload::Typed(payload) => payload,
            Payload::Raw(raw) => EventPayload::parse(&self.event_type, raw.get()).map_err(|e| {
                mismatch(
                    self.body,
                    format!("payload of {}: {e}", excerpt(&self.event_type)),
                )
            })?,
        };
        if payload.payload_event_type() != Some(self.event_type.as_ref()) {
            return Err(mismatch(
                self.body,
                format!(
                    "payload.eventType `{}` is not the event's type `{}`",
                    excerpt(payload.payload_event_type().unwrap_or("(none)")),
                    excerpt(&self.event_type)
                ),
            ));
        }
        Ok(Event {
            id: self.id,
            event_type: EventType::from(self.event_type.as_ref()),
            timestamp: self.timestamp,
            workspace_id: self.workspace_id,
            webhook_metadata: self.webhook_metadata,
            payload,
        })
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Plain webhook envelope (an object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut id = None;
        let mut event_type: Option<Cow<'de, str>> = None;
        let mut timestamp = None;
        let mut workspace_id = None;
        let mut webhook_metadata = None;
        let mut payload = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "id" => id = Some(map.next_value()?),
                "type" => event_type = Some(map.next_value::<Cow<'de, str>>()?),
                "timestamp" => timestamp = Some(map.next_value()?),
                "workspaceId" => workspace_id = Some(map.next_value()?),
                "webhookMetadata" => webhook_metadata = Some(map.next_value()?),
                "payload" => {
                    payload = Some(match &event_type {
                        Some(t) => Payload::Typed(map.next_value_seed(PayloadSeed(t))?),
                        None => Payload::Raw(map.next_value()?),
                    });
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let missing = |field| A::Error::missing_field(field);
        Ok(Envelope {
            id: id.ok_or_else(|| missing("id"))?,
            event_type: event_type.ok_or_else(|| missing("type"))?,
            timestamp: timestamp.ok_or_else(|| missing("timestamp"))?,
            workspace_id: workspace_id.ok_or_else(|| missing("workspaceId"))?,
            webhook_metadata: webhook_metadata.ok_or_else(|| missing("webhookMetadata"))?,
            payload: payload.ok_or_else(|| missing("payload"))?,
            body: &[],
        })
    }
}

/// Types a payload as it is read, by the event type read before it.
struct PayloadSeed<'t>(&'t str);

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = EventPayload;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        EventPayload::deserialize_as(self.0, deserializer)
    }
}

fn shape_error(body: &[u8], error: &serde_json::Error) -> WebhookError {
    match error.classify() {
        serde_json::error::Category::Data => mismatch(body, error.to_string()),
        _ => WebhookError::NotJson {
            message: excerpt(&error.to_string()),
        },
    }
}

/// The body does not fit the schema: a version mismatch when the target's version is not the
/// schema's, else not a Plain webhook.
fn mismatch(body: &[u8], message: String) -> WebhookError {
    let message = excerpt(&message);
    match target_version(body) {
        Some(received) if received != SCHEMA_VERSION => WebhookError::VersionMismatch {
            received: excerpt(&received),
            expected: SCHEMA_VERSION.to_owned(),
            message,
        },
        _ => WebhookError::NotPlainWebhook { message },
    }
}

/// `webhookMetadata.webhookTargetVersion`, read leniently (only on the error path).
fn target_version(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .pointer("/webhookMetadata/webhookTargetVersion")?
        .as_str()
        .map(str::to_owned)
}

/// Text from a body, as one line of at most 200 characters.
pub(crate) fn excerpt(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(EXCERPT_CHARS + 1)
        .collect();
    if line.chars().count() > EXCERPT_CHARS {
        let cut: String = line.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}...")
    } else {
        line
    }
}
