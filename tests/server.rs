//! The local Plain-compatible server: protocol, upsert semantics, the customer queries,
//! deletion and customer groups as answered on the wire, auth, rate limits, faults, the
//! request log and the store.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{fixture, fixture_json};
use plain_client::testing::{
    parse_timestamp, CustomerGroupSpec, LocalServer, ScriptedAnswer, StoredCustomerGroup,
};
use plain_client::{
    CustomerIdentifier, EmailAddress, Error, OnCreate, OnUpdate, PlainClient, RetryPolicy,
    UpsertCustomerInput, UpsertResult,
};
use serde_json::{json, Value};

/// Posts a raw body to the server, with its key, and returns status, headers and JSON body.
async fn post(server: &LocalServer, body: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    post_with(server, body, server.api_key()).await
}

async fn post_with(
    server: &LocalServer,
    body: &str,
    key: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new()
        .post(server.endpoint())
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, json)
}

fn graphql(query: &str, variables: Value) -> String {
    json!({"query": query, "variables": variables}).to_string()
}

fn recipe(variables: Value) -> String {
    graphql(&fixture("recipe_mutation.graphql"), variables)
}

/// The shape of a JSON value: its keys and the kinds of its leaves.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Bool(_) => json!("boolean"),
        Value::Number(_) => json!("number"),
        Value::Null => json!("null"),
    }
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

