//! What goes on the wire: the input in Plain's documented JSON shape, and the request body.

mod common;

use common::{fixture, fixture_json};
use insta::assert_snapshot;
use plain_client::{
    upsert_customer_request, ClearableUpdate, CustomerGroupIdentifier, CustomerIdentifier,
    EmailAddress, OnCreate, OnUpdate, TenantIdentifier, Update, UpsertCustomerInput,
};
use serde_json::{json, Value};

fn donald() -> OnCreate {
    OnCreate::new(
        "Donald Duck",
        EmailAddress::unverified("donald@example.com"),
    )
    .short_name("Donald")
}

fn by_email() -> CustomerIdentifier {
    CustomerIdentifier::email("donald@example.com")
}

/// Pretty JSON in the order it is sent (insta's JSON snapshots would sort the keys).
fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap()
}

/// The `variables` of the request body for `input`, as sent.
fn variables(input: UpsertCustomerInput) -> Value {
    serde_json::to_value(upsert_customer_request(input)).unwrap()["variables"].clone()
}

/// The `variables` of the request body for `input`, pretty, in the order they are sent.
fn sent_text(input: UpsertCustomerInput) -> String {
    pretty(&upsert_customer_request(input).variables)
}

/// Reads the `input` of a documented request and checks it serializes back to the same JSON
/// (the callers also compare the text, which checks the field order).
fn round_trip(documented: &Value) -> UpsertCustomerInput {
    let text = documented.to_string();
    let input = UpsertCustomerInput::from_json(&text).unwrap();
    assert_eq!(&serde_json::to_value(&input).unwrap(), documented);
    input
}

#[test]
fn recipe_create_variables_are_sent_as_documented() {
    const FIXTURE: &str = "recipe_create_variables.json";
    let documented = fixture_json(FIXTURE);
    let input = round_trip(&documented["input"]);
    let built = UpsertCustomerInput::new(by_email(), donald());
    assert_eq!(built, input);
    assert_eq!(variables(built.clone()), documented);
    let sent = sent_text(built);
    assert_eq!(format!("{sent}\n"), fixture(FIXTURE));
    assert_snapshot!(sent);
}

#[test]
fn recipe_upsert_variables_are_sent_as_documented() {
    const FIXTURE: &str = "recipe_upsert_variables.json";
    let documented = fixture_json(FIXTURE);
    let input = round_trip(&documented["input"]);
    let built = UpsertCustomerInput::new(
        by_email(),
        OnCreate::new(
            "Donald Fauntleroy Duck",
            EmailAddress::unverified("donald@example.com"),
        )
        .short_name("Fauntleroy"),
    )
    .on_update(
        OnUpdate::new()
            .full_name("Donald Fauntleroy Duck")
            .short_name("Fauntleroy")
            .email(EmailAddress::unverified("donald@example.com")),
    );
    assert_eq!(built, input);
    assert_eq!(variables(built.clone()), documented);
    let sent = sent_text(built);
    assert_eq!(format!("{sent}\n"), fixture(FIXTURE));
    assert_snapshot!(sent);
}

#[test]
fn sdk_page_input_round_trips() {
    let documented = fixture_json("sdk_input.json");
    let input = round_trip(&documented);
    let built = UpsertCustomerInput::new(
        by_email(),
        OnCreate::new("Donald Duck", EmailAddress::verified("donald@example.com"))
            .short_name("Donald")
            .external_id("c_123")
            .customer_groups([CustomerGroupIdentifier::CustomerGroupKey(
                "enterprise".into(),
            )]),
    )
    .on_update(
        OnUpdate::new()
            .full_name("Donald Duck")
            .short_name("Donald")
            .email(EmailAddress::verified("donald@example.com"))
            .external_id("c_123"),
    );
    assert_eq!(built, input);
    assert_eq!(variables(built.clone())["input"], documented);
    let sent = sent_text(built);
    assert_eq!(
        format!("{sent}\n"),
        format!(
            "{{\n  \"input\": {}\n}}\n",
            fixture("sdk_input.json").trim_end().replace('\n', "\n  ")
        )
    );
    assert_snapshot!(sent);
}

