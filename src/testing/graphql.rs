//! GraphQL over the local store: parse, validate against the schema, coerce the
//! variables, run the workspace and customer queries and the mutations, and answer with
//! exactly the selected fields.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use graphql_parser::query as q;
use graphql_parser::schema as s;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use super::connections::{cursor, Page, PageArgs, CONNECTION_FIELDS};
use super::events::GROUP_COLOR;
use super::failure::RequestFailure;
use super::store::records::{
    LocalWorkspace, Membership, Outcome, StoredCustomer, StoredCustomerGroup,
};
use super::store::rejection::Rejection;
use super::store::Store;
use super::validate::{self, Kind, Schema};
use crate::input::{CustomerGroupIdentifier, UpsertCustomerInput};

/// The schema the local server speaks unless told otherwise: the crate's vendored one.
pub fn vendored_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        validate::parse_schema(include_str!("../../graphql/schema.graphql"))
            .unwrap_or_else(|e| panic!("the vendored schema does not parse: {e}"))
    })
}

/// Parses a schema given for the server to speak, and checks that it serves this crate's
/// `upsertCustomer` as the crate sends it.
pub fn served_schema(sdl: &str) -> std::io::Result<Schema> {
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
    let schema = validate::parse_schema(sdl)
        .map_err(|e| invalid(format!("the schema given does not parse: {e}")))?;
    validate::check_operation(&schema, crate::generated::upsert_customer::QUERY).map_err(|e| {
        invalid(format!(
            "the schema given cannot serve upsertCustomer as this crate sends it: {e}"
        ))
    })?;
    Ok(schema)
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
    fn workspace_forbidden(key: &str, field: &Field) -> Self {
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

/// What a request that ran answers, with HTTP 200: its `data`, and the errors of the fields
/// that could not be resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    /// The data, in the order of the selection.
    pub data: Out,
    /// The fields that failed, in the order of the selection.
    pub errors: Vec<FieldFailure>,
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

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphqlRequest {
    query: String,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default)]
    operation_name: Option<String>,
}

/// An answer registered for an operation, by name: the operation's `data` as a function of its
/// variables (see [`super::LocalServerBuilder::answer`]).
pub type AnswerFn = std::sync::Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// The answers registered, by operation name.
pub type Answers = std::collections::HashMap<String, AnswerFn>;

/// The root fields the server runs, by root type (besides `__typename`).
const QUERY_FIELDS: [&str; 6] = [
    "myWorkspace",
    "customer",
    "customerByEmail",
    "customerByExternalId",
    "customerGroups",
    "customerGroup",
];
const MUTATION_FIELDS: [&str; 4] = [
    "upsertCustomer",
    "deleteCustomer",
    "addCustomerToCustomerGroups",
    "removeCustomerFromCustomerGroups",
];

/// One root field of the request, its arguments read, ready to run.
enum Call {
    Typename,
    MyWorkspace,
    CustomerById(String),
    CustomerByEmail(String),
    CustomerByExternalId(String),
    CustomerGroups,
    CustomerGroup(String),
    Upsert(Value),
    Delete(Value),
    AddToGroups(Value),
    RemoveFromGroups(Value),
}

