//! The local server delivers its changes as Plain's webhooks: signed over the raw body, with
//! headers that agree with it, valid against the vendored webhook schema, retried on failure,
//! and never holding up the GraphQL answers; and `plain serve --webhook` delivers a sync's
//! changes to a receiver on the same machine.

mod sync_support;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use plain_client::testing::{limits, LocalServer, LocalServerBuilder};
use plain_client::webhooks::{EventPayload, Webhook, WebhookSecret, SIGNATURE_HEADER};
use plain_client::CustomerGroupIdentifier;
use serde_json::Value;
use sync_support::{customer, named};
use tokio::net::TcpListener;

const SECRET: &str = "whsec_local_test";

/// One delivery as the receiver got it.
#[derive(Debug, Clone)]
struct Delivery {
    headers: Vec<(String, String)>,
    body: Bytes,
    at: Instant,
}

impl Delivery {
    fn header(&self, name: &str) -> &str {
        let found = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A receiver on 127.0.0.1 that records every delivery and answers the scripted statuses in
/// turn, then 200.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Delivery>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start(statuses: &[u16]) -> (Self, String) {
        let receiver = Receiver::default();
        receiver.statuses.lock().unwrap().extend(statuses);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/plain/webhooks", listener.local_addr().unwrap());
        let serving = receiver.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let receiver = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let receiver = receiver.clone();
                        async move { Ok::<_, Infallible>(receiver.take(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (receiver, url)
    }

    async fn take(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let headers = request
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let at = Instant::now();
        self.got
            .lock()
            .unwrap()
            .push(Delivery { headers, body, at });
        let status = self.statuses.lock().unwrap().pop_front().unwrap_or(200);
        let mut answer = Response::new(Full::new(Bytes::from_static(b"ok")));
        *answer.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        answer
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }
}

/// The vendored webhook schema, compiled by a JSON Schema validator (draft-07, formats
/// asserted).
struct SchemaCheck {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl SchemaCheck {
    fn new() -> Self {
        let mut schema: Value =
            serde_json::from_str(include_str!("../graphql/webhook-schema.json")).unwrap();
        rust_patterns(&mut schema);
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        let url = "urn:plain:webhook-schema";
        compiler.add_resource(url, schema).unwrap();
        let index = compiler.compile(url, &mut schemas).unwrap();
        Self { schemas, index }
    }

    fn check(&self, body: &Value) {
        if let Err(e) = self.schemas.validate(body, self.index) {
            panic!("not valid against the webhook schema: {e:#}\n{body:#}");
        }
        // The check can fail: the same body with a customer id Plain would never send.
        let mut broken = body.clone();
        let customer = match &mut broken["payload"]["customer"] {
            Value::Null => &mut broken["payload"]["previousCustomer"],
            customer => customer,
        };
        customer["id"] = Value::from("customer-1");
        assert!(self.schemas.validate(&broken, self.index).is_err());
    }
}

/// Rewrites the schema's `pattern`s, written for JavaScript, for Rust's `regex` crate: inside
/// a character class JavaScript reads `[` as itself, Rust as a nested class.
fn rust_patterns(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(pattern) if key == "pattern" => {
                        *pattern = escape_class_brackets(pattern)
                    }
                    _ => rust_patterns(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rust_patterns),
        _ => {}
    }
}

fn escape_class_brackets(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let (mut in_class, mut escaped) = (false, false);
    for c in pattern.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '[' if in_class => {
                out.push_str("\\[");
                continue;
            }
            '[' => in_class = true,
            ']' => in_class = false,
            _ => {}
        }
        out.push(c);
    }
    out
}

#[test]
fn javascript_class_brackets_are_escaped_for_rust() {
    assert_eq!(
        escape_class_brackets(r"^[^<>()[\]\\.]+$"),
        r"^[^<>()\[\]\\.]+$"
    );
    assert_eq!(escape_class_brackets(r"\[[0-9]\]"), r"\[[0-9]\]");
}

async fn settle(server: &LocalServer) {
    tokio::time::timeout(Duration::from_secs(60), server.webhooks_settled())
        .await
        .expect("webhook deliveries settled within 60 s");
}

fn builder(url: &str) -> LocalServerBuilder {
    LocalServer::builder()
        .customer_group("vip", "Very important")
        .customer_group("beta", "Beta")
        .webhook(url, WebhookSecret::new(SECRET))
}

/// A server delivering to `url` with these retries, after one upsert.
async fn after_one_upsert(url: &str, first_retry: Duration, attempts: u32) -> LocalServer {
    let server = builder(url)
        .webhook_retries(first_retry, attempts)
        .start()
        .await
        .unwrap();
    let client = server.client().unwrap();
    client.upsert_customer(customer(0)).await.unwrap();
    server
}

#[tokio::test]
async fn every_change_is_delivered_signed_valid_and_with_headers_that_agree() {
    let (receiver, url) = Receiver::start(&[]).await;
    let server = builder(&url).start().await.unwrap();
    let client = server.client().unwrap();
    let created = client.upsert_customer(customer(0)).await.unwrap().customer;
    let renamed = named(0, "Renamed");
    client.upsert_customer(renamed.clone()).await.unwrap();
    // A NOOP changes nothing and sends nothing.
    client.upsert_customer(renamed).await.unwrap();
    let both = [
        CustomerGroupIdentifier::key("vip"),
        CustomerGroupIdentifier::key("beta"),
    ];
    client
        .add_customer_to_customer_groups(&created.id, both)
        .await
        .unwrap();
    client
        .remove_customer_from_customer_groups(&created.id, [CustomerGroupIdentifier::key("vip")])
        .await
        .unwrap();
    client.delete_customer(&created.id).await.unwrap();
    settle(&server).await;

    let deliveries = receiver.deliveries();
    let mut kinds: Vec<String> = deliveries
        .iter()
        .map(|d| d.header("plain-event-type").to_owned())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "customer.customer_created",
            "customer.customer_deleted",
            "customer.customer_group_memberships_changed",
            "customer.customer_group_memberships_changed",
            "customer.customer_group_memberships_changed",
            "customer.customer_updated",
        ]
    );
    let stats = server.webhook_stats();
    assert_eq!((stats.events, stats.delivered, stats.attempts), (6, 6, 6));
    assert_eq!(
        (stats.dropped, stats.gave_up, stats.failed_attempts),
        (0, 0, 0)
    );

    let schema = SchemaCheck::new();
    let webhook = Webhook::new(WebhookSecret::new(SECRET));
    let (target_id, target_url) = server.webhook_targets().remove(0);
    assert_eq!(target_url, url);
    let mut event_ids = Vec::new();
    let mut memberships = Vec::new();
    for delivery in &deliveries {
        let event = webhook
            .verify(&delivery.body, delivery.header(SIGNATURE_HEADER))
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&delivery.body)));
        let body = delivery.json();
        schema.check(&body);
        let metadata = &body["webhookMetadata"];
        let agree = [
            ("content-type", Value::from("application/json")),
            ("plain-event-id", body["id"].clone()),
            ("plain-event-type", body["type"].clone()),
            ("plain-workspace-id", body["workspaceId"].clone()),
            (
                "plain-webhook-target-id",
                metadata["webhookTargetId"].clone(),
            ),
            (
                "plain-webhook-delivery-attempt-id",
                metadata["webhookDeliveryAttemptId"].clone(),
            ),
            (
                "plain-webhook-delivery-attempt-number",
                Value::from(metadata["webhookDeliveryAttemptNumber"].to_string()),
            ),
            (
                "plain-webhook-delivery-attempt-timestamp",
                metadata["webhookDeliveryAttemptTimestamp"].clone(),
            ),
        ];
        for (header, value) in agree {
            assert_eq!(Some(delivery.header(header)), value.as_str(), "{header}");
        }
        assert_eq!(body["workspaceId"], server.workspace_id());
        assert_eq!(metadata["webhookTargetId"], target_id.as_str());
        assert_eq!(event.attempt_number(), 1);
        event_ids.push(event.id.clone());
        match event.payload {
            EventPayload::CustomerCreated(p) => {
                assert_eq!(p.customer.id, created.id);
                assert_eq!(p.customer.full_name, "Customer 0");
                assert_eq!(p.customer.email.email, "customer0@example.com");
            }
            EventPayload::CustomerUpdated(p) => {
                assert_eq!(p.previous_customer.full_name, "Customer 0");
                assert_eq!(p.customer.full_name, "Renamed");
            }
            EventPayload::CustomerGroupMembershipsChanged(p) => {
                let keys = |c: &plain_client::webhooks::events::Customer| {
                    let mut keys: Vec<String> = c
                        .customer_group_memberships
                        .iter()
                        .map(|m| m.customer_group.key.clone())
                        .collect();
                    keys.sort();
                    keys.join(",")
                };
                memberships.push(format!(
                    "{}: [{}] -> [{}]",
                    body["payload"]["changeType"].as_str().unwrap(),
                    keys(&p.previous_customer),
                    keys(&p.customer)
                ));
            }
            EventPayload::CustomerDeleted(p) => {
                assert_eq!(p.previous_customer.id, created.id);
                assert_eq!(p.previous_customer.customer_group_memberships.len(), 1);
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    memberships.sort();
    assert_eq!(
        memberships,
        [
            "ADDED: [] -> [vip]",
            "ADDED: [vip] -> [beta,vip]",
            "REMOVED: [beta,vip] -> [beta]"
        ]
    );
    event_ids.sort();
    event_ids.dedup();
    assert_eq!(event_ids.len(), 6, "every event has an id of its own");
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_event_and_a_new_attempt() {
    let (receiver, url) = Receiver::start(&[500, 503]).await;
    let first_retry = Duration::from_millis(100);
    let server = after_one_upsert(&url, first_retry, 5).await;
    settle(&server).await;

    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 3);
    let webhook = Webhook::new(WebhookSecret::new(SECRET));
    let events: Vec<_> = deliveries
        .iter()
        .map(|d| webhook.verify(&d.body, d.header(SIGNATURE_HEADER)).unwrap())
        .collect();
    assert!(events.iter().all(|e| e.id == events[0].id));
    let numbers: Vec<i64> = events.iter().map(|e| e.attempt_number()).collect();
    assert_eq!(numbers, [1, 2, 3]);
    let mut attempt_ids: Vec<&str> = deliveries
        .iter()
        .map(|d| d.header("plain-webhook-delivery-attempt-id"))
        .collect();
    attempt_ids.dedup();
    assert_eq!(attempt_ids.len(), 3, "a new attempt id each time");
    // The waits double: at least 100 ms, then at least 200 ms.
    assert!(deliveries[1].at - deliveries[0].at >= first_retry);
    assert!(deliveries[2].at - deliveries[1].at >= first_retry * 2);

    let stats = server.webhook_stats();
    assert_eq!(
        (stats.attempts, stats.failed_attempts, stats.delivered),
        (3, 2, 1)
    );
    let log = server.webhook_attempts();
    let statuses: Vec<Option<u16>> = log.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(200)]);
    assert!(log.iter().all(|a| a.event_id == events[0].id));
}

