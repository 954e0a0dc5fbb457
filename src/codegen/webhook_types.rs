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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

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

/// One shape of a union, its nested unions flattened.
struct Branch<'s> {
    schema: &'s Value,
    /// The definition's name when the branch is a `$ref` to a whole definition.
    definition: Option<String>,
    /// The Rust name of the union the branch is written in, for the name of an inline branch.
    home: String,
}

/// A union's discriminator: the property, and its value in each branch.
struct Discriminator {
    property: String,
    values: Vec<String>,
}

/// What every union's `Deserialize` uses: its discriminator's value, and one branch read from
/// the raw JSON, either naming the union in an error.
const UNION_READERS: &str = r#"
/// The discriminator `tag` of a union, read from its raw JSON: an object whose `tag` is a
/// string.
fn union_tag<'v, E: serde::de::Error>(
    raw: &'v serde_json::Value,
    union: &str,
    tag: &str,
) -> Result<&'v str, E> {
    match raw.get(tag) {
        Some(serde_json::Value::String(value)) => Ok(value),
        _ => Err(E::custom(format_args!(
            "{union}: expected an object with a string `{tag}`"
        ))),
    }
}

/// One branch of a union, read from its raw JSON.
fn union_branch<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    raw: serde_json::Value,
    union: &str,
    value: &str,
) -> Result<T, E> {
    serde_json::from_value(raw).map_err(|e| E::custom(format_args!("{union} {value:?}: {e}")))
}
"#;

/// One event type: its wire name, its variant, and its payload's Rust type.
struct EventKind {
    wire: String,
    variant: String,
    payload: String,
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

