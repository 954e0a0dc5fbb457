//! The root fields the server serves: each read into a call, its arguments checked, before
//! any runs, then run against the store in order: the workspace and customer queries, the
//! customer group queries, and the mutations, `importCustomers` with its scripted fault.

use std::time::SystemTime;

use graphql_parser::query as q;
use serde_json::Value;

use super::completion::{keeps, GROUPS};
use super::output::{Executed, FieldFailure, Out};
use super::resolvers::{ImportResult, Object, UpsertResult};
use super::selection::{Context, Field};
use super::variables::id_text;
use crate::input::{CustomerGroupIdentifier, ImportCustomersInput, UpsertCustomerInput};
use crate::testing::failure::RequestFailure;
use crate::testing::import_faults::{Fault, ImportFaults};
use crate::testing::store::records::StoredCustomer;
use crate::testing::store::rejection::Rejection;
use crate::testing::store::Store;

/// The root fields the server runs, by root type (besides `__typename`).
const QUERY_FIELDS: [&str; 7] = [
    "myWorkspace",
    "customers",
    "customer",
    "customerByEmail",
    "customerByExternalId",
    "customerGroups",
    "customerGroup",
];
const MUTATION_FIELDS: [&str; 5] = [
    "upsertCustomer",
    "deleteCustomer",
    "addCustomerToCustomerGroups",
    "removeCustomerFromCustomerGroups",
    "importCustomers",
];

/// One root field of the request, its arguments read, ready to run.
pub(super) enum Call {
    Typename,
    MyWorkspace,
    CustomerById(String),
    CustomerByEmail(String),
    CustomerByExternalId(String),
    CustomerGroups,
    CustomerGroup(String),
    Customers(Box<crate::testing::customer_list::CustomersArgs>),
    Upsert(Value),
    Delete(Value),
    AddToGroups(Value),
    RemoveFromGroups(Value),
    /// `importCustomers`, with the fault scripted for it.
    Import(Value, Fault),
}

/// A root field to run: its response key, its fields under that key, and the call.
pub(super) type Planned<'s> = (String, Vec<&'s Field>, Call);

/// Reads the arguments of every root field of the operation (a query when `query`, on the
/// root type `root`) before any runs, so that a request refused as a whole has changed
/// nothing; then gives each `importCustomers` its scripted fault.
pub(super) fn plan<'a: 's, 's>(
    context: &Context<'a>,
    query: bool,
    root: &str,
    selection_set: &'s q::SelectionSet<'static, String>,
    faults: &mut ImportFaults,
) -> Result<Vec<Planned<'s>>, RequestFailure> {
    let served: &[&str] = if query {
        &QUERY_FIELDS
    } else {
        &MUTATION_FIELDS
    };
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
            (true, "customers") => Call::Customers(Box::new(context.customers_args(root, field)?)),
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
            (false, "importCustomers") => {
                Call::Import(context.argument(root, field, "input")?, Fault::Normal)
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
    for (_, _, call) in &mut calls {
        if let Call::Import(_, fault) = call {
            *fault = faults.next();
        }
    }
    Ok(calls)
}

/// Runs the root fields in order against the store: the answer's `data`, and the errors of
/// the fields that failed on their own. A fault that answers in place of the request runs
/// nothing.
pub(super) fn run(
    context: &Context<'_>,
    store: &mut Store,
    now: SystemTime,
    root: &str,
    calls: Vec<Planned<'_>>,
) -> Executed {
    let mut data = Vec::new();
    let mut errors = Vec::new();
    let before = calls.iter().find_map(|(_, _, call)| match call {
        Call::Import(_, Fault::Instead(answer)) => Some(answer.clone()),
        _ => None,
    });
    if let Some(answer) = before {
        return Executed {
            data: Out::Null,
            errors,
            instead: Some(answer),
        };
    }
    let mut instead = None;
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
            Call::Customers(args) => context.customers(store, &args, &fields),
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
            Call::Import(input, fault) => {
                let result = import(store, &input, &fault, now);
                if let Fault::AfterApplying(answer) = fault {
                    instead = Some(answer);
                }
                context.complete(store, Object::Imported(&result), &fields)
            }
        };
        data.push((key, value));
    }
    Executed {
        data: Out::Object(data),
        errors,
        instead,
    }
}

fn input_rejection(field: &str, message: String) -> Rejection {
    Rejection {
        message: "There was a validation error.".into(),
        kind: "VALIDATION",
        code: "input_validation",
        fields: vec![(field.into(), message, "VALIDATION")],
    }
}

/// A mutation's input read into its type, or a `MutationError` naming the field at fault.
fn read_input<T: serde::de::DeserializeOwned>(input: &Value) -> Result<T, Rejection> {
    serde_path_to_error::deserialize(input).map_err(|e| {
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
        input_rejection(&field, e.into_inner().to_string())
    })
}

fn upsert(store: &mut Store, input: &Value, now: SystemTime) -> UpsertResult {
    let input: UpsertCustomerInput = read_input(input)?;
    store.upsert(&input, now)
}

/// Runs one `importCustomers` as its scripted fault says.
fn import(store: &mut Store, input: &Value, fault: &Fault, now: SystemTime) -> ImportResult {
    let input: ImportCustomersInput = read_input(input)?;
    let customers = input.customers();
    match fault {
        Fault::SkipLast(count) => store.import_customers(customers, *count, now),
        Fault::Counts(counts) => store.import_customers(customers, 0, now).map(|_| *counts),
        Fault::Rejected {
            kind,
            code,
            message,
        } => Err(Rejection {
            message: (*message).to_owned(),
            kind,
            code,
            fields: Vec::new(),
        }),
        Fault::Normal | Fault::Instead(_) | Fault::AfterApplying(_) => {
            store.import_customers(customers, 0, now)
        }
    }
}

/// The customer id and group identifiers of `addCustomerToCustomerGroups` and
/// `removeCustomerFromCustomerGroups`.
fn groups_input(input: &Value) -> Result<(String, Vec<CustomerGroupIdentifier>), Rejection> {
    let field = "customerGroupIdentifiers";
    let groups = serde_json::from_value(input[field].clone())
        .map_err(|e| input_rejection(field, e.to_string()))?;
    Ok((id_text(&input["customerId"]), groups))
}
