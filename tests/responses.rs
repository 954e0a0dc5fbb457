//! Parsing Plain's answers to `upsertCustomer`: documented answers verbatim, every result,
//! mutation errors and values Plain may add later.

mod common;

use common::{fixture, fixture_json};
use insta::assert_debug_snapshot;
use plain_client::{
    decode_upsert_customer, CustomerStatus, Error, MutationErrorType, MutationFieldErrorType,
    ResponseMeta, UpsertResult, UpsertedCustomer,
};
use serde_json::json;

fn meta() -> ResponseMeta {
    ResponseMeta {
        request_id: Some("req-123".to_owned()),
        ..ResponseMeta::default()
    }
}

fn parse(body: &str) -> Result<UpsertedCustomer, Error> {
    decode_upsert_customer(200, &meta(), body.as_bytes())
}

#[test]
fn recipe_create_answer_parses_verbatim() {
    let upserted = parse(&fixture("recipe_create_response.json")).unwrap();
    assert_eq!(upserted.result, UpsertResult::Created);
    assert_eq!(upserted.customer.id, "c_01G8JVJ6A3CX5ZSJ4AVJYC42HW");
    // The recipe selects no timestamps, so there are none.
    assert_eq!(upserted.customer.created_at, None);
    assert_debug_snapshot!(upserted);
}

#[test]
fn recipe_upsert_answer_parses_verbatim() {
    let upserted = parse(&fixture("recipe_upsert_response.json")).unwrap();
    assert_eq!(upserted.result, UpsertResult::Updated);
    assert_eq!(upserted.customer.full_name, "Donald Fauntleroy Duck");
    assert_debug_snapshot!(upserted);
}

#[test]
fn sdk_page_answer_with_many_extra_fields_parses() {
    // The TypeScript SDK page shows the mutation's output as the SDK returns it; on the wire it
    // sits under `data.upsertCustomer`.
    let output = fixture_json("sdk_response.json");
    let body = json!({"data": {"upsertCustomer": output}}).to_string();
    let upserted = parse(&body).unwrap();
    assert_eq!(upserted.customer.external_id.as_deref(), Some("c_123"));
    assert_eq!(
        upserted.customer.created_at.as_ref().map(|t| t.as_str()),
        Some("2023-06-20T19:49:20.236Z")
    );
    assert_eq!(upserted.customer.email.verified_at, None);
    assert_debug_snapshot!(upserted);
}

#[test]
fn noop_answer_with_every_selected_field() {
    let upserted = parse(&fixture("noop_response.json")).unwrap();
    assert_eq!(upserted.result, UpsertResult::Noop);
    assert_eq!(upserted.customer.status, Some(CustomerStatus::Active));
    assert_debug_snapshot!(upserted);
    // What `plain upsert-customer` prints: Plain's field names.
    insta::assert_snapshot!(serde_json::to_string_pretty(&upserted).unwrap());
}

#[test]
fn timestamps_keep_plains_text_and_an_invalid_one_does_not_fail_the_answer() {
    let mut answer = fixture_json("noop_response.json");
    let customer = &mut answer["data"]["upsertCustomer"]["customer"];
    customer["createdAt"]["iso8601"] = json!("2026-02-28T18:02:11.5+01:00");
    customer["updatedAt"]["iso8601"] = json!("sometime in March");
    let upserted = parse(&answer.to_string()).unwrap();
    let created = upserted.customer.created_at.as_ref().unwrap();
    assert_eq!(created.as_str(), "2026-02-28T18:02:11.5+01:00");
    assert_eq!(created.unix_time(), Ok((1_772_298_131, 500_000_000)));
    let updated = upserted.customer.updated_at.as_ref().unwrap();
    assert_eq!(updated.as_str(), "sometime in March");
    assert!(updated.unix_time().is_err());
    let verified = upserted.customer.email.verified_at.as_ref().unwrap();
    assert!(created < verified, "{created} {verified}");
    let written = serde_json::to_value(&upserted).unwrap();
    assert_eq!(
        written["customer"]["createdAt"],
        json!({"iso8601": "2026-02-28T18:02:11.5+01:00"})
    );
    assert_eq!(
        written["customer"]["updatedAt"],
        json!({"iso8601": "sometime in March"})
    );
}