#[tokio::test]
async fn a_delivery_is_given_up_after_its_attempts() {
    let (receiver, url) = Receiver::start(&[500; 10]).await;
    let server = after_one_upsert(&url, Duration::from_millis(10), 3).await;
    settle(&server).await;
    assert_eq!(receiver.deliveries().len(), 3);
    let stats = server.webhook_stats();
    assert_eq!((stats.attempts, stats.delivered, stats.gave_up), (3, 0, 1));
}

#[tokio::test]
async fn a_receiver_that_never_answers_holds_up_no_answer_and_what_is_dropped_is_counted() {
    // Accepts connections and never answers them.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let server = builder(&url).start().await.unwrap();
    let client = server.client().unwrap();
    let customers = limits::WEBHOOK_QUEUE + limits::WEBHOOK_IN_FLIGHT + 100;
    for n in 0..customers {
        client.upsert_customer(customer(n)).await.unwrap();
    }
    assert_eq!(server.customers().len(), customers);
    let stats = server.webhook_stats();
    assert_eq!(stats.events, customers as u64);
    // At most the queue and the deliveries under way are kept; the rest are dropped.
    assert!(
        stats.dropped >= 100,
        "{stats:?}: at least 100 of {customers} events dropped"
    );
    assert_eq!(stats.delivered, 0);
}