#[test]
fn on_update_keep_set_and_clear_for_every_field() {
    let base = || UpsertCustomerInput::new(by_email(), donald());
    let cases = [
        ("keep everything", OnUpdate::new()),
        ("set fullName", OnUpdate::new().full_name("Scrooge McDuck")),
        ("set shortName", OnUpdate::new().short_name("Scrooge")),
        ("clear shortName", OnUpdate::new().clear_short_name()),
        (
            "set email",
            OnUpdate::new().email(EmailAddress::verified("scrooge@example.com")),
        ),
        ("set externalId", OnUpdate::new().external_id("u_42")),
        ("clear externalId", OnUpdate::new().clear_external_id()),
    ];
    let on_updates: Vec<(&str, OnUpdate)> = cases
        .into_iter()
        .map(|(name, on_update)| {
            let input = base().on_update(on_update);
            // Each one reads back as itself.
            let text = serde_json::to_string(&input).unwrap();
            let read = UpsertCustomerInput::from_json(&text).unwrap();
            assert_eq!(read, input);
            (name, input.on_update)
        })
        .collect();
    assert_snapshot!(pretty(&on_updates));
}

#[test]
fn changes_mapped_from_data_are_the_same_as_the_setters() {
    // A row of your own, where `None` in a nullable column means "clear it in Plain" and an
    // absent value means "keep".
    let short_name: Option<String> = None;
    let external_id: Option<String> = Some("u_42".to_owned());
    let full_name: Option<String> = None;
    let mapped = OnUpdate::new()
        .with_short_name(ClearableUpdate::set_or_clear(short_name))
        .with_external_id(ClearableUpdate::set_or_clear(external_id))
        .with_full_name(Update::from(full_name))
        .with_email(Update::Set(EmailAddress::verified("scrooge@example.com")));
    let by_hand = OnUpdate::new()
        .clear_short_name()
        .external_id("u_42")
        .email(EmailAddress::verified("scrooge@example.com"));
    assert_eq!(mapped, by_hand);
    assert_eq!(
        serde_json::to_value(&mapped).unwrap(),
        json!({
            "shortName": {"value": null},
            "externalId": {"value": "u_42"},
            "email": {"email": "scrooge@example.com", "isVerified": true}
        })
    );
    assert_eq!(
        TenantIdentifier::external_id("t_1"),
        TenantIdentifier::ExternalId("t_1".to_owned())
    );
    assert_eq!(
        CustomerGroupIdentifier::key("vip"),
        CustomerGroupIdentifier::CustomerGroupKey("vip".to_owned())
    );
}

#[test]
fn keep_set_and_clear_are_distinct_values() {
    let clear = UpsertCustomerInput::from_json(
        r#"{"identifier":{"externalId":"u_1"},"onCreate":{"fullName":"A","email":{"email":"a@example.com","isVerified":false}},"onUpdate":{"shortName":{"value":null},"externalId":{"value":"u_2"}}}"#,
    )
    .unwrap();
    assert_eq!(clear.on_update.short_name, ClearableUpdate::Clear);
    assert_eq!(
        clear.on_update.external_id,
        ClearableUpdate::Set("u_2".into())
    );
    assert_eq!(clear.on_update.full_name, Update::Keep);
    assert_eq!(clear.on_update.email, Update::Keep);
}

#[test]
fn identifiers_by_external_id_and_customer_id() {
    let sent: Vec<Value> = [
        CustomerIdentifier::external_id("u_42"),
        CustomerIdentifier::customer_id("c_01H3D5NFQCTC41PYXT2BX9MD6A"),
    ]
    .into_iter()
    .map(|id| variables(UpsertCustomerInput::new(id, donald()))["input"]["identifier"].clone())
    .collect();
    assert_eq!(sent[0], json!({"externalId": "u_42"}));
    assert_snapshot!(pretty(&sent));
}

#[test]
fn on_create_with_customer_groups_and_tenants() {
    let on_create = donald()
        .external_id("u_42")
        .customer_groups([
            CustomerGroupIdentifier::CustomerGroupKey("enterprise".into()),
            CustomerGroupIdentifier::CustomerGroupId("cg_01".into()),
            CustomerGroupIdentifier::ExternalId("group-7".into()),
        ])
        .tenants([
            TenantIdentifier::TenantId("te_01".into()),
            TenantIdentifier::ExternalId("acme".into()),
        ]);
    let input = UpsertCustomerInput::new(by_email(), on_create);
    let read = UpsertCustomerInput::from_json(&serde_json::to_string(&input).unwrap()).unwrap();
    assert_eq!(read, input);
    assert_snapshot!(pretty(&input.on_create));
}

#[test]
fn request_body_is_query_variables_and_operation_name() {
    let request = upsert_customer_request(UpsertCustomerInput::new(by_email(), donald()));
    let body = serde_json::to_value(&request).unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(body["operationName"], "upsertCustomer");
    assert_eq!(
        body["query"].as_str().unwrap(),
        fixture("../../graphql/upsertCustomer.graphql")
    );
    // The document is checked above; the snapshot pins the variables, so that a change of
    // selection does not disturb it (the pattern the README recommends to users).
    insta::assert_json_snapshot!(request, {".query" => "[graphql/upsertCustomer.graphql]"});
}

