//! The customer family and `myWorkspace` end to end: each `PlainClient` method against the
//! local server, the request each operation sends, and the answers as the client parses them.

mod common;

use graphql_client::GraphQLQuery;
use plain_client::operations::{
    add_customer_to_customer_groups::{self, AddCustomerToCustomerGroups},
    customer_by_email::{self, CustomerByEmail},
    customer_by_external_id::{self, CustomerByExternalId},
    customer_by_id::{self, CustomerById},
    customer_group_memberships::{self, CustomerGroupMemberships},
    customer_groups::{self, CustomerGroups},
    customers::{self, Customers, CustomersFilter, CustomersSort},
    delete_customer::{self, DeleteCustomer, DeleteCustomerInput},
    my_workspace::{self, MyWorkspace},
    remove_customer_from_customer_groups::{self, RemoveCustomerFromCustomerGroups},
};
use plain_client::testing::{CustomerGroupSpec, LocalServer, StoredCustomerGroup};
use plain_client::{
    Customer, CustomerGroupIdentifier, CustomerGroupsInput, CustomerIdentifier, EmailAddress,
    Error, MutationError, MutationErrorType, MutationFieldErrorType, OnCreate, OnUpdate,
    PlainClient, UpsertCustomerInput, UpsertResult, Workspace,
};
use serde_json::json;

/// A server holding three customer groups: `vip`, `beta` (external id `crm-beta`) and `free`.
async fn server() -> LocalServer {
    LocalServer::builder()
        .customer_group("vip", "VIP")
        .customer_group_spec(CustomerGroupSpec::new("beta", "Beta testers").external_id("crm-beta"))
        .customer_group("free", "Free tier")
        .start()
        .await
        .unwrap()
}

/// A client that sends every request once: these tests look at single answers.
use common::once_client as client;

fn group(server: &LocalServer, key: &str) -> StoredCustomerGroup {
    server
        .customer_groups()
        .into_iter()
        .find(|g| g.key == key)
        .unwrap_or_else(|| panic!("no group {key}"))
}

fn donald() -> UpsertCustomerInput {
    UpsertCustomerInput::new(
        CustomerIdentifier::email("donald@example.com"),
        OnCreate::new("Donald Duck", EmailAddress::verified("donald@example.com"))
            .short_name("Donald")
            .external_id("u_42"),
    )
}

/// Creates a customer that is in no group: the customer as the lookups find it, with its (no)
/// group memberships, which the upsert does not select.
async fn create(client: &PlainClient, input: UpsertCustomerInput) -> Customer {
    let upserted = client.upsert_customer(input).await.unwrap();
    assert_eq!(upserted.result, UpsertResult::Created);
    let mut customer = upserted.customer;
    assert_eq!(customer.customer_groups, None);
    customer.customer_groups = Some(Vec::new());
    customer
}

/// The `MutationError` of a refused call.
fn rejected<T: std::fmt::Debug>(result: Result<T, Error>) -> MutationError {
    match result {
        Err(Error::MutationRejected { error, request_id }) => {
            assert!(request_id.is_some_and(|id| id.starts_with("local-")));
            error
        }
        other => panic!("expected a mutation error, got {other:?}"),
    }
}

fn key(key: &str) -> CustomerGroupIdentifier {
    CustomerGroupIdentifier::key(key)
}

fn member_of(server: &LocalServer, customer_id: &str) -> Vec<String> {
    let customers = server.customers();
    let customer = customers
        .iter()
        .find(|c| c.id == customer_id)
        .unwrap_or_else(|| panic!("no customer {customer_id}"));
    let groups = server.customer_groups();
    customer
        .customer_group_ids
        .iter()
        .map(|id| groups.iter().find(|g| &g.id == id).unwrap().key.clone())
        .collect()
}

#[tokio::test]
async fn customer_by_id_finds_the_customer_or_none() {
    let server = server().await;
    let client = client(&server);
    let created = create(&client, donald()).await;
    let found = client.customer_by_id(created.id.clone()).await.unwrap();
    assert_eq!(found.as_ref(), Some(&created));
    let missing = client
        .customer_by_id("c_01H3D5NFQCTC41PYXT2BX9MD6A")
        .await
        .unwrap();
    assert_eq!(missing, None);
}

