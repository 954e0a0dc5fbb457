//! Input values: the operation's variables coerced to their types, literals of the document
//! as JSON, and `ID`s as text.

use graphql_parser::query as q;
use serde_json::{Map, Value};

use crate::schema_check::{Kind, Schema};
use crate::testing::failure::RequestFailure;

pub(super) fn coerce_variables(
    schema: &Schema,
    operation: &q::OperationDefinition<'static, String>,
    mut given: Map<String, Value>,
) -> Result<Map<String, Value>, RequestFailure> {
    let definitions = match operation {
        q::OperationDefinition::Query(o) => &o.variable_definitions,
        q::OperationDefinition::Mutation(o) => &o.variable_definitions,
        q::OperationDefinition::Subscription(o) => &o.variable_definitions,
        q::OperationDefinition::SelectionSet(_) => return Ok(Map::new()),
    };
    let mut coerced = Map::new();
    for definition in definitions {
        let name = &definition.name;
        let ty = &definition.var_type;
        match given.remove(name) {
            Some(value) => {
                let value = coerce(schema, ty, value, name).map_err(|e| {
                    RequestFailure::bad_input(format!(
                        "Variable \"${name}\" got invalid value; {e}"
                    ))
                })?;
                coerced.insert(name.clone(), value);
            }
            None => {
                if let Some(default) = &definition.default_value {
                    coerced.insert(name.clone(), literal(default, &Map::new()));
                } else if matches!(ty, q::Type::NonNullType(_)) {
                    return Err(RequestFailure::bad_input(format!(
                        "Variable \"${name}\" of required type \"{ty}\" was not provided."
                    )));
                }
            }
        }
    }
    Ok(coerced)
}

/// Checks (and, for lists, coerces) a JSON value against an input type.
pub(super) fn coerce(
    schema: &Schema,
    ty: &q::Type<'static, String>,
    value: Value,
    path: &str,
) -> Result<Value, String> {
    match (ty, value) {
        (q::Type::NonNullType(_), Value::Null) => Err(format!(
            "Expected non-nullable type \"{ty}\" not to be null at \"{path}\"."
        )),
        (q::Type::NonNullType(inner), value) => coerce(schema, inner, value, path),
        (_, Value::Null) => Ok(Value::Null),
        (q::Type::ListType(inner), Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| coerce(schema, inner, item, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (q::Type::ListType(inner), value) => {
            Ok(Value::Array(vec![coerce(schema, inner, value, path)?]))
        }
        (q::Type::NamedType(name), value) => coerce_named(schema, name, value, path),
    }
}

fn coerce_named(schema: &Schema, name: &str, value: Value, path: &str) -> Result<Value, String> {
    let def = schema
        .types
        .get(name)
        .ok_or_else(|| format!("Unknown type \"{name}\"."))?;
    let fits = match (def.kind, name, &value) {
        (Kind::InputObject, _, Value::Object(_)) => true,
        (Kind::Scalar, "String", Value::String(_)) => true,
        (Kind::Scalar, "ID", Value::String(_)) => true,
        (Kind::Scalar, "ID" | "Int", Value::Number(n)) => n.is_i64(),
        (Kind::Scalar, "Float", Value::Number(_)) => true,
        (Kind::Scalar, "Boolean", Value::Bool(_)) => true,
        (Kind::Enum, _, Value::String(s)) => def.values.contains(s),
        (Kind::Scalar, custom, _) => !["String", "ID", "Int", "Float", "Boolean"].contains(&custom),
        _ => false,
    };
    if !fits {
        return Err(format!("{value} at \"{path}\" is not a valid \"{name}\"."));
    }
    let Value::Object(mut object) = value else {
        return Ok(value);
    };
    if def.kind != Kind::InputObject {
        return Ok(Value::Object(object));
    }
    let mut out = Map::new();
    for field in &def.fields {
        let field_path = format!("{path}.{}", field.name);
        match object.remove(&field.name) {
            Some(v) => {
                out.insert(
                    field.name.clone(),
                    coerce(schema, &field.ty, v, &field_path)?,
                );
            }
            None if matches!(field.ty, q::Type::NonNullType(_)) && !field.has_default => {
                return Err(format!(
                    "Field \"{}\" of required type \"{}\" was not provided at \"{path}\".",
                    field.name, field.ty
                ));
            }
            None => {}
        }
    }
    if let Some(unknown) = object.keys().next() {
        return Err(format!(
            "Field \"{unknown}\" is not defined by type \"{name}\" at \"{path}\"."
        ));
    }
    Ok(Value::Object(out))
}

/// A literal of the query as JSON, with variables replaced by their values.
pub(super) fn literal(value: &q::Value<'static, String>, variables: &Map<String, Value>) -> Value {
    match value {
        q::Value::Variable(name) => variables.get(name).cloned().unwrap_or(Value::Null),
        q::Value::Int(n) => n.as_i64().map(Value::from).unwrap_or(Value::Null),
        q::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        q::Value::String(s) => Value::String(s.clone()),
        q::Value::Boolean(b) => Value::Bool(*b),
        q::Value::Null => Value::Null,
        q::Value::Enum(e) => Value::String(e.clone()),
        q::Value::List(items) => {
            Value::Array(items.iter().map(|v| literal(v, variables)).collect())
        }
        q::Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), literal(v, variables)))
                .collect(),
        ),
    }
}

/// An `ID` (a string or an integer once coerced) as the text the store keys it by.
pub(super) fn id_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