/// Executes one request body against the store. `Ok` is a 200 answer: its `data`, and the
/// errors of fields that failed on their own.
pub fn execute(
    schema: &Schema,
    body: &[u8],
    store: &mut Store,
    now: SystemTime,
    answers: &Answers,
) -> Result<Executed, RequestFailure> {
    let request: GraphqlRequest = serde_json::from_slice(body).map_err(|e| {
        RequestFailure::new(
            400,
            "GRAPHQL_PARSE_FAILED",
            format!("The request body is not a GraphQL request (JSON with a `query` string): {e}"),
        )
    })?;
    super::cost::check_text(&request.query)?;
    let mut document = q::parse_query::<String>(&request.query)
        .map_err(|e| {
            RequestFailure::new(
                400,
                "GRAPHQL_PARSE_FAILED",
                format!("Syntax Error: {}", e.to_string().trim()),
            )
        })?
        .into_static();
    super::cost::check(&document)?;
    name_shorthand_queries(&mut document);
    let operation = select_operation(&document, request.operation_name.as_deref())?;
    if let q::OperationDefinition::Subscription(_) = operation {
        // Plain serves subscriptions over a socket, never over a POST.
        return Err(RequestFailure::new(
            400,
            "GRAPHQL_VALIDATION_FAILED",
            "Subscriptions are not served over HTTP; send a query or a mutation",
        ));
    }
    validate::check_document(schema, &document)
        .map_err(|e| RequestFailure::new(400, "GRAPHQL_VALIDATION_FAILED", e))?;
    let variables = coerce_variables(schema, operation, request.variables.unwrap_or_default())?;
    let fragments: BTreeMap<&str, &q::FragmentDefinition<'static, String>> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            q::Definition::Fragment(f) => Some((f.name.as_str(), f)),
            q::Definition::Operation(_) => None,
        })
        .collect();
    let context = Context {
        schema,
        fragments,
        variables,
    };
    let (name, root_name) = match operation {
        q::OperationDefinition::Query(o) => (o.name.as_deref(), schema.query.as_str()),
        q::OperationDefinition::Mutation(o) => (o.name.as_deref(), schema.mutation.as_str()),
        _ => (None, ""),
    };
    if let Some(answer) = name.and_then(|name| answers.get(name)) {
        let set = match operation {
            q::OperationDefinition::Query(o) => &o.selection_set,
            q::OperationDefinition::Mutation(o) => &o.selection_set,
            _ => unreachable!("only queries and mutations are named here"),
        };
        let data = answer(&Value::Object(context.variables.clone()));
        let name = name.unwrap_or_default();
        return context
            .answer_json(root_name, &data, set)
            .map(|data| Executed {
                data,
                errors: Vec::new(),
            })
            .map_err(|e| {
                RequestFailure::new(
                    400,
                    "LOCAL_ANSWER_INVALID",
                    format!(
                        "The answer registered for operation \"{name}\" does not fit the \
                         schema: {e}"
                    ),
                )
            });
    }
    let (query, root, selection_set) = match operation {
        q::OperationDefinition::Query(o) => (true, schema.query.as_str(), &o.selection_set),
        q::OperationDefinition::Mutation(o) => (false, schema.mutation.as_str(), &o.selection_set),
        // Refused above; shorthand queries were named above.
        q::OperationDefinition::Subscription(_) | q::OperationDefinition::SelectionSet(_) => {
            return Err(RequestFailure::new(
                400,
                "GRAPHQL_VALIDATION_FAILED",
                "Only queries and mutations are served here",
            ))
        }
    };
    let served: &[&str] = if query {
        &QUERY_FIELDS
    } else {
        &MUTATION_FIELDS
    };
    // Read every root field's arguments before running any, so that a request refused as a
    // whole has changed nothing.
    context.check_pages(selection_set, &mut Vec::new())?;
    let mut calls = Vec::new();
    for (key, fields) in context.collect(root, selection_set) {
        let field = fields[0];
        let name = field.name.as_str();
        let call = match (query, name) {
            (_, "__typename") => Call::Typename,
            (true, "myWorkspace") => Call::MyWorkspace,
            (true, "customer") => {
                Call::CustomerById(context.text_argument(root, field, "customerId")?)
            }
            (true, "customerByEmail") => {
                Call::CustomerByEmail(context.text_argument(root, field, "email")?)
            }
            (true, "customerByExternalId") => {
                Call::CustomerByExternalId(context.text_argument(root, field, "externalId")?)
            }
            (true, "customerGroups") => Call::CustomerGroups,
            (true, "customerGroup") => {
                Call::CustomerGroup(context.text_argument(root, field, "customerGroupId")?)
            }
            (false, "upsertCustomer") => Call::Upsert(context.argument(root, field, "input")?),
            (false, "deleteCustomer") => Call::Delete(context.argument(root, field, "input")?),
            (false, "addCustomerToCustomerGroups") => {
                Call::AddToGroups(context.argument(root, field, "input")?)
            }
            (false, "removeCustomerFromCustomerGroups") => {
                Call::RemoveFromGroups(context.argument(root, field, "input")?)
            }
            // A field of a fuller schema that the server does not model.
            _ => {
                return Err(RequestFailure::new(
                    400,
                    "GRAPHQL_VALIDATION_FAILED",
                    format!(
                        "The local server does not serve \"{root}.{name}\"; it serves {}. \
                         Register an answer for the operation with \
                         LocalServerBuilder::answer or LocalServer::answer.",
                        served.join(", ")
                    ),
                ))
            }
        };
        calls.push((key, fields, call));
    }
    let mut data = Vec::new();
    let mut errors = Vec::new();
    for (key, fields, call) in calls {
        let found = |customer: Option<&StoredCustomer>| match customer {
            Some(customer) => context.complete(store, Object::Customer(customer), &fields),
            None => Out::Null,
        };
        let value = match call {
            Call::Typename => Out::Str(root.to_owned()),
            Call::MyWorkspace => {
                let workspace = store.workspace();
                if workspace.readable {
                    context.complete(store, Object::Workspace(workspace), &fields)
                } else {
                    errors.push(FieldFailure::workspace_forbidden(&key, fields[0]));
                    Out::Null
                }
            }
            Call::CustomerById(id) => found(store.customer(&id)),
            Call::CustomerByEmail(email) => found(store.customer_by_email(&email)),
            Call::CustomerByExternalId(id) => found(store.customer_by_external_id(&id)),
            Call::CustomerGroups => {
                let wanted = context.string_filter(fields[0], "externalIds");
                let groups: Vec<Object<'_>> = store
                    .customer_groups()
                    .iter()
                    .filter(|g| keeps(&wanted, &g.external_id))
                    .map(Object::Group)
                    .collect();
                context.connection(store, &GROUPS, &groups, &fields)
            }
            Call::CustomerGroup(id) => match store.customer_group(&id) {
                Some(group) => context.complete(store, Object::Group(group), &fields),
                None => Out::Null,
            },
            Call::Upsert(input) => {
                let result = upsert(store, &input, now);
                context.complete(store, Object::Upserted(&result), &fields)
            }
            Call::Delete(input) => {
                let result = store.delete(&id_text(&input["customerId"]));
                context.complete(store, Object::Deleted(result.as_ref().err()), &fields)
            }
            Call::AddToGroups(input) => {
                let result = groups_input(&input)
                    .and_then(|(id, groups)| store.add_to_groups(&id, &groups, now));
                context.complete(store, Object::AddedToGroups(&result), &fields)
            }
            Call::RemoveFromGroups(input) => {
                let result = groups_input(&input)
                    .and_then(|(id, groups)| store.remove_from_groups(&id, &groups));
                context.complete(
                    store,
                    Object::RemovedFromGroups(result.as_ref().err()),
                    &fields,
                )
            }
        };
        data.push((key, value));
    }
    Ok(Executed {
        data: Out::Object(data),
        errors,
    })
}

