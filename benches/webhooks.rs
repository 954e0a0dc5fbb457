//! CPU per webhook event: verifying the signature of a typical 2 KB delivery and parsing it
//! into its typed event, as a receiver does for each delivery. Goal: at most 20 µs.
//!
//! `cargo bench --features webhooks --bench webhooks`
//!
//! Three bodies of `customer.customer_updated`: 1.5 KB, 2.3 KB (the typical event of the goal:
//! the customer in one group) and 3 KB. The figure is the median of 21 rounds of 5,000 events each, in CPU time of the thread
//! (not wall time), so that a loaded machine lengthens no round. Under `cargo test --benches`
//! (no `--bench` argument) it makes one small round and checks only that the event verifies.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;

use plain_client::webhooks::{EventPayload, Webhook, WebhookSecret};
use serde_json::json;

const GOAL: Duration = Duration::from_micros(20);

fn customer(name: &str, groups: usize) -> serde_json::Value {
    let memberships: Vec<_> = (0..groups)
        .map(|i| {
            json!({
                "customerGroupId": format!("cuGroup_01JS{i:022}"),
                "customerId": "c_01JS0000000000000000000000",
                "workspaceId": "w_01JS0000000000000000000000",
                "customerGroup": {
                    "id": format!("cuGroup_01JS{i:022}"),
                    "workspaceId": "w_01JS0000000000000000000000",
                    "name": "Enterprise",
                    "key": "enterprise",
                    "color": "#ff8800",
                    "createdAt": "2026-04-21T09:00:00.000Z",
                    "createdBy": {"actorType": "user", "userId": "u_01JS0000000000000000000000"},
                    "updatedAt": "2026-04-21T09:00:00.000Z",
                    "updatedBy": {"actorType": "user", "userId": "u_01JS0000000000000000000000"}
                },
                "createdAt": "2026-04-21T09:00:00.000Z",
                "createdBy": {"actorType": "user", "userId": "u_01JS0000000000000000000000"},
                "updatedAt": "2026-04-21T09:00:00.000Z",
                "updatedBy": {"actorType": "user", "userId": "u_01JS0000000000000000000000"}
            })
        })
        .collect();
    json!({
        "id": "c_01JS0000000000000000000000",
        "email": {"email": "donald@example.com", "isVerified": true, "verifiedAt": "2026-04-21T09:00:00.000Z"},
        "externalId": "crm-000042",
        "fullName": name,
        "shortName": "Donald",
        "customerGroupMemberships": memberships,
        "createdAt": "2026-04-21T09:00:00.000Z",
        "createdBy": {"actorType": "system", "system": "API"},
        "updatedAt": "2026-04-21T09:30:00.000Z",
        "updatedBy": {"actorType": "machineUser", "machineUserId": "mu_01JS0000000000000000000000"},
        "markedAsSpamAt": null,
        "markedAsSpamBy": null
    })
}

/// A `customer.customer_updated` delivery: the customer after, with `groups` group memberships,
/// and before, with `previous_groups` (0 and 0: 1.5 KB; 1 and 0: 2.3 KB; 1 and 1: 3 KB).
fn body_with(groups: usize, previous_groups: usize) -> Vec<u8> {
    let body = json!({
        "id": "pEv_01JS0000000000000000000000",
        "type": "customer.customer_updated",
        "timestamp": "2026-04-21T09:59:59.000Z",
        "workspaceId": "w_01JS0000000000000000000000",
        "payload": {
            "eventType": "customer.customer_updated",
            "customer": customer("Donald Fauntleroy Duck", groups),
            "previousCustomer": customer("Donald Duck", previous_groups)
        },
        "webhookMetadata": {
            "webhookTargetId": "whTarget_01JS0000000000000000000000",
            "webhookTargetVersion": plain_client::webhooks::events::SCHEMA_VERSION,
            "webhookDeliveryAttemptId": "whAttempt_01JS0000000000000000000000",
            "webhookDeliveryAttemptNumber": 1,
            "webhookDeliveryAttemptTimestamp": "2026-04-21T10:00:00.000Z"
        }
    });
    // In Plain's order, the type before the payload (serde_json alone would sort the keys).
    let mut out = String::from("{");
    for key in [
        "id",
        "type",
        "timestamp",
        "workspaceId",
        "payload",
        "webhookMetadata",
    ] {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&format!("{key:?}:{}", body[key]));
    }
    out.push('}');
    out.into_bytes()
}

fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The median CPU time per call of `work`, over `rounds` rounds of `per_round` calls.
fn median_cpu(rounds: usize, per_round: u32, mut work: impl FnMut()) -> Duration {
    let mut per_call = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = thread_cpu();
        for _ in 0..per_round {
            work();
        }
        per_call.push((thread_cpu() - start) / per_round);
    }
    per_call.sort();
    per_call[per_call.len() / 2]
}

fn main() -> ExitCode {
    let measuring = std::env::args().any(|a| a == "--bench");
    let (rounds, per_round) = if measuring { (21, 5_000) } else { (1, 10) };
    let webhook = Webhook::new(WebhookSecret::new("whsec-bench-secret"));
    let now = humantime::parse_rfc3339("2026-04-21T10:00:01.000Z").expect("a time");
    let mut typical = Duration::ZERO;
    for (groups, previous_groups) in [(0, 0), (1, 0), (1, 1)] {
        let body = body_with(groups, previous_groups);
        let signature = webhook.sign(&body);
        match webhook.verify_at(&body, &signature, now) {
            Ok(event) if matches!(event.payload, EventPayload::CustomerUpdated(_)) => {}
            other => panic!("the event does not verify: {other:?}"),
        }
        let whole = median_cpu(rounds, per_round, || {
            black_box(
                webhook
                    .verify_at(black_box(&body), black_box(&signature), now)
                    .is_ok(),
            );
        });
        let signature_only = median_cpu(rounds, per_round, || {
            black_box(
                webhook
                    .check_signature(black_box(&body), black_box(&signature))
                    .is_ok(),
            );
        });
        println!(
            "customer.customer_updated, {} bytes ({groups} + {previous_groups} group memberships): \
             verify + parse median {:.2} µs CPU per event, of which the signature check {:.2} µs \
             ({rounds} rounds of {per_round})",
            body.len(),
            micros(whole),
            micros(signature_only),
        );
        if (groups, previous_groups) == (1, 0) {
            typical = whole;
        }
    }
    if !measuring {
        return ExitCode::SUCCESS;
    }
    let met = typical <= GOAL;
    println!(
        "goal: CPU per typical (2 KB) event {:.2} µs ≤ {:.0} µs: {}",
        micros(typical),
        micros(GOAL),
        if met { "met" } else { "MISSED" }
    );
    if met {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
