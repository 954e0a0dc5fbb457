//! The vendored webhook schema (`graphql/webhook-schema.json`): the project's own reduced copy
//! of Plain's webhook JSON Schema, and the report of what changed between two versions.
//!
//! The copy keeps every shape (the typed events cover every event type) but none of Plain's
//! `description` or `title` texts, with its keys sorted, so that the file `plain-schema webhooks
//! update` writes is the same for the same input and its diffs are small.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The vendored webhook schema's file name inside the `graphql/` folder.
pub const WEBHOOK_SCHEMA_FILE: &str = "webhook-schema.json";

/// The project's reduced copy of Plain's full webhook schema, as the text to write.
pub fn reduce(full: &str) -> Result<String, String> {
    let schema: Value =
        serde_json::from_str(full).map_err(|e| format!("the webhook schema is not JSON: {e}"))?;
    if schema.get("definitions").is_none() || schema.pointer("/properties/type/enum").is_none() {
        return Err("this is not Plain's webhook schema: no `definitions` or `type` enum".into());
    }
    let reduced = strip(&schema);
    let mut text = serde_json::to_string_pretty(&reduced)
        .map_err(|e| format!("cannot write the webhook schema: {e}"))?;
    text.push('\n');
    Ok(text)
}

/// A schema without its texts, keys sorted. `properties` and `definitions` hold names, not
/// keywords: a property called `description` stays.
fn strip(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                let value = &map[key];
                match key.as_str() {
                    "description" | "title" | "examples" | "$comment" => {}
                    "properties" | "definitions" | "patternProperties" => {
                        out.insert(key.clone(), named(value));
                    }
                    "enum" | "const" | "required" | "default" => {
                        out.insert(key.clone(), value.clone());
                    }
                    _ => {
                        out.insert(key.clone(), strip(value));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
        other => other.clone(),
    }
}

/// A map of names to schemas, names sorted.
fn named(value: &Value) -> Value {
    let Value::Object(map) = value else {
        return value.clone();
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut out = Map::new();
    for key in keys {
        out.insert(key.clone(), strip(&map[key]));
    }
    Value::Object(out)
}

/// The schema version (`webhookMetadata.webhookTargetVersion`), if the schema names one.
pub fn version(schema: &Value) -> Option<&str> {
    schema
        .pointer("/definitions/webhookMetadata/properties/webhookTargetVersion/const")
        .and_then(Value::as_str)
}

/// What changed from `previous` to `next` (both webhook schemas), one line per change, each
/// saying whether it breaks a receiver built from `previous`. Empty when nothing changed.
pub fn report(previous: &str, next: &str) -> Result<Report, String> {
    let parse = |text: &str| -> Result<Value, String> {
        serde_json::from_str(text).map_err(|e| format!("the webhook schema is not JSON: {e}"))
    };
    let (old, new) = (parse(previous)?, parse(next)?);
    let mut report = Report::default();
    if version(&old) != version(&new) {
        report.note(
            false,
            format!(
                "version {} -> {}: Plain sends the version of each target's own setting",
                version(&old).unwrap_or("(none)"),
                version(&new).unwrap_or("(none)")
            ),
        );
    }
    let types = |schema: &Value| strings(schema.pointer("/properties/type/enum"));
    let (old_types, new_types) = (types(&old), types(&new));
    for added in new_types.difference(&old_types) {
        report.note(
            false,
            format!("event type `{added}` added: older receivers keep it as an unknown event"),
        );
    }
    for removed in old_types.difference(&new_types) {
        report.note(
            true,
            format!("event type `{removed}` removed: code that handles it no longer builds"),
        );
    }
    let definitions = |schema: &Value| schema.get("definitions").cloned().unwrap_or_default();
    compare(
        "",
        &definitions(&old),
        &definitions(&new),
        &mut report,
        true,
    );
    Ok(report)
}

/// Compares two maps of named schemas (definitions, or an object's properties).
fn compare(scope: &str, old: &Value, new: &Value, report: &mut Report, top: bool) {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return;
    };
    let what = if top { "shape" } else { "field" };
    for (name, new_schema) in new {
        let path = format!("{scope}{name}");
        match old.get(name) {
            None => report.note(false, format!("{what} `{path}` added")),
            Some(old_schema) => compare_one(&path, old_schema, new_schema, report),
        }
    }
    for name in old.keys().filter(|name| !new.contains_key(*name)) {
        report.note(
            true,
            format!("{what} `{scope}{name}` removed: a receiver that reads it breaks"),
        );
    }
}

/// The strings of a JSON array (an enum's values, a `required` list); none when absent.
fn strings(array: Option<&Value>) -> BTreeSet<String> {
    array
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn compare_one(path: &str, old: &Value, new: &Value, report: &mut Report) {
    if old == new {
        return;
    }
    let required = |schema: &Value| strings(schema.get("required"));
    let (old_required, new_required) = (required(old), required(new));
    for field in old_required.difference(&new_required) {
        report.note(
            true,
            format!("`{path}.{field}` is no longer required: its type becomes an Option"),
        );
    }
    for field in new_required.difference(&old_required) {
        report.note(false, format!("`{path}.{field}` is now required"));
    }
    let shape = |schema: &Value| {
        let mut schema = schema.clone();
        if let Some(map) = schema.as_object_mut() {
            map.remove("properties");
            map.remove("required");
        }
        schema
    };
    if shape(old) != shape(new) {
        let breaks = !(old.get("const").is_some() && path.ends_with("webhookTargetVersion"));
        report.note(
            breaks,
            format!(
                "`{path}` changed from {} to {}",
                excerpt(&shape(old)),
                excerpt(&shape(new))
            ),
        );
    }
    let properties = |schema: &Value| schema.get("properties").cloned().unwrap_or_default();
    compare(
        &format!("{path}."),
        &properties(old),
        &properties(new),
        report,
        false,
    );
}

/// A schema on one line, cut at 120 characters.
fn excerpt(schema: &Value) -> String {
    let text = schema.to_string();
    match text.char_indices().nth(120) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

/// The changes between two webhook schemas.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// `(breaks a receiver, what changed)`, in the order found.
    pub changes: Vec<(bool, String)>,
}

impl Report {
    fn note(&mut self, breaks: bool, text: String) {
        self.changes.push((breaks, text));
    }

    /// How many changes break a receiver built from the previous schema.
    pub fn breaking(&self) -> usize {
        self.changes.iter().filter(|(breaks, _)| *breaks).count()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "webhook schema: no changes");
        }
        let mut text = String::new();
        for (breaks, change) in &self.changes {
            let label = if *breaks { "BREAKING" } else { "SAFE    " };
            let _ = writeln!(text, "{label}  {change}");
        }
        let _ = writeln!(
            text,
            "webhook schema: {} change(s), {} breaking a receiver",
            self.changes.len(),
            self.breaking()
        );
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = r#"{
        "title": "Webhooks", "description": "Plain's words",
        "properties": {"type": {"type": "string", "enum": ["a.one", "a.two"]}},
        "definitions": {
            "thing": {"type": "object", "description": "Plain's words",
                "properties": {"id": {"type": "string"}, "description": {"type": "string"}},
                "required": ["id", "description"]},
            "webhookMetadata": {"type": "object",
                "properties": {"webhookTargetVersion": {"type": "string", "const": "2026-01-01"}}}
        }
    }"#;

    #[test]
    fn the_copy_drops_plains_texts_but_keeps_a_field_named_description() {
        let reduced = reduce(OLD).unwrap();
        assert!(!reduced.contains("Plain's words"));
        assert!(!reduced.contains("\"title\""));
        let value: Value = serde_json::from_str(&reduced).unwrap();
        assert!(value
            .pointer("/definitions/thing/properties/description")
            .is_some());
        assert_eq!(
            reduce(&reduced).unwrap(),
            reduced,
            "the same input, the same bytes"
        );
        assert!(reduce("{}").is_err());
    }

    #[test]
    fn the_report_says_which_changes_break_a_receiver() {
        let new = OLD
            .replace(r#"["a.one", "a.two"]"#, r#"["a.one", "a.three"]"#)
            .replace(
                r#""required": ["id", "description"]"#,
                r#""required": ["id"]"#,
            )
            .replace("2026-01-01", "2026-02-02");
        let report = report(&reduce(OLD).unwrap(), &reduce(&new).unwrap()).unwrap();
        let text = report.to_string();
        assert!(
            text.contains("SAFE      event type `a.three` added"),
            "{text}"
        );
        assert!(
            text.contains("BREAKING  event type `a.two` removed"),
            "{text}"
        );
        assert!(
            text.contains("BREAKING  `thing.description` is no longer required"),
            "{text}"
        );
        assert!(text.contains("version 2026-01-01 -> 2026-02-02"), "{text}");
        assert_eq!(report.breaking(), 2, "{text}");
        let same = super::report(OLD, OLD).unwrap();
        assert!(same.changes.is_empty());
    }
}