#[tokio::test]
async fn customer_by_email_ignores_case_and_finds_none_for_another_address() {
    let server = server().await;
    let client = client(&server);
    let created = create(&client, donald()).await;
    for address in [
        "donald@example.com",
        "DONALD@Example.COM",
        "Donald@example.com",
    ] {
        let found = client.customer_by_email(address).await.unwrap();
        assert_eq!(found.as_ref(), Some(&created), "{address}");
    }
    assert_eq!(
        client.customer_by_email("daisy@example.com").await.unwrap(),
        None
    );
    // Not a prefix or a domain match.
    assert_eq!(
        client.customer_by_email("donald@example").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn customer_by_external_id_finds_the_customer_or_none() {
    let server = server().await;
    let client = client(&server);
    let created = create(&client, donald()).await;
    let found = client.customer_by_external_id("u_42").await.unwrap();
    assert_eq!(found.as_ref(), Some(&created));
    // External ids are compared exactly.
    assert_eq!(client.customer_by_external_id("U_42").await.unwrap(), None);
    assert_eq!(client.customer_by_external_id("u_7").await.unwrap(), None);
    // Cleared, it finds nothing.
    let cleared = donald().on_update(OnUpdate::new().clear_external_id());
    client.upsert_customer(cleared).await.unwrap();
    assert_eq!(client.customer_by_external_id("u_42").await.unwrap(), None);
}

#[tokio::test]
async fn the_three_lookups_parse_the_same_customer() {
    let server = server().await;
    let client = client(&server);
    let created = create(&client, donald()).await;
    let answers = json!({
        "customer": client.customer_by_id(created.id.clone()).await.unwrap(),
        "customerByEmail": client.customer_by_email("donald@example.com").await.unwrap(),
        "customerByExternalId": client.customer_by_external_id("u_42").await.unwrap(),
        "none": client.customer_by_email("nobody@example.com").await.unwrap(),
    });
    assert_eq!(answers["customer"], answers["customerByEmail"]);
    assert_eq!(answers["customer"], answers["customerByExternalId"]);
    assert_eq!(answers["customer"]["id"], json!(created.id));
    insta::assert_json_snapshot!(answers, {
        ".*.id" => "[customer id]",
        ".**.iso8601" => "[timestamp]",
    });
}

#[tokio::test]
async fn a_deleted_customer_is_gone_and_its_email_and_external_id_are_free_again() {
    let server = server().await;
    let client = client(&server);
    let first = create(&client, donald()).await;
    client.delete_customer(first.id.clone()).await.unwrap();
    assert!(server.customers().is_empty());
    assert_eq!(client.customer_by_id(first.id.clone()).await.unwrap(), None);
    assert_eq!(
        client
            .customer_by_email("donald@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(client.customer_by_external_id("u_42").await.unwrap(), None);
    // The same upsert creates a new customer with a new id.
    let second = create(&client, donald()).await;
    assert_ne!(second.id, first.id);
    assert_eq!(
        client
            .customer_by_email("donald@example.com")
            .await
            .unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        client.customer_by_external_id("u_42").await.unwrap(),
        Some(second)
    );
}

#[tokio::test]
async fn deleting_one_customer_leaves_the_others_findable() {
    let server = server().await;
    let client = client(&server);
    let mut created = Vec::new();
    for name in ["a", "b", "c"] {
        let email = format!("{name}@example.com");
        let input = UpsertCustomerInput::new(
            CustomerIdentifier::email(email.clone()),
            OnCreate::new(name.to_uppercase(), EmailAddress::unverified(email))
                .external_id(format!("u_{name}")),
        );
        created.push(create(&client, input).await);
    }
    client.delete_customer(created[0].id.clone()).await.unwrap();
    for customer in &created[1..] {
        let id = Some(customer.clone());
        assert_eq!(
            client.customer_by_id(customer.id.clone()).await.unwrap(),
            id
        );
        let by_email = client.customer_by_email(customer.email.email.clone());
        assert_eq!(by_email.await.unwrap(), id);
        let external_id = customer.external_id.clone().unwrap();
        assert_eq!(
            client.customer_by_external_id(external_id).await.unwrap(),
            id
        );
    }
    let ids: Vec<String> = server.customers().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, [created[1].id.clone(), created[2].id.clone()]);
}

#[tokio::test]
async fn deleting_an_unknown_customer_is_the_upserts_not_found() {
    let server = server().await;
    let client = client(&server);
    let id = "c_01H3D5NFQCTC41PYXT2BX9MD6A";
    let deleted = rejected(client.delete_customer(id).await);
    let upserted = rejected(
        client
            .upsert_customer(UpsertCustomerInput::new(
                CustomerIdentifier::customer_id(id),
                OnCreate::new("Nobody", EmailAddress::unverified("nobody@example.com")),
            ))
            .await,
    );
    assert_eq!(deleted, upserted);
    assert_eq!(deleted.type_, MutationErrorType::Validation);
    assert_eq!(deleted.code, "not_found");
    insta::assert_json_snapshot!(deleted);
}

#[tokio::test]
async fn adding_to_groups_returns_the_memberships_and_removing_ends_them() {
    let server = server().await;
    let client = client(&server);
    let customer = create(&client, donald()).await;
    let added = client
        .add_customer_to_customer_groups(
            customer.id.clone(),
            [
                key("vip"),
                CustomerGroupIdentifier::external_id("crm-beta"),
                CustomerGroupIdentifier::id(group(&server, "free").id),
            ],
        )
        .await
        .unwrap();
    let keys: Vec<&str> = added
        .iter()
        .map(|m| m.customer_group.key.as_str())
        .collect();
    assert_eq!(keys, ["vip", "beta", "free"]);
    assert!(added.iter().all(|m| m.customer_id == customer.id));
    assert_eq!(added[0].customer_group.id, group(&server, "vip").id);
    assert_eq!(member_of(&server, &customer.id), ["vip", "beta", "free"]);
    insta::assert_json_snapshot!(added, {
        "[].customerId" => "[customer id]",
        "[].customerGroup.id" => "[customer group id]",
        "[].createdAt.iso8601" => "[timestamp]",
    });

    client
        .remove_customer_from_customer_groups(customer.id.clone(), [key("vip"), key("free")])
        .await
        .unwrap();
    assert_eq!(member_of(&server, &customer.id), ["beta"]);
}

#[tokio::test]
async fn adding_an_existing_membership_again_keeps_one() {
    let server = server().await;
    let client = client(&server);
    let customer = create(&client, donald()).await;
    let first = client
        .add_customer_to_customer_groups(customer.id.clone(), [key("vip")])
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // Again, and once more named twice in one call: Plain reports only what it made.
    let again = client
        .add_customer_to_customer_groups(
            customer.id.clone(),
            [
                key("vip"),
                CustomerGroupIdentifier::id(group(&server, "vip").id),
            ],
        )
        .await
        .unwrap();
    assert_eq!(again, []);
    let twice_in_one = client
        .add_customer_to_customer_groups(customer.id.clone(), [key("free"), key("free")])
        .await
        .unwrap();
    assert_eq!(twice_in_one.len(), 1);
    assert_eq!(member_of(&server, &customer.id), ["vip", "free"]);
}

#[tokio::test]
async fn an_unknown_group_is_refused_and_nothing_changes() {
    let server = server().await;
    let client = client(&server);
    let customer = create(&client, donald()).await;
    client
        .add_customer_to_customer_groups(customer.id.clone(), [key("beta")])
        .await
        .unwrap();

    // Adding: the known groups are not added either.
    let error = rejected(
        client
            .add_customer_to_customer_groups(
                customer.id.clone(),
                [
                    key("vip"),
                    key("gold"),
                    CustomerGroupIdentifier::id("cg_nope"),
                ],
            )
            .await,
    );
    assert_eq!(error.type_, MutationErrorType::Validation);
    assert_eq!(error.code, "customer_group_not_found");
    let fields: Vec<(&str, MutationFieldErrorType)> = error
        .fields
        .iter()
        .map(|f| (f.field.as_str(), f.type_.clone()))
        .collect();
    assert_eq!(
        fields,
        [
            ("customerGroupIdentifiers", MutationFieldErrorType::NotFound),
            ("customerGroupIdentifiers", MutationFieldErrorType::NotFound),
        ]
    );
    insta::assert_json_snapshot!(error);
    assert_eq!(member_of(&server, &customer.id), ["beta"]);

    // Removing: the known group is not removed either.
    let error = rejected(
        client
            .remove_customer_from_customer_groups(
                customer.id.clone(),
                [
                    key("beta"),
                    CustomerGroupIdentifier::external_id("crm-gold"),
                ],
            )
            .await,
    );
    assert_eq!(error.code, "customer_group_not_found");
    assert_eq!(member_of(&server, &customer.id), ["beta"]);

    // Creating: no customer is made.
    let input = UpsertCustomerInput::new(
        CustomerIdentifier::email("daisy@example.com"),
        OnCreate::new("Daisy Duck", EmailAddress::unverified("daisy@example.com"))
            .customer_groups([key("vip"), key("gold")]),
    );
    let error = rejected(client.upsert_customer(input).await);
    assert_eq!(error.code, "customer_group_not_found");
    assert_eq!(server.customers().len(), 1);
}

#[tokio::test]
async fn an_unknown_customer_in_add_or_remove_is_not_found() {
    let server = server().await;
    let client = client(&server);
    let id = "c_01H3D5NFQCTC41PYXT2BX9MD6A";
    let added = rejected(
        client
            .add_customer_to_customer_groups(id, [key("vip")])
            .await,
    );
    let removed = rejected(
        client
            .remove_customer_from_customer_groups(id, [key("vip")])
            .await,
    );
    let deleted = rejected(client.delete_customer(id).await);
    assert_eq!(added, deleted);
    assert_eq!(removed, deleted);
}

#[tokio::test]
async fn removing_from_groups_the_customer_is_in_none_of_is_refused() {
    let server = server().await;
    let client = client(&server);
    let customer = create(&client, donald()).await;
    let error = rejected(
        client
            .remove_customer_from_customer_groups(customer.id.clone(), [key("vip")])
            .await,
    );
    assert_eq!(error.code, "customer_group_membership_not_found");
    assert_eq!(error.fields[0].field, "customerGroupIdentifiers");
    // A member of one of them: that one is removed, the other skipped.
    client
        .add_customer_to_customer_groups(customer.id.clone(), [key("vip")])
        .await
        .unwrap();
    client
        .remove_customer_from_customer_groups(customer.id.clone(), [key("vip"), key("beta")])
        .await
        .unwrap();
    assert!(member_of(&server, &customer.id).is_empty());
}

#[tokio::test]
async fn groups_on_create_make_the_new_customer_a_member() {
    let server = server().await;
    let client = client(&server);
    let input = donald().on_update(OnUpdate::new().full_name("Donald Fauntleroy Duck"));
    let mut with_groups = input.clone();
    with_groups.on_create = with_groups
        .on_create
        .customer_groups([key("vip"), CustomerGroupIdentifier::external_id("crm-beta")]);
    let customer = create(&client, with_groups.clone()).await;
    assert_eq!(member_of(&server, &customer.id), ["vip", "beta"]);
    // Matched, the customer is updated and onCreate's groups are not used.
    client
        .remove_customer_from_customer_groups(customer.id.clone(), [key("vip")])
        .await
        .unwrap();
    let updated = client.upsert_customer(with_groups).await.unwrap();
    assert_eq!(updated.result, UpsertResult::Updated);
    assert_eq!(member_of(&server, &customer.id), ["beta"]);
}

#[tokio::test]
async fn a_deleted_customers_memberships_go_with_it() {
    let server = server().await;
    let client = client(&server);
    let mut input = donald();
    input.on_create = input.on_create.customer_groups([key("vip")]);
    let first = create(&client, input).await;
    client
        .add_customer_to_customer_groups(first.id.clone(), [key("beta")])
        .await
        .unwrap();
    client.delete_customer(first.id.clone()).await.unwrap();
    let second = create(&client, donald()).await;
    assert!(member_of(&server, &second.id).is_empty());
    // The groups themselves stay.
    assert_eq!(server.customer_groups().len(), 3);
    let added = client
        .add_customer_to_customer_groups(second.id.clone(), [key("vip")])
        .await
        .unwrap();
    assert_eq!(added.len(), 1);
}

/// The workspace `server` answers `myWorkspace` with.
async fn workspace_of(server: &LocalServer) -> Workspace {
    client(server)
        .my_workspace()
        .await
        .unwrap()
        .expect("the local server always has a workspace")
}

/// Whether `id` looks like Plain's workspace ids: `w_` and 26 Crockford base-32 characters.
fn looks_like_a_workspace_id(id: &str) -> bool {
    id.strip_prefix("w_").is_some_and(|rest| {
        rest.len() == 26
            && rest
                .chars()
                .all(|c| c.is_ascii_digit() || (c.is_ascii_uppercase() && !"ILOU".contains(c)))
    })
}

#[tokio::test]
async fn my_workspace_is_the_workspace_the_server_was_given() {
    let id = "w_01JTESTWORKSPACE0000000000";
    let server = LocalServer::builder()
        .workspace_id(id)
        .workspace_name("Duckburg")
        .start()
        .await
        .unwrap();
    let workspace = workspace_of(&server).await;
    assert_eq!(
        (workspace.id.as_str(), workspace.name.as_str()),
        (id, "Duckburg")
    );
    assert_eq!(server.workspace_id(), id);
    assert_eq!(
        serde_json::to_value(&workspace).unwrap(),
        json!({"id": id, "name": "Duckburg"})
    );
}

#[tokio::test]
async fn each_local_server_is_a_workspace_of_its_own() {
    // The same seed repeats a server's random choices, but two servers are still two
    // workspaces: a state built against one must not be trusted against the other.
    let first = LocalServer::builder().seed(7).start().await.unwrap();
    let second = LocalServer::builder().seed(7).start().await.unwrap();
    let third = LocalServer::start().await.unwrap();
    let mut ids = Vec::new();
    for server in [&first, &second, &third] {
        let workspace = workspace_of(server).await;
        assert!(looks_like_a_workspace_id(&workspace.id), "{workspace:?}");
        assert_eq!(workspace.id, server.workspace_id());
        assert_eq!(workspace.name, "Local workspace");
        // Asked again, the same workspace.
        assert_eq!(workspace_of(server).await, workspace);
        ids.push(workspace.id);
    }
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
    assert_ne!(ids[1], ids[2]);
}

#[tokio::test]
async fn a_key_that_may_not_read_the_workspace_gets_forbidden() {
    let server = LocalServer::builder()
        .forbid_workspace_read()
        .start()
        .await
        .unwrap();
    // The default retry policy: a missing permission is not retried.
    let error = server.client().unwrap().my_workspace().await.unwrap_err();
    let Error::Forbidden {
        message,
        request_id,
    } = error.last_cause()
    else {
        panic!("expected Forbidden, got {error:?}");
    };
    assert_eq!(
        message,
        "Forbidden: this API key may not read the workspace"
    );
    assert!(request_id
        .as_deref()
        .is_some_and(|id| id.starts_with("local-")));
    assert!(!error.is_retryable());
    assert_eq!(error.attempts(), 1);
    assert_eq!(server.requests().len(), 1);
    // Plain sends the code with HTTP 200; the error still tells a permission from a 200.
    assert_eq!(server.requests()[0].status, Some(200));
    assert_eq!(error.status(), Some(403));
    assert!(error.to_string().contains("lacks a permission"), "{error}");
    // The key may still do what it may: the customers are served.
    let customer = create(&client(&server), donald()).await;
    assert!(client(&server)
        .customer_by_id(&customer.id)
        .await
        .unwrap()
        .is_some());
}

/// Snapshots the request body as sent (fields in the order they go on the wire), its
/// document checked against the operation's file and redacted to the file's name, as
/// `tests/wire.rs` does for the upsert: a change of selection does not disturb the variables.
fn assert_request<V: serde::Serialize>(body: graphql_client::QueryBody<V>, file: &str) {
    let path = format!("{}/graphql/{file}", env!("CARGO_MANIFEST_DIR"));
    assert_eq!(body.query, std::fs::read_to_string(path).unwrap(), "{file}");
    let name = format!("request_{}", file.trim_end_matches(".graphql"));
    let document = format!("[graphql/{file}]");
    insta::assert_json_snapshot!(name, body, {".query" => document.as_str()});
}

#[test]
fn each_operation_sends_its_variables_as_plain_documents_them() {
    let customer_id = "c_01H3D5NFQCTC41PYXT2BX9MD6A";
    let groups = || {
        CustomerGroupsInput::new(
            customer_id,
            [
                key("vip"),
                CustomerGroupIdentifier::id("cg_01GX8H2BWS7Z4EP9RRGMF9NXX2"),
                CustomerGroupIdentifier::external_id("crm-beta"),
            ],
        )
    };
    assert_request(
        CustomerById::build_query(customer_by_id::Variables {
            customer_id: customer_id.into(),
        }),
        "customerById.graphql",
    );
    assert_request(
        CustomerByEmail::build_query(customer_by_email::Variables {
            email: "donald@example.com".into(),
        }),
        "customerByEmail.graphql",
    );
    assert_request(
        CustomerByExternalId::build_query(customer_by_external_id::Variables {
            external_id: "u_42".into(),
        }),
        "customerByExternalId.graphql",
    );
    assert_request(
        CustomerGroups::build_query(customer_groups::Variables {
            first: Some(100),
            after: Some("Y3Vyc29y".into()),
        }),
        "customerGroups.graphql",
    );
    assert_request(
        CustomerGroupMemberships::build_query(customer_group_memberships::Variables {
            customer_id: customer_id.into(),
            first: Some(100),
            after: Some("Y3Vyc29y".into()),
        }),
        "customerGroupMemberships.graphql",
    );
    assert_request(
        Customers::build_query(customers::Variables {
            filters: Some(CustomersFilter::new().customer_group_keys(["vip"])),
            sort_by: Some(CustomersSort {
                field: customers::CustomersSortField::FullName,
                direction: customers::SortDirection::Asc,
            }),
            first: Some(100),
            after: Some("Y3Vyc29y".into()),
        }),
        "customers.graphql",
    );
    assert_request(
        MyWorkspace::build_query(my_workspace::Variables),
        "myWorkspace.graphql",
    );
    assert_request(
        DeleteCustomer::build_query(delete_customer::Variables {
            input: DeleteCustomerInput {
                customer_id: customer_id.into(),
            },
        }),
        "deleteCustomer.graphql",
    );
    assert_request(
        AddCustomerToCustomerGroups::build_query(add_customer_to_customer_groups::Variables {
            input: groups(),
        }),
        "addCustomerToCustomerGroups.graphql",
    );
    assert_request(
        RemoveCustomerFromCustomerGroups::build_query(
            remove_customer_from_customer_groups::Variables { input: groups() },
        ),
        "removeCustomerFromCustomerGroups.graphql",
    );
}

#[test]
fn customer_groups_input_is_sent_without_nulls() {
    let input = CustomerGroupsInput::new("c_1", [key("vip")]);
    assert_eq!(
        serde_json::to_string(&input).unwrap(),
        r#"{"customerId":"c_1","customerGroupIdentifiers":[{"customerGroupKey":"vip"}]}"#
    );
    let every_kind = CustomerGroupsInput::new(
        "c_1",
        [
            CustomerGroupIdentifier::id("cg_1"),
            key("vip"),
            CustomerGroupIdentifier::external_id("crm-beta"),
        ],
    );
    assert_eq!(
        serde_json::to_value(&every_kind).unwrap(),
        json!({"customerId": "c_1", "customerGroupIdentifiers": [
            {"customerGroupId": "cg_1"},
            {"customerGroupKey": "vip"},
            {"externalId": "crm-beta"},
        ]})
    );
}
