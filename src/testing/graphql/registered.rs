//! Answers registered for operations by name: the operation's `data` made of its variables,
//! fitted to what the operation selects and checked against the schema as it is.

use graphql_parser::query as q;
use graphql_parser::schema as s;
use serde_json::Value;

use super::output::Out;
use super::selection::{Context, Field};
use crate::schema_check::Kind;

/// An answer registered for an operation, by name: the operation's `data` as a function of its
/// variables (see [`super::LocalServerBuilder::answer`]).
pub type AnswerFn = std::sync::Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// The answers registered, by operation name.
pub type Answers = std::collections::HashMap<String, AnswerFn>;

impl Context<'_> {
    /// A registered answer's `data`, checked against the schema as it is completed: only what
    /// the operation selects, under its response keys; every selected field present, of its
    /// type, null only where the schema allows it.
    pub(super) fn answer_json(
        &self,
        root: &str,
        data: &Value,
        set: &q::SelectionSet<'static, String>,
    ) -> Result<Out, String> {
        let named = s::Type::NonNullType(Box::new(s::Type::NamedType(root.to_owned())));
        let fields: Vec<&Field> = Vec::new();
        self.json_value(&named, data, &fields, Some(set), "data")
    }

    fn json_value(
        &self,
        ty: &s::Type<'static, String>,
        value: &Value,
        fields: &[&Field],
        root_set: Option<&q::SelectionSet<'static, String>>,
        path: &str,
    ) -> Result<Out, String> {
        let name = match ty {
            s::Type::NonNullType(inner) => {
                if value.is_null() {
                    return Err(format!("{path} is null (or missing), and its type is {ty}"));
                }
                return self.json_value(inner, value, fields, root_set, path);
            }
            s::Type::ListType(inner) => {
                return match value {
                    Value::Null => Ok(Out::Null),
                    Value::Array(items) => items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            self.json_value(inner, item, fields, root_set, &format!("{path}[{i}]"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(Out::List),
                    other => Err(format!("{path} is {other}, not a list ({ty})")),
                };
            }
            s::Type::NamedType(name) => name.as_str(),
        };
        if value.is_null() {
            return Ok(Out::Null);
        }
        let Some(def) = self.schema.types.get(name) else {
            return Err(format!("{path}: the schema has no type {name}"));
        };
        let wrong = || format!("{path} is {value}, not a {name}");
        match def.kind {
            Kind::Scalar => match (name, value) {
                ("String", Value::String(text)) | ("ID", Value::String(text)) => {
                    Ok(Out::Str(text.clone()))
                }
                ("ID", Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Out::Str(n.to_string())),
                ("Int", Value::Number(n))
                    if n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) =>
                {
                    Ok(Out::Raw(value.clone()))
                }
                ("Float", Value::Number(_)) => Ok(Out::Raw(value.clone())),
                ("Boolean", Value::Bool(b)) => Ok(Out::Bool(*b)),
                ("String" | "ID" | "Int" | "Float" | "Boolean", _) => Err(wrong()),
                // A custom scalar (DateTime's ISO text, JSON...): as given.
                _ => Ok(Out::Raw(value.clone())),
            },
            Kind::Enum => match value {
                Value::String(text) if def.values.contains(text) => Ok(Out::Str(text.clone())),
                _ => Err(format!(
                    "{path} is {value}, not a value of {name} ({})",
                    def.values.join(", ")
                )),
            },
            Kind::Object | Kind::Interface | Kind::Union => {
                let Value::Object(object) = value else {
                    return Err(wrong());
                };
                let concrete = if def.kind == Kind::Object {
                    name.to_owned()
                } else {
                    match object.get("__typename").and_then(Value::as_str) {
                        Some(t) if def.possible.contains(t) => t.to_owned(),
                        _ => {
                            return Err(format!(
                                "{path} is a {name}: give its `__typename`, one of {}",
                                def.possible.iter().cloned().collect::<Vec<_>>().join(", ")
                            ))
                        }
                    }
                };
                let collected = match root_set {
                    Some(set) => self.collect(&concrete, set),
                    None => self.collect_all(&concrete, fields.iter().map(|f| &f.selection_set)),
                };
                let mut out = Vec::new();
                for (key, sub_fields) in collected {
                    let field = sub_fields[0].name.as_str();
                    if field == "__typename" {
                        out.push((key, Out::Str(concrete.clone())));
                        continue;
                    }
                    let def = self
                        .schema
                        .types
                        .get(&concrete)
                        .and_then(|t| t.fields.iter().find(|f| f.name == field));
                    let Some(def) = def else {
                        return Err(format!("{path}: {concrete} has no field {field}"));
                    };
                    let inner = object.get(field).unwrap_or(&Value::Null);
                    let at = format!("{path}.{field}");
                    out.push((
                        key,
                        self.json_value(&def.ty, inner, &sub_fields, None, &at)?,
                    ));
                }
                Ok(Out::Object(out))
            }
            Kind::InputObject => Err(format!("{path}: {name} is an input type")),
        }
    }
}