/// A client for `server` that sends every request once: these tests look at single answers.
fn once(server: &LocalServer) -> PlainClient {
    server
        .client_builder()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

fn donald() -> UpsertCustomerInput {
    UpsertCustomerInput::new(
        CustomerIdentifier::email("donald@example.com"),
        OnCreate::new(
            "Donald Duck",
            EmailAddress::unverified("donald@example.com"),
        )
        .short_name("Donald"),
    )
}

#[tokio::test]
async fn plains_documented_requests_get_answers_of_the_documented_shape() {
    let server = LocalServer::start().await.unwrap();
    let create = fixture_json("recipe_create_variables.json");
    let (status, _, body) = post(&server, &recipe(create)).await;
    assert_eq!(status, 200);
    assert_eq!(
        shape(&body),
        shape(&fixture_json("recipe_create_response.json"))
    );
    assert_eq!(body["data"]["upsertCustomer"]["result"], "CREATED");

    let upsert = fixture_json("recipe_upsert_variables.json");
    let (status, _, body) = post(&server, &recipe(upsert)).await;
    assert_eq!(status, 200);
    assert_eq!(
        shape(&body),
        shape(&fixture_json("recipe_upsert_response.json"))
    );
    assert_eq!(body["data"]["upsertCustomer"]["result"], "UPDATED");
    assert_eq!(
        body["data"]["upsertCustomer"]["customer"]["fullName"],
        "Donald Fauntleroy Duck"
    );
}

#[tokio::test]
async fn the_answer_holds_exactly_the_selected_fields_in_order() {
    let server = LocalServer::start().await.unwrap();
    let query = "mutation u($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { \
                 outcome: result customer { __typename ...Names email { isVerified } } } } \
                 fragment Names on Customer { fullName id }";
    let (status, _, body) = post(
        &server,
        &graphql(query, fixture_json("recipe_create_variables.json")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    // serde_json sorts keys, so check order on the raw text of a second, identical request.
    let raw = reqwest::Client::new()
        .post(server.endpoint())
        .header(
            "authorization",
            format!("Bearer {}", server.api_key().unwrap()),
        )
        .body(graphql(query, fixture_json("recipe_create_variables.json")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.starts_with(r#"{"data":{"upsertCustomer":{"outcome":"NOOP","customer":{"__typename":"Customer","fullName":"Donald Duck","id":"c_"#), "{raw}");
    assert!(
        raw.ends_with(r#""email":{"isVerified":false}}}}}"#),
        "{raw}"
    );
    let output = &body["data"]["upsertCustomer"];
    let keys: Vec<&String> = output.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["customer", "outcome"], "{text}");
    let customer_keys: Vec<&String> = output["customer"].as_object().unwrap().keys().collect();
    assert_eq!(customer_keys, ["__typename", "email", "fullName", "id"]);
}

#[tokio::test]
async fn an_unknown_field_is_a_validation_failure() {
    let server = LocalServer::start().await.unwrap();
    for query in [
        "mutation { deleteCustomer(customerId: \"c_1\") { result } }",
        "query { customerByEmail(email: \"a@example.com\") { id nickname } }",
        "mutation u($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { customer { id nickname } } }",
    ] {
        let (status, _, body) = post(&server, &graphql(query, fixture_json("recipe_create_variables.json"))).await;
        assert_eq!((status, code(&body)), (400, "GRAPHQL_VALIDATION_FAILED"), "{query}: {body}");
    }
    assert!(server.customers().is_empty());
}

#[tokio::test]
async fn a_body_that_is_not_json_or_not_graphql_is_a_parse_failure() {
    let server = LocalServer::start().await.unwrap();
    for body in [
        "not json",
        r#"{"variables": {}}"#,
        r#"{"query": "mutation {"}"#,
        r#"{"query": "upsertCustomer"}"#,
    ] {
        let (status, _, answer) = post(&server, body).await;
        assert_eq!(
            (status, code(&answer)),
            (400, "GRAPHQL_PARSE_FAILED"),
            "{body}: {answer}"
        );
    }
}

#[tokio::test]
async fn missing_or_ill_typed_variables_are_bad_user_input() {
    let server = LocalServer::start().await.unwrap();
    let query = fixture("recipe_mutation.graphql");
    let mut wrong_type = fixture_json("recipe_create_variables.json");
    wrong_type["input"]["onCreate"]["fullName"] = json!(42);
    let mut unknown_field = fixture_json("recipe_create_variables.json");
    unknown_field["input"]["onCreate"]["nickname"] = json!("Don");
    let mut missing_field = fixture_json("recipe_create_variables.json");
    missing_field["input"]["onCreate"]["email"] = json!({"email": "d@example.com"});
    for (variables, expected) in [
        (json!({}), "was not provided"),
        (json!({"input": null}), "not to be null"),
        (wrong_type, "is not a valid \"String\""),
        (
            unknown_field,
            "Field \"nickname\" is not defined by type \"UpsertCustomerOnCreateInput\"",
        ),
        (
            missing_field,
            "Field \"isVerified\" of required type \"Boolean!\" was not provided",
        ),
    ] {
        let (status, _, body) = post(&server, &graphql(&query, variables)).await;
        assert_eq!((status, code(&body)), (400, "BAD_USER_INPUT"), "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
    assert!(server.customers().is_empty());
}

#[tokio::test]
async fn created_then_noop_then_updated() {
    let server = LocalServer::start().await.unwrap();
    let client = once(&server);
    let created = client.upsert_customer(donald()).await.unwrap();
    assert_eq!(created.result, UpsertResult::Created);
    let again = client.upsert_customer(donald()).await.unwrap();
    assert_eq!(again.result, UpsertResult::Noop);
    assert_eq!(again.customer, created.customer);
    // Setting a field to the value it has is still a no-op.
    let same = donald().on_update(OnUpdate::new().full_name("Donald Duck"));
    assert_eq!(
        client.upsert_customer(same).await.unwrap().result,
        UpsertResult::Noop
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let updated = client
        .upsert_customer(donald().on_update(OnUpdate::new().full_name("Donald Fauntleroy Duck")))
        .await
        .unwrap();
    assert_eq!(updated.result, UpsertResult::Updated);
    assert_eq!(updated.customer.id, created.customer.id);
    assert_eq!(updated.customer.full_name, "Donald Fauntleroy Duck");
    assert_eq!(updated.customer.created_at, created.customer.created_at);
    assert_ne!(updated.customer.updated_at, created.customer.updated_at);
    assert_eq!(server.customers().len(), 1);
}

#[tokio::test]
async fn value_null_clears_and_absent_keeps() {
    let server = LocalServer::start().await.unwrap();
    let client = once(&server);
    let input = |on_update: OnUpdate| {
        UpsertCustomerInput::new(
            CustomerIdentifier::email("daisy@example.com"),
            OnCreate::new("Daisy Duck", EmailAddress::unverified("daisy@example.com"))
                .short_name("Daisy")
                .external_id("u_7"),
        )
        .on_update(on_update)
    };
    client
        .upsert_customer(input(OnUpdate::new()))
        .await
        .unwrap();
    let kept = client
        .upsert_customer(input(OnUpdate::new()))
        .await
        .unwrap();
    assert_eq!(kept.customer.short_name.as_deref(), Some("Daisy"));
    let cleared = client
        .upsert_customer(input(
            OnUpdate::new().clear_short_name().clear_external_id(),
        ))
        .await
        .unwrap();
    assert_eq!(cleared.result, UpsertResult::Updated);
    assert_eq!(cleared.customer.short_name, None);
    assert_eq!(cleared.customer.external_id, None);
    let verified = client
        .upsert_customer(input(
            OnUpdate::new().email(EmailAddress::verified("daisy@example.com")),
        ))
        .await
        .unwrap();
    assert!(verified.customer.email.is_verified);
    assert!(verified.customer.email.verified_at.is_some());
}

#[tokio::test]
async fn identifiers_by_external_id_and_customer_id() {
    let server = LocalServer::start().await.unwrap();
    let client = once(&server);
    let on_create = || {
        OnCreate::new(
            "Gladstone Gander",
            EmailAddress::unverified("gladstone@example.com"),
        )
        .external_id("u_9")
    };
    let created = client
        .upsert_customer(UpsertCustomerInput::new(
            CustomerIdentifier::external_id("u_9"),
            on_create(),
        ))
        .await
        .unwrap();
    assert_eq!(created.result, UpsertResult::Created);
    let by_external = client
        .upsert_customer(
            UpsertCustomerInput::new(CustomerIdentifier::external_id("u_9"), on_create())
                .on_update(OnUpdate::new().short_name("Glad")),
        )
        .await
        .unwrap();
    assert_eq!(
        (by_external.result, by_external.customer.id.as_str()),
        (UpsertResult::Updated, created.customer.id.as_str())
    );
    let by_id = client
        .upsert_customer(
            UpsertCustomerInput::new(
                CustomerIdentifier::customer_id(created.customer.id.clone()),
                on_create(),
            )
            .on_update(OnUpdate::new().clear_short_name()),
        )
        .await
        .unwrap();
    assert_eq!(by_id.result, UpsertResult::Updated);
    assert_eq!(by_id.customer.short_name, None);
}

fn rejection(error: Error) -> (String, String, Vec<(String, String)>) {
    let Error::MutationRejected { error, .. } = error else {
        panic!("expected a mutation error, got {error:?}");
    };
    let kind = serde_json::to_value(error.type_)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let fields = error
        .fields
        .iter()
        .map(|f| {
            (
                f.field.clone(),
                serde_json::to_value(&f.type_)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    (kind, error.code, fields)
}

#[tokio::test]
async fn an_unknown_customer_id_is_not_found_and_never_creates() {
    let server = LocalServer::start().await.unwrap();
    let input = UpsertCustomerInput::new(
        CustomerIdentifier::customer_id("c_01H3D5NFQCTC41PYXT2BX9MD6A"),
        OnCreate::new("Nobody", EmailAddress::unverified("nobody@example.com")),
    );
    let error = server
        .client()
        .unwrap()
        .upsert_customer(input)
        .await
        .unwrap_err();
    let (kind, code, fields) = rejection(error);
    assert_eq!((kind.as_str(), code.as_str()), ("VALIDATION", "not_found"));
    assert_eq!(fields, [("customerId".to_owned(), "NOT_FOUND".to_owned())]);
    assert!(server.customers().is_empty());
}

#[tokio::test]
async fn blank_names_and_emails_without_at_are_validation_errors() {
    let server = LocalServer::start().await.unwrap();
    let client = once(&server);
    for name in ["", "   "] {
        let input = UpsertCustomerInput::new(
            CustomerIdentifier::email("a@example.com"),
            OnCreate::new(name, EmailAddress::unverified("a@example.com")),
        );
        let (kind, code, fields) = rejection(client.upsert_customer(input).await.unwrap_err());
        assert_eq!(
            (kind.as_str(), code.as_str()),
            ("VALIDATION", "input_validation")
        );
        assert_eq!(fields, [("fullName".to_owned(), "REQUIRED".to_owned())]);
    }
    let input = UpsertCustomerInput::new(
        CustomerIdentifier::email("a.example.com"),
        OnCreate::new("A", EmailAddress::unverified("a.example.com")),
    );
    let (kind, code, fields) = rejection(client.upsert_customer(input).await.unwrap_err());
    assert_eq!(
        (kind.as_str(), code.as_str()),
        ("VALIDATION", "input_validation")
    );
    assert_eq!(fields, [("email".to_owned(), "VALIDATION".to_owned())]);
    // And on update.
    client.upsert_customer(donald()).await.unwrap();
    let blank = donald().on_update(OnUpdate::new().full_name(" "));
    let (_, _, fields) = rejection(client.upsert_customer(blank).await.unwrap_err());
    assert_eq!(fields, [("fullName".to_owned(), "REQUIRED".to_owned())]);
    assert!(server
        .customers()
        .iter()
        .all(|c| c.full_name == "Donald Duck"));
}

#[tokio::test]
async fn emails_and_external_ids_are_unique() {
    let server = LocalServer::start().await.unwrap();
    let client = once(&server);
    client.upsert_customer(donald()).await.unwrap();
    let daisy = |on_create: OnCreate| {
        UpsertCustomerInput::new(CustomerIdentifier::external_id("u_daisy"), on_create)
    };
    // Donald's email for a new customer.
    let taken = daisy(OnCreate::new(
        "Daisy Duck",
        EmailAddress::unverified("DONALD@example.com"),
    ));
    let (_, code, _) = rejection(client.upsert_customer(taken).await.unwrap_err());
    assert_eq!(code, "customer_already_exists_with_email");
    client
        .upsert_customer(daisy(
            OnCreate::new("Daisy Duck", EmailAddress::unverified("daisy@example.com"))
                .external_id("u_daisy"),
        ))
        .await
        .unwrap();
    // Daisy's external id for Donald.
    let steal = donald().on_update(OnUpdate::new().external_id("u_daisy"));
    let (_, code, _) = rejection(client.upsert_customer(steal).await.unwrap_err());
    assert_eq!(code, "customer_already_exists_with_external_id");
    assert_eq!(server.customers().len(), 2);
}

#[tokio::test]
async fn ids_look_like_plains_and_timestamps_are_real() {
    let server = LocalServer::start().await.unwrap();
    let before = SystemTime::now() - Duration::from_secs(1);
    let created = server
        .client()
        .unwrap()
        .upsert_customer(donald())
        .await
        .unwrap();
    let after = SystemTime::now() + Duration::from_secs(1);
    let id = &created.customer.id;
    assert_eq!(id.len(), 28, "{id}");
    assert!(id.starts_with("c_"), "{id}");
    assert!(
        id[2..]
            .chars()
            .all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c)),
        "{id}"
    );
    let created_at = created.customer.created_at.unwrap().to_string();
    let at = parse_time(&created_at);
    assert!(before <= at && at <= after, "{created_at}");
    let other = server
        .client()
        .unwrap()
        .upsert_customer(UpsertCustomerInput::new(
            CustomerIdentifier::email("daisy@example.com"),
            OnCreate::new("Daisy", EmailAddress::unverified("daisy@example.com")),
        ))
        .await
        .unwrap();
    assert_ne!(other.customer.id, *id);
}

fn parse_time(text: &str) -> SystemTime {
    parse_timestamp(text).unwrap_or_else(|| panic!("not a timestamp: {text}"))
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_unauthenticated() {
    let server = LocalServer::builder()
        .api_key("plainApiKey_right")
        .start()
        .await
        .unwrap();
    let body = recipe(fixture_json("recipe_create_variables.json"));
    for key in [None, Some("plainApiKey_wrong")] {
        let (status, headers, answer) = post_with(&server, &body, key).await;
        assert_eq!(
            (status, code(&answer)),
            (401, "UNAUTHENTICATED"),
            "{answer}"
        );
        assert!(headers.contains_key("apigw-requestid"));
    }
    let (status, _, _) = post_with(&server, &body, Some("plainApiKey_right")).await;
    assert_eq!(status, 200);
    // The client maps it.
    let wrong = server
        .client_builder()
        .api_key("plainApiKey_wrong")
        .build()
        .unwrap();
    let error = wrong.upsert_customer(donald()).await.unwrap_err();
    assert!(matches!(error, Error::Unauthenticated { .. }), "{error:?}");
    assert!(error.request_id().unwrap().starts_with("local-"));

    let open = LocalServer::builder().no_auth().start().await.unwrap();
    assert_eq!(post_with(&open, &body, None).await.0, 200);
}

#[tokio::test]
async fn rate_limits_as_plain_does_them() {
    // A window long enough that the four requests below fall in it on a loaded machine.
    let server = LocalServer::builder()
        .rate_limit(2, Duration::from_secs(3))
        .start()
        .await
        .unwrap();
    let body = recipe(fixture_json("recipe_create_variables.json"));
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(post(&server, &body).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 200, 429]);
    let remaining: Vec<&str> = answers
        .iter()
        .map(|a| a.1["x-ratelimit-remaining"].to_str().unwrap())
        .collect();
    assert_eq!(remaining, ["1", "0", "0"]);
    for (_, headers, _) in &answers {
        assert_eq!(headers["x-ratelimit-limit"], "2");
        let reset = headers["x-ratelimit-reset"].to_str().unwrap();
        assert!(reset.ends_with('Z') && reset.len() == 24, "{reset}");
        assert!(parse_time(reset) > SystemTime::now() - Duration::from_millis(5));
    }
    assert_eq!(
        answers[2].2,
        json!({"errors":[{"message":"Too Many Requests - Rate limit exceeded","extensions":{"code":"RATE_LIMITED"}}]})
    );
    // The client reads the reset time.
    let error = once(&server).upsert_customer(donald()).await.unwrap_err();
    let Error::RateLimited {
        reset_at: Some(reset_at),
        ..
    } = error
    else {
        panic!("{error:?}");
    };
    // After the reset, requests go through again.
    tokio::time::sleep(
        reset_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            + Duration::from_millis(20),
    )
    .await;
    assert_eq!(post(&server, &body).await.0, 200);
    assert_eq!(server.stats().rate_limited, 2);
}

#[tokio::test]
async fn every_answer_carries_a_distinct_request_id() {
    let server = LocalServer::start().await.unwrap();
    let body = recipe(fixture_json("recipe_create_variables.json"));
    server.script([ScriptedAnswer::status(500)]);
    let mut ids = Vec::new();
    for key in [server.api_key(), None, server.api_key()] {
        let (_, headers, _) = post_with(&server, &body, key).await;
        ids.push(headers["apigw-requestid"].to_str().unwrap().to_owned());
    }
    let (_, headers, _) = post(&server, "garbage").await;
    ids.push(headers["apigw-requestid"].to_str().unwrap().to_owned());
    let logged: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.request_id.clone())
        .collect();
    assert_eq!(ids, logged);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
}

#[tokio::test]
async fn scripted_answers_are_consumed_in_order() {
    let server = LocalServer::start().await.unwrap();
    server.script([
        ScriptedAnswer::graphql_error(500, "INTERNAL_SERVER_ERROR", "boom").header("x-extra", "1"),
        ScriptedAnswer::gateway(502),
        ScriptedAnswer::status(200).body(&b"\xff\xfe not json"[..]),
        ScriptedAnswer::normal().delay(Duration::from_millis(300)),
    ]);
    let client = once(&server);
    let first = client.upsert_customer(donald()).await.unwrap_err();
    assert!(
        matches!(first, Error::Server { status: 500, .. }),
        "{first:?}"
    );
    let second = client.upsert_customer(donald()).await.unwrap_err();
    assert!(
        matches!(second, Error::Server { status: 502, .. }),
        "{second:?}"
    );
    let third = client.upsert_customer(donald()).await.unwrap_err();
    assert!(
        matches!(third, Error::Decode { status: 200, .. }),
        "{third:?}"
    );
    let started = Instant::now();
    let fourth = client.upsert_customer(donald()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(fourth.result, UpsertResult::Created);
    let statuses: Vec<Option<u16>> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(500), Some(502), Some(200), Some(200)]);
    assert_eq!(server.stats().faults, 3);
}

#[tokio::test]
async fn dropped_connections_and_truncated_bodies_are_transport_errors() {
    let server = LocalServer::start().await.unwrap();
    server.script([
        ScriptedAnswer::drop_connection(),
        ScriptedAnswer::truncated(200, fixture("noop_response.json")),
    ]);
    let client = once(&server);
    for _ in 0..2 {
        let error = client.upsert_customer(donald()).await.unwrap_err();
        assert!(matches!(error, Error::Transport { .. }), "{error:?}");
        assert!(error.is_retryable());
    }
    // The server goes on serving.
    assert_eq!(
        client.upsert_customer(donald()).await.unwrap().result,
        UpsertResult::Created
    );
    assert_eq!(server.requests()[0].status, None);
}

#[tokio::test]
async fn a_seeded_failure_rate_is_transient_and_repeatable() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let server = LocalServer::builder()
            .failure_rate(0.5)
            .seed(seed)
            .start()
            .await
            .unwrap();
        let body = recipe(fixture_json("recipe_create_variables.json"));
        let mut out = Vec::new();
        for _ in 0..40 {
            out.push(post(&server, &body).await.0);
        }
        out
    }
    let first = statuses(7).await;
    assert_eq!(first, statuses(7).await);
    let failures: Vec<u16> = first.iter().copied().filter(|s| *s != 200).collect();
    assert!((8..=32).contains(&failures.len()), "{first:?}");
    assert!(
        failures.iter().all(|s| [500, 502, 503, 504].contains(s)),
        "{first:?}"
    );
    assert!(
        failures.contains(&500) && failures.iter().any(|s| *s != 500),
        "{first:?}"
    );
    assert_ne!(first, statuses(8).await);
}

#[tokio::test]
async fn a_fixed_delay_slows_every_answer() {
    // The timeout is long enough for an undelayed answer on a loaded machine.
    let server = LocalServer::builder()
        .delay(Duration::from_secs(4))
        .start()
        .await
        .unwrap();
    let client = server
        .client_builder()
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let error = client.upsert_customer(donald()).await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    server.set_delay(Duration::ZERO);
    client.upsert_customer(donald()).await.unwrap();
}

#[tokio::test]
async fn the_request_log_shows_headers_without_the_key_and_json_bodies() {
    let server = LocalServer::builder()
        .api_key("plainApiKey_LOGSECRET")
        .start()
        .await
        .unwrap();
    let client = server
        .client_builder()
        .user_agent("sync-job/1")
        .build()
        .unwrap();
    client.upsert_customer(donald()).await.unwrap();
    client
        .upsert_customer(donald().on_update(OnUpdate::new().clear_short_name()))
        .await
        .unwrap();
    let log = server.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].header("authorization"), Some("Bearer <redacted>"));
    assert_eq!(log[0].header("user-agent"), Some("sync-job/1"));
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, "/graphql/v1");
    assert_eq!(log[0].body["variables"]["input"]["onUpdate"], json!({}));
    assert_eq!(
        log[1].body["variables"]["input"]["onUpdate"],
        json!({"shortName": {"value": null}})
    );
    assert!(!format!("{log:?}").contains("LOGSECRET"));
    assert!(!format!("{server:?}").contains("LOGSECRET"));
    // What users snapshot: the bodies their code sent.
    let bodies: Vec<&Value> = log.iter().map(|r| &r.body["variables"]).collect();
    insta::assert_json_snapshot!(bodies);
}

#[tokio::test]
async fn the_store_can_be_read() {
    let server = LocalServer::start().await.unwrap();
    server
        .client()
        .unwrap()
        .upsert_customer(donald())
        .await
        .unwrap();
    let customers = server.customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].email, "donald@example.com");
    assert_eq!(customers[0].short_name.as_deref(), Some("Donald"));
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = LocalServer::start().await.unwrap();
    let client: PlainClient = once(&server);
    let address = server.address();
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
    let error = client.upsert_customer(donald()).await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
}

#[tokio::test]
async fn only_post_on_the_graphql_path() {
    let server = LocalServer::start().await.unwrap();
    let base = server.endpoint().trim_end_matches("/graphql/v1").to_owned();
    let other = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 404);
    let get = reqwest::Client::new()
        .get(server.endpoint())
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
}

