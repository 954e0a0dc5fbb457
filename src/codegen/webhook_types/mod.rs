//! Rust types for Plain's webhook events, generated from the vendored webhook JSON Schema
//! (`graphql/webhook-schema.json`).
//!
//! A small generator of its own rather than typify: it needs only serde_json (already built for
//! the library), where typify brings schemars, a JSON Schema model and its own proc-macro stack
//! into every build. It understands the part of JSON Schema that Plain's webhook schema uses:
//!
//! - an object with `properties` is a struct (a field not in `required` is an `Option`);
//! - a string with `enum` is an enum whose `Unknown(String)` keeps a value added later;
//! - `anyOf` (or a `type` list) of one type and `null` is an `Option` of that type;
//! - `allOf` of constraints on one scalar type is that type;
//! - `anyOf` or `oneOf` of several object shapes that one property tells apart (required in
//!   each, a different `const` string in each, such as `actorType`, `type`, `status` or
//!   `changeType`) is an enum with a variant per value, holding that shape's struct, and
//!   `Unknown(serde_json::Value)` keeping the object of a value added later. A branch that is
//!   a `$ref`, into a definition or into another union's branch, is resolved first, and a
//!   branch that is itself a union gives its own branches; a `null` among them makes the enum
//!   an `Option`. A union written under a definition is one enum of that name wherever it is
//!   used (`nullableActor` is `Option<Actor>`); a shape written inline in a union is a struct
//!   named by its value and its union (`SupportEmailAddressEmailActor`), and Plain's own
//!   `UNKNOWN` value is the variant `UnknownValue`;
//! - any other union (no property tells its shapes apart, an `allOf` of objects) is kept as
//!   `serde_json::Value`. In Plain's schema that is `threadAssignee` alone (a thread's
//!   `assignee` and `additionalAssignees`): a user, a machine user and an `{ id }` object with
//!   no property in common that says which;
//! - `const`, `format`, `pattern` and length bounds are strings, not checked here.
//!
//! Every struct keeps fields Plain adds later out of the way (`additionalProperties` is true
//! throughout Plain's schema, so unknown fields are ignored, never refused).

mod enums;
mod events;
mod names;
mod unions;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use events::{collect_event_types, reference, EventKind};
use names::{camel, event_variant, snake};
use unions::union_branches;

/// The Rust source of the webhook types, or a message naming what could not be generated.
pub fn generate(schema_text: &str) -> Result<String, String> {
    Ok(run(schema_text)?.code)
}

/// The Rust names of the unions kept as `serde_json::Value`, because their branches share no
/// discriminator (the module's documentation lists them).
pub fn untyped_unions(schema_text: &str) -> Result<BTreeSet<String>, String> {
    Ok(run(schema_text)?.untyped)
}

/// What one run of the generator made.
struct Generated {
    code: String,
    untyped: BTreeSet<String>,
}

fn run(schema_text: &str) -> Result<Generated, String> {
    let schema: Value = serde_json::from_str(schema_text)
        .map_err(|e| format!("the webhook schema is not JSON: {e}"))?;
    let mut generator = Generator {
        root: &schema,
        out: String::new(),
        names: BTreeMap::new(),
        untyped: BTreeSet::new(),
        payload_unions: BTreeSet::new(),
        unions: 0,
    };
    generator.run()?;
    Ok(Generated {
        code: generator.out,
        untyped: generator.untyped,
    })
}

struct Generator<'a> {
    root: &'a Value,
    out: String,
    /// Which schema pointer each Rust name was written for, to refuse two shapes under one name.
    names: BTreeMap<String, String>,
    /// The unions kept as `serde_json::Value`, by the Rust name they would have had.
    untyped: BTreeSet<String>,
    /// The unions whose every branch carries the payload's `eventType`.
    payload_unions: BTreeSet<String>,
    /// How many unions were written as enums (they share two functions, written once).
    unions: usize,
}

