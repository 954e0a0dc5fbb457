//! Webhooks: verifying deliveries (each check on its own), typed events for every event type
//! of the vendored schema, and `plain webhooks verify`.

use std::time::{Duration, SystemTime};

use plain_client::webhooks::events::{
    Actor, CustomerGroupChangedPayload, CustomerGroupMembershipsChangedPayloadChangeType,
    InternalActor, MachineUserActor, UnknownInternalActor, UserActor, EVENT_TYPES, SCHEMA_VERSION,
};
use plain_client::webhooks::{
    EventPayload, EventType, Webhook, WebhookError, WebhookSecret, DEFAULT_MAX_BODY_BYTES,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const SECRET: &str = "whsec-test-secret-4f1d";
const ATTEMPT_AT: &str = "2026-04-21T10:00:00.000Z";

fn webhook() -> Webhook {
    Webhook::new(WebhookSecret::new(SECRET))
}

fn attempt_time() -> SystemTime {
    humantime::parse_rfc3339(ATTEMPT_AT).unwrap()
}

fn customer(id: &str, name: &str) -> Value {
    json!({
        "id": id,
        "email": {"email": "donald@example.com", "isVerified": false, "verifiedAt": null},
        "externalId": null,
        "fullName": name,
        "shortName": null,
        "customerGroupMemberships": [],
        "createdAt": "2026-04-21T09:00:00.000Z",
        "createdBy": {"actorType": "system", "system": "API"},
        "updatedAt": "2026-04-21T09:00:00.000Z",
        "updatedBy": {"actorType": "machineUser", "machineUserId": "mu_01JS0000000000000000000000"},
        "markedAsSpamAt": null,
        "markedAsSpamBy": null
    })
}

fn envelope(event_type: &str, payload: Value, version: &str, attempt_at: &str) -> Value {
    json!({
        "id": "pEv_01JS0000000000000000000000",
        "type": event_type,
        "timestamp": "2026-04-21T09:59:59.000Z",
        "workspaceId": "w_01JS0000000000000000000000",
        "payload": payload,
        "webhookMetadata": {
            "webhookTargetId": "whTarget_01JS0000000000000000000000",
            "webhookTargetVersion": version,
            "webhookDeliveryAttemptId": "whAttempt_01JS0000000000000000000000",
            "webhookDeliveryAttemptNumber": 1,
            "webhookDeliveryAttemptTimestamp": attempt_at
        }
    })
}

/// The body as Plain writes it: the envelope's keys in Plain's order, the type before the
/// payload (serde_json alone would sort them, the payload first).
fn plain_body(envelope: &Value) -> Result<Vec<u8>, serde_json::Error> {
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
        out.push_str(&format!(
            "{:?}:{}",
            key,
            serde_json::to_string(&envelope[key])?
        ));
    }
    out.push('}');
    Ok(out.into_bytes())
}

fn created_body() -> Vec<u8> {
    let payload = json!({
        "eventType": "customer.customer_created",
        "customer": customer("c_01JS0000000000000000000000", "Donald Duck"),
    });
    plain_body(&envelope(
        "customer.customer_created",
        payload,
        SCHEMA_VERSION,
        ATTEMPT_AT,
    ))
    .unwrap()
}

/// Verifies `body`, signed as Plain would, at the attempt's own time.
fn verify_signed(body: &[u8]) -> Result<plain_client::webhooks::Event, WebhookError> {
    let webhook = webhook();
    webhook.verify_at(body, &webhook.sign(body), attempt_time())
}

#[test]
fn a_signed_delivery_verifies_to_its_typed_event() {
    let event = verify_signed(&created_body()).unwrap();
    assert_eq!(event.id, "pEv_01JS0000000000000000000000");
    assert_eq!(event.event_type, EventType::CustomerCreated);
    assert_eq!(event.attempt_number(), 1);
    assert_eq!(
        event.webhook_metadata.webhook_target_version,
        SCHEMA_VERSION
    );
    let EventPayload::CustomerCreated(created) = &event.payload else {
        panic!("not a customer_created payload: {:?}", event.payload);
    };
    assert_eq!(created.customer.full_name, "Donald Duck");
    assert_eq!(created.customer.email.email, "donald@example.com");
    assert_eq!(created.customer.external_id, None);
}