#[tokio::test]
async fn scripted_status_headers_and_raw_bytes_arrive_as_scripted() {
    let server = LocalServer::start().await.unwrap();
    server.script([ScriptedAnswer::status(418)
        .header("x-scripted", "yes")
        .body(&b"{\"half\": "[..])]);
    let (status, headers, body) = post(&server, "{}").await;
    assert_eq!(status, 418);
    assert_eq!(headers["x-scripted"], "yes");
    assert_eq!(body, Value::String("{\"half\": ".to_owned()));
    assert!(headers.contains_key("apigw-requestid"));
}

#[tokio::test]
async fn a_log_limit_keeps_only_the_newest_requests() {
    let server = LocalServer::builder()
        .request_log_limit(3)
        .start()
        .await
        .unwrap();
    let client = once(&server);
    for i in 0..5 {
        let email = format!("c{i}@example.com");
        let input = UpsertCustomerInput::new(
            CustomerIdentifier::email(email.clone()),
            OnCreate::new(format!("C {i}"), EmailAddress::unverified(email)),
        );
        client.upsert_customer(input).await.unwrap();
    }
    let log = server.requests();
    let emails: Vec<&str> = log
        .iter()
        .map(|r| {
            r.body["variables"]["input"]["identifier"]["emailAddress"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        emails,
        ["c2@example.com", "c3@example.com", "c4@example.com"]
    );
    assert!(log.iter().all(|r| r.status == Some(200)));
    assert_eq!(server.stats().requests, 5);
    assert_eq!(server.customers().len(), 5);
}

/// A selection beyond what this crate's operation uses: a customer's company and a Unix time.
const WIDER_SELECTION: &str = "mutation u($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { result customer { id company { id } createdAt { iso8601 unixTimestamp } } } }";

#[tokio::test]
async fn a_fuller_schema_serves_clients_that_select_more() {
    let variables = fixture_json("recipe_create_variables.json");
    // The vendored schema holds only what the operations use, so the default server refuses
    // the wider selection. (CI also runs the suite with Plain's full schema vendored, which
    // has these fields: then the default server serves them too.)
    let vendored_schema = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/graphql/schema.graphql"
    ))
    .unwrap();
    let vendored = LocalServer::start().await.unwrap();
    let (status, _, body) = post(&vendored, &graphql(WIDER_SELECTION, variables.clone())).await;
    if vendored_schema.contains("unixTimestamp") {
        assert_eq!(status, 200, "{body}");
    } else {
        assert_eq!(
            (status, code(&body)),
            (400, "GRAPHQL_VALIDATION_FAILED"),
            "{body}"
        );
        assert!(body.to_string().contains("company"), "{body}");
    }

    let fuller = LocalServer::builder()
        .schema(fixture("schemas/full.graphql"))
        .start()
        .await
        .unwrap();
    let (status, _, body) = post(&fuller, &graphql(WIDER_SELECTION, variables)).await;
    assert_eq!(status, 200, "{body}");
    let customer = &body["data"]["upsertCustomer"]["customer"];
    assert_eq!(body["data"]["upsertCustomer"]["result"], "CREATED");
    assert_eq!(customer["company"], Value::Null, "not modelled: null");
    let created = parse_time(customer["createdAt"]["iso8601"].as_str().unwrap());
    let millis = created
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert_eq!(customer["createdAt"]["unixTimestamp"], millis.to_string());
    // The crate's own client is served as before, from the same store: Donald exists.
    let upserted = fuller
        .client()
        .unwrap()
        .upsert_customer(donald())
        .await
        .unwrap();
    assert_eq!(upserted.result, UpsertResult::Noop);
}