    fn write_enum(&mut self, name: &str, values: &[Value]) -> Result<String, String> {
        if !self.claim(name, &Value::Array(values.to_vec()))? {
            return Ok(name.to_owned());
        }
        let values: Vec<String> = values
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("`{name}`: an enum value is not a string"))
            })
            .collect::<Result<_, _>>()?;
        let variants: Vec<(String, String)> =
            values.iter().cloned().zip(variant_names(&values)).collect();
        self.write_string_enum(
            name,
            &format!("Generated from the webhook schema's `{name}` values."),
            &variants,
        );
        Ok(name.to_owned())
    }

    /// The Rust type for a union of several shapes: an enum when one property tells them
    /// apart, else `serde_json::Value`.
    fn union(&mut self, schema: &Value, name: &str) -> Result<String, String> {
        let mut branches = Vec::new();
        let mut nullable = false;
        self.flatten(schema, None, name, &mut branches, &mut nullable)?;
        let rust = match self.discriminator(&branches)? {
            Some(discriminator) => self.write_union(name, schema, &discriminator, &branches)?,
            None => {
                self.untyped.insert(name.to_owned());
                "serde_json::Value".to_owned()
            }
        };
        Ok(if nullable { option(rust) } else { rust })
    }

    /// The shapes of `schema`, references resolved and nested unions flattened into one list;
    /// `nullable` is set when one of them is `null`.
    fn flatten<'s>(
        &self,
        schema: &'s Value,
        definition: Option<String>,
        home: &str,
        out: &mut Vec<Branch<'s>>,
        nullable: &mut bool,
    ) -> Result<(), String>
    where
        'a: 's,
    {
        if let Some(pointer) = schema.get("$ref").and_then(Value::as_str) {
            let target: &'s Value = self.resolve(pointer)?;
            return match pointer.strip_prefix("#/definitions/") {
                Some(def) if !def.contains('/') => {
                    self.flatten(target, Some(camel(def)), &camel(def), out, nullable)
                }
                _ => {
                    let home = union_home(pointer).unwrap_or_else(|| home.to_owned());
                    self.flatten(target, None, &home, out, nullable)
                }
            };
        }
        if is_null(schema) {
            *nullable = true;
            return Ok(());
        }
        if let Some(branches) = union_branches(schema) {
            for branch in branches {
                self.flatten(branch, None, home, out, nullable)?;
            }
            return Ok(());
        }
        out.push(Branch {
            schema,
            definition,
            home: home.to_owned(),
        });
        Ok(())
    }

    /// The property that tells the branches apart: required in each, a `const` string in each,
    /// a different one in each. `None` when no property does.
    fn discriminator(&self, branches: &[Branch<'_>]) -> Result<Option<Discriminator>, String> {
        let Some(first) = branches.first() else {
            return Ok(None);
        };
        let candidates = first
            .schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        'candidates: for property in candidates {
            let mut values = Vec::new();
            for branch in branches {
                match self.required_const(branch.schema, &property)? {
                    Some(value) if !values.contains(&value) => values.push(value),
                    _ => continue 'candidates,
                }
            }
            return Ok(Some(Discriminator { property, values }));
        }
        Ok(None)
    }

    /// The `const` string of a required `property` of an object shape.
    fn required_const(&self, schema: &Value, property: &str) -> Result<Option<String>, String> {
        let required = schema
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|p| p.as_str() == Some(property)));
        let Some(mut property) = schema.pointer(&format!("/properties/{property}")) else {
            return Ok(None);
        };
        while let Some(pointer) = property.get("$ref").and_then(Value::as_str) {
            property = self.resolve(pointer)?;
        }
        let value = property.get("const").and_then(Value::as_str);
        Ok(value.filter(|_| required).map(str::to_owned))
    }

    /// An enum with a variant per branch of a discriminated union, each holding its branch's
    /// struct, and `Unknown(serde_json::Value)` for a discriminator this version does not know.
    fn write_union(
        &mut self,
        name: &str,
        schema: &Value,
        discriminator: &Discriminator,
        branches: &[Branch<'_>],
    ) -> Result<String, String> {
        if !self.claim(name, schema)? {
            return Ok(name.to_owned());
        }
        if self.unions == 0 {
            self.out.push_str(UNION_READERS);
        }
        self.unions += 1;
        let tag = &discriminator.property;
        let mut decl = String::new();
        let mut parse = String::new();
        let mut serialize = String::new();
        let mut event_type = String::new();
        let variants = variant_names(&discriminator.values);
        for ((branch, wire), variant) in branches.iter().zip(&discriminator.values).zip(variants) {
            let struct_name = match &branch.definition {
                Some(definition) => definition.clone(),
                None => format!("{}{}", camel(wire), branch.home),
            };
            let held = self.type_of(branch.schema, &struct_name)?;
            let _ = writeln!(decl, "    /// `{tag}` is `{wire}`.\n    {variant}({held}),");
            let this = format!("Self::{variant}(branch)");
            let read = format!("Self::{variant}(union_branch(raw, {name:?}, {wire:?})?)");
            arm(&mut parse, format_args!("{wire:?}"), read);
            arm(&mut serialize, &this, "branch.serialize(serializer)");
            arm(&mut event_type, &this, "Some(branch.event_type.as_str())");
        }
        let _ = writeln!(
            self.out,
            r#"
/// Generated from the webhook schema's `{name}` union, whose shapes `{tag}` tells apart.
#[derive(Debug, Clone, PartialEq)]
pub enum {name} {{
{decl}    /// A value of `{tag}` this version of the crate does not know (a newer Plain): the
    /// object as Plain sent it.
    Unknown(serde_json::Value),
}}

impl serde::Serialize for {name} {{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{
        match self {{
{serialize}            Self::Unknown(raw) => raw.serialize(serializer),
        }}
    }}
}}

impl<'de> serde::Deserialize<'de> for {name} {{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {{
        let raw = serde_json::Value::deserialize(deserializer)?;
        Ok(match union_tag(&raw, {name:?}, {tag:?})? {{
{parse}            _ => Self::Unknown(raw),
        }})
    }}
}}"#
        );
        // A payload union: its `eventType`, as a payload struct's field gives it.
        let payload = branches
            .iter()
            .map(|b| self.required_const(b.schema, "eventType"))
            .collect::<Result<Vec<_>, _>>()?;
        if payload.iter().all(Option::is_some) {
            self.payload_unions.insert(name.to_owned());
            let _ = writeln!(
                self.out,
                r#"
impl {name} {{
    /// The payload's `eventType`, as Plain wrote it (`None` when it has none).
    pub fn event_type(&self) -> Option<&str> {{
        match self {{
{event_type}            Self::Unknown(raw) => raw.get("eventType").and_then(serde_json::Value::as_str),
        }}
    }}
}}"#
            );
        }
        Ok(name.to_owned())
    }

    /// An enum of strings whose `Unknown(String)` keeps a value this version does not know.
    fn write_string_enum(&mut self, name: &str, doc: &str, variants: &[(String, String)]) {
        let mut decl = String::new();
        let mut to_str = String::new();
        let mut from_str = String::new();
        for (wire, variant) in variants {
            let _ = writeln!(decl, "    /// `{wire}`.\n    {variant},");
            arm(
                &mut to_str,
                format_args!("Self::{variant}"),
                format_args!("{wire:?}"),
            );
            arm(
                &mut from_str,
                format_args!("{wire:?}"),
                format_args!("Self::{variant}"),
            );
        }
        let _ = writeln!(
            self.out,
            r#"
/// {doc}
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum {name} {{
{decl}    /// A value this version of the crate does not know, as Plain sent it.
    Unknown(String),
}}

impl {name} {{
    /// The value as Plain writes it.
    pub fn as_str(&self) -> &str {{
        match self {{
{to_str}            Self::Unknown(text) => text,
        }}
    }}
}}

impl From<&str> for {name} {{
    fn from(text: &str) -> Self {{
        match text {{
{from_str}            other => Self::Unknown(other.to_owned()),
        }}
    }}
}}

impl std::fmt::Display for {name} {{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{
        f.write_str(self.as_str())
    }}
}}

impl serde::Serialize for {name} {{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{
        serializer.serialize_str(self.as_str())
    }}
}}

