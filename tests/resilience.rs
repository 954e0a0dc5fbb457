//! The fault matrix: every kind of failure Plain or the network can produce, against the local
//! server, with the typed outcome, the number of attempts and the waiting. Also pacing, the
//! transport's rules, and that the API key never leaks, tracing output included.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use plain_client::testing::{format_timestamp, LocalServer, ScriptedAnswer};
use plain_client::{
    CustomerIdentifier, EmailAddress, Error, OnCreate, PlainClient, RetryPolicy,
    TransportErrorKind, UpsertCustomerInput, UpsertResult,
};
use serde_json::json;

const KEY: &str = "plainApiKey_FAULTMATRIXSECRET_0c9d8e";

/// Collects everything the client traces (all levels), to look for the key in it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// One case of the matrix: a server with `answers` scripted, a client with quick retries, and
/// the tracing output of the case.
struct Case {
    server: LocalServer,
    client: PlainClient,
    trace: Captured,
    _guard: tracing::subscriber::DefaultGuard,
}

async fn case(answers: Vec<ScriptedAnswer>) -> Case {
    case_with(answers, quick()).await
}

async fn case_with(answers: Vec<ScriptedAnswer>, policy: RetryPolicy) -> Case {
    let trace = Captured::default();
    let writer = trace.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let server = LocalServer::builder().api_key(KEY).start().await.unwrap();
    server.script(answers);
    let client = server
        .client_builder()
        .retry_policy(policy)
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    Case {
        server,
        client,
        trace,
        _guard: guard,
    }
}

/// Each attempt's timeout: long enough that a local answer on a loaded machine comes within it,
/// so every count of attempts below is exact.
const TIMEOUT: Duration = Duration::from_secs(3);

/// An answer that no attempt waits for.
const SLOW: Duration = Duration::from_secs(8);

/// Retries with short waits, so the matrix runs fast; the waits still grow and jitter.
fn quick() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(4)
        .base_delay(Duration::from_millis(20))
        .max_delay(Duration::from_secs(5))
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

impl Case {
    async fn run(&self) -> Result<plain_client::UpsertedCustomer, Error> {
        self.client.upsert_customer(input()).await
    }

    fn attempts(&self) -> usize {
        self.server.requests().len()
    }

    /// The key is nowhere: not in the error, not in the client, not in what was traced.
    fn assert_no_key(&self, outcome: &Result<plain_client::UpsertedCustomer, Error>) {
        let mut texts = vec![
            format!("{:?}", self.client),
            self.trace.text(),
            format!("{:?}", self.server),
        ];
        if let Err(error) = outcome {
            texts.push(format!("{error}"));
            texts.push(format!("{error:?}"));
        }
        for text in texts {
            assert!(!text.contains("FAULTMATRIXSECRET"), "{text}");
        }
    }
}

fn rate_limited() -> ScriptedAnswer {
    ScriptedAnswer::graphql_error(
        429,
        "RATE_LIMITED",
        "Too Many Requests - Rate limit exceeded",
    )
}