impl<'a> Generator<'a> {
    fn run(&mut self) -> Result<(), String> {
        let version = self
            .root
            .pointer("/definitions/webhookMetadata/properties/webhookTargetVersion/const")
            .and_then(Value::as_str)
            .ok_or("the webhook schema has no `webhookMetadata.webhookTargetVersion` const")?;
        let types: Vec<&str> = self
            .root
            .pointer("/properties/type/enum")
            .and_then(Value::as_array)
            .ok_or("the webhook schema has no `type` enum")?
            .iter()
            .map(|v| v.as_str().ok_or("a `type` value is not a string"))
            .collect::<Result<_, _>>()?;
        let payloads = self
            .root
            .pointer("/properties/payload/anyOf")
            .and_then(Value::as_array)
            .ok_or("the webhook schema has no `payload` anyOf")?;

        let _ = writeln!(
            self.out,
            "/// The webhook schema version the types were generated from, as Plain names it in \
             `webhookMetadata.webhookTargetVersion`.\npub const SCHEMA_VERSION: &str = {version:?};"
        );

        // Each payload names its event type in `eventType` (a const), or several in a union.
        let mut by_type: BTreeMap<String, String> = BTreeMap::new();
        for payload in payloads {
            let pointer = reference(payload)?;
            let name = pointer.rsplit('/').next().unwrap_or(pointer).to_owned();
            let target = self.resolve(pointer)?;
            let mut consts = Vec::new();
            collect_event_types(target, &mut consts);
            let rust = self.type_of(payload, &camel(&name))?;
            for wire in consts {
                by_type.entry(wire).or_insert_with(|| rust.clone());
            }
        }
        let mut kinds = Vec::new();
        let mut variants = BTreeSet::new();
        for wire in &types {
            let payload = by_type
                .get(*wire)
                .cloned()
                .unwrap_or_else(|| "serde_json::Value".to_owned());
            let variant = event_variant(wire);
            if !variants.insert(variant.clone()) {
                return Err(format!("two event types are both named `{variant}`"));
            }
            kinds.push(EventKind {
                wire: (*wire).to_owned(),
                variant,
                payload,
            });
        }
        self.type_of(
            &serde_json::json!({"$ref": "#/definitions/webhookMetadata"}),
            "WebhookMetadata",
        )?;
        self.write_event_types(&kinds);
        self.write_payload(&kinds);
        Ok(())
    }

    fn resolve(&self, pointer: &str) -> Result<&'a Value, String> {
        let path = pointer
            .strip_prefix('#')
            .ok_or_else(|| format!("`{pointer}` is not a reference inside the schema"))?;
        self.root
            .pointer(path)
            .ok_or_else(|| format!("`{pointer}` points at nothing"))
    }

    /// The Rust type for `schema`, writing the struct or enum it needs under `name`.
    fn type_of(&mut self, schema: &Value, name: &str) -> Result<String, String> {
        if let Some(pointer) = schema.get("$ref").and_then(Value::as_str) {
            let target = self.resolve(pointer)?;
            let name = match pointer.strip_prefix("#/definitions/") {
                Some(def) if !def.contains('/') => camel(def),
                _ => name.to_owned(),
            };
            return self.type_of(target, &name);
        }
        if let Some(branches) = union_branches(schema) {
            let (nulls, others): (Vec<&Value>, Vec<&Value>) =
                branches.iter().partition(|b| is_null(b));
            return match others.as_slice() {
                [one] if !nulls.is_empty() => Ok(option(self.type_of(one, name)?)),
                [one] => self.type_of(one, name),
                _ => self.union(schema, name),
            };
        }
        // `allOf` of constraints on one scalar type (a string with a pattern) is that type.
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            let kinds: BTreeSet<Option<&str>> = parts
                .iter()
                .map(|p| p.get("type").and_then(Value::as_str))
                .collect();
            let scalar = parts.iter().all(|p| p.get("properties").is_none());
            return match (
                kinds.into_iter().collect::<Vec<_>>().as_slice(),
                parts.first(),
            ) {
                ([Some(kind)], Some(first)) if scalar && *kind != "object" => {
                    self.type_of(first, name)
                }
                _ => Ok("serde_json::Value".to_owned()),
            };
        }
        let kinds: Vec<&str> = match schema.get("type") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => return Ok("serde_json::Value".to_owned()),
        };
        let nullable = kinds.contains(&"null");
        let kinds: Vec<&str> = kinds.into_iter().filter(|k| *k != "null").collect();
        let [kind] = kinds.as_slice() else {
            return Ok("serde_json::Value".to_owned());
        };
        let rust = match *kind {
            "string" => match schema.get("enum").and_then(Value::as_array) {
                Some(values) => self.write_enum(name, values)?,
                None => "String".to_owned(),
            },
            "integer" => "i64".to_owned(),
            "number" => "f64".to_owned(),
            "boolean" => "bool".to_owned(),
            "array" => {
                let items = schema.get("items").unwrap_or(&Value::Null);
                let item = if items.is_null() {
                    "serde_json::Value".to_owned()
                } else {
                    self.type_of(items, &format!("{name}Item"))?
                };
                format!("Vec<{item}>")
            }
            "object" => match schema.get("properties").and_then(Value::as_object) {
                Some(properties) => self.write_struct(name, schema, properties)?,
                None => "serde_json::Map<String, serde_json::Value>".to_owned(),
            },
            other => return Err(format!("`{name}`: the type `{other}` is not understood")),
        };
        Ok(if nullable { option(rust) } else { rust })
    }

    /// Claims `name` for the shape `schema`; false when it is already written for that shape.
    fn claim(&mut self, name: &str, schema: &Value) -> Result<bool, String> {
        let shape = schema.to_string();
        match self.names.get(name) {
            Some(previous) if *previous == shape => Ok(false),
            Some(_) => Err(format!("two different shapes would both be named `{name}`")),
            None => {
                self.names.insert(name.to_owned(), shape);
                Ok(true)
            }
        }
    }

    fn write_struct(
        &mut self,
        name: &str,
        schema: &Value,
        properties: &serde_json::Map<String, Value>,
    ) -> Result<String, String> {
        if !self.claim(name, schema)? {
            return Ok(name.to_owned());
        }
        let required: BTreeSet<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields = String::new();
        let sorted: BTreeMap<&String, &Value> = properties.iter().collect();
        for (property, property_schema) in sorted {
            let field_type =
                self.type_of(property_schema, &format!("{name}{}", camel(property)))?;
            let optional = !required.contains(property.as_str());
            let field_type = if optional {
                option(field_type)
            } else {
                field_type
            };
            // A field that may be absent, or that is any JSON, is `null` when absent.
            let default = if optional
                || field_type.starts_with("Option<")
                || field_type == "serde_json::Value"
            {
                ", default"
            } else {
                ""
            };
            let _ = writeln!(
                fields,
                "    /// `{property}`.\n    #[serde(rename = {property:?}{default})]\n    pub {}: {field_type},",
                snake(property)
            );
        }
        let _ = writeln!(
            self.out,
            "\n/// Generated from the webhook schema's `{name}` shape.\n\
             #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]\n\
             pub struct {name} {{\n{fields}}}"
        );
        Ok(name.to_owned())
    }
}

