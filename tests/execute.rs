//! Bringing your own operation: `PlainClient::execute` sends any graphql_client operation
//! through the same resilient path as `upsert_customer`, retrying as the operation allows.

use std::time::Duration;

use graphql_client::{GraphQLQuery, QueryBody};
use plain_client::testing::{LocalServer, ScriptedAnswer};
use plain_client::{Error, Idempotency, RetryPolicy};
use serde::{Deserialize, Serialize};
use serde_json::json;

const KEY: &str = "plainApiKey_EXECUTESECRET";

/// An operation as a user's crate would have it: what `#[derive(GraphQLQuery)]` generates,
/// written out, selecting less than this crate's own upsert.
struct CreateCustomer;

#[derive(Serialize)]
struct CreateVariables {
    input: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct CreateData {
    #[serde(rename = "upsertCustomer")]
    upsert_customer: CreateOutput,
}

#[derive(Debug, Deserialize)]
struct CreateOutput {
    result: Option<String>,
    customer: Option<CreatedCustomer>,
}

#[derive(Debug, Deserialize)]
struct CreatedCustomer {
    id: String,
    #[serde(rename = "fullName")]
    full_name: String,
}

impl GraphQLQuery for CreateCustomer {
    type Variables = CreateVariables;
    type ResponseData = CreateData;

    fn build_query(variables: CreateVariables) -> QueryBody<CreateVariables> {
        QueryBody {
            variables,
            query: "mutation createCustomer($input: UpsertCustomerInput!) {\n  \
                    upsertCustomer(input: $input) { result customer { id fullName } }\n}",
            operation_name: "createCustomer",
        }
    }
}

/// A query, answered here by scripted answers.
struct CustomerById;

#[derive(Debug, Deserialize)]
struct CustomerData {
    customer: Option<CreatedCustomer>,
}

impl GraphQLQuery for CustomerById {
    type Variables = serde_json::Value;
    type ResponseData = CustomerData;

    fn build_query(variables: serde_json::Value) -> QueryBody<serde_json::Value> {
        QueryBody {
            variables,
            query: "query customerById($id: ID!) { customer(customerId: $id) { id fullName } }",
            operation_name: "customerById",
        }
    }
}

fn variables() -> CreateVariables {
    CreateVariables {
        input: json!({
            "identifier": {"emailAddress": "daisy@example.com"},
            "onCreate": {"fullName": "Daisy Duck", "email": {"email": "daisy@example.com", "isVerified": false}},
            "onUpdate": {}
        }),
    }
}

async fn server() -> LocalServer {
    LocalServer::builder().api_key(KEY).start().await.unwrap()
}

/// A client of `server` whose retries wait only a few milliseconds.
fn quick_client(server: &LocalServer) -> plain_client::PlainClient {
    server
        .client_builder()
        .retry_policy(quick())
        .build()
        .unwrap()
}

fn quick() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(3)
        .base_delay(Duration::from_millis(10))
}

#[tokio::test]
async fn a_users_own_mutation_is_sent_with_the_key_and_decoded() {
    let server = server().await;
    let client = server.client().unwrap();
    let data = client.execute::<CreateCustomer>(variables()).await.unwrap();
    let output = data.upsert_customer;
    assert_eq!(output.result.as_deref(), Some("CREATED"));
    let customer = output.customer.unwrap();
    assert_eq!(customer.full_name, "Daisy Duck");
    assert_eq!(server.customers()[0].id, customer.id);
    let sent = &server.requests()[0];
    assert_eq!(sent.body["operationName"], "createCustomer");
    assert_eq!(sent.header("authorization"), Some("Bearer <redacted>"));
    assert_eq!(client.stats().attempts, 1);
}

#[tokio::test]
async fn a_mutation_is_not_sent_again_once_it_may_have_reached_plain() {
    let server = server().await;
    let client = quick_client(&server);
    server.script([ScriptedAnswer::gateway(502)]);
    let error = client
        .execute::<CreateCustomer>(variables())
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Server { status: 502, .. }),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 1);
    assert!(server.customers().is_empty());
}

#[tokio::test]
async fn a_mutation_is_sent_again_after_a_429_which_surely_did_not_run_it() {
    let server = server().await;
    let client = quick_client(&server);
    server.script([
        ScriptedAnswer::graphql_error(429, "RATE_LIMITED", "slow down").header("retry-after", "0"),
    ]);
    let data = client.execute::<CreateCustomer>(variables()).await.unwrap();
    assert_eq!(data.upsert_customer.result.as_deref(), Some("CREATED"));
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_mutation_declared_idempotent_is_retried_like_the_upsert() {
    let server = server().await;
    let client = quick_client(&server);
    server.script([ScriptedAnswer::gateway(502), ScriptedAnswer::gateway(503)]);
    let data = client
        .execute_with::<CreateCustomer>(variables(), Idempotency::Idempotent)
        .await
        .unwrap();
    assert_eq!(data.upsert_customer.result.as_deref(), Some("CREATED"));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_query_is_retried_like_any_idempotent_request() {
    let server = server().await;
    let client = quick_client(&server);
    let answer = json!({"data": {"customer": {"id": "c_1", "fullName": "Daisy Duck"}}});
    server.script([
        ScriptedAnswer::gateway(502),
        ScriptedAnswer::json(200, &answer),
    ]);
    let data = client
        .execute::<CustomerById>(json!({"id": "c_1"}))
        .await
        .unwrap();
    assert_eq!(data.customer.unwrap().id, "c_1");
    assert_eq!(server.requests().len(), 2);
    assert_eq!(
        server.requests()[1].body["query"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .next(),
        Some("query")
    );
}

#[tokio::test]
async fn an_answer_with_data_and_errors_is_an_error_with_every_message() {
    let server = server().await;
    let client = server.client().unwrap();
    let answer = json!({
        "data": {"customer": null},
        "errors": [{"message": "customer is private", "extensions": {"code": "FORBIDDEN_FIELD"}}]
    });
    server.script([ScriptedAnswer::json(200, &answer).header("apigw-requestid", "req-42")]);
    let error = client
        .execute::<CustomerById>(json!({"id": "c_1"}))
        .await
        .unwrap_err();
    match &error {
        Error::Request {
            errors, request_id, ..
        } => {
            assert_eq!(errors[0].message, "customer is private");
            assert_eq!(errors[0].code.as_deref(), Some("FORBIDDEN_FIELD"));
            assert_eq!(request_id.as_deref(), Some("req-42"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn the_kind_of_an_operation_decides_its_idempotency() {
    let body = CustomerById::build_query(json!({}));
    assert_eq!(
        Idempotency::of_operation(body.query, body.operation_name),
        Idempotency::Idempotent
    );
    let body = CreateCustomer::build_query(variables());
    assert_eq!(
        Idempotency::of_operation(body.query, body.operation_name),
        Idempotency::NotIdempotent
    );
}
