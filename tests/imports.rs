//! `importCustomers` end to end: the request it sends, the local server's counts, its
//! idempotence, the bound of 25, tenants, and each scripted fault as the client sees it.

mod common;

use std::time::Duration;

use graphql_client::GraphQLQuery;
use plain_client::operations::import_customers::{self, ImportCustomers, ImportCustomersInput};
use plain_client::testing::{ImportFault, LocalServer, ScriptedAnswer};
use plain_client::{
    CustomerIdentifier, EmailAddress, Error, ImportCustomer, ImportTenant, MutationError,
    MutationErrorType, OnCreate, TenantIdentifier, UpsertCustomerInput, UpsertResult,
};
use serde_json::json;

/// A client that sends every request once, so that the requests the server logs are the
/// calls made.
use common::once_client;

/// Customers `crm-{from}` to `crm-{to - 1}`, each with an email address.
fn batch(from: usize, to: usize) -> Vec<ImportCustomer> {
    (from..to)
        .map(|i| {
            ImportCustomer::new(format!("crm-{i}"), format!("Customer {i}"))
                .email(format!("customer{i}@example.com"))
        })
        .collect()
}

/// The counts of an import, as a tuple.
fn counts(imported: &plain_client::Imported) -> (u32, u32, u32) {
    (imported.added, imported.updated, imported.skipped)
}

/// The `MutationError` of a refused call.
fn rejected<T: std::fmt::Debug>(result: Result<T, Error>) -> MutationError {
    match result {
        Err(Error::MutationRejected { error, .. }) => error,
        other => panic!("expected a mutation error, got {other:?}"),
    }
}

/// The external ids of the server's customers, in order.
fn external_ids(server: &LocalServer) -> Vec<String> {
    server
        .customers()
        .iter()
        .map(|c| c.external_id.clone().unwrap_or_default())
        .collect()
}

#[test]
fn the_request_sends_the_customers_as_plain_documents_them() {
    let input = ImportCustomersInput::new([
        ImportCustomer::new("crm-1", "Ada Lovelace")
            .short_name("Ada")
            .email("ada@example.com")
            .created_at("2024-01-31T09:00:00.000Z")
            .tenants([
                ImportTenant::new("acme", "Acme Inc.").url("https://acme.example"),
                ImportTenant::new("globex", "Globex"),
            ]),
        ImportCustomer::new("crm-2", "Grace Hopper"),
    ])
    .unwrap();
    let body = ImportCustomers::build_query(import_customers::Variables { input });
    let path = format!(
        "{}/graphql/importCustomers.graphql",
        env!("CARGO_MANIFEST_DIR")
    );
    assert_eq!(body.query, std::fs::read_to_string(path).unwrap());
    insta::assert_json_snapshot!("request_importCustomers", body, {
        ".query" => "[graphql/importCustomers.graphql]",
    });
}

#[tokio::test]
async fn the_client_sends_that_body_and_reads_the_request_id() {
    let server = LocalServer::start().await.unwrap();
    let customers = batch(0, 2);
    let expected = ImportCustomers::build_query(import_customers::Variables {
        input: ImportCustomersInput::new(customers.clone()).unwrap(),
    });
    let imported = once_client(&server)
        .import_customers(customers)
        .await
        .unwrap();
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, serde_json::to_value(&expected).unwrap());
    assert_eq!(
        imported.request_id.as_deref(),
        Some(sent[0].request_id.as_str())
    );
    assert_eq!(imported.total(), 2);
}

