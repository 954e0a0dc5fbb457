//! The event types: `EventType`, `EVENT_TYPES`, and `EventPayload`, a variant per event type
//! holding its payload.

use std::fmt::Write as _;

use serde_json::Value;

use super::{arm, Generator};

/// One event type: its wire name, its variant, and its payload's Rust type.
pub(super) struct EventKind {
    pub(super) wire: String,
    pub(super) variant: String,
    pub(super) payload: String,
}

/// The definition a `payload` branch points at, as its `$ref`.
pub(super) fn reference(schema: &Value) -> Result<&str, String> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .ok_or_else(|| "a `payload` branch is not a `$ref`".to_owned())
}

/// Every `eventType` const under `schema` (one, or several for a union of payloads).
pub(super) fn collect_event_types(schema: &Value, out: &mut Vec<String>) {
    if let Some(wire) = schema
        .pointer("/properties/eventType/const")
        .and_then(Value::as_str)
    {
        out.push(wire.to_owned());
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            for branch in branches {
                collect_event_types(branch, out);
            }
        }
    }
}

impl Generator<'_> {
    pub(super) fn write_event_types(&mut self, kinds: &[EventKind]) {
        let variants: Vec<(String, String)> = kinds
            .iter()
            .map(|k| (k.wire.clone(), k.variant.clone()))
            .collect();
        self.write_string_enum(
            "EventType",
            "The type of a webhook event (`type` in the envelope, `eventType` in the payload).",
            &variants,
        );
        let mut list = String::new();
        for kind in kinds {
            let _ = write!(list, "{:?}, ", kind.wire);
        }
        let _ = writeln!(
            self.out,
            "\n/// Every event type of the webhook schema, in the schema's order.\n\
             pub const EVENT_TYPES: &[&str] = &[{list}];"
        );
    }

    pub(super) fn write_payload(&mut self, kinds: &[EventKind]) {
        let mut decl = String::new();
        let mut parse = String::new();
        let mut event_type = String::new();
        let mut serialize = String::new();
        let mut tag = String::new();
        for EventKind {
            wire,
            variant,
            payload,
        } in kinds
        {
            // Boxed: the payloads differ in size by kilobytes, and an event moves by value.
            let held = if payload == "serde_json::Value" {
                payload.clone()
            } else {
                format!("Box<{payload}>")
            };
            let _ = writeln!(decl, "    /// `{wire}`.\n    {variant}({held}),");
            let read = format!("Self::{variant}(serde::Deserialize::deserialize(deserializer)?)");
            arm(&mut parse, format_args!("{wire:?}"), read);
            let read_tag = if payload == "serde_json::Value" {
                "payload.get(\"eventType\").and_then(serde_json::Value::as_str)"
            } else if self.payload_unions.contains(payload) {
                "payload.event_type()"
            } else {
                "Some(payload.event_type.as_str())"
            };
            let this = format!("Self::{variant}(payload)");
            arm(&mut tag, &this, read_tag);
            arm(
                &mut event_type,
                format_args!("Self::{variant}(_)"),
                format_args!("EventType::{variant}"),
            );
            arm(&mut serialize, &this, "payload.serialize(serializer)");
        }
        let _ = writeln!(
            self.out,
            r#"
/// The payload of a webhook event, one variant per event type of the webhook schema.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventPayload {{
{decl}    /// An event type this version of the crate does not know (a newer Plain): its type and
    /// its payload as Plain sent them, so that a receiver can acknowledge it.
    Unknown {{
        /// The event type, as Plain wrote it.
        event_type: String,
        /// The payload, as Plain sent it.
        raw: serde_json::Value,
    }},
}}

impl EventPayload {{
    /// Parses the payload of an event of type `event_type` from its JSON text.
    pub fn parse(event_type: &str, raw: &str) -> Result<Self, serde_json::Error> {{
        let mut deserializer = serde_json::Deserializer::from_str(raw);
        let payload = Self::deserialize_as(event_type, &mut deserializer)?;
        deserializer.end()?;
        Ok(payload)
    }}

    /// Deserializes the payload of an event of type `event_type`.
    pub fn deserialize_as<'de, D: serde::Deserializer<'de>>(
        event_type: &str,
        deserializer: D,
    ) -> Result<Self, D::Error> {{
        Ok(match event_type {{
{parse}            other => Self::Unknown {{
                event_type: other.to_owned(),
                raw: serde::Deserialize::deserialize(deserializer)?,
            }},
        }})
    }}

    /// The payload's own `eventType`, as Plain wrote it (`None` when it has none).
    pub fn payload_event_type(&self) -> Option<&str> {{
        match self {{
{tag}            Self::Unknown {{ raw, .. }} => raw.get("eventType").and_then(serde_json::Value::as_str),
        }}
    }}

    /// The event type of this payload.
    pub fn event_type(&self) -> EventType {{
        match self {{
{event_type}            Self::Unknown {{ event_type, .. }} => EventType::Unknown(event_type.clone()),
        }}
    }}
}}

impl serde::Serialize for EventPayload {{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{
        match self {{
{serialize}            Self::Unknown {{ raw, .. }} => raw.serialize(serializer),
        }}
    }}
}}"#
        );
    }
}