#[test]
fn a_tampered_byte_anywhere_fails_the_signature() {
    let body = created_body();
    let signature = webhook().sign(&body);
    for at in [0, body.len() / 3, body.len() / 2, body.len() - 1] {
        let mut tampered = body.clone();
        tampered[at] ^= 0x01;
        assert_eq!(
            webhook().verify_at(&tampered, &signature, attempt_time()),
            Err(WebhookError::SignatureMismatch),
            "byte {at}"
        );
    }
}

#[test]
fn another_secret_fails_the_signature() {
    let body = created_body();
    let other = Webhook::new(WebhookSecret::new("another-secret")).sign(&body);
    assert_eq!(
        webhook().verify_at(&body, &other, attempt_time()),
        Err(WebhookError::SignatureMismatch)
    );
}

#[test]
fn a_re_serialized_body_fails_the_signature() {
    let body = created_body();
    let signature = webhook().sign(&body);
    let value: Value = serde_json::from_slice(&body).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    assert_ne!(pretty, body);
    assert_eq!(
        webhook().verify_at(&pretty, &signature, attempt_time()),
        Err(WebhookError::SignatureMismatch)
    );
}

#[test]
fn empty_and_non_hex_signatures_each_have_their_error() {
    let body = created_body();
    let signature = webhook().sign(&body);
    let check = |sig: &str| webhook().verify_at(&body, sig, attempt_time()).unwrap_err();
    assert_eq!(check(""), WebhookError::EmptySignature);
    assert_eq!(check("   "), WebhookError::EmptySignature);
    assert_eq!(check(&"z".repeat(64)), WebhookError::SignatureNotHex);
    assert_eq!(check(&signature[..63]), WebhookError::SignatureNotHex);
    assert_eq!(
        check(&format!("{signature}00")),
        WebhookError::SignatureNotHex
    );
    assert_eq!(
        check(&format!("sha256={signature}")),
        WebhookError::SignatureNotHex
    );
    assert!(check("").is_signature_failure());
}

#[test]
fn an_empty_body_and_an_empty_secret_are_refused() {
    let webhook = webhook();
    assert_eq!(
        webhook.verify_at(b"", &webhook.sign(b""), attempt_time()),
        Err(WebhookError::EmptyBody)
    );
    let body = created_body();
    let keyless = Webhook::new(WebhookSecret::new(""));
    assert_eq!(
        keyless.verify_at(&body, &keyless.sign(&body), attempt_time()),
        Err(WebhookError::EmptySecret)
    );
}

#[test]
fn the_tolerance_holds_exactly_both_ways() {
    let body = created_body();
    let webhook = webhook();
    let signature = webhook.sign(&body);
    let at = |now: SystemTime| webhook.verify_at(&body, &signature, now);
    let seconds = Duration::from_secs;
    assert!(
        at(attempt_time() + seconds(300)).is_ok(),
        "300 s old passes"
    );
    assert!(
        at(attempt_time() - seconds(300)).is_ok(),
        "300 s ahead passes"
    );
    assert_eq!(
        at(attempt_time() + seconds(301)).unwrap_err(),
        WebhookError::TooOld {
            age: seconds(301),
            tolerance: seconds(300)
        }
    );
    assert_eq!(
        at(attempt_time() - seconds(301)).unwrap_err(),
        WebhookError::TooNew {
            ahead: seconds(301),
            tolerance: seconds(300)
        }
    );
    let strict = self::webhook().tolerance(seconds(10));
    assert!(strict
        .verify_at(&body, &signature, attempt_time() + seconds(10))
        .is_ok());
    let late = strict.verify_at(&body, &signature, attempt_time() + seconds(11));
    assert!(matches!(late, Err(WebhookError::TooOld { .. })));
    assert!(late.unwrap_err().to_string().contains("11 s old"));
}