#[tokio::test]
async fn a_schema_that_cannot_serve_upsert_customer_is_refused_at_start() {
    for (schema, says) in [
        ("type Query { a: String", "does not parse"),
        ("type Query { a: String }", "cannot serve upsertCustomer"),
    ] {
        let error = LocalServer::builder()
            .schema(schema)
            .start()
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains(says), "{schema}: {error}");
    }
}

/// Posts a raw body with the server's key and returns the answer's text as sent, to check the
/// order of its fields.
async fn post_text(server: &LocalServer, body: &str) -> String {
    reqwest::Client::new()
        .post(server.endpoint())
        .header(
            "authorization",
            format!("Bearer {}", server.api_key().unwrap()),
        )
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A server holding two customer groups: `vip` by key, `beta` with an external id.
async fn with_groups() -> LocalServer {
    LocalServer::builder()
        .customer_group("vip", "VIP")
        .customer_group_spec(CustomerGroupSpec::new("beta", "Beta testers").external_id("crm-beta"))
        .start()
        .await
        .unwrap()
}

fn group(server: &LocalServer, key: &str) -> StoredCustomerGroup {
    server
        .customer_groups()
        .into_iter()
        .find(|g| g.key == key)
        .unwrap_or_else(|| panic!("no group {key}"))
}

#[tokio::test]
async fn queries_answer_exactly_the_selected_fields_or_null() {
    let server = LocalServer::start().await.unwrap();
    let created = once(&server).upsert_customer(donald()).await.unwrap();
    let id = created.customer.id;
    let query = "query q($email: String!, $id: ID!) { \
                 byEmail: customerByEmail(email: $email) { __typename id ...Names } \
                 byId: customer(customerId: $id) { email { email isVerified } } \
                 nobody: customerByExternalId(externalId: \"u_none\") { id } \
                 __typename } \
                 fragment Names on Customer { fullName shortName externalId }";
    let body = graphql(query, json!({"email": "DONALD@Example.com", "id": id}));
    let (status, _, answer) = post(&server, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"data": {
            "byEmail": {"__typename": "Customer", "id": id, "fullName": "Donald Duck",
                        "shortName": "Donald", "externalId": null},
            "byId": {"email": {"email": "donald@example.com", "isVerified": false}},
            "nobody": null,
            "__typename": "Query",
        }})
    );
    // In the order selected, not sorted.
    let text = post_text(&server, &body).await;
    let expected = format!(
        r#"{{"data":{{"byEmail":{{"__typename":"Customer","id":"{id}","fullName":"Donald Duck","shortName":"Donald","externalId":null}},"byId":{{"email":{{"email":"donald@example.com","isVerified":false}}}},"nobody":null,"__typename":"Query"}}}}"#
    );
    assert_eq!(text, expected);
    // Queries change nothing.
    assert_eq!(server.customers().len(), 1);
    assert_eq!(
        server.customers()[0].updated_at,
        server.customers()[0].created_at
    );
}

