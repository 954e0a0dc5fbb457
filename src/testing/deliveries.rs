//! Webhook deliveries from the local server, as Plain makes them: each change the server
//! makes becomes an event, POSTed to every target, signed, and retried with backoff until a
//! target answers 2xx or the attempts run out.
//!
//! Deliveries never hold up the GraphQL answers: a request only queues its events (at most
//! [`limits::WEBHOOK_QUEUE`] waiting; past it an event is dropped, counted in
//! [`WebhookStats::dropped`] and logged), and at most [`limits::WEBHOOK_IN_FLIGHT`]
//! deliveries are under way at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::events::{self, Actor};
use super::limits;
use super::store::changes::Change;
use super::store::ids::plain_id;
use crate::rng::Rng;
use crate::time::format_rfc3339;
use crate::webhooks::events::SCHEMA_VERSION;
use crate::webhooks::{Webhook, WebhookSecret, SIGNATURE_HEADER};

/// Counts of the local server's webhook deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Events made from the server's changes, dropped ones included.
    pub events: u64,
    /// Events dropped because [`limits::WEBHOOK_QUEUE`] events were already waiting.
    pub dropped: u64,
    /// Delivery attempts made, to all targets.
    pub attempts: u64,
    /// Deliveries (an event to a target) answered 2xx.
    pub delivered: u64,
    /// Attempts that failed: a status other than 2xx, no connection, or no answer in time.
    pub failed_attempts: u64,
    /// Deliveries given up after their last attempt failed.
    pub gave_up: u64,
}

/// One delivery attempt, as the server's delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryAttempt {
    /// The event's id, the same on every attempt.
    pub event_id: String,
    /// The event type, such as `customer.customer_created`.
    pub event_type: String,
    /// The target's id (`webhookMetadata.webhookTargetId`).
    pub target_id: String,
    /// The target's URL.
    pub url: String,
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// The attempt's id, new on every attempt.
    pub attempt_id: String,
    /// The status the target answered, or `None` when it could not be reached or did not
    /// answer within [`limits::WEBHOOK_TIMEOUT`].
    pub status: Option<u16>,
}

impl DeliveryAttempt {
    /// Whether the target answered 2xx.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Where the server delivers, and how it retries.
#[derive(Debug, Clone)]
pub(super) struct WebhookConfig {
    pub targets: Vec<(String, WebhookSecret)>,
    pub first_retry: Duration,
    pub max_attempts: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            first_retry: limits::WEBHOOK_FIRST_RETRY,
            max_attempts: limits::WEBHOOK_ATTEMPTS,
        }
    }
}

/// A target: its URL, id and secret.
struct Target {
    url: String,
    id: String,
    webhook: Webhook,
}

/// What the deliveries share with the server.
struct Record {
    stats: WebhookStats,
    log: VecDeque<DeliveryAttempt>,
}

struct Shared {
    record: Mutex<Record>,
    /// Deliveries (an event to a target) queued or under way.
    pending: watch::Sender<u64>,
    targets: Vec<Target>,
    first_retry: Duration,
    max_attempts: u32,
    workspace_id: String,
    actor: Actor,
    http: reqwest::Client,
}