#[test]
fn a_body_that_is_not_json_or_not_a_webhook_says_so() {
    assert!(matches!(
        verify_signed(b"customer created"),
        Err(WebhookError::NotJson { .. })
    ));
    assert!(matches!(
        verify_signed(b"{\"id\": "),
        Err(WebhookError::NotJson { .. })
    ));
    for body in [&b"[]"[..], b"{\"id\": 1}", b"null"] {
        assert!(
            matches!(
                verify_signed(body),
                Err(WebhookError::NotPlainWebhook { .. })
            ),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let mut value: Value = serde_json::from_slice(&created_body()).unwrap();
    value["webhookMetadata"]["webhookDeliveryAttemptTimestamp"] = json!("yesterday");
    let error = verify_signed(&plain_body(&value).unwrap()).unwrap_err();
    assert!(
        matches!(&error, WebhookError::NotPlainWebhook { message } if message.contains("yesterday")),
        "{error}"
    );
}

#[test]
fn a_payload_that_does_not_fit_names_a_version_mismatch_when_versions_differ() {
    let broken = json!({"eventType": "customer.customer_created", "customer": {"id": 7}});
    let body = |version: &str| {
        plain_body(&envelope(
            "customer.customer_created",
            broken.clone(),
            version,
            ATTEMPT_AT,
        ))
        .unwrap()
    };
    let error = verify_signed(&body("2099-01-01")).unwrap_err();
    let WebhookError::VersionMismatch {
        received, expected, ..
    } = &error
    else {
        panic!("not a version mismatch: {error}");
    };
    assert_eq!(
        (received.as_str(), expected.as_str()),
        ("2099-01-01", SCHEMA_VERSION)
    );
    assert!(error.to_string().contains("2099-01-01"));
    assert!(matches!(
        verify_signed(&body(SCHEMA_VERSION)),
        Err(WebhookError::NotPlainWebhook { .. })
    ));
    // Another version whose body fits is no error: the version is in the event.
    let mut fits: Value = serde_json::from_slice(&created_body()).unwrap();
    fits["webhookMetadata"]["webhookTargetVersion"] = json!("2026-03-13");
    let event = verify_signed(&plain_body(&fits).unwrap()).unwrap();
    assert_eq!(event.webhook_metadata.webhook_target_version, "2026-03-13");
}

#[test]
fn a_payload_of_another_type_than_the_envelope_is_refused() {
    let mut value: Value = serde_json::from_slice(&created_body()).unwrap();
    value["payload"]["eventType"] = json!("customer.customer_deleted");
    assert!(matches!(
        verify_signed(&plain_body(&value).unwrap()),
        Err(WebhookError::NotPlainWebhook { .. })
    ));
}

#[test]
fn an_unknown_event_type_is_kept_with_its_raw_payload() {
    let payload = json!({"eventType": "thread.thread_teleported", "to": {"planet": "Mars"}});
    let body = plain_body(&envelope(
        "thread.thread_teleported",
        payload.clone(),
        SCHEMA_VERSION,
        ATTEMPT_AT,
    ))
    .unwrap();
    let event = verify_signed(&body).unwrap();
    assert_eq!(
        event.event_type,
        EventType::Unknown("thread.thread_teleported".into())
    );
    assert_eq!(
        event.payload,
        EventPayload::Unknown {
            event_type: "thread.thread_teleported".into(),
            raw: payload.clone()
        }
    );
    let printed = serde_json::to_value(&event).unwrap();
    assert_eq!(printed["payload"], payload);
    assert_eq!(printed["type"], "thread.thread_teleported");
}

#[test]
fn an_unknown_enum_value_keeps_its_text() {
    let payload = json!({
        "eventType": "customer.customer_group_memberships_changed",
        "changeType": "MERGED",
        "customer": customer("c_01JS0000000000000000000000", "Donald Duck"),
        "previousCustomer": customer("c_01JS0000000000000000000000", "Donald Duck"),
    });
    let body = plain_body(&envelope(
        "customer.customer_group_memberships_changed",
        payload,
        SCHEMA_VERSION,
        ATTEMPT_AT,
    ))
    .unwrap();
    let event = verify_signed(&body).unwrap();
    let EventPayload::CustomerGroupMembershipsChanged(changed) = event.payload else {
        panic!("not a memberships change");
    };
    assert_eq!(
        changed.change_type,
        CustomerGroupMembershipsChangedPayloadChangeType::Unknown("MERGED".into())
    );
    assert_eq!(changed.change_type.to_string(), "MERGED");
}

// ---- Actors and other unions told apart by a property --------------------------------------

/// The kinds of actor Plain names: the `actorType`, and the field that says who it is.
const ACTOR_KINDS: [(&str, Option<&str>); 5] = [
    ("user", Some("userId")),
    ("machineUser", Some("machineUserId")),
    ("system", Some("system")),
    ("customer", Some("customerId")),
    ("UNKNOWN", None),
];

/// An actor of the kind `ACTOR_KINDS[kind]` as Plain writes it, `id` saying who it is.
fn actor_json(kind: usize, id: &str) -> Value {
    let (actor_type, field) = ACTOR_KINDS[kind];
    let mut actor = json!({ "actorType": actor_type });
    if let Some(field) = field {
        actor[field] = json!(id);
    }
    actor
}

/// What an actor was typed as: its kind (an index into `ACTOR_KINDS`) and who it is, read
/// from its variant and that variant's own field. `None` for a kind this crate does not know.
fn kind_and_id(actor: &Actor) -> Option<(usize, Option<&str>)> {
    Some(match actor {
        Actor::User(user) => (0, Some(&user.user_id)),
        Actor::MachineUser(machine) => (1, Some(&machine.machine_user_id)),
        Actor::System(system) => (2, Some(&system.system)),
        Actor::Customer(customer) => (3, Some(&customer.customer_id)),
        Actor::UnknownValue(_) => (4, None),
        Actor::Unknown(_) => return None,
    })
    .map(|(kind, id)| (kind, id.map(String::as_str)))
}

/// What `actor_json(kind, id)` is typed as.
fn typed_as(kind: usize, id: &str) -> Option<(usize, Option<&str>)> {
    Some((kind, ACTOR_KINDS[kind].1.map(|_| id)))
}

#[test]
fn each_actor_kind_parses_to_its_variant_and_writes_back_the_same_json() {
    for kind in 0..ACTOR_KINDS.len() {
        let raw = actor_json(kind, "x_01JS0000000000000000000000");
        let from_text: Actor = serde_json::from_str(&raw.to_string()).unwrap();
        assert_eq!(
            kind_and_id(&from_text),
            typed_as(kind, "x_01JS0000000000000000000000"),
            "{raw}"
        );
        let from_value: Actor = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(from_value, from_text, "{raw}");
        assert_eq!(serde_json::to_value(&from_text).unwrap(), raw);
    }
    let user: Actor = serde_json::from_value(actor_json(0, "u_01")).unwrap();
    assert_eq!(
        user,
        Actor::User(UserActor {
            actor_type: "user".into(),
            user_id: "u_01".into()
        })
    );
    let placeholder: Actor = serde_json::from_value(actor_json(4, "")).unwrap();
    assert_eq!(
        placeholder,
        Actor::UnknownValue(UnknownInternalActor {
            actor_type: "UNKNOWN".into()
        })
    );
}

#[test]
fn an_unknown_actor_type_is_kept_with_its_raw_json() {
    let robot = json!({"actorType": "robot", "robotId": "r_7", "model": {"series": 9}});
    let actor: Actor = serde_json::from_str(&robot.to_string()).unwrap();
    assert_eq!(actor, Actor::Unknown(robot.clone()));
    assert_eq!(serde_json::to_value(&actor).unwrap(), robot);
    // A customer is no actor of Plain's own: `InternalActor` does not know it.
    let customer_actor = json!({"actorType": "customer", "customerId": "c_01"});
    let internal: InternalActor = serde_json::from_value(customer_actor.clone()).unwrap();
    assert_eq!(internal, InternalActor::Unknown(customer_actor.clone()));
    assert_eq!(serde_json::to_value(&internal).unwrap(), customer_actor);
}

#[test]
fn an_actor_of_a_known_type_without_its_fields_or_without_a_type_is_refused() {
    let missing = serde_json::from_value::<Actor>(json!({"actorType": "user"})).unwrap_err();
    assert!(missing.to_string().contains("userId"), "{missing}");
    let untyped = serde_json::from_value::<Actor>(json!({"userId": "u_01"})).unwrap_err();
    assert!(untyped.to_string().contains("actorType"), "{untyped}");
    assert!(serde_json::from_value::<Actor>(json!({"actorType": 7})).is_err());
    assert!(serde_json::from_value::<Actor>(json!("user")).is_err());
    assert!(serde_json::from_value::<Actor>(Value::Null).is_err());
    assert_eq!(
        serde_json::from_value::<Option<Actor>>(Value::Null).unwrap(),
        None
    );
}

/// A delivery of `payload` as an event of `event_type`, signed and verified.
fn deliver(
    event_type: &str,
    payload: &Value,
) -> Result<plain_client::webhooks::Event, WebhookError> {
    let envelope = envelope(event_type, payload.clone(), SCHEMA_VERSION, ATTEMPT_AT);
    verify_signed(&plain_body(&envelope).unwrap())
}

/// A `customer.customer_created` delivery of `customer`, verified.
fn created_event(customer: Value) -> plain_client::webhooks::Event {
    let payload = json!({"eventType": "customer.customer_created", "customer": customer});
    deliver("customer.customer_created", &payload).unwrap()
}

#[test]
fn a_delivered_customer_names_who_created_updated_and_marked_it() {
    for kind in 0..ACTOR_KINDS.len() {
        let mut donald = customer("c_01JS0000000000000000000000", "Donald Duck");
        donald["createdBy"] = actor_json(kind, "x_01");
        let event = created_event(donald.clone());
        let EventPayload::CustomerCreated(created) = &event.payload else {
            panic!("not a customer_created payload: {:?}", event.payload);
        };
        assert_eq!(
            kind_and_id(&created.customer.created_by),
            typed_as(kind, "x_01")
        );
        assert_eq!(
            created.customer.updated_by,
            Actor::MachineUser(MachineUserActor {
                actor_type: "machineUser".into(),
                machine_user_id: "mu_01JS0000000000000000000000".into(),
            })
        );
        // `markedAsSpamBy` is a nullable actor: `null` is `None`.
        assert_eq!(created.customer.marked_as_spam_by, None);
        let printed = serde_json::to_value(&event).unwrap();
        assert_eq!(printed["payload"]["customer"], donald);
    }
    let mut spam = customer("c_01JS0000000000000000000000", "Donald Duck");
    spam["markedAsSpamAt"] = json!("2026-04-21T09:30:00.000Z");
    spam["markedAsSpamBy"] = json!({"actorType": "user", "userId": "u_02"});
    let robot = json!({"actorType": "robot", "robotId": "r_7"});
    spam["updatedBy"] = robot.clone();
    let event = created_event(spam.clone());
    let EventPayload::CustomerCreated(created) = &event.payload else {
        panic!("not a customer_created payload: {:?}", event.payload);
    };
    assert_eq!(
        created.customer.marked_as_spam_by,
        Some(InternalActor::User(UserActor {
            actor_type: "user".into(),
            user_id: "u_02".into(),
        }))
    );
    assert_eq!(created.customer.updated_by, Actor::Unknown(robot));
    assert_eq!(
        serde_json::to_value(&event).unwrap()["payload"]["customer"],
        spam
    );
}

#[test]
fn a_customer_group_change_is_typed_by_its_change_type() {
    let root = vendored_schema();
    let group = |name: &str| {
        let mut group = sample(&root, &root["definitions"]["customerGroup"], 0);
        group["name"] = json!(name);
        group
    };
    let event_type = "customer.customer_group_changed";
    let parse = |payload: &Value| {
        let event = deliver(event_type, payload).unwrap();
        assert_eq!(serde_json::to_value(&event).unwrap()["payload"], *payload);
        assert_eq!(event.payload.payload_event_type(), Some(event_type));
        match event.payload {
            EventPayload::CustomerGroupChanged(change) => *change,
            other => panic!("not a customer group change: {other:?}"),
        }
    };
    let updated = json!({
        "eventType": event_type,
        "changeType": "UPDATED",
        "customerGroup": group("Enterprise"),
        "previousCustomerGroup": group("Big ones"),
    });
    let CustomerGroupChangedPayload::Updated(change) = parse(&updated) else {
        panic!("not an update");
    };
    assert_eq!(change.customer_group.name, "Enterprise");
    assert_eq!(change.previous_customer_group.name, "Big ones");
    let removed = json!({
        "eventType": event_type,
        "changeType": "REMOVED",
        "previousCustomerGroup": group("Enterprise"),
    });
    let CustomerGroupChangedPayload::Removed(change) = parse(&removed) else {
        panic!("not a removal");
    };
    assert_eq!(change.previous_customer_group.name, "Enterprise");
    let merged = json!({"eventType": event_type, "changeType": "MERGED", "into": "cuGroup_02"});
    assert_eq!(
        parse(&merged),
        CustomerGroupChangedPayload::Unknown(merged.clone())
    );
}

#[test]
fn bodies_are_bounded_at_five_mebibytes_and_one_byte_more_is_refused() {
    let mut body = created_body();
    body.resize(DEFAULT_MAX_BODY_BYTES, b' ');
    assert!(verify_signed(&body).is_ok(), "exactly the bound passes");
    body.push(b' ');
    assert_eq!(
        verify_signed(&body).unwrap_err(),
        WebhookError::BodyTooLarge {
            limit: DEFAULT_MAX_BODY_BYTES
        }
    );
    let small = webhook().max_body_bytes(10);
    assert_eq!(
        small.verify_at(&[b'x'; 11], &small.sign(&[b'x'; 11]), attempt_time()),
        Err(WebhookError::BodyTooLarge { limit: 10 })
    );
    assert!(matches!(
        small.verify_at(&[b'x'; 10], &small.sign(&[b'x'; 10]), attempt_time()),
        Err(WebhookError::NotJson { .. })
    ));
}

#[test]
fn no_error_holds_the_secret() {
    let body = created_body();
    let errors = [
        webhook().verify_at(&body, "00", attempt_time()),
        webhook().verify_at(&body, &"0".repeat(64), attempt_time()),
        webhook().verify_at(
            &body,
            &webhook().sign(&body),
            attempt_time() + Duration::from_secs(999),
        ),
        verify_signed(SECRET.as_bytes()),
    ];
    for error in errors {
        let error = error.unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(!text.contains(SECRET), "{text}");
    }
    assert!(!format!("{:?}", webhook()).contains(SECRET));
}

// ---- One sample of every event type of the vendored schema -------------------------------

/// A value that fits `schema`: every property, the first branch of a union that is neither
/// null nor Plain's `UNKNOWN` placeholder, the first value of an enum.
fn sample(root: &Value, schema: &Value, depth: usize) -> Value {
    assert!(
        depth < 40,
        "the schema nests too deep for the sample generator"
    );
    if let Some(pointer) = schema.get("$ref").and_then(Value::as_str) {
        let target = root.pointer(&pointer[1..]).expect("a $ref that resolves");
        return sample(root, target, depth + 1);
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values[0].clone();
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        // Constraints on one string (an email address): any string of that shape.
        if parts.iter().any(|p| p.get("pattern").is_some()) {
            return json!("donald@example.com");
        }
        return sample(root, &parts[0], depth + 1);
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        let branch = branches
            .iter()
            .find(|b| {
                b.get("type").and_then(Value::as_str) != Some("null") && !is_placeholder(root, b)
            })
            .unwrap_or(&branches[0]);
        return sample(root, branch, depth + 1);
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ => "null",
    };
    match kind {
        "object" => {
            let mut object = serde_json::Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    object.insert(name.clone(), sample(root, property, depth + 1));
                }
            }
            Value::Object(object)
        }
        "array" => match schema.get("items") {
            Some(items) => json!([sample(root, items, depth + 1)]),
            None => json!([]),
        },
        "string" => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => json!("2026-04-21T10:00:00.000Z"),
            _ => json!("c_01JS0000000000000000000000"),
        },
        "integer" => json!(1),
        "number" => json!(1.5),
        "boolean" => json!(true),
        _ => Value::Null,
    }
}