#[tokio::test]
async fn new_customers_are_added_and_known_ones_updated() {
    let server = LocalServer::start().await.unwrap();
    let client = once_client(&server);
    let first = client.import_customers(batch(0, 3)).await.unwrap();
    assert_eq!(counts(&first), (3, 0, 0));
    let mut second = batch(2, 5);
    second[0] = ImportCustomer::new("crm-2", "Renamed").short_name("R");
    let imported = client.import_customers(second).await.unwrap();
    assert_eq!(counts(&imported), (2, 1, 0));
    assert_eq!(
        external_ids(&server),
        ["crm-0", "crm-1", "crm-2", "crm-3", "crm-4"]
    );
    let renamed = client
        .customer_by_external_id("crm-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.full_name, "Renamed");
    assert_eq!(renamed.short_name.as_deref(), Some("R"));
    // Left out, the email address is kept; imported, it is unverified.
    assert_eq!(renamed.email.email, "customer2@example.com");
    assert!(!renamed.email.is_verified);
}

#[tokio::test]
async fn the_same_batch_twice_updates_and_adds_no_one_the_second_time() {
    let server = LocalServer::start().await.unwrap();
    let client = once_client(&server);
    let customers = batch(0, 25);
    let first = client.import_customers(customers.clone()).await.unwrap();
    assert_eq!(counts(&first), (25, 0, 0));
    let ids: Vec<String> = server.customers().into_iter().map(|c| c.id).collect();
    let second = client.import_customers(customers).await.unwrap();
    assert_eq!(counts(&second), (0, 25, 0));
    let again: Vec<String> = server.customers().into_iter().map(|c| c.id).collect();
    assert_eq!(again, ids);
}

#[tokio::test]
async fn more_than_25_or_none_are_refused_before_sending() {
    let server = LocalServer::start().await.unwrap();
    let client = once_client(&server);
    let error = client.import_customers(batch(0, 26)).await.unwrap_err();
    let Error::InvalidInput { message } = &error else {
        panic!("expected invalid input, got {error:?}");
    };
    assert!(
        message.contains("at most 25") && message.contains("26"),
        "{message}"
    );
    let error = client.import_customers(Vec::new()).await.unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    assert!(server.requests().is_empty());
    assert!(server.customers().is_empty());
}

#[tokio::test]
async fn the_server_refuses_a_batch_over_25_as_plain_refuses_invalid_input() {
    let server = LocalServer::start().await.unwrap();
    let customers: Vec<_> = (0..26)
        .map(|i| json!({"externalId": format!("crm-{i}"), "fullName": "A", "tenants": []}))
        .collect();
    // Past the client's own check, as another client would send it.
    let input: ImportCustomersInput =
        serde_json::from_value(json!({"customers": customers})).unwrap();
    let data = once_client(&server)
        .execute::<ImportCustomers>(import_customers::Variables { input })
        .await
        .unwrap();
    let error = data.import_customers.error.unwrap();
    assert_eq!(error.code, "input_validation");
    assert_eq!(error.type_, MutationErrorType::Validation);
    assert_eq!(error.fields[0].field, "customers");
    assert!(error.fields[0].message.contains("At most 25"), "{error:?}");
    assert!(data.import_customers.result.is_none());
    assert!(server.customers().is_empty());
}

#[tokio::test]
async fn an_invalid_customer_refuses_the_whole_batch_naming_each_fault() {
    let server = LocalServer::start().await.unwrap();
    let client = once_client(&server);
    let mut customers = batch(0, 3);
    customers[1] = ImportCustomer::new("crm-1", " ").email("not an address");
    customers[2] = customers[2]
        .clone()
        .created_at("yesterday")
        .tenant(ImportTenant::new("acme", ""));
    let error = rejected(client.import_customers(customers).await);
    assert_eq!(error.code, "input_validation");
    let fields: Vec<&str> = error.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "customers.1.fullName",
            "customers.1.email",
            "customers.2.createdAt",
            "customers.2.tenants.0.name",
        ]
    );
    assert!(server.customers().is_empty());
    assert!(server.tenants().is_empty());
}

#[tokio::test]
async fn a_taken_email_or_a_new_customer_without_one_is_skipped() {
    let server = LocalServer::start().await.unwrap();
    let client = once_client(&server);
    client
        .upsert_customer(UpsertCustomerInput::new(
            CustomerIdentifier::email("taken@example.com"),
            OnCreate::new("Taken", EmailAddress::verified("taken@example.com")),
        ))
        .await
        .unwrap();
    let imported = client
        .import_customers(vec![
            ImportCustomer::new("crm-1", "Ada").email("TAKEN@example.com"),
            ImportCustomer::new("crm-2", "Grace"),
            ImportCustomer::new("crm-3", "Edsger").email("edsger@example.com"),
        ])
        .await
        .unwrap();
    assert_eq!(counts(&imported), (1, 0, 2));
    assert_eq!(external_ids(&server), ["", "crm-3"]);
    // An update to a taken address is skipped too, and the customer is left as it was.
    let imported = client
        .import_customers(vec![
            ImportCustomer::new("crm-3", "Renamed").email("taken@example.com")
        ])
        .await
        .unwrap();
    assert_eq!(counts(&imported), (0, 0, 1));
    assert_eq!(server.customers()[1].full_name, "Edsger");
}