/// Turns the query shorthand (`{ customer(...) { id } }`) into the unnamed query it stands
/// for, as GraphQL defines it.
fn name_shorthand_queries(document: &mut q::Document<'static, String>) {
    for definition in &mut document.definitions {
        if let q::Definition::Operation(operation) = definition {
            if let q::OperationDefinition::SelectionSet(set) = operation {
                *operation = q::OperationDefinition::Query(q::Query {
                    position: set.span.0,
                    name: None,
                    variable_definitions: Vec::new(),
                    directives: Vec::new(),
                    selection_set: set.clone(),
                });
            }
        }
    }
}

/// An `ID` (a string or an integer once coerced) as the text the store keys it by.
fn id_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

type UpsertResult = Result<(Outcome, StoredCustomer), Rejection>;
type MembershipResult = Result<Vec<Membership>, Rejection>;

fn input_rejection(field: &str, message: String) -> Rejection {
    Rejection {
        message: "There was a validation error.".into(),
        kind: "VALIDATION",
        code: "input_validation",
        fields: vec![(field.into(), message, "VALIDATION")],
    }
}

fn upsert(store: &mut Store, input: &Value, now: SystemTime) -> UpsertResult {
    let input: UpsertCustomerInput = match serde_path_to_error::deserialize(input) {
        Ok(input) => input,
        Err(e) => {
            // The innermost named field at fault, as Plain names fields: `identifier`,
            // `customerGroupIdentifiers`.
            let field = e
                .path()
                .iter()
                .rev()
                .find_map(|segment| match segment {
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "input".to_owned());
            return Err(input_rejection(&field, e.into_inner().to_string()));
        }
    };
    store.upsert(&input, now)
}

/// The customer id and group identifiers of `addCustomerToCustomerGroups` and
/// `removeCustomerFromCustomerGroups`.
fn groups_input(input: &Value) -> Result<(String, Vec<CustomerGroupIdentifier>), Rejection> {
    let field = "customerGroupIdentifiers";
    let groups = serde_json::from_value(input[field].clone())
        .map_err(|e| input_rejection(field, e.to_string()))?;
    Ok((id_text(&input["customerId"]), groups))
}

fn select_operation<'a>(
    document: &'a q::Document<'static, String>,
    name: Option<&str>,
) -> Result<&'a q::OperationDefinition<'static, String>, RequestFailure> {
    let operations: Vec<_> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            q::Definition::Operation(op) => Some(op),
            q::Definition::Fragment(_) => None,
        })
        .collect();
    let name_of = |op: &q::OperationDefinition<'static, String>| match op {
        q::OperationDefinition::Query(o) => o.name.clone(),
        q::OperationDefinition::Mutation(o) => o.name.clone(),
        q::OperationDefinition::Subscription(o) => o.name.clone(),
        q::OperationDefinition::SelectionSet(_) => None,
    };
    match name {
        Some(name) => operations
            .into_iter()
            .find(|op| name_of(op).as_deref() == Some(name))
            .ok_or_else(|| {
                RequestFailure::new(
                    400,
                    "OPERATION_RESOLUTION_FAILURE",
                    format!("Unknown operation named \"{name}\"."),
                )
            }),
        None if operations.len() == 1 => Ok(operations[0]),
        None => Err(RequestFailure::new(
            400,
            "OPERATION_RESOLUTION_FAILURE",
            "Must provide operation name if query contains multiple operations.",
        )),
    }
}