impl Shared {
    fn record(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish_delivery(&self) {
        self.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// One change, waiting to become an event.
struct Queued {
    change: Change,
    at: SystemTime,
}

/// The server's side of the deliveries: it queues changes, and reads counts and the log.
pub(super) struct Deliveries {
    sender: mpsc::Sender<Queued>,
    shared: Arc<Shared>,
}

impl Deliveries {
    /// Checks the targets and starts delivering on the current runtime; the task ends when
    /// aborted (with the deliveries under way) or when the server is gone.
    pub fn start(
        config: WebhookConfig,
        workspace_id: String,
        seed: u64,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        let invalid =
            |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
        let now = SystemTime::now();
        let mut rng = Rng::new(seed.rotate_left(29) ^ 0x5745_4248_4f4f_4b53);
        let mut targets = Vec::new();
        for (url, secret) in config.targets {
            match reqwest::Url::parse(&url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => {
                    return Err(invalid(format!(
                        "the webhook URL {url:?} is not an http(s) URL"
                    )))
                }
            }
            targets.push(Target {
                url,
                id: plain_id("whTarget_", now, &mut rng),
                webhook: Webhook::new(secret),
            });
        }
        if config.max_attempts == 0 {
            return Err(invalid(
                "webhook deliveries need at least one attempt".to_owned(),
            ));
        }
        let http = crate::tls::choose(reqwest::Client::builder())
            .timeout(limits::WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| std::io::Error::other(format!("cannot make the webhook client: {e}")))?;
        let (sender, receiver) = mpsc::channel(limits::WEBHOOK_QUEUE);
        let shared = Arc::new(Shared {
            record: Mutex::new(Record {
                stats: WebhookStats::default(),
                log: VecDeque::new(),
            }),
            pending: watch::Sender::new(0),
            targets,
            first_retry: config.first_retry,
            max_attempts: config.max_attempts,
            workspace_id,
            actor: Actor::machine_user(plain_id("mu_", now, &mut rng)),
            http,
        });
        let task = tokio::spawn(deliver_all(shared.clone(), receiver, rng));
        Ok((Self { sender, shared }, task))
    }

    /// The targets' ids and URLs, in the order given.
    pub fn targets(&self) -> Vec<(String, String)> {
        let targets = &self.shared.targets;
        targets
            .iter()
            .map(|t| (t.id.clone(), t.url.clone()))
            .collect()
    }

    /// Queues an event for each change, without waiting: an event that finds the queue full
    /// is dropped, counted and logged.
    pub fn enqueue(&self, changes: Vec<Change>, at: SystemTime) {
        for change in changes {
            let targets = self.shared.targets.len() as u64;
            self.shared.pending.send_modify(|n| *n += targets);
            let queued = self.sender.try_send(Queued { change, at });
            let mut record = self.shared.record();
            record.stats.events += 1;
            if queued.is_err() {
                record.stats.dropped += 1;
                let dropped = record.stats.dropped;
                drop(record);
                self.shared
                    .pending
                    .send_modify(|n| *n = n.saturating_sub(targets));
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        queue = limits::WEBHOOK_QUEUE,
                        "local server: webhook queue full, event dropped"
                    );
                }
            }
        }
    }

    pub fn stats(&self) -> WebhookStats {
        self.shared.record().stats
    }

    pub fn attempts(&self) -> Vec<DeliveryAttempt> {
        self.shared.record().log.iter().cloned().collect()
    }

    /// Waits until every event queued so far is delivered to every target, given up, or
    /// dropped.
    pub async fn settled(&self) {
        let mut pending = self.shared.pending.subscribe();
        // The sender lives in `self.shared`, so the wait ends only at zero.
        let _ = pending.wait_for(|n| *n == 0).await;
    }
}

/// One event, as every attempt of every target sends it (with the attempt's metadata).
struct Outgoing {
    id: String,
    event_type: &'static str,
    timestamp: String,
    payload: Value,
}

/// Takes events off the queue and delivers each to every target, at most
/// [`limits::WEBHOOK_IN_FLIGHT`] deliveries at once.
async fn deliver_all(shared: Arc<Shared>, mut receiver: mpsc::Receiver<Queued>, mut rng: Rng) {
    let mut under_way = JoinSet::new();
    loop {
        while under_way.len() >= limits::WEBHOOK_IN_FLIGHT {
            under_way.join_next().await;
        }
        tokio::select! {
            queued = receiver.recv() => {
                let Some(Queued { change, at }) = queued else { break };
                let (event_type, payload) =
                    events::payload(&change, &shared.actor, &shared.workspace_id);
                let event = Arc::new(Outgoing {
                    id: plain_id("whEvent_", at, &mut rng),
                    event_type,
                    timestamp: format_rfc3339(at),
                    payload,
                });
                for target in 0..shared.targets.len() {
                    let attempt_seed = rng.next_u64();
                    under_way.spawn(deliver(shared.clone(), event.clone(), target, attempt_seed));
                }
            }
            Some(_) = under_way.join_next(), if !under_way.is_empty() => {}
        }
    }
    while under_way.join_next().await.is_some() {}
}

/// The envelope of one attempt, in the order Plain writes it.
#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: &'a str,
    #[serde(rename = "workspaceId")]
    workspace_id: &'a str,
    #[serde(rename = "webhookMetadata")]
    metadata: Metadata<'a>,
    payload: &'a Value,
}