#[tokio::test]
async fn tenants_are_stored_once_by_external_id_and_customers_join_them() {
    let server = LocalServer::start().await.unwrap();
    let client = once_client(&server);
    let acme = || ImportTenant::new("acme", "Acme Inc.").url("https://acme.example");
    let customers = vec![
        ImportCustomer::new("crm-1", "Ada")
            .email("ada@example.com")
            .tenant(acme()),
        ImportCustomer::new("crm-2", "Grace")
            .email("grace@example.com")
            .tenants([acme(), ImportTenant::new("globex", "Globex")]),
    ];
    client.import_customers(customers).await.unwrap();
    let tenants = server.tenants();
    let names: Vec<_> = tenants
        .iter()
        .map(|t| (t.external_id.as_str(), t.name.as_str()))
        .collect();
    assert_eq!(names, [("acme", "Acme Inc."), ("globex", "Globex")]);
    assert!(tenants.iter().all(|t| t.id.starts_with("te_")));
    assert_eq!(tenants[0].url.as_deref(), Some("https://acme.example"));
    let customers = server.customers();
    assert_eq!(customers[0].tenant_ids, [tenants[0].id.clone()]);
    assert_eq!(
        customers[1].tenant_ids,
        [tenants[0].id.clone(), tenants[1].id.clone()]
    );

    // Renamed by a later import, without its URL: the name changes, the URL stays, and a
    // customer keeps the tenants the import does not name.
    let imported = client
        .import_customers(vec![ImportCustomer::new("crm-2", "Grace")
            .email("grace@example.com")
            .tenant(ImportTenant::new("globex", "Globex Corporation"))])
        .await
        .unwrap();
    assert_eq!(counts(&imported), (0, 1, 0));
    let tenants = server.tenants();
    assert_eq!(tenants.len(), 2);
    assert_eq!(tenants[1].name, "Globex Corporation");
    assert_eq!(tenants[0].url.as_deref(), Some("https://acme.example"));
    assert_eq!(server.customers()[1].tenant_ids.len(), 2);

    // `upsertCustomer`'s onCreate names them by external id or id.
    let upserted = client
        .upsert_customer(UpsertCustomerInput::new(
            CustomerIdentifier::email("edsger@example.com"),
            OnCreate::new("Edsger", EmailAddress::unverified("edsger@example.com")).tenants([
                TenantIdentifier::external_id("globex"),
                TenantIdentifier::id(tenants[0].id.clone()),
            ]),
        ))
        .await
        .unwrap();
    assert_eq!(upserted.result, UpsertResult::Created);
    assert_eq!(
        server.customers()[2].tenant_ids,
        [tenants[1].id.clone(), tenants[0].id.clone()]
    );
    let error = rejected(
        client
            .upsert_customer(UpsertCustomerInput::new(
                CustomerIdentifier::email("alan@example.com"),
                OnCreate::new("Alan", EmailAddress::unverified("alan@example.com"))
                    .tenants([TenantIdentifier::external_id("initech")]),
            ))
            .await,
    );
    assert_eq!(error.code, "tenant_not_found");
    assert_eq!(error.fields[0].field, "tenantIdentifiers");
    assert_eq!(server.customers().len(), 3);
}

#[tokio::test]
async fn the_third_request_skips_its_last_customer_for_real() {
    let server = LocalServer::builder()
        .import_fault(3, ImportFault::skip_last(1))
        .start()
        .await
        .unwrap();
    let client = once_client(&server);
    assert_eq!(
        counts(&client.import_customers(batch(0, 2)).await.unwrap()),
        (2, 0, 0)
    );
    assert_eq!(
        counts(&client.import_customers(batch(2, 4)).await.unwrap()),
        (2, 0, 0)
    );
    let third = client.import_customers(batch(4, 7)).await.unwrap();
    assert_eq!(counts(&third), (2, 0, 1));
    assert!(!external_ids(&server).contains(&"crm-6".to_owned()));
    // Sent again, the skipped customer is added.
    let again = client.import_customers(batch(4, 7)).await.unwrap();
    assert_eq!(counts(&again), (1, 2, 0));
    assert_eq!(server.customers().len(), 7);
    assert_eq!(server.stats().faults, 1);
}