fn coerce_variables(
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
fn coerce(
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
fn literal(value: &q::Value<'static, String>, variables: &Map<String, Value>) -> Value {
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

/// What a selection is made on.
#[derive(Clone, Copy)]
enum Object<'a> {
    Upserted(&'a UpsertResult),
    Deleted(Option<&'a Rejection>),
    AddedToGroups(&'a MembershipResult),
    RemovedFromGroups(Option<&'a Rejection>),
    Workspace(&'a LocalWorkspace),
    Customer(&'a StoredCustomer),
    Email(&'a StoredCustomer),
    Group(&'a StoredCustomerGroup),
    Membership(&'a Membership),
    /// Who made a group or a membership: the API key's machine user.
    Actor,
    DateTime(SystemTime),
    MutationError(&'a Rejection),
    FieldError(&'a (String, String, &'static str)),
}

impl Object<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Object::Upserted(_) => "UpsertCustomerOutput",
            Object::Deleted(_) => "DeleteCustomerOutput",
            Object::AddedToGroups(_) => "AddCustomerToCustomerGroupsOutput",
            Object::RemovedFromGroups(_) => "RemoveCustomerFromCustomerGroupsOutput",
            Object::Workspace(_) => "Workspace",
            Object::Customer(_) => "Customer",
            Object::Email(_) => "EmailAddress",
            Object::Group(_) => "CustomerGroup",
            Object::Membership(_) => "CustomerGroupMembership",
            Object::Actor => "MachineUserActor",
            Object::DateTime(_) => "DateTime",
            Object::MutationError(_) => "MutationError",
            Object::FieldError(_) => "MutationFieldError",
        }
    }
}

/// The id of the machine user the server says made its groups and memberships.
const MACHINE_USER_ID: &str = "mu_local";

/// The types of one connection the server pages.
struct Connection {
    /// The field, which also names its cursors.
    field: &'static str,
    connection: &'static str,
    edge: &'static str,
}

const GROUPS: Connection = Connection {
    field: "customerGroups",
    connection: "CustomerGroupConnection",
    edge: "CustomerGroupEdge",
};

const MEMBERSHIPS: Connection = Connection {
    field: "customerGroupMemberships",
    connection: "CustomerGroupMembershipConnection",
    edge: "CustomerGroupMembershipEdge",
};

/// Whether a filter on external ids (`None`: no filter) keeps an item with this one.
fn keeps(wanted: &Option<Vec<String>>, external_id: &Option<String>) -> bool {
    match wanted {
        None => true,
        Some(wanted) => external_id.as_ref().is_some_and(|id| wanted.contains(id)),
    }
}

/// A field's value before its sub-selection is applied.
enum Resolved<'a> {
    Leaf(Out),
    Object(Object<'a>),
    List(Vec<Object<'a>>),
}

fn text(s: &str) -> Resolved<'static> {
    Resolved::Leaf(Out::Str(s.to_owned()))
}

fn optional_text(s: &Option<String>) -> Resolved<'static> {
    Resolved::Leaf(s.as_ref().map_or(Out::Null, |s| Out::Str(s.clone())))
}

fn resolve<'a>(object: Object<'a>, field: &str) -> Resolved<'a> {
    match (object, field) {
        (_, "__typename") => text(object.type_name()),
        (Object::Upserted(Ok((outcome, _))), "result") => text(outcome.as_str()),
        (Object::Upserted(Ok((_, customer))), "customer") => {
            Resolved::Object(Object::Customer(customer))
        }
        (Object::Upserted(Err(rejection)), "error")
        | (Object::AddedToGroups(Err(rejection)), "error")
        | (Object::Deleted(Some(rejection)), "error")
        | (Object::RemovedFromGroups(Some(rejection)), "error") => {
            Resolved::Object(Object::MutationError(rejection))
        }
        (Object::AddedToGroups(Ok(memberships)), "customerGroupMemberships") => {
            Resolved::List(memberships.iter().map(Object::Membership).collect())
        }
        (Object::Workspace(w), "id") => text(&w.id),
        (Object::Workspace(w), "name") => text(&w.name),
        (Object::Customer(c), "id") => text(&c.id),
        (Object::Customer(c), "externalId") => optional_text(&c.external_id),
        (Object::Customer(c), "fullName") => text(&c.full_name),
        (Object::Customer(c), "shortName") => optional_text(&c.short_name),
        (Object::Customer(c), "email") => Resolved::Object(Object::Email(c)),
        (Object::Customer(c), "createdAt") => Resolved::Object(Object::DateTime(c.created_at)),
        (Object::Customer(c), "updatedAt") => Resolved::Object(Object::DateTime(c.updated_at)),
        (Object::Customer(_), "status") => text("IDLE"),
        (Object::Email(c), "email") => text(&c.email),
        (Object::Email(c), "isVerified") => Resolved::Leaf(Out::Bool(c.email_verified)),
        (Object::Email(c), "verifiedAt") => match c.email_verified_at {
            Some(at) => Resolved::Object(Object::DateTime(at)),
            None => Resolved::Leaf(Out::Null),
        },
        (Object::Group(g), "id") => text(&g.id),
        (Object::Group(g), "key") => text(&g.key),
        (Object::Group(g), "name") => text(&g.name),
        (Object::Group(g), "externalId") => optional_text(&g.external_id),
        (Object::Group(_), "color") => text(GROUP_COLOR),
        (Object::Group(_) | Object::Membership(_), "createdBy" | "updatedBy") => {
            Resolved::Object(Object::Actor)
        }
        (Object::Actor, "machineUserId") => text(MACHINE_USER_ID),
        (Object::Group(g), "createdAt") => Resolved::Object(Object::DateTime(g.created_at)),
        (Object::Group(g), "updatedAt") => Resolved::Object(Object::DateTime(g.updated_at)),
        (Object::Membership(m), "customerId") => text(&m.customer_id),
        (Object::Membership(m), "customerGroup") => Resolved::Object(Object::Group(&m.group)),
        // A membership does not change once made.
        (Object::Membership(m), "createdAt" | "updatedAt") => {
            Resolved::Object(Object::DateTime(m.created_at))
        }
        (Object::DateTime(at), "iso8601") => text(&crate::time::format_rfc3339(at)),
        (Object::DateTime(at), "unixTimestamp") => {
            let millis = at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            text(&millis.to_string())
        }
        (Object::MutationError(r), "message") => text(&r.message),
        (Object::MutationError(r), "type") => text(r.kind),
        (Object::MutationError(r), "code") => text(r.code),
        (Object::MutationError(r), "fields") => {
            Resolved::List(r.fields.iter().map(Object::FieldError).collect())
        }
        (Object::FieldError(f), "field") => text(&f.0),
        (Object::FieldError(f), "message") => text(&f.1),
        (Object::FieldError(f), "type") => text(f.2),
        // The rest: a mutation's other half (no `error` when it succeeded, no result when it
        // was refused), and fields a fuller schema has that the server does not model.
        _ => Resolved::Leaf(Out::Null),
    }
}

struct Context<'a> {
    schema: &'a Schema,
    fragments: BTreeMap<&'a str, &'a q::FragmentDefinition<'static, String>>,
    variables: Map<String, Value>,
}

type Field = q::Field<'static, String>;

/// Fields by response key, in the order the keys first appear, each key found through an
/// index: a lookup per field, never a scan of the keys so far (which made thousands of
/// aliases cost quadratic time).
#[derive(Default)]
struct Collected<'s> {
    fields: Vec<(String, Vec<&'s Field>)>,
    index: HashMap<&'s str, usize>,
}

impl<'s> Collected<'s> {
    fn push(&mut self, field: &'s Field) {
        let key = field.alias.as_deref().unwrap_or(&field.name);
        match self.index.get(key) {
            Some(&at) => self.fields[at].1.push(field),
            None => {
                self.index.insert(key, self.fields.len());
                self.fields.push((key.to_owned(), vec![field]));
            }
        }
    }
}

impl<'a> Context<'a> {
    /// The argument `name` of `field` (a field of the type `parent`) as JSON, checked
    /// against its type.
    fn argument(&self, parent: &str, field: &Field, name: &str) -> Result<Value, RequestFailure> {
        let value = self.given_argument(field, name);
        let def = self
            .schema
            .types
            .get(parent)
            .and_then(|t| t.fields.iter().find(|f| f.name == field.name))
            .and_then(|f| f.args.iter().find(|a| a.name == name))
            .ok_or_else(|| RequestFailure::bad_input(format!("Unknown argument \"{name}\".")))?;
        coerce(self.schema, &def.ty, value, name).map_err(RequestFailure::bad_input)
    }

    /// A string or `ID` argument as text.
    fn text_argument(
        &self,
        parent: &str,
        field: &Field,
        name: &str,
    ) -> Result<String, RequestFailure> {
        Ok(id_text(&self.argument(parent, field, name)?))
    }

    /// Whether `@skip`/`@include` keep a selection.
    fn included(&self, directives: &[q::Directive<'static, String>]) -> bool {
        directives.iter().all(|d| {
            let condition = d
                .arguments
                .iter()
                .find(|(n, _)| n == "if")
                .map(|(_, v)| literal(v, &self.variables));
            match (d.name.as_str(), condition) {
                ("skip", Some(Value::Bool(skip))) => !skip,
                ("include", Some(Value::Bool(include))) => include,
                _ => true,
            }
        })
    }

    /// GraphQL's CollectFields: the fields of a selection set by response key, in order,
    /// with fragments on `type_name` spread in.
    fn collect<'s>(
        &self,
        type_name: &str,
        set: &'s q::SelectionSet<'static, String>,
    ) -> Vec<(String, Vec<&'s Field>)>
    where
        'a: 's,
    {
        self.collect_all(type_name, [set])
    }

    /// [`Context::collect`] over several selection sets, as if they were one (the merged
    /// sub-selections of fields that share a response key).
    fn collect_all<'s>(
        &self,
        type_name: &str,
        sets: impl IntoIterator<Item = &'s q::SelectionSet<'static, String>>,
    ) -> Vec<(String, Vec<&'s Field>)>
    where
        'a: 's,
    {
        let mut collected = Collected::default();
        for set in sets {
            self.collect_into(type_name, set, &mut collected);
        }
        collected.fields
    }

    fn collect_into<'s>(
        &self,
        type_name: &str,
        set: &'s q::SelectionSet<'static, String>,
        out: &mut Collected<'s>,
    ) where
        'a: 's,
    {
        for selection in &set.items {
            match selection {
                q::Selection::Field(field) => {
                    if self.included(&field.directives) {
                        out.push(field);
                    }
                }
                q::Selection::FragmentSpread(spread) => {
                    let Some(fragment) = self.fragments.get(spread.fragment_name.as_str()) else {
                        continue;
                    };
                    let q::TypeCondition::On(on) = &fragment.type_condition;
                    if on == type_name && self.included(&spread.directives) {
                        self.collect_into(type_name, &fragment.selection_set, out);
                    }
                }
                q::Selection::InlineFragment(inline) => {
                    let applies = match &inline.type_condition {
                        Some(q::TypeCondition::On(on)) => on == type_name,
                        None => true,
                    };
                    if applies && self.included(&inline.directives) {
                        self.collect_into(type_name, &inline.selection_set, out);
                    }
                }
            }
        }
    }

    /// Applies the merged sub-selections of `fields` to `object`.
    /// A registered answer's `data`, checked against the schema as it is completed: only what
    /// the operation selects, under its response keys; every selected field present, of its
    /// type, null only where the schema allows it.
    fn answer_json(
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

    fn complete(&self, store: &Store, object: Object<'_>, fields: &[&Field]) -> Out {
        let type_name = object.type_name();
        let mut out = Vec::new();
        let sets = fields.iter().map(|field| &field.selection_set);
        for (key, sub_fields) in self.collect_all(type_name, sets) {
            let value = match (object, sub_fields[0].name.as_str()) {
                (Object::Customer(customer), "customerGroupMemberships") => {
                    let wanted = self.string_filter(sub_fields[0], "customerGroupExternalIds");
                    let memberships: Vec<Membership> = store
                        .memberships(customer)
                        .into_iter()
                        .filter(|m| keeps(&wanted, &m.group.external_id))
                        .collect();
                    let nodes: Vec<Object<'_>> =
                        memberships.iter().map(Object::Membership).collect();
                    self.connection(store, &MEMBERSHIPS, &nodes, &sub_fields)
                }
                (_, name) => match resolve(object, name) {
                    Resolved::Leaf(value) => value,
                    Resolved::Object(inner) => self.complete(store, inner, &sub_fields),
                    Resolved::List(items) => Out::List(
                        items
                            .into_iter()
                            .map(|inner| self.complete(store, inner, &sub_fields))
                            .collect(),
                    ),
                },
            };
            out.push((key, value));
        }
        Out::Object(out)
    }

    /// The value of an argument as given (a literal, or a variable's coerced value), `null`
    /// when absent. For arguments the schema check has already typed.
    fn given_argument(&self, field: &Field, name: &str) -> Value {
        field
            .arguments
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| literal(v, &self.variables))
            .unwrap_or(Value::Null)
    }

    /// The strings of `filters.<name>` on a connection field, `None` when it filters nothing.
    fn string_filter(&self, field: &Field, name: &str) -> Option<Vec<String>> {
        let filters = self.given_argument(field, "filters");
        let list = filters.get(name)?.as_array()?;
        Some(
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        )
    }

    /// The paging arguments of a connection field.
    fn page_args(&self, field: &Field) -> Result<PageArgs, String> {
        PageArgs::read(&field.name, |name| self.given_argument(field, name))
    }

    /// Checks the paging arguments of every connection a selection reaches, so that a bad one
    /// refuses the request before anything runs, as Plain refuses a bad argument.
    fn check_pages(
        &self,
        set: &q::SelectionSet<'static, String>,
        spread: &mut Vec<String>,
    ) -> Result<(), RequestFailure> {
        for selection in &set.items {
            match selection {
                q::Selection::Field(field) => {
                    if CONNECTION_FIELDS.contains(&field.name.as_str()) {
                        self.page_args(field).map_err(RequestFailure::bad_input)?;
                    }
                    self.check_pages(&field.selection_set, spread)?;
                }
                q::Selection::FragmentSpread(s) => {
                    if spread.contains(&s.fragment_name) {
                        continue;
                    }
                    spread.push(s.fragment_name.clone());
                    if let Some(fragment) = self.fragments.get(s.fragment_name.as_str()) {
                        self.check_pages(&fragment.selection_set, spread)?;
                    }
                }
                q::Selection::InlineFragment(inline) => {
                    self.check_pages(&inline.selection_set, spread)?;
                }
            }
        }
        Ok(())
    }

    /// One page of a connection over `nodes`, as the merged selections of `fields` ask for.
    fn connection(
        &self,
        store: &Store,
        kind: &Connection,
        nodes: &[Object<'_>],
        fields: &[&Field],
    ) -> Out {
        // Checked before anything ran (`check_pages`).
        let page = self
            .page_args(fields[0])
            .unwrap_or_default()
            .page(nodes.len());
        let sets = fields.iter().map(|field| &field.selection_set);
        let mut out = Vec::new();
        for (key, sub_fields) in self.collect_all(kind.connection, sets) {
            let value = match sub_fields[0].name.as_str() {
                "__typename" => Out::Str(kind.connection.to_owned()),
                "edges" => Out::List(
                    (page.start..page.end)
                        .map(|at| self.edge(store, kind, at, nodes[at], &sub_fields))
                        .collect(),
                ),
                "pageInfo" => self.page_info(kind, &page, &sub_fields),
                _ => Out::Null,
            };
            out.push((key, value));
        }
        Out::Object(out)
    }

    fn edge(
        &self,
        store: &Store,
        kind: &Connection,
        at: usize,
        node: Object<'_>,
        fields: &[&Field],
    ) -> Out {
        let sets = fields.iter().map(|field| &field.selection_set);
        let mut out = Vec::new();
        for (key, sub_fields) in self.collect_all(kind.edge, sets) {
            let value = match sub_fields[0].name.as_str() {
                "__typename" => Out::Str(kind.edge.to_owned()),
                "cursor" => Out::Str(cursor(kind.field, at)),
                "node" => self.complete(store, node, &sub_fields),
                _ => Out::Null,
            };
            out.push((key, value));
        }
        Out::Object(out)
    }

    fn page_info(&self, kind: &Connection, page: &Page, fields: &[&Field]) -> Out {
        let edge_cursor = |at: usize| Out::Str(cursor(kind.field, at));
        let empty = page.start == page.end;
        let sets = fields.iter().map(|field| &field.selection_set);
        let mut out = Vec::new();
        for (key, sub_fields) in self.collect_all("PageInfo", sets) {
            let value = match sub_fields[0].name.as_str() {
                "__typename" => Out::Str("PageInfo".to_owned()),
                "hasNextPage" => Out::Bool(page.has_next),
                "hasPreviousPage" => Out::Bool(page.has_previous),
                "startCursor" if !empty => edge_cursor(page.start),
                "endCursor" if !empty => edge_cursor(page.end - 1),
                _ => Out::Null,
            };
            out.push((key, value));
        }
        Out::Object(out)
    }
}
