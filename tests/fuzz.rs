//! Hostile input: decoding arbitrary bytes and arbitrary JSON as Plain's answer, and reading
//! arbitrary text as an input, never panics; it always gives a value or an `Error`.
//!
//! The default run tries 256 cases per property (proptest's default). A long run:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --all-features --test fuzz
//! ```

use plain_client::{decode_upsert_customer, Error, ResponseMeta, UpsertCustomerInput};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("CREATED"),
            Just("UPDATED"),
            Just("NOOP"),
            Just("VALIDATION"),
            Just("INTERNAL"),
            Just("REQUIRED"),
            Just("INTERNAL_SERVER_ERROR"),
            Just("c_01G8JVJ6A3CX5ZSJ4AVJYC42HW"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("data"),
            Just("errors"),
            Just("upsertCustomer"),
            Just("result"),
            Just("customer"),
            Just("error"),
            Just("id"),
            Just("fullName"),
            Just("email"),
            Just("isVerified"),
            Just("message"),
            Just("type"),
            Just("code"),
            Just("fields"),
            Just("field"),
            Just("extensions"),
            Just("createdAt"),
            Just("iso8601"),
            Just("status"),
            Just("identifier"),
            Just("emailAddress"),
            Just("onCreate"),
            Just("onUpdate"),
            Just("value"),
            Just("shortName"),
            Just("externalId"),
        ]
        .prop_map(str::to_owned);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop_oneof![keys, ".{0,6}"], inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn meta() -> ResponseMeta {
    ResponseMeta {
        request_id: Some("fuzz".to_owned()),
        ..ResponseMeta::default()
    }
}

fn check(status: u16, body: &[u8]) {
    match decode_upsert_customer(status, &meta(), body) {
        Ok(_) => {
            // A value only ever comes from a 2xx answer.
            assert!((200..300).contains(&status), "{status}");
        }
        Err(error) => {
            // Every error formats, and says where it came from.
            assert!(!error.to_string().is_empty());
            let _ = format!("{error:?}");
            assert_eq!(
                error.request_id(),
                Some("fuzz").filter(|_| error.status().is_some())
            );
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(status in 100u16..600, body in prop::collection::vec(any::<u8>(), 0..512)) {
        check(status, &body);
    }

    #[test]
    fn arbitrary_json_never_panics(status in prop_oneof![Just(200u16), Just(400), Just(401), Just(429), Just(500), 100u16..600], body in any_json()) {
        check(status, body.to_string().as_bytes());
    }

    #[test]
    fn answers_shaped_like_plains_never_panic(output in any_json(), errors in prop::option::of(any_json())) {
        let mut body = json!({"data": {"upsertCustomer": output}});
        if let Some(errors) = errors {
            body["errors"] = errors;
        }
        check(200, body.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_text_as_input_is_a_value_or_invalid_input(text in ".{0,200}") {
        match UpsertCustomerInput::from_json(&text) {
            Ok(input) => {
                let again = serde_json::to_string(&input).unwrap();
                prop_assert_eq!(UpsertCustomerInput::from_json(&again).unwrap(), input);
            }
            Err(Error::InvalidInput { message }) => prop_assert!(!message.is_empty()),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn arbitrary_json_as_input_is_a_value_or_invalid_input(value in any_json()) {
        match UpsertCustomerInput::from_json(&value.to_string()) {
            Ok(input) => {
                let again = serde_json::to_string(&input).unwrap();
                prop_assert_eq!(UpsertCustomerInput::from_json(&again).unwrap(), input);
            }
            Err(Error::InvalidInput { message }) => prop_assert!(!message.is_empty()),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
