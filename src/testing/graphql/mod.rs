//! GraphQL over the local store: parse, validate against the schema, coerce the
//! variables, run the workspace and customer queries and the mutations, and answer with
//! exactly the selected fields.
//!
//! A request is checked for cost ([`crate::testing::cost`]), parsed, validated, and its
//! variables coerced ([`variables`]); then either an answer registered for its operation is
//! fitted to the selection ([`registered`]), or its root fields are read and run against the
//! store ([`root_fields`]), each value completed against its selection ([`selection`],
//! [`completion`], [`resolvers`]).

mod completion;
mod customers;
pub mod output;
pub mod registered;
mod resolvers;
mod root_fields;
pub mod schema;
mod selection;
mod variables;

use std::collections::BTreeMap;
use std::time::SystemTime;

use graphql_parser::query as q;
use serde_json::{Map, Value};

use crate::schema_check::{self as validate, Schema};
use crate::testing::cost;
use crate::testing::failure::RequestFailure;
use crate::testing::import_faults::ImportFaults;
use crate::testing::store::Store;
use output::Executed;
use registered::Answers;
use selection::Context;
use variables::coerce_variables;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphqlRequest {
    query: String,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default)]
    operation_name: Option<String>,
}

/// Executes one request body against the store, each `importCustomers` as the next of
/// `faults` says. `Ok` is a 200 answer: its `data`, and the errors of fields that failed on
/// their own (or a fault's answer in its place).
pub fn execute(
    schema: &Schema,
    body: &[u8],
    store: &mut Store,
    now: SystemTime,
    answers: &Answers,
    faults: &mut ImportFaults,
) -> Result<Executed, RequestFailure> {
    let request: GraphqlRequest = serde_json::from_slice(body).map_err(|e| {
        RequestFailure::new(
            400,
            "GRAPHQL_PARSE_FAILED",
            format!("The request body is not a GraphQL request (JSON with a `query` string): {e}"),
        )
    })?;
    cost::check_text(&request.query)?;
    let mut document = q::parse_query::<String>(&request.query)
        .map_err(|e| {
            RequestFailure::new(
                400,
                "GRAPHQL_PARSE_FAILED",
                format!("Syntax Error: {}", e.to_string().trim()),
            )
        })?
        .into_static();
    cost::check(&document)?;
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
                instead: None,
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
    let calls = root_fields::plan(&context, query, root, selection_set, faults)?;
    Ok(root_fields::run(&context, store, now, root, calls))
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
