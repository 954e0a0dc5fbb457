//! What a request that ran answers: its `data`, whose objects keep the order of the
//! selection, and the errors of the fields that failed on their own.

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::Value;

use super::selection::Field;
use crate::testing::scripted::ScriptedAnswer;

/// What a request that ran answers, with HTTP 200: its `data`, and the errors of the fields
/// that could not be resolved; or a scripted fault's answer in their place.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The data, in the order of the selection.
    pub data: Out,
    /// The fields that failed, in the order of the selection.
    pub errors: Vec<FieldFailure>,
    /// The answer a scripted fault sends instead of this one.
    pub instead: Option<ScriptedAnswer>,
}

impl Executed {
    /// The answer's body: `{"data": ...}`, with `errors` first when a field failed.
    pub fn body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Answer<'a> {
            #[serde(skip_serializing_if = "Vec::is_empty")]
            errors: Vec<Value>,
            data: &'a Out,
        }
        let answer = Answer {
            errors: self.errors.iter().map(FieldFailure::to_json).collect(),
            data: &self.data,
        };
        serde_json::to_vec(&answer).unwrap_or_else(|_| b"{\"data\":null}".to_vec())
    }
}

/// The error of one root field that could not be resolved, in an answer that still has
/// `data` (the field `null`), as GraphQL answers a partial failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldFailure {
    /// The field's response key (its alias, or its name).
    pub key: String,
    /// Where the field is in the document.
    pub line: usize,
    /// Where the field is in the document.
    pub column: usize,
    /// `extensions.code`.
    pub code: &'static str,
    /// The message.
    pub message: String,
}

impl FieldFailure {
    /// The key may not read `myWorkspace`. Plain checks a key's permissions field by field,
    /// and answers a field it may not read as GraphQL answers a resolver's error: HTTP 200,
    /// the field `null`, and an `errors[]` entry with its `path` and the code `FORBIDDEN`.
    /// The message is this server's own wording.
    pub(super) fn workspace_forbidden(key: &str, field: &Field) -> Self {
        Self {
            key: key.to_owned(),
            line: field.position.line,
            column: field.position.column,
            code: "FORBIDDEN",
            message: "Forbidden: this API key may not read the workspace".to_owned(),
        }
    }

    fn to_json(&self) -> Value {
        serde_json::json!({
            "message": self.message,
            "locations": [{"line": self.line, "column": self.column}],
            "path": [self.key],
            "extensions": {"code": self.code},
        })
    }
}

/// A JSON value whose objects keep the order of the selection, as GraphQL answers do.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Null,
    Bool(bool),
    Str(String),
    /// A number, or a custom scalar's value, as a registered answer gave it.
    Raw(Value),
    List(Vec<Out>),
    Object(Vec<(String, Out)>),
}

impl Serialize for Out {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Out::Null => serializer.serialize_unit(),
            Out::Bool(b) => serializer.serialize_bool(*b),
            Out::Str(s) => serializer.serialize_str(s),
            Out::Raw(value) => value.serialize(serializer),
            Out::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Out::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}
