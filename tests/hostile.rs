//! A hostile server: answers too long or endless, rate-limit headers that make no sense, an
//! answer that echoes the request, text with control characters; and callers that stop
//! waiting at any point. Every resource stays bounded, nothing leaks, nothing hangs.

use std::future::Future;
use std::time::{Duration, SystemTime};

use plain_client::testing::{format_timestamp, LocalServer, ScriptedAnswer};
use plain_client::{
    CustomerIdentifier, EmailAddress, Error, OnCreate, PlainClient, RetryPolicy,
    UpsertCustomerInput, UpsertResult,
};

mod common;

const KEY: &str = "plainApiKey_HOSTILESECRET_77f3";

/// Long enough that only a hang reaches it, never a slow machine.
const HANG: Duration = Duration::from_secs(60);

async fn server() -> LocalServer {
    LocalServer::builder().api_key(KEY).start().await.unwrap()
}

fn input() -> UpsertCustomerInput {
    UpsertCustomerInput::new(
        CustomerIdentifier::email("donald@example.com"),
        OnCreate::new(
            "Donald Duck",
            EmailAddress::unverified("donald@example.com"),
        ),
    )
}

fn quick() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(3)
        .base_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(200))
}

/// Plain's documented answer, padded with white space to exactly `len` bytes.
fn answer_of(len: usize) -> Vec<u8> {
    let mut body = common::fixture("recipe_upsert_response.json").into_bytes();
    assert!(body.len() <= len, "the fixture is {} bytes", body.len());
    body.resize(len, b' ');
    body
}

/// Fails the test instead of hanging it.
async fn finishes<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(HANG, future)
        .await
        .expect("hung: the request never finished")
}

fn assert_too_large(outcome: &Result<plain_client::UpsertedCustomer, Error>, limit: usize) {
    match outcome {
        Err(Error::ResponseTooLarge { limit: l, .. }) => assert_eq!(*l, limit),
        other => panic!("{other:?}"),
    }
    let error = outcome.as_ref().unwrap_err();
    assert!(!error.is_retryable());
    assert!(
        error.to_string().contains(&format!("{limit} bytes")),
        "{error}"
    );
}

#[tokio::test]
async fn an_answer_of_exactly_the_cap_is_read_and_one_byte_more_is_refused_unread() {
    const CAP: usize = 4096;
    for chunked in [false, true] {
        let server = server().await;
        let client = server
            .client_builder()
            .max_response_bytes(CAP)
            .retry_policy(quick())
            .build()
            .unwrap();
        let answer = |len| {
            let answer = ScriptedAnswer::json(200, &serde_json::json!({})).body(answer_of(len));
            if chunked {
                answer.chunked()
            } else {
                answer
            }
        };
        server.script([answer(CAP)]);
        let fits = client.upsert_customer(input()).await;
        assert_eq!(fits.unwrap().result, UpsertResult::Updated, "{chunked}");

        server.script([answer(CAP + 1)]);
        let over = client.upsert_customer(input()).await;
        assert_too_large(&over, CAP);
        // Not retried: the same request would get the same answer.
        assert_eq!(server.requests().len(), 2, "{chunked}");
    }
}

#[tokio::test]
async fn an_endless_answer_ends_at_the_cap() {
    let server = server().await;
    let client = server
        .client_builder()
        .max_response_bytes(256 * 1024)
        .build()
        .unwrap();
    server.script([ScriptedAnswer::endless(200)]);
    let outcome = finishes(client.upsert_customer(input())).await;
    assert_too_large(&outcome, 256 * 1024);
    assert_eq!(server.requests().len(), 1);
    // The client stays usable.
    assert!(client.upsert_customer(input()).await.is_ok());
}

#[tokio::test]
async fn the_default_cap_is_four_mebibytes() {
    let server = server().await;
    let client = server.client().unwrap();
    server.script([ScriptedAnswer::endless(500)]);
    let outcome = finishes(client.upsert_customer(input())).await;
    assert_too_large(&outcome, plain_client::client::DEFAULT_MAX_RESPONSE_BYTES);
    assert_eq!(plain_client::client::DEFAULT_MAX_RESPONSE_BYTES, 4 << 20);
}

#[tokio::test]
async fn an_answer_that_echoes_the_request_does_not_reveal_the_key() {
    let server = server().await;
    let client = server
        .client_builder()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    for status in [400, 401, 500] {
        server.script([ScriptedAnswer::echo(status)]);
        let error = client.upsert_customer(input()).await.unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("HOSTILESECRET"), "{shown}");
        assert!(shown.contains("<redacted>"), "the echo was read: {shown}");
        assert!(!error.to_string().contains('\n'), "one line: {error}");
    }
    // The server did receive the key: the echo is real.
    assert!(server.requests()[0].raw_body.starts_with(b"{\"variables\""));
}

#[tokio::test]
async fn server_text_is_one_line_of_bounded_length_without_terminal_escapes() {
    let server = server().await;
    let client = server
        .client_builder()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let nasty = format!(
        "first line\nsecond\r\n\u{1b}[31mred\u{7}{}",
        "x".repeat(10_000)
    );
    let mutation_error = serde_json::json!({"data": {"upsertCustomer": {
        "result": null, "customer": null,
        "error": {"message": nasty, "type": "VALIDATION", "code": "input_validation\n",
                  "fields": [{"field": "fullName\u{1b}", "message": nasty, "type": "VALIDATION"}]}}}});
    let answers = [
        ScriptedAnswer::graphql_error(400, "BAD_USER_INPUT", &nasty),
        ScriptedAnswer::graphql_error(500, "INTERNAL_SERVER_ERROR", &nasty),
        ScriptedAnswer::status(502).body(nasty.clone()),
        ScriptedAnswer::status(200).body(nasty.clone()),
        ScriptedAnswer::graphql_error(401, "UNAUTHENTICATED", &nasty),
        ScriptedAnswer::json(200, &mutation_error),
    ];
    for answer in answers {
        server.script([answer]);
        let error = client.upsert_customer(input()).await.unwrap_err();
        let shown = error.to_string();
        assert!(
            !shown.contains(['\n', '\r', '\u{1b}', '\u{7}']),
            "{shown:?}"
        );
        assert!(shown.contains("first line\\nsecond"), "{shown}");
        assert!(shown.chars().count() < 2_000, "{} chars", shown.len());
        if let Error::MutationRejected { error, .. } = error {
            assert_eq!(error.code, "input_validation\\n");
            assert_eq!(error.fields[0].field, "fullName\\u{1b}");
        }
    }
}

