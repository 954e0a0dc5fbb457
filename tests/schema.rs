//! The vendored schema and the code generated from it.
//!
//! - Faithful: wherever Plain's full schema is at `../shared/plain/schema.graphql` (CI has it),
//!   the code generated for every operation from the full schema is identical to the code
//!   generated from the vendored one.
//! - The build's output is what the code generator gives.
//! - The hand-written input types send only what the schema's input types accept, and cover
//!   every field of the input types `upsertCustomer`, `customers` and `importCustomers` take.
//! - An operation that no longer fits the schema is refused with one message naming the file,
//!   the field and the type.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use plain_client::operations::import_customers::ImportCustomersInput;
use plain_client::schema_check::{self, Kind, Schema};
use plain_client::{
    codegen, CustomerGroupIdentifier, CustomerIdentifier, EmailAddress, ImportCustomer,
    ImportTenant, OnCreate, OnUpdate, TenantIdentifier, UpsertCustomerInput,
};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn graphql_dir() -> PathBuf {
    root().join("graphql")
}

#[test]
fn vendored_schema_generates_the_same_code_as_plains_full_schema() {
    let Some(full) = common::shared_plain("schema.graphql") else {
        return;
    };
    let vendored = codegen::generate_all(&graphql_dir()).unwrap();
    let from_full = codegen::generate_all_with_schema(&graphql_dir(), &full).unwrap();
    assert!(vendored.contains("pub mod upsert_customer"));
    assert_eq!(vendored, from_full);
}

