//! Unions of several shapes: the shapes of an `anyOf` or a `oneOf`, the property that tells
//! them apart, and the enum written for them.

use std::fmt::Write as _;

use serde_json::Value;

use super::names::{camel, union_home, variant_names};
use super::{arm, is_null, option, Generator};

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

impl<'a> Generator<'a> {
    /// The Rust type for a union of several shapes: an enum when one property tells them
    /// apart, else `serde_json::Value`.
    pub(super) fn union(&mut self, schema: &Value, name: &str) -> Result<String, String> {
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
}

/// The branches of an `anyOf` or a `oneOf`.
pub(super) fn union_branches(schema: &Value) -> Option<&Vec<Value>> {
    schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
}
