//! Enums of strings: each keeps a value Plain adds later in `Unknown(String)`.

use std::fmt::Write as _;

use serde_json::Value;

use super::names::variant_names;
use super::{arm, Generator};

impl Generator<'_> {
    pub(super) fn write_enum(&mut self, name: &str, values: &[Value]) -> Result<String, String> {
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

    /// An enum of strings whose `Unknown(String)` keeps a value this version does not know.
    pub(super) fn write_string_enum(
        &mut self,
        name: &str,
        doc: &str,
        variants: &[(String, String)],
    ) {
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
}