/// One arm of a generated `match`: `pattern => body,`.
fn arm(out: &mut String, pattern: impl std::fmt::Display, body: impl std::fmt::Display) {
    let _ = writeln!(out, "            {pattern} => {body},");
}

fn is_null(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

fn option(rust: String) -> String {
    if rust.starts_with("Option<") || rust == "serde_json::Value" {
        rust
    } else {
        format!("Option<{rust}>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vendored() -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("graphql")
            .join(super::super::webhook_schema::WEBHOOK_SCHEMA_FILE);
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn only_the_thread_assignee_stays_untyped() {
        let untyped = untyped_unions(&vendored()).unwrap();
        assert_eq!(untyped, BTreeSet::from(["ThreadAssignee".to_owned()]));
    }

    #[test]
    fn discriminated_unions_are_enums_of_their_shapes() {
        let code = generate(&vendored()).unwrap();
        for (union, variants) in [
            (
                "Actor",
                "UnknownValue(UnknownInternalActor), User(UserActor), \
                 MachineUser(MachineUserActor), System(SystemActor), Customer(CustomerActor)",
            ),
            (
                "CustomerGroupChangedPayload",
                "Added(AddedCustomerGroupChangedPayload), \
                 Updated(UpdatedCustomerGroupChangedPayload), \
                 Removed(RemovedCustomerGroupChangedPayload)",
            ),
        ] {
            let start = code.find(&format!("pub enum {union} {{")).unwrap();
            let body = &code[start..start + code[start..].find("\n}").unwrap()];
            let found: Vec<&str> = body
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("///") && l.ends_with("),"))
                .collect();
            let mut expected: Vec<String> = variants.split(", ").map(|v| format!("{v},")).collect();
            expected.push("Unknown(serde_json::Value),".to_owned());
            assert_eq!(found, expected, "{union}");
        }
        // One enum per definition, wherever it is used; a nullable one is an `Option`.
        assert_eq!(code.matches("pub enum InternalActor {").count(), 1);
        assert!(code.contains("pub deleted_by: Option<InternalActor>,"));
        assert!(code.contains("pub created_by: InternalActor,"));
        assert!(code.contains("pub assignee: serde_json::Value,"));
    }
}