#[test]
fn mutation_error_with_field_errors_is_rejected() {
    let error = parse(&fixture("mutation_error_response.json")).unwrap_err();
    let Error::MutationRejected {
        error: rejected,
        request_id,
    } = &error
    else {
        panic!("expected MutationRejected, got {error:?}");
    };
    assert_eq!(rejected.type_, MutationErrorType::Validation);
    assert_eq!(rejected.code, "input_validation");
    assert_eq!(rejected.fields[0].type_, MutationFieldErrorType::Required);
    assert_eq!(request_id.as_deref(), Some("req-123"));
    assert!(!error.is_retryable());
    assert_debug_snapshot!(error);
    insta::assert_snapshot!(error.to_string());
}

#[test]
fn unknown_enum_values_parse() {
    let upserted = parse(&fixture("unknown_enum_values_response.json")).unwrap();
    assert_eq!(upserted.result, UpsertResult::Unknown("MERGED".to_owned()));
    assert_eq!(
        upserted.customer.status,
        Some(CustomerStatus::Unknown("ARCHIVED".to_owned()))
    );
    // Shown and written exactly as Plain sent them.
    let out = serde_json::to_value(&upserted).unwrap();
    assert_eq!(out["result"], "MERGED");
    assert_eq!(out["customer"]["status"], "ARCHIVED");
    assert_eq!(upserted.result.to_string(), "MERGED");
    assert_eq!(upserted.result.as_str(), "MERGED");
    assert_debug_snapshot!(upserted);
}

#[test]
fn enums_are_hash_and_display_in_plains_spelling() {
    use std::collections::HashMap;
    let mut counts: HashMap<UpsertResult, u32> = HashMap::new();
    for result in [
        UpsertResult::Created,
        UpsertResult::Noop,
        UpsertResult::Created,
    ] {
        *counts.entry(result).or_default() += 1;
    }
    assert_eq!(counts[&UpsertResult::Created], 2);
    let result = UpsertResult::Noop;
    let copy = result.clone();
    assert_eq!(
        (result.to_string(), copy.as_str()),
        ("NOOP".to_owned(), "NOOP")
    );
    assert_eq!(MutationErrorType::Validation.to_string(), "VALIDATION");
    assert_eq!(MutationFieldErrorType::NotFound.as_str(), "NOT_FOUND");
    assert_eq!(CustomerStatus::Idle.to_string(), "IDLE");
    let parsed: UpsertResult = serde_json::from_str("\"UPDATED\"").unwrap();
    assert_eq!(parsed, UpsertResult::Updated);
}

#[test]
fn unknown_mutation_error_types_parse() {
    let error = parse(&fixture("unknown_error_types_response.json")).unwrap_err();
    let Error::MutationRejected {
        error: rejected, ..
    } = &error
    else {
        panic!("expected MutationRejected, got {error:?}");
    };
    assert_eq!(
        rejected.type_,
        MutationErrorType::Unknown("QUOTA".to_owned())
    );
    assert_eq!(
        rejected.fields[0].type_,
        MutationFieldErrorType::Unknown("LIMIT_EXCEEDED".to_owned())
    );
    assert!(!error.is_retryable());
    insta::assert_snapshot!(error.to_string());
}

#[test]
fn internal_mutation_error_is_retryable() {
    let body = json!({"data": {"upsertCustomer": {"result": null, "customer": null, "error": {
        "message": "Internal error", "type": "INTERNAL", "code": "internal", "fields": []
    }}}});
    let error = parse(&body.to_string()).unwrap_err();
    assert!(matches!(error, Error::MutationRejected { .. }), "{error:?}");
    assert!(error.is_retryable());
}

#[test]
fn answer_with_neither_customer_nor_error_is_an_error() {
    for output in [
        json!({"result": null, "customer": null, "error": null}),
        json!({}),
        json!({"result": "CREATED", "customer": null, "error": null}),
    ] {
        let body = json!({"data": {"upsertCustomer": output}}).to_string();
        let error = parse(&body).unwrap_err();
        let Error::Decode { reason, .. } = &error else {
            panic!("expected Decode, got {error:?}");
        };
        assert!(reason.contains("no customer"), "{reason}");
        assert_eq!(error.request_id(), Some("req-123"));
    }
}

#[test]
fn a_missing_required_field_is_a_decode_error_with_an_excerpt() {
    let body = r#"{"data":{"upsertCustomer":{"result":"CREATED","customer":{"id":"c_1"}}}}"#;
    let error = parse(body).unwrap_err();
    let Error::Decode {
        status,
        reason,
        excerpt,
        ..
    } = &error
    else {
        panic!("expected Decode, got {error:?}");
    };
    assert_eq!(*status, 200);
    assert!(reason.contains("missing field"), "{reason}");
    assert_eq!(excerpt, body);
}