#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(rename = "webhookTargetId")]
    target_id: &'a str,
    #[serde(rename = "webhookTargetVersion")]
    version: &'a str,
    #[serde(rename = "webhookDeliveryAttemptId")]
    attempt_id: &'a str,
    #[serde(rename = "webhookDeliveryAttemptNumber")]
    attempt: u32,
    #[serde(rename = "webhookDeliveryAttemptTimestamp")]
    attempt_timestamp: &'a str,
}

/// The wait before attempt `attempt + 1`: the first retry's wait, doubled for each attempt
/// after the first, at most [`limits::WEBHOOK_LONGEST_WAIT`].
fn backoff(first: Duration, attempt: u32) -> Duration {
    let factor = 1u32 << (attempt - 1).min(16);
    first
        .saturating_mul(factor)
        .min(limits::WEBHOOK_LONGEST_WAIT)
}

/// Delivers one event to one target, retrying until it is answered 2xx or the attempts run
/// out.
async fn deliver(shared: Arc<Shared>, event: Arc<Outgoing>, target: usize, seed: u64) {
    let target = &shared.targets[target];
    let mut rng = Rng::new(seed);
    for attempt in 1..=shared.max_attempts {
        let now = SystemTime::now();
        let attempt_id = plain_id("whAttempt_", now, &mut rng);
        let attempt_timestamp = format_rfc3339(now);
        let envelope = Envelope {
            id: &event.id,
            event_type: event.event_type,
            timestamp: &event.timestamp,
            workspace_id: &shared.workspace_id,
            metadata: Metadata {
                target_id: &target.id,
                version: SCHEMA_VERSION,
                attempt_id: &attempt_id,
                attempt,
                attempt_timestamp: &attempt_timestamp,
            },
            payload: &event.payload,
        };
        let body = serde_json::to_vec(&envelope).unwrap_or_default();
        let signature = target.webhook.sign(&body);
        let sent = shared
            .http
            .post(&target.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header("Plain-Event-Id", &event.id)
            .header("Plain-Event-Type", event.event_type)
            .header("Plain-Webhook-Delivery-Attempt-Id", &attempt_id)
            .header("Plain-Webhook-Delivery-Attempt-Number", attempt.to_string())
            .header(
                "Plain-Webhook-Delivery-Attempt-Timestamp",
                &attempt_timestamp,
            )
            .header("Plain-Workspace-Id", &shared.workspace_id)
            .header("Plain-Webhook-Target-Id", &target.id)
            .body(body)
            .send()
            .await;
        // The answer's body is not read: only its status counts.
        let status = sent.ok().map(|answer| answer.status().as_u16());
        let logged = DeliveryAttempt {
            event_id: event.id.clone(),
            event_type: event.event_type.to_owned(),
            target_id: target.id.clone(),
            url: target.url.clone(),
            attempt,
            attempt_id,
            status,
        };
        let succeeded = logged.succeeded();
        {
            let mut record = shared.record();
            record.stats.attempts += 1;
            if succeeded {
                record.stats.delivered += 1;
            } else {
                record.stats.failed_attempts += 1;
                if attempt == shared.max_attempts {
                    record.stats.gave_up += 1;
                }
            }
            record.log.push_back(logged);
            if record.log.len() > limits::WEBHOOK_LOG {
                record.log.pop_front();
            }
        }
        if succeeded {
            break;
        }
        if attempt < shared.max_attempts {
            tokio::time::sleep(backoff(shared.first_retry, attempt)).await;
        } else {
            tracing::warn!(
                event_id = %event.id,
                url = %target.url,
                attempts = attempt,
                "local server: webhook delivery given up"
            );
        }
    }
    shared.finish_delivery();
}