#[tokio::test]
async fn a_shorthand_query_is_served_as_a_query() {
    let server = LocalServer::start().await.unwrap();
    let body = json!({"query": "{ customerByExternalId(externalId: \"u_1\") { id } }"}).to_string();
    let (status, _, answer) = post(&server, &body).await;
    assert_eq!(
        (status, answer),
        (200, json!({"data": {"customerByExternalId": null}}))
    );
}

#[tokio::test]
async fn a_subscription_is_refused_whatever_the_schema() {
    let refused = json!({"errors": [{
        "message": "Subscriptions are not served over HTTP; send a query or a mutation",
        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
    }]});
    let vendored = LocalServer::start().await.unwrap();
    let fuller = LocalServer::builder()
        .schema(fixture("schemas/full.graphql"))
        .start()
        .await
        .unwrap();
    for server in [&vendored, &fuller] {
        for query in [
            "subscription { customerChanges { __typename } }",
            "subscription changes { customerChanges { __typename } }",
        ] {
            let (status, _, answer) = post(server, &graphql(query, json!({}))).await;
            assert_eq!((status, &answer), (400, &refused), "{query}");
        }
    }
}

#[tokio::test]
async fn my_workspace_answers_the_workspace_or_forbidden_as_a_field_error() {
    let query = "query ws { mine: myWorkspace { name id __typename } customer(customerId: \"c_1\") { id } }";
    let server = LocalServer::builder()
        .workspace_id("w_01JTESTWORKSPACE0000000000")
        .workspace_name("Duckburg")
        .start()
        .await
        .unwrap();
    let (status, _, _) = post(&server, &graphql(query, json!({}))).await;
    assert_eq!(status, 200);
    // Exactly the selection, in its order (serde_json would sort the keys).
    assert_eq!(
        post_text(&server, &graphql(query, json!({}))).await,
        r#"{"data":{"mine":{"name":"Duckburg","id":"w_01JTESTWORKSPACE0000000000","__typename":"Workspace"},"customer":null}}"#
    );

    // A key that may not read the workspace: HTTP 200, the field null, one error naming it
    // by its response key; the rest of the request still runs.
    let forbidden = LocalServer::builder()
        .forbid_workspace_read()
        .start()
        .await
        .unwrap();
    let (status, _, answer) = post(&forbidden, &graphql(query, json!({}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({
            "errors": [{
                "message": "Forbidden: this API key may not read the workspace",
                "locations": [{"line": 1, "column": 12}],
                "path": ["mine"],
                "extensions": {"code": "FORBIDDEN"},
            }],
            "data": {"mine": null, "customer": null},
        })
    );
    let text = post_text(&forbidden, &graphql(query, json!({}))).await;
    assert!(text.starts_with("{\"errors\":"), "errors first: {text}");
}

#[tokio::test]
async fn workspace_ids_and_names_must_not_be_blank() {
    for builder in [
        LocalServer::builder().workspace_id(" "),
        LocalServer::builder().workspace_name(""),
    ] {
        let error = builder.start().await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{error}");
        assert!(error.to_string().contains("blank"), "{error}");
    }
}

#[tokio::test]
async fn root_fields_the_server_does_not_serve_are_refused_before_anything_runs() {
    // The fixture's schema has a `companies` query, which the server does not model.
    let server = LocalServer::builder()
        .schema(fixture("schemas/full.graphql"))
        .start()
        .await
        .unwrap();
    let query = "query { customer(customerId: \"c_1\") { id } companies { id } }";
    let (status, _, answer) = post(&server, &graphql(query, json!({}))).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer,
        json!({"errors": [{
            "message": "The local server does not serve \"Query.companies\"; it serves myWorkspace, customers, customer, customerByEmail, customerByExternalId, customerGroups, customerGroup. Register an answer for the operation with LocalServerBuilder::answer or LocalServer::answer.",
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
        }]})
    );
    // A field no schema has is refused by validation, as Plain refuses it.
    let vendored = LocalServer::start().await.unwrap();
    let (status, _, answer) = post(
        &vendored,
        &graphql("query { companies { edges { node { id } } } }", json!({})),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (400, "GRAPHQL_VALIDATION_FAILED"),
        "{answer}"
    );
    // An argument that does not fit its type is refused before an earlier mutation runs.
    let query = "mutation m($input: UpsertCustomerInput!) { \
                 upsertCustomer(input: $input) { result } \
                 deleteCustomer(input: {customerId: null}) { error { code } } }";
    let (status, _, answer) = post(
        &vendored,
        &graphql(query, fixture_json("recipe_create_variables.json")),
    )
    .await;
    assert_eq!((status, code(&answer)), (400, "BAD_USER_INPUT"), "{answer}");
    assert!(vendored.customers().is_empty());
}

const DELETE: &str = "mutation d($input: DeleteCustomerInput!) { deleteCustomer(input: $input) { \
                      __typename error { message type code fields { field message type } } } }";

#[tokio::test]
async fn delete_answers_as_plain_does() {
    let server = LocalServer::start().await.unwrap();
    let id = once(&server)
        .upsert_customer(donald())
        .await
        .unwrap()
        .customer
        .id;
    let delete = graphql(DELETE, json!({"input": {"customerId": id}}));
    let (status, _, answer) = post(&server, &delete).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"data": {"deleteCustomer": {"__typename": "DeleteCustomerOutput", "error": null}}})
    );
    assert!(server.customers().is_empty());
    let lookup = graphql(
        "query q($id: ID!) { customer(customerId: $id) { id } }",
        json!({"id": id}),
    );
    assert_eq!(
        post(&server, &lookup).await.2,
        json!({"data": {"customer": null}})
    );
    // Again: the id is unknown now, and the answer is the upsert's `not_found`.
    let (status, _, answer) = post(&server, &delete).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"data": {"deleteCustomer": {"__typename": "DeleteCustomerOutput", "error": {
            "message": format!("Customer with id {id} not found"),
            "type": "VALIDATION",
            "code": "not_found",
            "fields": [{"field": "customerId", "message": "Customer not found", "type": "NOT_FOUND"}],
        }}}})
    );
}

