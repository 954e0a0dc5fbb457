//! The client against a real HTTP server on 127.0.0.1 (the local server): what it sends, and
//! how each class of answer maps to a result or an error, one attempt each (retries are tested
//! in `tests/resilience.rs`).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::fixture;
use plain_client::testing::{LocalServer, ScriptedAnswer};
use plain_client::{
    upsert_customer_request, CustomerIdentifier, EmailAddress, Error, OnCreate, PlainClient,
    RetryPolicy, TransportErrorKind, UpsertCustomerInput, UpsertResult,
};
use serde_json::json;

const KEY: &str = "plainApiKey_TESTSECRET_9f8e7d6c5b4a";

fn input() -> UpsertCustomerInput {
    UpsertCustomerInput::new(
        CustomerIdentifier::email("donald@example.com"),
        OnCreate::new(
            "Donald Duck",
            EmailAddress::unverified("donald@example.com"),
        ),
    )
}

fn client(server: &LocalServer) -> PlainClient {
    PlainClient::builder()
        .api_key(KEY)
        .retry_policy(RetryPolicy::none())
        .endpoint(server.endpoint())
        .build()
        .unwrap()
}

/// A local server expecting [`KEY`], with these answers scripted.
async fn server_with(answers: impl IntoIterator<Item = ScriptedAnswer>) -> LocalServer {
    let server = LocalServer::builder().api_key(KEY).start().await.unwrap();
    server.script(answers);
    server
}

/// A scripted answer with this status and body.
fn reply(status: u16, body: impl Into<Vec<u8>>) -> ScriptedAnswer {
    ScriptedAnswer::status(status).body(body)
}

/// Sends one upsert to a server that answers with `answer`.
async fn answer(answer: ScriptedAnswer) -> Result<plain_client::UpsertedCustomer, Error> {
    let server = server_with([answer]).await;
    client(&server).upsert_customer(input()).await
}

fn assert_no_key(error: &Error) {
    for text in [format!("{error}"), format!("{error:?}")] {
        assert!(!text.contains("TESTSECRET"), "{text}");
    }
}