#[tokio::test]
async fn a_request_id_is_kept_to_a_bounded_length() {
    let server = server().await;
    let client = server.client().unwrap();
    let long = format!("id-{}", "y".repeat(5_000));
    server
        .script([ScriptedAnswer::graphql_error(400, "BAD_USER_INPUT", "no")
            .header("apigw-requestid", &long)]);
    let error = client.upsert_customer(input()).await.unwrap_err();
    let id = error.request_id().unwrap();
    assert!(
        id.starts_with("id-yyy") && id.chars().count() <= 101,
        "{id}"
    );
}

#[test]
fn an_endpoint_with_a_user_name_or_password_is_refused_without_showing_it() {
    for endpoint in [
        "https://user:hunter2pw@core-api.uk.plain.com/graphql/v1",
        "http://hunter2pw@127.0.0.1:9/graphql/v1",
        "https://user:hunter2pw@bad host/graphql/v1",
    ] {
        let error = PlainClient::builder()
            .api_key("k")
            .endpoint(endpoint)
            .build()
            .unwrap_err();
        assert!(matches!(error, Error::Config { .. }), "{error:?}");
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("hunter2pw"), "{shown}");
    }
}

/// A request held by nonsense rate-limit headers is sent after the policy's longest wait.
#[tokio::test]
async fn senseless_rate_limit_headers_hold_a_request_no_longer_than_the_policy_allows() {
    let far = format_timestamp(SystemTime::now() + Duration::from_secs(24 * 3600));
    let past = format_timestamp(SystemTime::now() - Duration::from_secs(3600));
    let cases: [&[(&str, &str)]; 5] = [
        &[
            ("x-ratelimit-limit", "0"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &past),
        ],
        &[
            ("x-ratelimit-limit", "50"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &far),
        ],
        &[
            ("x-ratelimit-limit", "-1"),
            ("x-ratelimit-remaining", "-5"),
            ("x-ratelimit-reset", "soon"),
        ],
        &[
            ("x-ratelimit-limit", "50"),
            ("x-ratelimit-remaining", "18446744073709551615"),
            ("x-ratelimit-reset", &far),
        ],
        &[
            ("x-ratelimit-limit", "18446744073709551615"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &far),
        ],
    ];
    for headers in cases {
        let server = server().await;
        let client = server
            .client_builder()
            .retry_policy(quick().max_delay(Duration::from_millis(100)))
            .build()
            .unwrap();
        let answer = headers.iter().fold(
            ScriptedAnswer::json(200, &serde_json::json!({})).body(answer_of(407)),
            |answer, (name, value)| answer.header(name, value),
        );
        server.script([answer]);
        assert!(client.upsert_customer(input()).await.is_ok());
        // The next requests go out: a day-long reset holds each for 100 ms at most.
        for _ in 0..3 {
            let outcome = finishes(client.upsert_customer(input())).await;
            assert!(outcome.is_ok(), "{headers:?}: {outcome:?}");
        }
        assert_eq!(server.requests().len(), 4, "{headers:?}");
        assert_eq!(client.rate_limit_budget().in_flight, 0);
    }
}

/// Callers that stop waiting (`tokio::time::timeout`, `select!`) at every await point of a
/// request: while it is held for the budget, sent, read, or waiting to retry.
#[tokio::test]
async fn callers_that_stop_waiting_at_any_point_leave_the_budget_whole() {
    const LIMIT: u64 = 1000;
    let server = LocalServer::builder()
        .api_key(KEY)
        .rate_limit(LIMIT, Duration::from_secs(3600))
        .delay(Duration::from_millis(60))
        .start()
        .await
        .unwrap();
    let client = server
        .client_builder()
        .retry_policy(quick())
        .build()
        .unwrap();
    // A normal answer takes at least 60 ms, one after a 502 at least 120 ms: each request
    // below is dropped before it can finish. The first ones are dropped before any answer was
    // heard, the case that used to leave every later request waiting for ever.
    let points = [
        (0, false),
        (1, true),
        (5, false),
        (65, true),
        (30, false),
        (90, true),
        (59, false),
        (115, true),
    ];
    for (cancel_after, after_a_502) in points {
        if after_a_502 {
            server.script([ScriptedAnswer::gateway(502)]);
        }
        let dropped = tokio::time::timeout(
            Duration::from_millis(cancel_after),
            client.upsert_customer(input()),
        )
        .await;
        assert!(
            dropped.is_err(),
            "{cancel_after} ms: finished first: {dropped:?}"
        );
        assert_eq!(client.rate_limit_budget().in_flight, 0, "{cancel_after} ms");
    }
    for _ in 0..5 {
        let outcome = finishes(client.upsert_customer(input())).await;
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    let budget = client.rate_limit_budget();
    assert_eq!(budget.in_flight, 0);
    assert!(budget.available.is_some_and(|n| n < LIMIT), "{budget:?}");
}
