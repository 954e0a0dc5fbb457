//! Micro-benchmarks of the work the client does around each request: building the body from an
//! input, reading an input line as the command line does, and decoding Plain's answer.
//!
//! `cargo bench --bench codec`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use plain_client::{
    decode_upsert_customer, upsert_customer_body, upsert_customer_request, CustomerIdentifier,
    EmailAddress, OnCreate, OnUpdate, ResponseMeta, UpsertCustomerInput,
};

/// Plain's documented answer to its recipe's upsert.
const RECIPE_ANSWER: &str = include_str!("../tests/fixtures/recipe_upsert_response.json");

/// An answer with every field the operation selects, as the local server gives it.
const FULL_ANSWER: &str = r#"{"data":{"upsertCustomer":{"result":"CREATED","customer":{"id":"c_01JD4Q2V6Y3M8N5P7R9S1T3V5X","externalId":"crm-000042","shortName":"Donald","fullName":"Donald Fauntleroy Duck","email":{"email":"donald@example.com","isVerified":true,"verifiedAt":{"iso8601":"2026-11-23T10:00:00.000Z"}},"status":"IDLE","createdAt":{"iso8601":"2026-11-23T10:00:00.000Z"},"updatedAt":{"iso8601":"2026-11-23T10:00:00.000Z"}},"error":null}}}"#;

/// A line of a JSON Lines file for `plain sync-customers`.
const INPUT_LINE: &str = r#"{"identifier":{"emailAddress":"donald@example.com"},"onCreate":{"fullName":"Donald Fauntleroy Duck","shortName":"Donald","externalId":"crm-000042","email":{"email":"donald@example.com","isVerified":true}},"onUpdate":{"fullName":{"value":"Donald Fauntleroy Duck"},"shortName":{"value":"Donald"}}}"#;

fn input() -> UpsertCustomerInput {
    UpsertCustomerInput::new(
        CustomerIdentifier::email("donald@example.com"),
        OnCreate::new(
            "Donald Fauntleroy Duck",
            EmailAddress::verified("donald@example.com"),
        )
        .short_name("Donald")
        .external_id("crm-000042"),
    )
    .on_update(
        OnUpdate::new()
            .full_name("Donald Fauntleroy Duck")
            .short_name("Donald"),
    )
}

fn request_body(c: &mut Criterion) {
    let input = input();
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Elements(1));
    group.bench_function("build body", |b| {
        b.iter_batched(
            || input.clone(),
            |input| upsert_customer_body(black_box(input)),
            BatchSize::SmallInput,
        )
    });
    // The same bytes, with the document escaped again for every request.
    group.bench_function("serialize the QueryBody", |b| {
        b.iter_batched(
            || input.clone(),
            |input| serde_json::to_vec(&upsert_customer_request(black_box(input))),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("parse input line", |b| {
        b.iter(|| UpsertCustomerInput::from_json(black_box(INPUT_LINE)))
    });
    group.finish();
}

fn response(c: &mut Criterion) {
    let meta = ResponseMeta::default();
    let mut group = c.benchmark_group("response");
    group.throughput(Throughput::Elements(1));
    for (name, answer) in [
        ("decode recipe answer", RECIPE_ANSWER),
        ("decode full answer", FULL_ANSWER),
    ] {
        let upserted = decode_upsert_customer(200, &meta, answer.as_bytes());
        assert!(upserted.is_ok(), "{name}: {upserted:?}");
        group.bench_function(name, |b| {
            b.iter(|| decode_upsert_customer(200, &meta, black_box(answer.as_bytes())))
        });
    }
    group.finish();
}

criterion_group!(benches, request_body, response);
criterion_main!(benches);