impl<'de> serde::Deserialize<'de> for {name} {{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {{
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::from(text.as_ref()))
    }}
}}"#
        );
    }

    fn write_event_types(&mut self, kinds: &[EventKind]) {
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

    fn write_payload(&mut self, kinds: &[EventKind]) {
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

fn reference(schema: &Value) -> Result<&str, String> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .ok_or_else(|| "a `payload` branch is not a `$ref`".to_owned())
}

/// Every `eventType` const under `schema` (one, or several for a union of payloads).
fn collect_event_types(schema: &Value, out: &mut Vec<String>) {
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

/// One arm of a generated `match`: `pattern => body,`.
fn arm(out: &mut String, pattern: impl std::fmt::Display, body: impl std::fmt::Display) {
    let _ = writeln!(out, "            {pattern} => {body},");
}

/// The branches of an `anyOf` or a `oneOf`.
fn union_branches(schema: &Value) -> Option<&Vec<Value>> {
    schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
}

/// The Rust name of the union a `$ref` to one of its branches points into:
/// `#/definitions/internalActor/anyOf/0` is in `InternalActor`, and
/// `#/definitions/timelineEntry/properties/entry/anyOf/0` in `TimelineEntryEntry`, the names
/// [`Generator::type_of`] gives them. `None` for any other pointer.
fn union_home(pointer: &str) -> Option<String> {
    let mut parts: Vec<&str> = pointer.strip_prefix("#/definitions/")?.split('/').collect();
    parts.pop()?.parse::<usize>().ok()?;
    if !matches!(parts.pop()?, "anyOf" | "oneOf") {
        return None;
    }
    let mut parts = parts.into_iter();
    let mut name = camel(parts.next()?);
    while let Some(part) = parts.next() {
        match part {
            "properties" => name.push_str(&camel(parts.next()?)),
            "items" => name.push_str("Item"),
            _ => return None,
        }
    }
    Some(name)
}

/// A variant name for each wire value: `Unknown` is the crate's own, so Plain's `UNKNOWN` is
/// `UnknownValue`; two values of one name are told apart by a trailing `_`.
fn variant_names(values: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    values
        .iter()
        .map(|wire| {
            let mut variant = camel(wire);
            if variant == "Unknown" {
                variant = "UnknownValue".to_owned();
            }
            while !seen.insert(variant.clone()) {
                variant.push('_');
            }
            variant
        })
        .collect()
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

/// `customer.customer_created` → `CustomerCreated`; `thread.email_received` →
/// `ThreadEmailReceived`: the family is said once.
fn event_variant(wire: &str) -> String {
    let (family, name) = wire.split_once('.').unwrap_or(("", wire));
    let name = camel(name);
    let family = camel(family);
    if name.starts_with(&family) {
        name
    } else {
        format!("{family}{name}")
    }
}

/// `UpperCamelCase` from camelCase, snake_case, SCREAMING_CASE or dotted text.
pub fn camel(text: &str) -> String {
    let mut out = String::new();
    for part in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if part.is_empty() {
            continue;
        }
        let screaming = part.chars().all(|c| !c.is_ascii_lowercase());
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            if screaming {
                out.extend(chars.map(|c| c.to_ascii_lowercase()));
            } else {
                out.extend(chars);
            }
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

/// `snake_case` from camelCase, for a field name; keywords are raw identifiers.
fn snake(text: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_ascii_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            previous_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            previous_lower = true;
        } else {
            out.push('_');
            previous_lower = false;
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else",
        "enum", "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod",
        "move", "mut", "pub", "ref", "return", "static", "struct", "super", "trait", "true",
        "type", "unsafe", "use", "where", "while", "yield",
    ];
    if KEYWORDS.contains(&out.as_str()) {
        out.insert_str(0, "r#");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(camel("customerGroup"), "CustomerGroup");
        assert_eq!(camel("ADDED"), "Added");
        assert_eq!(snake("webhookTargetId"), "webhook_target_id");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(
            event_variant("customer.customer_created"),
            "CustomerCreated"
        );
        assert_eq!(
            event_variant("thread.email_received"),
            "ThreadEmailReceived"
        );
        assert_eq!(
            union_home("#/definitions/internalActor/anyOf/0").as_deref(),
            Some("InternalActor")
        );
        assert_eq!(
            union_home("#/definitions/timelineEntry/properties/entry/anyOf/0").as_deref(),
            Some("TimelineEntryEntry")
        );
        assert_eq!(union_home("#/definitions/userActor"), None);
        assert_eq!(
            variant_names(&["UNKNOWN".into(), "user".into(), "USER".into()]),
            ["UnknownValue", "User", "User_"]
        );
    }

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