const ADD: &str = "mutation a($input: AddCustomerToCustomerGroupsInput!) { \
                   addCustomerToCustomerGroups(input: $input) { \
                   customerGroupMemberships { customerId customerGroup { id key name externalId } createdAt { iso8601 } } \
                   error { message type code fields { field message type } } } }";

const REMOVE: &str = "mutation r($input: RemoveCustomerFromCustomerGroupsInput!) { \
                      removeCustomerFromCustomerGroups(input: $input) { \
                      error { message type code fields { field message type } } } }";

#[tokio::test]
async fn group_membership_answers_as_plain_does() {
    let server = with_groups().await;
    let before = SystemTime::now() - Duration::from_secs(1);
    let id = once(&server)
        .upsert_customer(donald())
        .await
        .unwrap()
        .customer
        .id;
    let (vip, beta) = (group(&server, "vip"), group(&server, "beta"));
    let add = |groups: Value| {
        graphql(
            ADD,
            json!({"input": {"customerId": id, "customerGroupIdentifiers": groups}}),
        )
    };
    let both = json!([{"customerGroupKey": "vip"}, {"externalId": "crm-beta"}]);
    let (status, _, mut answer) = post(&server, &add(both.clone())).await;
    assert_eq!(status, 200, "{answer}");
    let output = &mut answer["data"]["addCustomerToCustomerGroups"];
    for membership in output["customerGroupMemberships"].as_array_mut().unwrap() {
        let at = parse_time(membership["createdAt"]["iso8601"].as_str().unwrap());
        assert!(before <= at && at <= SystemTime::now(), "{membership}");
        membership["createdAt"]["iso8601"] = json!("<checked>");
    }
    assert_eq!(
        *output,
        json!({
            "customerGroupMemberships": [
                {"customerId": id, "customerGroup": {"id": vip.id, "key": "vip", "name": "VIP", "externalId": null},
                 "createdAt": {"iso8601": "<checked>"}},
                {"customerId": id, "customerGroup": {"id": beta.id, "key": "beta", "name": "Beta testers", "externalId": "crm-beta"},
                 "createdAt": {"iso8601": "<checked>"}},
            ],
            "error": null,
        })
    );
    // The same memberships again, one by Plain's id: nothing new, so none reported.
    let again = json!([{"customerGroupId": vip.id}, {"customerGroupKey": "beta"}]);
    let (status, _, answer) = post(&server, &add(again)).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"data": {"addCustomerToCustomerGroups": {"customerGroupMemberships": [], "error": null}}})
        )
    );
    assert_eq!(
        server.customers()[0].customer_group_ids,
        [vip.id.clone(), beta.id.clone()]
    );

    // A group that does not exist: refused, nothing changed.
    let unknown =
        json!([{"customerGroupKey": "vip"}, {"customerGroupKey": "gold"}, {"externalId": "crm-x"}]);
    let remove = graphql(
        REMOVE,
        json!({"input": {"customerId": id, "customerGroupIdentifiers": unknown}}),
    );
    let refusal = json!({
        "message": "No customer group matches key \"gold\", external id \"crm-x\".",
        "type": "VALIDATION",
        "code": "customer_group_not_found",
        "fields": [
            {"field": "customerGroupIdentifiers", "message": "No customer group with key \"gold\"", "type": "NOT_FOUND"},
            {"field": "customerGroupIdentifiers", "message": "No customer group with external id \"crm-x\"", "type": "NOT_FOUND"},
        ],
    });
    assert_eq!(
        post(&server, &remove).await.2,
        json!({"data": {"removeCustomerFromCustomerGroups": {"error": refusal}}})
    );
    assert_eq!(server.customers()[0].customer_group_ids.len(), 2);

    // Removing, then removing from groups the customer is in none of.
    let remove = graphql(
        REMOVE,
        json!({"input": {"customerId": id, "customerGroupIdentifiers": both}}),
    );
    assert_eq!(
        post(&server, &remove).await.2,
        json!({"data": {"removeCustomerFromCustomerGroups": {"error": null}}})
    );
    assert!(server.customers()[0].customer_group_ids.is_empty());
    assert_eq!(
        post(&server, &remove).await.2,
        json!({"data": {"removeCustomerFromCustomerGroups": {"error": {
            "message": "The customer is not a member of any of these customer groups.",
            "type": "VALIDATION",
            "code": "customer_group_membership_not_found",
            "fields": [{"field": "customerGroupIdentifiers", "message": "Not a member of any of these customer groups", "type": "NOT_FOUND"}],
        }}}})
    );
}