#[tokio::test]
async fn sends_the_key_json_and_user_agent_and_the_exact_body() {
    let server = server_with([]).await;
    let upserted = client(&server).upsert_customer(input()).await.unwrap();
    assert_eq!(upserted.result, UpsertResult::Created);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/graphql/v1");
    // The server accepted the key (it answers 401 otherwise) and logged it redacted.
    assert_eq!(request.status, Some(200));
    assert_eq!(request.header("authorization"), Some("Bearer <redacted>"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let agent = request.header("user-agent").unwrap();
    assert!(agent.starts_with("plain-client-rust/"), "{agent}");
    // The body is byte for byte what the dry run gives.
    let expected = serde_json::to_vec(&upsert_customer_request(input())).unwrap();
    assert_eq!(request.raw_body, expected);
    assert_eq!(
        request.raw_body,
        plain_client::upsert_customer_body(input()).unwrap()
    );
}

#[tokio::test]
async fn a_custom_user_agent_and_http_client_are_used() {
    let server = server_with([]).await;
    let client = PlainClient::builder()
        .api_key(KEY)
        .retry_policy(RetryPolicy::none())
        .endpoint(server.endpoint())
        .user_agent("acme-sync/2.1")
        .http_client(reqwest::Client::new())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    client.upsert_customer(input()).await.unwrap();
    assert_eq!(
        server.requests()[0].header("user-agent"),
        Some("acme-sync/2.1")
    );
}

#[tokio::test]
async fn mutation_error_keeps_the_request_id() {
    let error = answer(
        reply(200, fixture("mutation_error_response.json")).header("apigw-requestid", "rid-1"),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::MutationRejected { .. }), "{error:?}");
    assert_eq!(error.request_id(), Some("rid-1"));
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn status_401_is_unauthenticated() {
    let body = json!({"errors": [{"message": "Invalid API key", "extensions": {"code": "UNAUTHENTICATED"}}]});
    let error = answer(ScriptedAnswer::json(401, &body).header("apigw-requestid", "rid-401"))
        .await
        .unwrap_err();
    let Error::Unauthenticated { message, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(message, "Invalid API key");
    assert_eq!(error.request_id(), Some("rid-401"));
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("PLAIN_API_KEY"), "{error}");
    assert_no_key(&error);
}

#[tokio::test]
async fn status_403_is_forbidden() {
    let body = json!({"errors": [{"message": "Missing permission customer:edit", "extensions": {"code": "FORBIDDEN"}}]});
    let error = answer(ScriptedAnswer::json(403, &body).header("apigw-requestid", "rid-403"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Forbidden { .. }), "{error:?}");
    assert_eq!(error.request_id(), Some("rid-403"));
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("customer:edit"), "{error}");
}

#[tokio::test]
async fn status_429_is_rate_limited_with_the_reset_time() {
    let body = json!({"errors": [{"message": "Too Many Requests - Rate limit exceeded", "extensions": {"code": "RATE_LIMITED"}}]});
    let error = answer(
        ScriptedAnswer::json(429, &body)
            .header("apigw-requestid", "rid-429")
            .header("x-ratelimit-limit", "450")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "2026-01-06T15:30:00.000Z"),
    )
    .await
    .unwrap_err();
    let Error::RateLimited {
        reset_at,
        retry_after,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    let reset = reset_at.unwrap().duration_since(UNIX_EPOCH).unwrap();
    assert_eq!(reset.as_secs(), 1_767_713_400);
    assert_eq!(*retry_after, None);
    assert_eq!(error.request_id(), Some("rid-429"));
    assert!(error.is_retryable());
    assert!(
        error.to_string().contains("2026-01-06T15:30:00.000Z"),
        "{error}"
    );
}

#[tokio::test]
async fn status_429_with_retry_after() {
    let error = answer(reply(429, "").header("retry-after", "7"))
        .await
        .unwrap_err();
    let Error::RateLimited { retry_after, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn status_500_with_graphql_errors_is_a_server_error() {
    let body = json!({"errors": [{"message": "Something broke", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]});
    let error = answer(ScriptedAnswer::json(500, &body).header("apigw-requestid", "rid-500"))
        .await
        .unwrap_err();
    let Error::Server {
        status, message, ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!((*status, message.as_str()), (500, "Something broke"));
    assert_eq!(error.request_id(), Some("rid-500"));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn gateway_502_with_html_is_a_server_error_with_an_excerpt() {
    let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    let error = answer(
        reply(502, html)
            .header("content-type", "text/html")
            .header("apigw-requestid", "rid-502"),
    )
    .await
    .unwrap_err();
    let Error::Server {
        status, message, ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(*status, 502);
    assert!(message.contains("502 Bad Gateway"), "{message}");
    assert_eq!(error.request_id(), Some("rid-502"));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn status_400_validation_failure_is_a_request_error_with_its_code() {
    let body = json!({"errors": [{"message": "Cannot query field \"nope\" on type \"Customer\".", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]});
    let error = answer(ScriptedAnswer::json(400, &body).header("apigw-requestid", "rid-400"))
        .await
        .unwrap_err();
    let Error::Request { status, errors, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*status, 400);
    assert_eq!(errors[0].code.as_deref(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert_eq!(error.request_id(), Some("rid-400"));
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn bad_user_input_is_not_retryable_but_internal_server_error_is() {
    let bad = json!({"errors": [{"message": "Variable \"$input\" got invalid value", "extensions": {"code": "BAD_USER_INPUT"}}]});
    let error = answer(ScriptedAnswer::json(400, &bad)).await.unwrap_err();
    assert!(matches!(error, Error::Request { .. }), "{error:?}");
    assert!(!error.is_retryable());

    let internal = json!({"data": null, "errors": [{"message": "oops", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]});
    let error = answer(ScriptedAnswer::json(200, &internal))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Request { status: 200, .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn invalid_json_with_200_is_a_decode_error_with_an_excerpt() {
    let error = answer(reply(200, "{\"data\": {\"upsertCus").header("apigw-requestid", "rid-bad"))
        .await
        .unwrap_err();
    let Error::Decode {
        status, excerpt, ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(*status, 200);
    assert_eq!(excerpt, "{\"data\": {\"upsertCus");
    assert_eq!(error.request_id(), Some("rid-bad"));
}

#[tokio::test]
async fn a_long_unexpected_body_is_cut_to_200_characters() {
    let body = "é".repeat(500);
    let error = answer(reply(404, body)).await.unwrap_err();
    let Error::Decode { excerpt, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(excerpt.chars().count(), 201);
    assert!(excerpt.ends_with('…'));
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/graphql/v1", listener.local_addr().unwrap());
    drop(listener);
    let client = PlainClient::builder()
        .api_key(KEY)
        .retry_policy(RetryPolicy::none())
        .endpoint(url)
        .build()
        .unwrap();
    let error = client.upsert_customer(input()).await.unwrap_err();
    let Error::Transport { kind, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*kind, TransportErrorKind::Connect);
    assert!(error.is_retryable());
    assert_no_key(&error);
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let server = server_with([ScriptedAnswer::normal().delay(Duration::from_secs(3))]).await;
    let client = PlainClient::builder()
        .api_key(KEY)
        .retry_policy(RetryPolicy::none())
        .endpoint(server.endpoint())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = SystemTime::now();
    let error = client.upsert_customer(input()).await.unwrap_err();
    let Error::Transport { kind, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*kind, TransportErrorKind::Timeout);
    assert!(started.elapsed().unwrap() >= Duration::from_millis(300));
}

#[test]
fn the_key_never_shows_in_debug() {
    let client = PlainClient::new(KEY).unwrap();
    let builder = PlainClient::builder().api_key(KEY);
    for text in [format!("{client:?}"), format!("{builder:?}")] {
        assert!(!text.contains("TESTSECRET"), "{text}");
        assert!(
            text.contains("redacted") || text.contains("Sensitive"),
            "{text}"
        );
    }
}

#[test]
fn configuration_errors_say_what_to_fix() {
    let missing = PlainClient::builder().build().unwrap_err();
    assert!(missing.to_string().contains("PLAIN_API_KEY"), "{missing}");
    let empty = PlainClient::new("  ").unwrap_err();
    assert!(empty.to_string().contains("empty"), "{empty}");
    let not_url = PlainClient::builder()
        .api_key(KEY)
        .retry_policy(RetryPolicy::none())
        .endpoint("core-api.uk.plain.com")
        .build()
        .unwrap_err();
    assert!(not_url.to_string().contains("not a URL"), "{not_url}");
    let insecure = PlainClient::builder()
        .api_key(KEY)
        .retry_policy(RetryPolicy::none())
        .endpoint("http://example.com/graphql/v1")
        .build()
        .unwrap_err();
    assert!(insecure.to_string().contains("use https"), "{insecure}");
    for error in [missing, empty, not_url, insecure] {
        assert!(matches!(error, Error::Config { .. }), "{error:?}");
        assert_no_key(&error);
    }
    // Loopback and an explicit opt-in are allowed.
    for (url, allow) in [
        ("http://127.0.0.1:8080/graphql/v1", false),
        ("http://localhost/graphql/v1", false),
        ("http://[::1]:9/graphql/v1", false),
        ("http://10.1.2.3/graphql/v1", true),
    ] {
        PlainClient::builder()
            .api_key(KEY)
            .endpoint(url)
            .allow_insecure_http(allow)
            .build()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    let default = PlainClient::new(KEY).unwrap();
    assert_eq!(
        default.endpoint(),
        "https://core-api.uk.plain.com/graphql/v1"
    );
}

#[tokio::test]
async fn from_env_reads_the_key_and_the_endpoint() {
    let server = server_with([]).await;
    // The only test in this binary that touches these variables.
    std::env::remove_var("PLAIN_API_KEY");
    let missing = PlainClient::from_env().unwrap_err();
    assert!(
        missing.to_string().contains("PLAIN_API_KEY is not set"),
        "{missing}"
    );
    std::env::set_var("PLAIN_API_KEY", KEY);
    std::env::set_var("PLAIN_API_URL", server.endpoint());
    let client = PlainClient::from_env().unwrap();
    std::env::remove_var("PLAIN_API_KEY");
    std::env::remove_var("PLAIN_API_URL");
    assert_eq!(client.endpoint(), server.endpoint());
    client.upsert_customer(input()).await.unwrap();
    assert_eq!(server.requests()[0].status, Some(200));
}
