//! The webhook events the local server sends for the changes it makes, shaped as Plain's
//! webhook schema (the version this crate was built from) shapes them.

use std::time::SystemTime;

use serde_json::{json, Value};

use super::store::changes::{Change, CustomerSnapshot};
use super::store::records::StoredCustomerGroup;
use crate::time::format_rfc3339;

/// The color every group of the local server has, in events and answers: Plain requires one,
/// and the server keeps none.
pub(super) const GROUP_COLOR: &str = "#64748B";

/// Who the server says made its changes: the machine user of the API key, as Plain says of
/// changes made through the API.
pub struct Actor {
    machine_user_id: String,
}

impl Actor {
    pub fn machine_user(machine_user_id: String) -> Self {
        Self { machine_user_id }
    }

    fn json(&self) -> Value {
        json!({"actorType": "machineUser", "machineUserId": self.machine_user_id})
    }
}

/// The event type and the payload of one change.
pub fn payload(change: &Change, actor: &Actor, workspace_id: &str) -> (&'static str, Value) {
    let customer = |snapshot: &CustomerSnapshot| customer(snapshot, actor, workspace_id);
    match change {
        Change::Created(created) => {
            let kind = "customer.customer_created";
            (
                kind,
                json!({"eventType": kind, "customer": customer(created)}),
            )
        }
        Change::Updated { before, after } => {
            let kind = "customer.customer_updated";
            let payload = json!({
                "eventType": kind,
                "customer": customer(after),
                "previousCustomer": customer(before),
            });
            (kind, payload)
        }
        Change::Deleted(deleted) => {
            let kind = "customer.customer_deleted";
            (
                kind,
                json!({"eventType": kind, "previousCustomer": customer(deleted)}),
            )
        }
        Change::Membership {
            added,
            before,
            after,
        } => {
            let kind = "customer.customer_group_memberships_changed";
            let payload = json!({
                "eventType": kind,
                "changeType": if *added { "ADDED" } else { "REMOVED" },
                "customer": customer(after),
                "previousCustomer": customer(before),
            });
            (kind, payload)
        }
    }
}

fn time(at: SystemTime) -> String {
    format_rfc3339(at)
}

fn customer(snapshot: &CustomerSnapshot, actor: &Actor, workspace_id: &str) -> Value {
    let c = &snapshot.customer;
    let memberships: Vec<Value> = snapshot
        .memberships
        .iter()
        .map(|(group, since)| {
            json!({
                "customerId": c.id,
                "customerGroupId": group.id,
                "workspaceId": workspace_id,
                "createdAt": time(*since),
                "createdBy": actor.json(),
                "updatedAt": time(*since),
                "updatedBy": actor.json(),
                "customerGroup": group_json(group, actor, workspace_id),
            })
        })
        .collect();
    json!({
        "id": c.id,
        "email": {
            "email": c.email,
            "isVerified": c.email_verified,
            "verifiedAt": c.email_verified_at.map(time),
        },
        "externalId": c.external_id,
        "fullName": c.full_name,
        "shortName": c.short_name,
        "customerGroupMemberships": memberships,
        "createdAt": time(c.created_at),
        "createdBy": actor.json(),
        "updatedAt": time(c.updated_at),
        "updatedBy": actor.json(),
        "markedAsSpamAt": null,
        "markedAsSpamBy": null,
    })
}

fn group_json(group: &StoredCustomerGroup, actor: &Actor, workspace_id: &str) -> Value {
    json!({
        "id": group.id,
        "workspaceId": workspace_id,
        "name": group.name,
        "key": group.key,
        "color": GROUP_COLOR,
        "createdAt": time(group.created_at),
        "createdBy": actor.json(),
        "updatedAt": time(group.updated_at),
        "updatedBy": actor.json(),
    })
}