/// Whether `branch` is Plain's placeholder for a shape it does not name: an object whose
/// discriminator is the `const` `UNKNOWN`.
fn is_placeholder(root: &Value, branch: &Value) -> bool {
    let branch = match branch.get("$ref").and_then(Value::as_str) {
        Some(pointer) => root.pointer(&pointer[1..]).expect("a $ref that resolves"),
        None => branch,
    };
    branch
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| {
            p.values()
                .any(|v| v.get("const") == Some(&json!("UNKNOWN")))
        })
}

/// The payload schema of each event type: the `payload` branch whose `eventType` names it.
fn payload_schema<'a>(root: &'a Value, event_type: &str) -> &'a Value {
    let branches = root["properties"]["payload"]["anyOf"].as_array().unwrap();
    let mut found = None;
    for branch in branches {
        let target = root
            .pointer(&branch["$ref"].as_str().unwrap()[1..])
            .unwrap();
        let candidates: Vec<&Value> = match target.get("anyOf").and_then(Value::as_array) {
            Some(union) => union.iter().collect(),
            None => vec![target],
        };
        for candidate in candidates {
            if candidate.pointer("/properties/eventType/const") == Some(&json!(event_type)) {
                found = Some(candidate);
            }
        }
    }
    found.unwrap_or_else(|| panic!("no payload in the schema for {event_type}"))
}