fn rejection(json: &str) -> String {
    match UpsertCustomerInput::from_json(json) {
        Ok(input) => panic!("accepted {json}: {input:?}"),
        Err(e) => e.to_string(),
    }
}

fn with_identifier(identifier: Value) -> String {
    json!({
        "identifier": identifier,
        "onCreate": {"fullName": "A", "email": {"email": "a@example.com", "isVerified": false}},
        "onUpdate": {}
    })
    .to_string()
}

#[test]
fn identifier_with_zero_or_several_fields_is_rejected() {
    let none = rejection(&with_identifier(json!({})));
    assert!(none.contains("identifier"), "{none}");
    assert!(none.contains("has none"), "{none}");
    let two = rejection(&with_identifier(
        json!({"emailAddress": "a@example.com", "externalId": "u_1"}),
    ));
    assert!(two.contains("`emailAddress` and `externalId`"), "{two}");
    assert!(two.contains("keep one"), "{two}");
    let unknown = rejection(&with_identifier(json!({"email": "a@example.com"})));
    assert!(unknown.contains("unknown field `email`"), "{unknown}");
}

#[test]
fn bad_input_errors_name_the_field_and_the_fix() {
    let cases = [
        (
            r#"{"identifier":{"emailAddress":"a"},"onCreate":{"fullName":"A","email":{"email":"a","isVerified":false}},"onUpdate":{"shortName":null}}"#,
            "onUpdate: `shortName` is null",
        ),
        (
            r#"{"identifier":{"emailAddress":"a"},"onCreate":{"fullName":"A","email":{"email":"a","isVerified":false}},"onUpdate":{"fullName":{"value":null}}}"#,
            "onUpdate.fullName.value",
        ),
        (
            r#"{"identifier":{"emailAddress":"a"},"onCreate":{"email":{"email":"a","isVerified":false}},"onUpdate":{}}"#,
            "missing field `fullName`",
        ),
        (
            r#"{"identifier":{"emailAddress":"a"},"onCreate":{"fullName":"A","email":{"email":"a","isVerified":false}}}"#,
            "missing field `onUpdate`",
        ),
        (
            r#"{"identifier":{"emailAddress":"a"},"onCreate":{"fullName":"A","fullname":"B","email":{"email":"a","isVerified":false}},"onUpdate":{}}"#,
            "onCreate.fullname: unknown field `fullname`",
        ),
        ("not json", "expected ident"),
    ];
    let messages: Vec<String> = cases
        .iter()
        .map(|(json, expected)| {
            let message = rejection(json);
            assert!(message.contains(expected), "{message} lacks {expected}");
            assert!(
                message.starts_with("invalid input, nothing was sent: "),
                "{message}"
            );
            message
        })
        .collect();
    insta::assert_debug_snapshot!(messages);
}

/// The top-level JSON objects of a documentation page, in order.
fn json_blocks(page: &str) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if line != "{" {
            continue;
        }
        let mut text = String::from(line);
        let mut depth = 1i32;
        for line in lines.by_ref() {
            text.push('\n');
            text.push_str(line);
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            if depth == 0 {
                break;
            }
        }
        blocks.push(serde_json::from_str(&text).unwrap());
    }
    blocks
}

#[test]
fn fixtures_are_plains_documented_examples() {
    let Some(recipe) = common::shared("seeds/000_1f1af96c6413e951.txt") else {
        return;
    };
    let recipe = std::fs::read_to_string(recipe).unwrap();
    let blocks = json_blocks(&recipe);
    let names = [
        "recipe_create_variables.json",
        "recipe_create_response.json",
        "recipe_upsert_variables.json",
        "recipe_upsert_response.json",
    ];
    assert_eq!(blocks.len(), names.len());
    for (block, name) in blocks.iter().zip(names) {
        assert_eq!(block, &fixture_json(name), "{name}");
    }
    let sdk =
        std::fs::read_to_string(common::shared("seeds/001_4c0ebdb548f92d9e.txt").unwrap()).unwrap();
    let answer = &sdk[sdk.find("Running the above would console.log:").unwrap()..];
    let start = answer.find('{').unwrap();
    let end = answer.find("\n}\n").unwrap() + 2;
    let documented: Value = serde_json::from_str(&answer[start..end]).unwrap();
    assert_eq!(documented, fixture_json("sdk_response.json"));
}