#[test]
fn vendored_types_match_plains_full_schema() {
    let Some(full) = common::shared_plain("schema.graphql") else {
        return;
    };
    let full = schema_check::parse_schema(&std::fs::read_to_string(full).unwrap()).unwrap();
    let vendored = schema_check::parse_schema(
        &std::fs::read_to_string(graphql_dir().join("schema.graphql")).unwrap(),
    )
    .unwrap();
    for (name, def) in &vendored.types {
        let theirs = &full.types[name];
        assert_eq!(def.kind, theirs.kind, "{name}");
        assert_eq!(def.values, theirs.values, "{name}");
        for field in &def.fields {
            let their_field = theirs
                .fields
                .iter()
                .find(|f| f.name == field.name)
                .unwrap_or_else(|| panic!("{name}.{} is not in Plain's schema", field.name));
            assert_eq!(field.ty, their_field.ty, "{name}.{}", field.name);
            assert_eq!(
                field.deprecated, their_field.deprecated,
                "{name}.{}",
                field.name
            );
            let args = |f: &schema_check::FieldDef| {
                f.args
                    .iter()
                    .map(|a| (a.name.clone(), a.ty.to_string()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(args(field), args(their_field), "{name}.{}", field.name);
        }
        if def.kind == Kind::InputObject {
            let names = |d: &schema_check::TypeDef| {
                d.fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>()
            };
            assert_eq!(names(def), names(theirs), "input {name} must be whole");
        }
    }
}

#[test]
fn the_build_output_is_what_the_generator_gives() {
    let built = include_str!(concat!(env!("OUT_DIR"), "/operations.rs"));
    assert_eq!(built, codegen::generate_all(&graphql_dir()).unwrap());
}

/// Checks a JSON value against a GraphQL input type, recording every input field seen.
fn check_input(
    schema: &Schema,
    ty: &graphql_parser::schema::Type<'static, String>,
    value: &Value,
    path: &str,
    seen: &mut BTreeSet<String>,
) {
    use graphql_parser::schema::Type;
    match (ty, value) {
        (Type::NonNullType(_), Value::Null) => panic!("{path}: null for non-null {ty}"),
        (Type::NonNullType(inner), _) => check_input(schema, inner, value, path, seen),
        (_, Value::Null) => {}
        (Type::ListType(inner), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_input(schema, inner, item, &format!("{path}[{i}]"), seen);
            }
        }
        (Type::ListType(_), _) => panic!("{path}: expected a list"),
        (Type::NamedType(name), _) => {
            let def = &schema.types[name];
            match def.kind {
                Kind::InputObject => {
                    let object = value
                        .as_object()
                        .unwrap_or_else(|| panic!("{path}: not an object"));
                    for (key, field_value) in object {
                        let field = def
                            .fields
                            .iter()
                            .find(|f| &f.name == key)
                            .unwrap_or_else(|| panic!("{path}.{key} is not a field of {name}"));
                        seen.insert(format!("{name}.{key}"));
                        check_input(
                            schema,
                            &field.ty,
                            field_value,
                            &format!("{path}.{key}"),
                            seen,
                        );
                    }
                    for field in &def.fields {
                        if matches!(field.ty, Type::NonNullType(_)) {
                            assert!(
                                object.contains_key(&field.name),
                                "{path}: {name}.{} is required",
                                field.name
                            );
                        }
                    }
                }
                Kind::Scalar => {
                    let fits = match name.as_str() {
                        "Boolean" => value.is_boolean(),
                        "Int" => value.is_i64(),
                        "Float" => value.is_number(),
                        _ => value.is_string(),
                    };
                    assert!(fits, "{path}: {value} is not a {name}");
                }
                Kind::Enum => assert!(value.is_string(), "{path}: enum as {value}"),
                _ => panic!("{path}: {name} is not an input type"),
            }
        }
    }
}

#[test]
fn hand_written_input_fits_and_covers_the_schemas_input_types() {
    let text = std::fs::read_to_string(graphql_dir().join("schema.graphql")).unwrap();
    let schema = schema_check::parse_schema(&text).unwrap();
    let email = || EmailAddress::verified("a@example.com");
    let create = || {
        OnCreate::new("A", email())
            .short_name("a")
            .external_id("u_1")
            .customer_groups([
                CustomerGroupIdentifier::CustomerGroupId("cg_1".into()),
                CustomerGroupIdentifier::CustomerGroupKey("k".into()),
                CustomerGroupIdentifier::ExternalId("g".into()),
            ])
            .tenants([
                TenantIdentifier::TenantId("te_1".into()),
                TenantIdentifier::ExternalId("t".into()),
            ])
    };
    let inputs = [
        UpsertCustomerInput::new(CustomerIdentifier::email("a@example.com"), create()).on_update(
            OnUpdate::new()
                .full_name("B")
                .short_name("b")
                .email(email())
                .external_id("u_2"),
        ),
        UpsertCustomerInput::new(CustomerIdentifier::external_id("u_1"), create())
            .on_update(OnUpdate::new().clear_short_name().clear_external_id()),
        UpsertCustomerInput::new(CustomerIdentifier::customer_id("c_1"), create()),
    ];
    fits_and_covers(&schema, "UpsertCustomerInput", &inputs);
    let imports = [ImportCustomersInput::new([
        ImportCustomer::new("u_1", "A")
            .short_name("a")
            .email("a@example.com")
            .created_at("2024-01-31T09:00:00.000Z")
            .tenants([ImportTenant::new("t", "T").url("https://t.example")]),
        ImportCustomer::new("u_2", "B"),
    ])
    .unwrap()];
    fits_and_covers(&schema, "ImportCustomersInput", &imports);
}

#[test]
fn the_customers_filter_fits_and_covers_the_schemas_filter() {
    use plain_client::operations::customers::{CompanyIdentifier, CustomersFilter};
    let text = std::fs::read_to_string(graphql_dir().join("schema.graphql")).unwrap();
    let schema = schema_check::parse_schema(&text).unwrap();
    let filters = [
        CustomersFilter::new()
            .marked_as_spam(true)
            .customer_group_ids(["cg_1"])
            .customer_group_keys(["vip"])
            .companies([
                CompanyIdentifier::id("co_1"),
                CompanyIdentifier::domain_name("plain.com"),
            ])
            .tenants([
                TenantIdentifier::id("te_1"),
                TenantIdentifier::external_id("t"),
            ])
            .updated_after(std::time::SystemTime::now())
            .updated_before(std::time::SystemTime::now()),
        CustomersFilter::new(),
    ];
    fits_and_covers(&schema, "CustomersFilter", &filters);
}

/// Each input is valid for the input type `type_name`, and together they send every field of
/// every input type reachable from it.
fn fits_and_covers<T: serde::Serialize>(schema: &Schema, type_name: &str, inputs: &[T]) {
    let input_type: graphql_parser::schema::Type<'static, String> =
        graphql_parser::schema::Type::NonNullType(Box::new(
            graphql_parser::schema::Type::NamedType(type_name.to_owned()),
        ));
    let mut seen = BTreeSet::new();
    for input in inputs {
        let value = serde_json::to_value(input).unwrap();
        check_input(schema, &input_type, &value, "input", &mut seen);
    }
    let mut every_field = BTreeSet::new();
    let mut pending = vec![type_name.to_owned()];
    let mut visited = BTreeSet::new();
    while let Some(type_name) = pending.pop() {
        let def = &schema.types[&type_name];
        if def.kind != Kind::InputObject || !visited.insert(type_name.clone()) {
            continue;
        }
        for field in &def.fields {
            every_field.insert(format!("{type_name}.{}", field.name));
            pending.push(schema_check::named_type(&field.ty).to_owned());
        }
    }
    let missing: Vec<_> = every_field.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "the hand-written {type_name} cannot send {missing:?}"
    );
}

/// Generates code for `operation` against the vendored schema.
fn generate(operation: &str) -> Result<String, codegen::CodegenError> {
    let dir = std::env::temp_dir().join(format!("plain-client-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!(
        "op{:x}.graphql",
        operation.len() * 31 + operation.bytes().map(usize::from).sum::<usize>()
    );
    let file = dir.join(name);
    std::fs::write(&file, operation).unwrap();
    let result = codegen::generate(&graphql_dir().join("schema.graphql"), &file);
    let _ = std::fs::remove_file(&file);
    result
}

fn refusal(operation: &str) -> String {
    match generate(operation) {
        Ok(_) => panic!("generated code for a broken operation:\n{operation}"),
        Err(e) => {
            assert!(Path::new(&e.file)
                .extension()
                .is_some_and(|x| x == "graphql"));
            e.to_string()
        }
    }
}

const OUTPUT: &str = "{ result customer { id } }";

#[test]
fn operations_that_do_not_fit_the_schema_are_refused_with_one_clear_message() {
    let cases = [
        (
            "mutation m($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { result customer { id fulName } } }".to_owned(),
            "field `fulName` does not exist on type `Customer`",
        ),
        (
            format!("mutation m($input: UpsertCustomerInputs!) {{ upsertCustomer(input: $input) {OUTPUT} }}"),
            "variable `$input` has type `UpsertCustomerInputs`, which the schema does not define",
        ),
        (
            format!("mutation m($input: UpsertCustomerInput!) {{ upsertCustomer(customer: $input) {OUTPUT} }}"),
            "field `upsertCustomer` on type `Mutation` has no argument `customer`",
        ),
        (
            format!("mutation m($input: String!) {{ upsertCustomer(input: $input) {OUTPUT} }}"),
            "argument `input` of field `upsertCustomer` on type `Mutation` expects `UpsertCustomerInput!`, but `$input` is `String!`",
        ),
        (
            format!("mutation m($input: UpsertCustomerInput) {{ upsertCustomer(input: $input) {OUTPUT} }}"),
            "expects `UpsertCustomerInput!`, but `$input` is `UpsertCustomerInput`",
        ),
        (
            format!("mutation m {{ upsertCustomer {OUTPUT} }}"),
            "field `upsertCustomer` on type `Mutation` requires argument `input: UpsertCustomerInput!`",
        ),
        (
            "mutation m($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { result { id } } }".to_owned(),
            "field `result` on type `UpsertCustomerOutput` is a `UpsertResult`, which has no fields to select",
        ),
        (
            "mutation m($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { customer } }".to_owned(),
            "field `customer` on type `UpsertCustomerOutput` is a `Customer` and needs a selection of its fields",
        ),
        (
            "mutation m($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { customer { ...F } } } fragment F on Client { id }".to_owned(),
            "fragment on type `Client`, which the schema does not define",
        ),
        (
            "mutation m($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { customer { ...G } } }".to_owned(),
            "fragment `G` is spread on type `Customer` but is not defined",
        ),
        (
            "mutation m { upsertCustomers { result } }".to_owned(),
            "field `upsertCustomers` does not exist on type `Mutation`",
        ),
        ("mutation m( {".to_owned(), "the operation does not parse"),
    ];
    let mut messages = Vec::new();
    for (operation, expected) in &cases {
        let message = refusal(operation);
        assert!(message.contains(expected), "{message}\nlacks: {expected}");
        assert!(
            !message.contains('\n') || message.contains("does not parse"),
            "{message}"
        );
        // Keep the file name out of the snapshot: it is a temporary path.
        messages.push(message.split_once(": ").unwrap().1.to_owned());
    }
    insta::assert_debug_snapshot!(messages);
}

#[test]
fn a_new_operation_file_gets_its_own_module() {
    let dir = std::env::temp_dir().join(format!("plain-client-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        graphql_dir().join("schema.graphql"),
        dir.join("schema.graphql"),
    )
    .unwrap();
    for file in ["upsertCustomer.graphql", "docs.txt"] {
        std::fs::copy(graphql_dir().join(file), dir.join(file)).unwrap();
    }
    std::fs::write(
        dir.join("renameCustomer.graphql"),
        "mutation renameCustomer($email: String!, $name: String!) {\n  upsertCustomer(input: {identifier: {emailAddress: $email}, onCreate: {fullName: $name, email: {email: $email, isVerified: false}}, onUpdate: {fullName: {value: $name}}}) {\n    result\n  }\n}\n",
    )
    .unwrap();
    let code = codegen::generate_all(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(code.contains("pub mod upsert_customer"), "{code}");
    assert!(code.contains("pub mod rename_customer"), "{code}");
    assert!(code.contains("pub const OPERATION_NAME: &str = \"renameCustomer\""));
}