#[tokio::test]
async fn counts_that_do_not_add_up_reach_the_client_as_sent() {
    let server = LocalServer::start().await.unwrap();
    server.script_import(1, ImportFault::counts(1, 0, 0));
    let imported = once_client(&server)
        .import_customers(batch(0, 3))
        .await
        .unwrap();
    assert_eq!(counts(&imported), (1, 0, 0));
    assert_ne!(imported.total(), 3);
    // The batch was applied all the same.
    assert_eq!(server.customers().len(), 3);
}

/// The error of the next import, sent once, which `fault` answers; nothing was imported.
async fn failed_once(server: &LocalServer, fault: ImportFault) -> Error {
    server.script_import(1, fault);
    let result = once_client(server).import_customers(batch(0, 2)).await;
    assert!(server.customers().is_empty());
    result.unwrap_err()
}

#[tokio::test]
async fn a_mutation_error_applies_nothing_and_only_an_internal_one_is_retried() {
    let server = LocalServer::start().await.unwrap();
    let error = failed_once(&server, ImportFault::validation_error()).await;
    assert!(!error.is_retryable(), "{error}");
    let refusal = error.mutation_error().unwrap();
    assert_eq!(refusal.type_, MutationErrorType::Validation);

    let error = failed_once(&server, ImportFault::internal_error()).await;
    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.mutation_error().unwrap().code, "internal");

    // With retries, the second attempt is served.
    server.script_import(1, ImportFault::internal_error());
    let client = retrying_client(&server);
    let imported = client.import_customers(batch(0, 2)).await.unwrap();
    assert_eq!(counts(&imported), (2, 0, 0));
}

/// A client that retries at once, as many times as the default policy.
fn retrying_client(server: &LocalServer) -> plain_client::PlainClient {
    server
        .client_builder()
        .retry_policy(plain_client::RetryPolicy::default().max_delay(Duration::from_millis(1)))
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_http_500_applies_nothing_and_is_retried() {
    let server = LocalServer::start().await.unwrap();
    let error = failed_once(&server, ImportFault::server_error()).await;
    assert!(
        matches!(error, Error::Server { status: 500, .. }),
        "{error:?}"
    );

    server.script_import(1, ImportFault::server_error());
    let imported = retrying_client(&server)
        .import_customers(batch(0, 2))
        .await
        .unwrap();
    assert_eq!(counts(&imported), (2, 0, 0));
    assert_eq!(server.stats().faults, 2);
}

#[tokio::test]
async fn an_answer_lost_after_the_import_is_retried_and_counts_the_customers_updated() {
    let server = LocalServer::start().await.unwrap();
    server.script_import(
        1,
        ImportFault::after_applying(ScriptedAnswer::drop_connection()),
    );
    let imported = retrying_client(&server)
        .import_customers(batch(0, 3))
        .await
        .unwrap();
    // The first attempt added them; its answer never came; the retry found them.
    assert_eq!(counts(&imported), (0, 3, 0));
    assert_eq!(server.customers().len(), 3);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn faults_wait_for_import_requests_and_leave_other_operations_alone() {
    let server = LocalServer::start().await.unwrap();
    server.script_import(1, ImportFault::instead(ScriptedAnswer::gateway(504)));
    let client = once_client(&server);
    assert_eq!(client.customer_by_external_id("crm-0").await.unwrap(), None);
    let error = client.import_customers(batch(0, 1)).await.unwrap_err();
    assert!(
        matches!(error, Error::Server { status: 504, .. }),
        "{error:?}"
    );
    assert_eq!(
        counts(&client.import_customers(batch(0, 1)).await.unwrap()),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn an_import_fault_numbered_0_is_refused_at_the_start() {
    let error = LocalServer::builder()
        .import_fault(0, ImportFault::normal())
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("from 1"), "{error}");
}