fn vendored_schema() -> Value {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("graphql/webhook-schema.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_sample_of_every_event_type_in_the_schema_parses_to_its_variant() {
    let root = vendored_schema();
    let types: Vec<&str> = root["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        types, EVENT_TYPES,
        "the types were generated from this schema"
    );
    assert_eq!(types.len(), 30);
    for event_type in types {
        let payload = sample(&root, payload_schema(&root, event_type), 0);
        let event = deliver(event_type, &payload).unwrap_or_else(|e| panic!("{event_type}: {e}"));
        assert_eq!(event.event_type.as_str(), event_type);
        assert!(
            !matches!(event.event_type, EventType::Unknown(_)),
            "{event_type} is a known type"
        );
        assert!(
            !matches!(event.payload, EventPayload::Unknown { .. }),
            "{event_type} has its own payload variant"
        );
        assert_eq!(event.payload.event_type(), event.event_type);
        assert_eq!(event.payload.payload_event_type(), Some(event_type));
        // Every union and enum of the sample has a known value, so none is kept unknown.
        let printed = format!("{:?}", event.payload);
        assert!(!printed.contains("Unknown("), "{event_type}: {printed}");
        // Written back, the payload is the JSON it was read from: nothing dropped or changed.
        assert_eq!(
            serde_json::to_value(&event.payload).unwrap(),
            payload,
            "{event_type}"
        );
    }
}

// ---- Properties ---------------------------------------------------------------------------

proptest! {
    #[test]
    fn a_signed_body_verifies_and_a_flipped_one_does_not(
        body in proptest::collection::vec(any::<u8>(), 1..2048),
        secret in "[ -~]{1,64}",
        flip in any::<prop::sample::Index>(),
    ) {
        let webhook = Webhook::new(WebhookSecret::new(secret));
        let signature = webhook.sign(&body);
        prop_assert_eq!(signature.len(), 64);
        prop_assert!(webhook.check_signature(&body, &signature).is_ok());
        let mut flipped = body.clone();
        flipped[flip.index(body.len())] ^= 0x80;
        prop_assert_eq!(
            webhook.check_signature(&flipped, &signature),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn signed_arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = verify_signed(&body);
    }

    #[test]
    fn signed_mutations_of_a_real_body_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = created_body();
        for (at, byte) in edits {
            let at = at.index(body.len());
            body[at] = byte;
        }
        let _ = verify_signed(&body);
    }

    #[test]
    fn any_actor_parses_to_its_kind_and_writes_back_the_same_json(
        kind in 0..ACTOR_KINDS.len(),
        id in "\\PC{0,40}",
        unknown_type in "[a-zA-Z]{1,12}",
    ) {
        let mut raw = actor_json(kind, &id);
        let actor: Actor = serde_json::from_str(&raw.to_string()).unwrap();
        prop_assert_eq!(kind_and_id(&actor), typed_as(kind, &id));
        prop_assert_eq!(serde_json::to_value(&actor).unwrap(), raw.clone());
        // Any other type is kept as it came.
        prop_assume!(ACTOR_KINDS.iter().all(|(known, _)| *known != unknown_type));
        raw["actorType"] = json!(unknown_type);
        let actor: Actor = serde_json::from_value(raw.clone()).unwrap();
        prop_assert_eq!(&actor, &Actor::Unknown(raw.clone()));
        prop_assert_eq!(serde_json::to_value(&actor).unwrap(), raw);
    }

    #[test]
    fn arbitrary_signatures_never_panic(signature in "\\PC{0,80}") {
        let _ = webhook().verify_at(&created_body(), &signature, attempt_time());
    }
}

// ---- The command line ---------------------------------------------------------------------

#[cfg(feature = "cli")]
mod cli {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Output, Stdio};

    fn plain_verify(body: &[u8], signature: &str, secret: Option<&str>) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_plain"));
        command
            .args(["webhooks", "verify", "--signature", signature])
            .env_remove("PLAIN_WEBHOOK_SECRET")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(secret) = secret {
            command.env("PLAIN_WEBHOOK_SECRET", secret);
        }
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // The command may stop reading at its bound; a broken pipe then is expected.
        let _ = stdin.write_all(body);
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    /// A delivery made now, so that the command's own clock accepts it.
    fn fresh_body() -> Vec<u8> {
        let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let payload = json!({
            "eventType": "customer.customer_deleted",
            "previousCustomer": customer("c_01JS0000000000000000000000", "Donald Duck"),
        });
        plain_body(&envelope(
            "customer.customer_deleted",
            payload,
            SCHEMA_VERSION,
            &now,
        ))
        .unwrap()
    }

    #[test]
    fn a_good_delivery_prints_its_event_and_exits_0() {
        let body = fresh_body();
        let output = plain_verify(&body, &webhook().sign(&body), Some(SECRET));
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(printed["type"], "customer.customer_deleted");
        assert_eq!(printed["id"], "pEv_01JS0000000000000000000000");
        assert_eq!(
            printed["payload"]["previousCustomer"]["fullName"],
            "Donald Duck"
        );
        assert!(output.stderr.is_empty());
    }

    #[test]
    fn a_refused_delivery_says_which_check_failed_and_exits_9() {
        let body = fresh_body();
        let signature = webhook().sign(&body);
        let mut tampered = body.clone();
        tampered[10] ^= 1;
        let cases: [(&[u8], &str, &str); 4] = [
            (&tampered, &signature, "signature does not match"),
            (&body, "xyz", "not a hex HMAC-SHA256"),
            (
                &created_body(),
                &webhook().sign(&created_body()),
                "old, more than the 300 s",
            ),
            (b"", &signature, "body is empty"),
        ];
        for (body, signature, says) in cases {
            let output = plain_verify(body, signature, Some(SECRET));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(9), "{stderr}");
            assert!(stderr.contains(says), "{stderr}");
            assert!(!stderr.contains(SECRET), "{stderr}");
            assert!(output.stdout.is_empty());
        }
    }

    #[test]
    fn the_tolerance_is_an_option() {
        let body = created_body(); // its attempt is long past
        let output = plain_verify(&body, &webhook().sign(&body), Some(SECRET));
        assert_eq!(output.status.code(), Some(9));
        let mut command = Command::new(env!("CARGO_BIN_EXE_plain"));
        let signature = webhook().sign(&body);
        let mut child = command
            .args(["webhooks", "verify", "--signature", &signature])
            .args(["--tolerance", "100000000"])
            .env("PLAIN_WEBHOOK_SECRET", SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&body).unwrap();
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }

    #[test]
    fn one_byte_past_the_body_bound_is_refused_unread() {
        let mut body = fresh_body();
        body.resize(DEFAULT_MAX_BODY_BYTES + 1, b' ');
        let output = plain_verify(&body, &webhook().sign(&body), Some(SECRET));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(9), "{stderr}");
        assert!(stderr.contains("longer than 5242880 bytes"), "{stderr}");
        body.truncate(DEFAULT_MAX_BODY_BYTES);
        let output = plain_verify(&body, &webhook().sign(&body), Some(SECRET));
        assert_eq!(output.status.code(), Some(0), "exactly the bound passes");
    }

    #[test]
    fn without_a_secret_it_exits_3() {
        let body = fresh_body();
        let output = plain_verify(&body, &webhook().sign(&body), None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(
            stderr.contains("PLAIN_WEBHOOK_SECRET is not set"),
            "{stderr}"
        );
    }
}

#[test]
fn a_payload_written_before_the_type_is_typed_all_the_same() {
    let value: Value = serde_json::from_slice(&created_body()).unwrap();
    // Plain writes the type first; a body with the payload first is typed after it is read.
    let body = format!(
        r#"{{"payload":{},"type":{},"id":{},"timestamp":{},"workspaceId":{},"webhookMetadata":{}}}"#,
        value["payload"],
        value["type"],
        value["id"],
        value["timestamp"],
        value["workspaceId"],
        value["webhookMetadata"]
    );
    let event = verify_signed(body.as_bytes()).unwrap();
    assert!(matches!(event.payload, EventPayload::CustomerCreated(_)));
    let broken = body.replace(r#""fullName":"Donald Duck""#, r#""fullName":7"#);
    assert_ne!(broken, body);
    assert!(matches!(
        verify_signed(broken.as_bytes()),
        Err(WebhookError::NotPlainWebhook { .. })
    ));
}