#[tokio::test]
async fn group_identifiers_must_be_one_of_id_key_or_external_id_and_at_most_25() {
    let server = with_groups().await;
    let id = once(&server)
        .upsert_customer(donald())
        .await
        .unwrap()
        .customer
        .id;
    let cases = [
        (
            json!([{"customerGroupKey": "vip", "externalId": "crm-beta"}]),
            "VALIDATION",
        ),
        (json!([{}]), "VALIDATION"),
        (json!([]), "REQUIRED"),
        (
            json!(vec![json!({"customerGroupKey": "vip"}); 26]),
            "VALIDATION",
        ),
    ];
    for (groups, field_type) in cases {
        let body = graphql(
            ADD,
            json!({"input": {"customerId": id, "customerGroupIdentifiers": groups}}),
        );
        let (status, _, answer) = post(&server, &body).await;
        assert_eq!(status, 200, "{answer}");
        let error = &answer["data"]["addCustomerToCustomerGroups"]["error"];
        assert_eq!(error["code"], "input_validation", "{groups}: {answer}");
        assert_eq!(error["fields"][0]["field"], "customerGroupIdentifiers");
        assert_eq!(error["fields"][0]["type"], field_type, "{groups}: {answer}");
    }
    assert!(server.customers()[0].customer_group_ids.is_empty());
    // In an upsert, the field error names the field at fault too.
    let mut two_ways = fixture_json("recipe_create_variables.json");
    two_ways["input"]["onCreate"]["email"]["email"] = json!("daisy@example.com");
    two_ways["input"]["identifier"] = json!({"emailAddress": "daisy@example.com"});
    two_ways["input"]["onCreate"]["customerGroupIdentifiers"] =
        json!([{"customerGroupKey": "vip", "externalId": "crm-beta"}]);
    let mut no_identifier = two_ways.clone();
    no_identifier["input"]["onCreate"]["customerGroupIdentifiers"] = json!([]);
    no_identifier["input"]["identifier"] = json!({});
    for (variables, field) in [
        (two_ways, "customerGroupIdentifiers"),
        (no_identifier, "identifier"),
    ] {
        let (status, _, answer) = post(&server, &recipe(variables)).await;
        assert_eq!(status, 200, "{answer}");
        let error = &answer["data"]["upsertCustomer"]["error"];
        assert_eq!(error["code"], "input_validation", "{answer}");
        assert_eq!(error["fields"][0]["field"], field, "{answer}");
    }
    assert_eq!(server.customers().len(), 1);
}