#[tokio::test]
async fn a_429_with_a_reset_two_seconds_ahead_waits_until_the_reset() {
    let c = case(vec![]).await;
    let started = Instant::now();
    let reset = SystemTime::now() + Duration::from_secs(2);
    c.server.script([rate_limited()
        .header("x-ratelimit-limit", "450")
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-reset", &format_timestamp(reset))]);
    let outcome = c.run().await;
    let waited = started.elapsed();
    assert_eq!(outcome.as_ref().unwrap().result, UpsertResult::Created);
    assert_eq!(c.attempts(), 2);
    // At least until the reset (the header has millisecond precision).
    assert!(waited >= Duration::from_millis(1990), "{waited:?}");
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn a_429_with_retry_after_waits_that_long() {
    let c = case(vec![rate_limited().header("retry-after", "1")]).await;
    let started = Instant::now();
    let outcome = c.run().await;
    let waited = started.elapsed();
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(c.attempts(), 2);
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn a_429_whose_reset_is_beyond_the_longest_wait_is_capped() {
    let reset = SystemTime::now() + Duration::from_secs(30);
    let policy = quick()
        .max_attempts(2)
        .max_delay(Duration::from_millis(300));
    let c = case_with(
        vec![rate_limited().header("x-ratelimit-reset", &format_timestamp(reset))],
        policy,
    )
    .await;
    // Waiting out the reset would take 30 s: a cap that did not hold fails here.
    let outcome = tokio::time::timeout(Duration::from_secs(25), c.run())
        .await
        .expect("waited for the 30 s reset instead of the longest wait");
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(c.attempts(), 2);
}

#[tokio::test]
async fn a_500_twice_then_success() {
    let internal =
        || ScriptedAnswer::graphql_error(500, "INTERNAL_SERVER_ERROR", "Internal server error");
    let c = case(vec![internal(), internal()]).await;
    let outcome = c.run().await;
    assert_eq!(outcome.as_ref().unwrap().result, UpsertResult::Created);
    assert_eq!(c.attempts(), 3);
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn a_502_with_html_until_attempts_run_out() {
    let c = case((0..6).map(|_| ScriptedAnswer::gateway(502)).collect()).await;
    let outcome = c.run().await;
    let error = outcome.as_ref().unwrap_err();
    let Error::GaveUp { attempts, last } = error else {
        panic!("{error:?}");
    };
    assert_eq!(*attempts, 4);
    assert!(
        matches!(**last, Error::Server { status: 502, .. }),
        "{last:?}"
    );
    assert_eq!(c.attempts(), 4);
    // The last attempt's request id is kept.
    let last_id = c.server.requests().last().unwrap().request_id.clone();
    assert_eq!(error.request_id(), Some(last_id.as_str()));
    assert!(
        error
            .to_string()
            .starts_with("gave up after 4 attempts: Plain answered HTTP 502"),
        "{error}"
    );
    assert!(c.server.customers().is_empty());
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn a_503_then_success() {
    let c = case(vec![ScriptedAnswer::gateway(503)]).await;
    let outcome = c.run().await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(c.attempts(), 2);
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn invalid_json_with_status_200_is_not_retried() {
    let c = case(vec![ScriptedAnswer::status(200).body("{\"data\": nope")]).await;
    let outcome = c.run().await;
    assert!(
        matches!(outcome, Err(Error::Decode { status: 200, .. })),
        "{outcome:?}"
    );
    assert_eq!(c.attempts(), 1);
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn a_truncated_body_is_retried() {
    let c = case(vec![ScriptedAnswer::truncated(
        200,
        "{\"data\": {\"upsertCustomer\": ",
    )])
    .await;
    let outcome = c.run().await;
    assert_eq!(outcome.as_ref().unwrap().result, UpsertResult::Created);
    assert_eq!(c.attempts(), 2);
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let c = case(vec![ScriptedAnswer::drop_connection()]).await;
    let outcome = c.run().await;
    assert_eq!(outcome.as_ref().unwrap().result, UpsertResult::Created);
    assert_eq!(c.attempts(), 2);
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_retried() {
    let c = case(vec![ScriptedAnswer::normal().delay(SLOW)]).await;
    let started = Instant::now();
    let outcome = c.run().await;
    assert!(outcome.is_ok(), "{outcome:?}");
    // The second attempt is there because the first was cut off by the timeout.
    assert_eq!(c.attempts(), 2);
    assert!(started.elapsed() >= TIMEOUT);
    // The slow first attempt went through on the server: the retry found the customer.
    assert_eq!(outcome.unwrap().result, UpsertResult::Noop);
    assert_eq!(c.server.customers().len(), 1);
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_every_time_gives_up_with_a_timeout() {
    let slow = || ScriptedAnswer::normal().delay(SLOW);
    let c = case_with(vec![slow(), slow()], quick().max_attempts(2)).await;
    let outcome = c.run().await;
    let error = outcome.as_ref().unwrap_err();
    assert_eq!(error.attempts(), 2);
    assert!(
        matches!(
            error.last_cause(),
            Error::Transport {
                kind: TransportErrorKind::Timeout,
                ..
            }
        ),
        "{error:?}"
    );
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn an_internal_mutation_error_then_success() {
    let internal = json!({"data": {"upsertCustomer": {"result": null, "customer": null, "error": {
        "message": "Internal error", "type": "INTERNAL", "code": "internal", "fields": []
    }}}});
    let c = case(vec![ScriptedAnswer::json(200, &internal)]).await;
    let outcome = c.run().await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(c.attempts(), 2);
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn a_validation_error_is_sent_once() {
    let c = case(vec![]).await;
    let blank = UpsertCustomerInput::new(
        CustomerIdentifier::email("a@example.com"),
        OnCreate::new(" ", EmailAddress::unverified("a@example.com")),
    );
    let outcome = c.client.upsert_customer(blank).await;
    assert!(
        matches!(outcome, Err(Error::MutationRejected { .. })),
        "{outcome:?}"
    );
    assert_eq!(c.attempts(), 1);
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn unauthenticated_and_forbidden_are_sent_once() {
    for (status, code) in [(401, "UNAUTHENTICATED"), (403, "FORBIDDEN")] {
        let c = case(vec![ScriptedAnswer::graphql_error(status, code, "no")]).await;
        let outcome = c.run().await;
        match (&outcome, status) {
            (Err(Error::Unauthenticated { .. }), 401) | (Err(Error::Forbidden { .. }), 403) => {}
            _ => panic!("{status}: {outcome:?}"),
        }
        assert_eq!(c.attempts(), 1);
        c.assert_no_key(&outcome);
    }
    // A wrong key against the real check, too.
    let c = case(vec![]).await;
    let wrong = c
        .server
        .client_builder()
        .api_key("plainApiKey_wrong")
        .build()
        .unwrap();
    assert!(matches!(
        wrong.upsert_customer(input()).await,
        Err(Error::Unauthenticated { .. })
    ));
    assert_eq!(c.attempts(), 1);
}

#[tokio::test]
async fn graphql_errors_without_data_are_retried_when_internal() {
    let body = json!({"data": null, "errors": [{"message": "boom", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]});
    let c = case(vec![ScriptedAnswer::json(200, &body)]).await;
    let outcome = c.run().await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(c.attempts(), 2);
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn graphql_errors_with_data_are_a_request_error_sent_once() {
    let body = json!({
        "data": {"upsertCustomer": {"result": null, "customer": null, "error": null}},
        "errors": [{"message": "Variable \"$input\" got invalid value", "extensions": {"code": "BAD_USER_INPUT"}}]
    });
    let c = case(vec![ScriptedAnswer::json(400, &body)]).await;
    let outcome = c.run().await;
    let Err(Error::Request { status, errors, .. }) = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        (*status, errors[0].code.as_deref()),
        (400, Some("BAD_USER_INPUT"))
    );
    assert_eq!(c.attempts(), 1);
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn retries_can_be_turned_off() {
    let c = case_with(vec![ScriptedAnswer::gateway(503)], RetryPolicy::none()).await;
    let outcome = c.run().await;
    assert!(
        matches!(outcome, Err(Error::Server { status: 503, .. })),
        "{outcome:?}"
    );
    assert_eq!(c.attempts(), 1);
}

#[tokio::test]
async fn the_time_budget_stops_retrying() {
    let policy = quick()
        .max_attempts(50)
        .base_delay(Duration::from_millis(100))
        .budget(Some(Duration::from_millis(600)));
    let c = case_with(
        (0..50).map(|_| ScriptedAnswer::gateway(503)).collect(),
        policy,
    )
    .await;
    let started = Instant::now();
    let outcome = c.run().await;
    assert!(matches!(outcome, Err(Error::GaveUp { .. })), "{outcome:?}");
    // Waits of 100 ms doubling: a 600 ms budget allows a handful of attempts, not 50.
    assert!(c.attempts() < 10, "{}", c.attempts());
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn pacing_keeps_a_run_against_a_small_limit_free_of_429s() {
    // The server counts its windows from its own start, so the clock starts before it does:
    // time spent building the client on a loaded machine is then inside the measured span.
    let started = Instant::now();
    let server = LocalServer::builder()
        .api_key(KEY)
        .rate_limit(5, Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    let client = server.client().unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        // Clones share the budget, and so do concurrent tasks.
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let email = format!("customer{i}@example.com");
            client
                .upsert_customer(UpsertCustomerInput::new(
                    CustomerIdentifier::email(email.clone()),
                    OnCreate::new(format!("Customer {i}"), EmailAddress::unverified(email)),
                ))
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stats = server.stats();
    assert_eq!(server.customers().len(), 20);
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert_eq!(stats.requests, 20);
    // 20 requests at 5 per half second need three more windows after the first: the last
    // request is sent no earlier than 1.5 s after the server started.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let budget = client.rate_limit_budget();
    assert!(budget.available.is_some() && budget.reset_at.is_some());
    assert_eq!((budget.limit, budget.in_flight), (Some(5), 0));
}

#[tokio::test]
async fn connections_are_kept_alive_and_reused() {
    let server = LocalServer::start().await.unwrap();
    let client = server.client().unwrap();
    for _ in 0..10 {
        client.upsert_customer(input()).await.unwrap();
    }
    assert_eq!(server.stats().connections, 1);
}

#[tokio::test]
async fn the_key_does_not_follow_a_redirect_to_another_host() {
    let target = LocalServer::builder().no_auth().start().await.unwrap();
    // Same machine, another host name: `localhost` instead of `127.0.0.1`.
    let elsewhere = target.endpoint().replace("127.0.0.1", "localhost");
    let c = case(vec![
        ScriptedAnswer::status(307).header("location", &elsewhere)
    ])
    .await;
    // The client's own HTTP client follows no redirects at all.
    let outcome = c.run().await;
    assert!(
        matches!(outcome, Err(Error::Decode { status: 307, .. })),
        "{outcome:?}"
    );
    assert!(target.requests().is_empty());
    // With a caller's HTTP client that follows redirects, the key stays behind.
    c.server
        .script([ScriptedAnswer::status(307).header("location", &elsewhere)]);
    let following = c
        .server
        .client_builder()
        .http_client(reqwest::Client::new())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let outcome = following.upsert_customer(input()).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let redirected = target.requests();
    assert_eq!(redirected.len(), 1);
    assert_eq!(redirected[0].header("authorization"), None);
}

#[tokio::test]
async fn traces_carry_the_attempt_status_and_request_id_but_no_personal_data() {
    let c = case(vec![ScriptedAnswer::gateway(503)]).await;
    let outcome = c.run().await;
    assert!(outcome.is_ok());
    let trace = c.trace.text();
    let ids: Vec<String> = c
        .server
        .requests()
        .iter()
        .map(|r| r.request_id.clone())
        .collect();
    for needle in [
        "plain.request",
        "operation=\"upsertCustomer\"",
        "attempt=1",
        "attempt=2",
        "retrying",
        "status=503",
        "status=200",
        &ids[0],
        &ids[1],
    ] {
        assert!(trace.contains(needle), "{needle} not in:\n{trace}");
    }
    for private in ["donald@example.com", "Donald Duck"] {
        assert!(!trace.contains(private), "{private} in:\n{trace}");
    }
    c.assert_no_key(&outcome);
}

#[tokio::test]
async fn the_accessors_see_a_rate_limit_an_auth_failure_and_a_rejection_through_the_retries() {
    // A 429 on every attempt, the reset a minute away: the request gives up after 2 attempts.
    let reset = SystemTime::now() + Duration::from_secs(60);
    let limited = || rate_limited().header("x-ratelimit-reset", &format_timestamp(reset));
    let policy = quick().max_attempts(2).max_delay(Duration::from_millis(50));
    let c = case_with(vec![limited(), limited()], policy).await;
    let error = c.run().await.unwrap_err();
    assert!(
        matches!(error, Error::GaveUp { attempts: 2, .. }),
        "{error:?}"
    );
    assert!(
        !matches!(error, Error::RateLimited { .. }),
        "the variant is GaveUp"
    );
    assert!(error.is_rate_limited());
    let wait = error.retry_after().expect("when to come back");
    assert!(
        wait > Duration::from_secs(30) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert!(!error.is_auth_failure());
    assert!(error.mutation_error().is_none());

    // An auth failure, not retried, and a server error retried until it gave up: neither is a
    // rate limit.
    let c = case(vec![ScriptedAnswer::graphql_error(
        401,
        "UNAUTHENTICATED",
        "bad key",
    )])
    .await;
    let error = c.run().await.unwrap_err();
    assert!(error.is_auth_failure() && !error.is_rate_limited());
    assert_eq!(error.retry_after(), None);
    let c = case((0..4).map(|_| ScriptedAnswer::gateway(503)).collect()).await;
    let error = c.run().await.unwrap_err();
    assert!(matches!(error, Error::GaveUp { .. }));
    assert!(!error.is_rate_limited() && !error.is_auth_failure());

    // Plain's MutationError, through the retries of an INTERNAL one.
    let rejected = |kind: &str| {
        ScriptedAnswer::json(
            200,
            &json!({"data": {"upsertCustomer": {"result": null, "customer": null, "error": {
                "message": "try later", "type": kind, "code": "internal", "fields": []
            }}}}),
        )
    };
    let c = case((0..4).map(|_| rejected("INTERNAL")).collect()).await;
    let error = c.run().await.unwrap_err();
    assert!(matches!(error, Error::GaveUp { .. }), "{error:?}");
    let refused = error.mutation_error().expect("the MutationError");
    assert_eq!(refused.code, "internal");
    assert!(!error.is_rate_limited());
}