#[tokio::test]
async fn targets_that_cannot_be_delivered_to_are_refused_at_start() {
    for url in ["ftp://127.0.0.1/hook", "not a url", ""] {
        let error = LocalServer::builder()
            .webhook(url, WebhookSecret::new(SECRET))
            .start()
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{url}");
        assert!(error.to_string().contains("webhook URL"), "{error}");
    }
    let error = LocalServer::builder()
        .webhook("http://127.0.0.1:9/", WebhookSecret::new(SECRET))
        .webhook_retries(Duration::from_secs(1), 0)
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn without_targets_nothing_is_recorded_and_the_secret_never_shows() {
    let server = LocalServer::start().await.unwrap();
    let client = server.client().unwrap();
    client.upsert_customer(customer(0)).await.unwrap();
    server.webhooks_settled().await;
    assert_eq!(server.webhook_stats().events, 0);
    assert!(server.webhook_targets().is_empty());
    let builder = builder("http://127.0.0.1:9/");
    let shown = format!("{builder:?}");
    assert!(shown.contains("127.0.0.1:9"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_against_plain_serve_sends_its_created_and_updated_events_to_the_receiver() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use sync_support::{customers, line, signal, stderr_of, wait_exit, wait_until, Dir};

    let (receiver, url) = Receiver::start(&[]).await;
    let mut serve = Command::new(env!("CARGO_BIN_EXE_plain"))
        .args(["serve", "--webhook", &url, "--webhook-first-retry", "0.1"])
        .env("PLAIN_WEBHOOK_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut endpoint = String::new();
    std::io::BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut endpoint)
        .unwrap();
    let endpoint = endpoint.trim().to_owned();

    let dir = Dir::new("webhooks");
    let first = dir.file("first.jsonl", customers(5));
    let renamed: String = [
        line(&named(1, "Renamed One")),
        line(&named(3, "Renamed Three")),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect();
    let second = dir.file("second.jsonl", renamed);
    for file in [first, second] {
        let endpoint = endpoint.clone();
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_plain"))
                .args(["sync-customers", &file, "--api-url", &endpoint])
                .env("PLAIN_API_KEY", "plainApiKey_none")
                .env_remove("PLAIN_API_URL")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{log}");
    }
    wait_until("7 deliveries", || receiver.deliveries().len() >= 7).await;

    let webhook = Webhook::new(WebhookSecret::new(SECRET));
    let mut created = 0;
    let mut renamed = Vec::new();
    for delivery in receiver.deliveries() {
        let event = webhook
            .verify(&delivery.body, delivery.header(SIGNATURE_HEADER))
            .unwrap();
        match event.payload {
            EventPayload::CustomerCreated(_) => created += 1,
            EventPayload::CustomerUpdated(p) => renamed.push(p.customer.full_name),
            other => panic!("unexpected event {other:?}"),
        }
    }
    renamed.sort();
    assert_eq!((created, renamed.len()), (5, 2));
    assert_eq!(renamed, ["Renamed One", "Renamed Three"]);

    signal(&serve, libc::SIGINT);
    let status = wait_exit(&mut serve).await;
    let log = stderr_of(&mut serve);
    assert!(status.success(), "{log}");
    assert!(
        log.contains("delivering webhooks to http://127.0.0.1:"),
        "{log}"
    );
    assert!(
        log.contains("7 webhook events: 7 deliveries answered 2xx, 0 given up, 0 dropped"),
        "{log}"
    );
}

#[test]
fn plain_serve_with_a_webhook_and_no_secret_says_what_to_set() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_plain"))
        .args(["serve", "--webhook", "http://127.0.0.1:9/"])
        .env_remove("PLAIN_WEBHOOK_SECRET")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{log}");
    assert!(log.contains("PLAIN_WEBHOOK_SECRET"), "{log}");
}
