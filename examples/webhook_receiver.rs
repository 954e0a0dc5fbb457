//! A webhook receiver that keeps a local table of customers in step with Plain, on hyper.
//!
//! ```sh
//! PLAIN_WEBHOOK_SECRET=... cargo run --example webhook_receiver --features webhooks -- 127.0.0.1:8787
//! ```
//!
//! Each delivery is verified from its raw body (at most 5 MiB are read), answered at once
//! (401 for a bad signature, 400 for the rest of the failures, 200 otherwise), and applied
//! once per event id: Plain retries with the same id, and the retry is acknowledged without
//! being applied twice. The work here is a map update; work that takes long goes to a queue
//! after the answer.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use plain_client::webhooks::events::{Actor, Customer};
use plain_client::webhooks::{
    Deduplicator, Event, EventPayload, Webhook, WebhookSecret, DEFAULT_MAX_BODY_BYTES,
    SIGNATURE_HEADER,
};

/// What the receiver keeps of a customer.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    full_name: String,
    email: String,
    external_id: Option<String>,
    groups: usize,
    /// Who changed the customer last.
    updated_by: String,
}

/// An actor in a few words: who it is, by its id.
fn who(actor: &Actor) -> String {
    match actor {
        Actor::User(user) => format!("user {}", user.user_id),
        Actor::MachineUser(machine) => format!("machine user {}", machine.machine_user_id),
        Actor::System(system) => format!("Plain's {}", system.system),
        Actor::Customer(customer) => format!("customer {}", customer.customer_id),
        Actor::UnknownValue(_) => "an actor Plain does not name".to_owned(),
        // A kind of actor newer than this crate: its JSON, as Plain sent it.
        Actor::Unknown(raw) => format!("actor {raw}"),
    }
}

impl From<&Customer> for Row {
    fn from(customer: &Customer) -> Self {
        Row {
            full_name: customer.full_name.clone(),
            email: customer.email.email.clone(),
            external_id: customer.external_id.clone(),
            groups: customer.customer_group_memberships.len(),
            updated_by: who(&customer.updated_by),
        }
    }
}

#[derive(Default)]
struct Table {
    customers: BTreeMap<String, Row>,
}

impl Table {
    /// Applies a customer event; other events are acknowledged and left alone.
    fn apply(&mut self, event: &Event) {
        match &event.payload {
            EventPayload::CustomerCreated(created) => {
                let row = Row::from(&created.customer);
                self.customers.insert(created.customer.id.clone(), row);
            }
            EventPayload::CustomerUpdated(updated) => {
                let row = Row::from(&updated.customer);
                self.customers.insert(updated.customer.id.clone(), row);
            }
            EventPayload::CustomerGroupMembershipsChanged(changed) => {
                let row = Row::from(&changed.customer);
                self.customers.insert(changed.customer.id.clone(), row);
            }
            EventPayload::CustomerDeleted(deleted) => {
                self.customers.remove(&deleted.previous_customer.id);
            }
            _ => {}
        }
    }
}

struct Receiver {
    webhook: Webhook,
    seen: Mutex<Deduplicator>,
    table: Mutex<Table>,
}