#[tokio::test]
async fn customer_groups_given_at_start_look_like_plains_and_are_checked() {
    let server = with_groups().await;
    let groups = server.customer_groups();
    let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["vip", "beta"]);
    assert_eq!(groups[0].name, "VIP");
    assert_eq!(groups[0].external_id, None);
    assert_eq!(groups[1].external_id.as_deref(), Some("crm-beta"));
    for g in &groups {
        assert_eq!(g.id.len(), 29, "{}", g.id);
        assert!(g.id.starts_with("cg_"), "{}", g.id);
        assert!(
            g.id[3..]
                .chars()
                .all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c)),
            "{}",
            g.id
        );
        assert_eq!(g.created_at, g.updated_at);
    }
    assert_ne!(groups[0].id, groups[1].id);

    for (builder, says) in [
        (
            LocalServer::builder()
                .customer_group("vip", "VIP")
                .customer_group("vip", "Other"),
            "key \"vip\"",
        ),
        (
            LocalServer::builder()
                .customer_group_spec(CustomerGroupSpec::new("a", "A").external_id("x"))
                .customer_group_spec(CustomerGroupSpec::new("b", "B").external_id("x")),
            "external id \"x\"",
        ),
        (
            LocalServer::builder().customer_group(" ", "Blank"),
            "required",
        ),
        (LocalServer::builder().customer_group("k", ""), "required"),
    ] {
        let error = builder.start().await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains(says), "{error}");
    }
}

/// Plain's own schema, when it is beside the checkout.
fn plains_schema() -> Option<String> {
    let path = common::shared_plain("schema.graphql")?;
    Some(std::fs::read_to_string(path).unwrap())
}

#[tokio::test]
async fn plains_full_schema_serves_the_whole_customer_family() {
    let Some(schema) = plains_schema() else {
        return;
    };
    let server = LocalServer::builder()
        .schema(schema)
        .customer_group("vip", "VIP")
        .start()
        .await
        .unwrap();
    let client = once(&server);
    let vip = plain_client::CustomerGroupIdentifier::key("vip");

    // The crate's own operations, as it sends them.
    let input = UpsertCustomerInput::new(
        CustomerIdentifier::email("donald@example.com"),
        OnCreate::new(
            "Donald Duck",
            EmailAddress::unverified("donald@example.com"),
        )
        .external_id("u_1")
        .customer_groups([vip.clone()]),
    );
    let mut created = client.upsert_customer(input).await.unwrap().customer;
    assert_eq!(
        server.customers()[0].customer_group_ids,
        [group(&server, "vip").id]
    );
    let by_id = client.customer_by_id(created.id.clone()).await.unwrap();
    // The lookups select the memberships, which the upsert does not.
    let memberships = by_id.as_ref().and_then(|c| c.customer_groups.clone());
    assert_eq!(
        memberships
            .as_ref()
            .map(|m| m[0].customer_group.key.as_str()),
        Some("vip")
    );
    created.customer_groups = memberships;
    assert_eq!(by_id.as_ref(), Some(&created));
    let by_email = client
        .customer_by_email("Donald@Example.COM")
        .await
        .unwrap();
    assert_eq!(by_email.as_ref(), Some(&created));
    let by_external = client.customer_by_external_id("u_1").await.unwrap();
    assert_eq!(by_external.as_ref(), Some(&created));
    client
        .remove_customer_from_customer_groups(created.id.clone(), [vip.clone()])
        .await
        .unwrap();
    let added = client
        .add_customer_to_customer_groups(created.id.clone(), [vip.clone()])
        .await
        .unwrap();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].customer_group.key, "vip");

    // Plain's fields the server does not model answer null; served ones are served.
    let query = "query q($id: ID!) { customer(customerId: $id) { id avatarUrl company { id } } }";
    let (status, _, answer) = post(&server, &graphql(query, json!({"id": created.id}))).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"data": {"customer": {"id": created.id, "avatarUrl": null, "company": null}}})
        )
    );
    let add = "mutation a($input: AddCustomerToCustomerGroupsInput!) { addCustomerToCustomerGroups(input: $input) { \
               customerGroupMemberships { customerGroup { key color } } error { code } } }";
    let variables = json!({"input": {"customerId": created.id, "customerGroupIdentifiers": [{"customerGroupKey": "nope"}]}});
    let (_, _, answer) = post(&server, &graphql(add, variables)).await;
    assert_eq!(
        answer,
        json!({"data": {"addCustomerToCustomerGroups": {"customerGroupMemberships": null, "error": {"code": "customer_group_not_found"}}}})
    );

    // Subscriptions and unserved root fields are refused; a refused mutation changed nothing.
    let (status, _, answer) = post(
        &server,
        &graphql("subscription { customerChanges { __typename } }", json!({})),
    )
    .await;
    assert_eq!((status, code(&answer)), (400, "GRAPHQL_VALIDATION_FAILED"));
    let both = "mutation m($input: DeleteCustomerInput!) { deleteCustomer(input: $input) { error { code } } \
                markCustomerAsSpam(input: {customerId: \"c_1\"}) { error { code } } }";
    let (status, _, answer) = post(
        &server,
        &graphql(both, json!({"input": {"customerId": created.id}})),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (400, "GRAPHQL_VALIDATION_FAILED"),
        "{answer}"
    );
    assert!(
        answer.to_string().contains("Mutation.markCustomerAsSpam"),
        "{answer}"
    );
    assert_eq!(server.customers().len(), 1);

    client.delete_customer(created.id.clone()).await.unwrap();
    assert_eq!(client.customer_by_id(created.id).await.unwrap(), None);
    assert!(server.customers().is_empty());
}