impl Receiver {
    fn new(secret: WebhookSecret) -> Self {
        Receiver {
            webhook: Webhook::new(secret).max_body_bytes(DEFAULT_MAX_BODY_BYTES),
            seen: Mutex::new(Deduplicator::new(100_000)),
            table: Mutex::new(Table::default()),
        }
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::POST {
            return answer(StatusCode::METHOD_NOT_ALLOWED, "POST only");
        }
        let signature = request
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        // Read at most the bound, never the whole of an endless body.
        let body = match Limited::new(request.into_body(), self.webhook.body_limit())
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(_) => return answer(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
        };
        let event = match self.webhook.verify(&body, &signature) {
            Ok(event) => event,
            Err(e) if e.is_signature_failure() => {
                eprintln!("refused: {e}");
                return answer(StatusCode::UNAUTHORIZED, "bad signature");
            }
            Err(e) => {
                eprintln!("refused: {e}");
                return answer(StatusCode::BAD_REQUEST, "not accepted");
            }
        };
        let first = lock(&self.seen).first_time(&event.id);
        if !first {
            eprintln!(
                "{} {}: a retry, already applied",
                event.id, event.event_type
            );
            return answer(StatusCode::OK, "ok");
        }
        let mut table = lock(&self.table);
        table.apply(&event);
        eprintln!(
            "{} {} (attempt {}): {} customer(s)",
            event.id,
            event.event_type,
            event.attempt_number(),
            table.customers.len()
        );
        answer(StatusCode::OK, "ok")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn answer(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8787".to_owned())
        .parse()?;
    let secret = WebhookSecret::from_env().ok_or("PLAIN_WEBHOOK_SECRET is not set")?;
    let listener = tokio::net::TcpListener::bind(address).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    serve(listener, Arc::new(Receiver::new(secret))).await?;
    Ok(())
}

/// Answers every connection to `listener`, one task each.
async fn serve(listener: tokio::net::TcpListener, receiver: Arc<Receiver>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let receiver = Arc::clone(&receiver);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let receiver = Arc::clone(&receiver);
                async move { Ok::<_, Infallible>(receiver.handle(request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                eprintln!("connection: {e}");
            }
        });
    }
}

/// The receiver against the crate's local server, which delivers its changes as Plain does:
/// `cargo test --example webhook_receiver --features testing`.
#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use plain_client::testing::LocalServer;
    use plain_client::{CustomerGroupIdentifier, CustomerIdentifier, EmailAddress};
    use plain_client::{OnCreate, OnUpdate, UpsertCustomerInput};

    fn customer(n: u32, name: &str) -> UpsertCustomerInput {
        let email = format!("customer{n}@example.com");
        UpsertCustomerInput::new(
            CustomerIdentifier::email(&email),
            OnCreate::new(name, EmailAddress::unverified(&email)),
        )
        .on_update(OnUpdate::new().full_name(name))
    }

    #[tokio::test]
    async fn the_table_follows_the_changes_made_in_plain() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let receiver = Arc::new(Receiver::new(WebhookSecret::new("example secret")));
        tokio::spawn(serve(listener, Arc::clone(&receiver)));
        let server = LocalServer::builder()
            .customer_group("vip", "VIP")
            .webhook(url, WebhookSecret::new("example secret"))
            .start()
            .await
            .unwrap();
        let client = server.client().unwrap();
        let mut ids = Vec::new();
        for n in 0..3 {
            let answer = client
                .upsert_customer(customer(n, "Someone"))
                .await
                .unwrap();
            ids.push(answer.customer.id);
        }
        client
            .upsert_customer(customer(1, "Renamed"))
            .await
            .unwrap();
        let vip = [CustomerGroupIdentifier::key("vip")];
        client
            .add_customer_to_customer_groups(&ids[2], vip)
            .await
            .unwrap();
        client.delete_customer(&ids[0]).await.unwrap();
        let settled = server.webhooks_settled();
        tokio::time::timeout(std::time::Duration::from_secs(60), settled)
            .await
            .unwrap();

        let table = lock(&receiver.table).customers.clone();
        let expected: BTreeMap<String, Row> = server
            .customers()
            .iter()
            .map(|c| {
                let row = Row {
                    full_name: c.full_name.clone(),
                    email: c.email.clone(),
                    external_id: c.external_id.clone(),
                    groups: c.customer_group_ids.len(),
                    // The local server makes its changes as a machine user of its own.
                    updated_by: table
                        .get(&c.id)
                        .map(|row| row.updated_by.clone())
                        .unwrap_or_default(),
                };
                (c.id.clone(), row)
            })
            .collect();
        assert_eq!(table, expected);
        assert!(table
            .values()
            .all(|row| row.updated_by.starts_with("machine user mu_")));
        assert_eq!(table[&ids[1]].full_name, "Renamed");
        assert_eq!(table[&ids[2]].groups, 1);
        assert!(!table.contains_key(&ids[0]));
        assert_eq!(server.webhook_stats().delivered, 6);
    }
}
