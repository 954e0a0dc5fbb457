//! Customer groups and memberships: the local server pages them as Plain does, and the client
//! reads them and keeps a customer's groups to a set.

mod common;

use plain_client::testing::{CustomerGroupSpec, LocalServer, LocalServerBuilder};
use serde_json::{json, Value};

/// A client that sends every request once, so that the requests the server logs are the
/// calls made.
use common::once_client as client;
use common::post_query as post;

/// The operation names of the requests the server received, in order.
fn operations(server: &LocalServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| {
            r.body["operationName"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// Plain's own schema, when it is beside the checkout: it has every field of a group.
fn plains_schema() -> Option<String> {
    let path = common::shared_plain("schema.graphql")?;
    Some(std::fs::read_to_string(path).unwrap())
}

/// A builder with `count` groups `g00`, `g01`, ..., each with the external id `x00`, ...
fn with_groups(mut builder: LocalServerBuilder, count: usize) -> LocalServerBuilder {
    for i in 0..count {
        builder = builder.customer_group_spec(
            CustomerGroupSpec::new(format!("g{i:02}"), format!("Group {i}"))
                .external_id(format!("x{i:02}")),
        );
    }
    builder
}

async fn full_server(groups: usize) -> Option<LocalServer> {
    let schema = plains_schema()?;
    Some(
        with_groups(LocalServer::builder().schema(schema), groups)
            .start()
            .await
            .unwrap(),
    )
}

const PAGE: &str = "query page($first: Int, $after: String, $last: Int, $before: String, $filters: CustomerGroupsFilter) {
  customerGroups(first: $first, after: $after, last: $last, before: $before, filters: $filters) {
    edges { cursor node { key } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

/// One page: the keys on it and its `pageInfo`.
async fn page(server: &LocalServer, variables: Value) -> (Vec<String>, Value) {
    let (status, answer) = post(server, PAGE, variables).await;
    assert_eq!(status, 200, "{answer}");
    let connection = &answer["data"]["customerGroups"];
    let keys = connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["key"].as_str().unwrap().to_owned())
        .collect();
    (keys, connection["pageInfo"].clone())
}

fn keys(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("g{i:02}")).collect()
}

#[tokio::test]
async fn groups_page_forward_by_25_100_and_7() {
    let Some(server) = full_server(60).await else {
        return;
    };
    // No `first`: 25 a page.
    let (first, info) = page(&server, json!({})).await;
    assert_eq!(first, keys(0..25));
    assert_eq!(info["hasNextPage"], true);
    assert_eq!(info["hasPreviousPage"], false);
    for size in [25, 100, 7] {
        let mut seen = Vec::new();
        let mut after = Value::Null;
        let mut pages = 0;
        loop {
            let (keys, info) = page(&server, json!({"first": size, "after": after})).await;
            assert!(keys.len() <= size, "{size}: {}", keys.len());
            seen.extend(keys);
            pages += 1;
            if info["hasNextPage"] == false {
                break;
            }
            after = info["endCursor"].clone();
        }
        assert_eq!(seen, keys(0..60), "first: {size}");
        assert_eq!(pages, 60usize.div_ceil(size), "first: {size}");
    }
}

#[tokio::test]
async fn groups_page_backward_and_cursors_round_trip() {
    let Some(server) = full_server(60).await else {
        return;
    };
    let mut seen = Vec::new();
    let mut before = Value::Null;
    loop {
        let (mut keys, info) = page(&server, json!({"last": 7, "before": before})).await;
        assert!(keys.len() <= 7);
        keys.append(&mut seen);
        seen = keys;
        if info["hasPreviousPage"] == false {
            break;
        }
        before = info["startCursor"].clone();
    }
    assert_eq!(seen, keys(0..60));

    // The second page's start cursor leads back to the first page, its end to the third.
    let (_, one) = page(&server, json!({"first": 25})).await;
    let (two_keys, two) = page(&server, json!({"first": 25, "after": one["endCursor"]})).await;
    assert_eq!(two_keys, keys(25..50));
    assert_eq!(two["hasPreviousPage"], true);
    let (back, _) = page(&server, json!({"last": 25, "before": two["startCursor"]})).await;
    assert_eq!(back, keys(0..25));
    let (three, info) = page(&server, json!({"after": two["endCursor"]})).await;
    assert_eq!(three, keys(50..60));
    assert_eq!(info["hasNextPage"], false);
    // Each edge's cursor is where the next page starts.
    let (status, answer) = post(&server, PAGE, json!({"first": 3})).await;
    assert_eq!(status, 200);
    let cursor = answer["data"]["customerGroups"]["edges"][1]["cursor"].clone();
    let (after_second, _) = page(&server, json!({"first": 2, "after": cursor})).await;
    assert_eq!(after_second, keys(2..4));
    // Past the end: an empty page without cursors.
    let (none, info) = page(&server, json!({"after": info["endCursor"]})).await;
    assert!(none.is_empty());
    assert_eq!(info["startCursor"], Value::Null);
    assert_eq!(info["hasPreviousPage"], true);
}

#[tokio::test]
async fn bad_page_arguments_are_refused_naming_the_bound() {
    let Some(server) = full_server(3).await else {
        return;
    };
    for (variables, says) in [
        (json!({"first": 101}), "between 0 and 100"),
        (json!({"last": 101}), "between 0 and 100"),
        (json!({"first": -1}), "between 0 and 100"),
        (json!({"first": 5, "last": 5}), "not both"),
        (json!({"after": "c_not_a_cursor"}), "not a cursor"),
    ] {
        let (status, answer) = post(&server, PAGE, variables.clone()).await;
        assert_eq!(status, 400, "{variables}: {answer}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{variables}: {message}");
    }
    // A memberships connection's bound is checked too, before anything runs.
    let query = "mutation m($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { \
                 customer { customerGroupMemberships(first: 101) { edges { cursor } } } } }";
    let input = json!({"input": {"identifier": {"emailAddress": "a@example.com"},
        "onCreate": {"fullName": "A", "email": {"email": "a@example.com", "isVerified": false}},
        "onUpdate": {}}});
    let (status, answer) = post(&server, query, input).await;
    assert_eq!(status, 400, "{answer}");
    assert!(server.customers().is_empty());
    // 100 is allowed.
    let (keys, _) = page(&server, json!({"first": 100})).await;
    assert_eq!(keys.len(), 3);
}

#[tokio::test]
async fn groups_filter_by_external_id_and_answer_every_field() {
    let Some(server) = full_server(5).await else {
        return;
    };
    let (keys, info) = page(
        &server,
        json!({"filters": {"externalIds": ["x03", "x01", "nope"]}}),
    )
    .await;
    assert_eq!(keys, ["g01", "g03"]);
    assert_eq!(info["hasNextPage"], false);
    let id = server.customer_groups()[2].id.clone();
    let query = "query g($id: ID!) { customerGroup(customerGroupId: $id) { id name key color externalId \
                 createdAt { iso8601 } createdBy { __typename ... on MachineUserActor { machineUserId } } \
                 updatedAt { iso8601 } updatedBy { __typename } } missing: customerGroup(customerGroupId: \"cg_none\") { id } }";
    let (status, answer) = post(&server, query, json!({"id": id})).await;
    assert_eq!(status, 200, "{answer}");
    let group = &answer["data"]["customerGroup"];
    assert_eq!(group["id"], id.as_str());
    assert_eq!(group["name"], "Group 2");
    assert_eq!(group["key"], "g02");
    assert_eq!(group["color"], "#64748B");
    assert_eq!(group["externalId"], "x02");
    assert_eq!(
        group["createdBy"],
        json!({"__typename": "MachineUserActor", "machineUserId": "mu_local"})
    );
    assert_eq!(group["updatedBy"]["__typename"], "MachineUserActor");
    assert!(group["createdAt"]["iso8601"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(answer["data"]["missing"], Value::Null);
}

#[tokio::test]
async fn customers_answer_their_memberships_in_pages() {
    let Some(server) = full_server(30).await else {
        return;
    };
    let groups: Vec<Value> = (0..30)
        .map(|i| json!({"customerGroupKey": format!("g{i:02}")}))
        .collect();
    let upsert = "mutation m($input: UpsertCustomerInput!) { upsertCustomer(input: $input) { \
                  customer { id customerGroupMemberships { edges { node { customerGroup { key } } } pageInfo { hasNextPage } } } } }";
    let input = json!({"input": {"identifier": {"emailAddress": "a@example.com"},
        "onCreate": {"fullName": "A", "email": {"email": "a@example.com", "isVerified": false},
                     "customerGroupIdentifiers": groups[..25]},
        "onUpdate": {}}});
    let (status, answer) = post(&server, upsert, input).await;
    assert_eq!(status, 200, "{answer}");
    let customer = &answer["data"]["upsertCustomer"]["customer"];
    let id = customer["id"].as_str().unwrap().to_owned();
    let memberships = &customer["customerGroupMemberships"];
    assert_eq!(memberships["edges"].as_array().unwrap().len(), 25);
    assert_eq!(
        memberships["edges"][24]["node"]["customerGroup"]["key"],
        "g24"
    );
    assert_eq!(memberships["pageInfo"]["hasNextPage"], false);
    let add = "mutation a($input: AddCustomerToCustomerGroupsInput!) { addCustomerToCustomerGroups(input: $input) { error { code } } }";
    let (status, _) = post(
        &server,
        add,
        json!({"input": {"customerId": id, "customerGroupIdentifiers": groups[25..]}}),
    )
    .await;
    assert_eq!(status, 200);

    let lookup = "query c($id: ID!, $after: String) { customer(customerId: $id) { \
                  customerGroupMemberships(first: 20, after: $after) { edges { node { customerId customerGroup { key } \
                  createdAt { iso8601 } createdBy { __typename } updatedBy { __typename } } } \
                  pageInfo { hasNextPage endCursor } } \
                  only: customerGroupMemberships(filters: {customerGroupExternalIds: [\"x29\"]}) { edges { node { customerGroup { key } } } } } }";
    let (status, answer) = post(&server, lookup, json!({"id": id})).await;
    assert_eq!(status, 200, "{answer}");
    let customer = &answer["data"]["customer"];
    let first = &customer["customerGroupMemberships"];
    assert_eq!(first["edges"].as_array().unwrap().len(), 20);
    assert_eq!(first["edges"][0]["node"]["customerId"], id.as_str());
    assert_eq!(
        first["edges"][0]["node"]["createdBy"]["__typename"],
        "MachineUserActor"
    );
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(
        customer["only"]["edges"],
        json!([{"node": {"customerGroup": {"key": "g29"}}}])
    );
    let after = first["pageInfo"]["endCursor"].clone();
    let (_, answer) = post(&server, lookup, json!({"id": id, "after": after})).await;
    let rest = &answer["data"]["customer"]["customerGroupMemberships"];
    let rest_keys: Vec<&str> = rest["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["customerGroup"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(rest_keys, keys(20..30));
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn customer_groups_reads_every_page_100_at_a_time() {
    let server = with_groups(LocalServer::builder(), 250)
        .start()
        .await
        .unwrap();
    let groups = client(&server).customer_groups().await.unwrap();
    let keys_read: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys_read, keys(0..250));
    assert_eq!(operations(&server), ["customerGroups"; 3]);
    let firsts: Vec<Value> = server
        .requests()
        .iter()
        .map(|r| r.body["variables"]["first"].clone())
        .collect();
    assert_eq!(firsts, [100, 100, 100]);
    let stored = &server.customer_groups()[7];
    let seventh = &groups[7];
    assert_eq!(
        (
            seventh.id.as_str(),
            seventh.key.as_str(),
            seventh.name.as_str(),
            seventh.external_id.as_deref(),
            seventh.color.as_str()
        ),
        (stored.id.as_str(), "g07", "Group 7", Some("x07"), "#64748B")
    );
}

#[tokio::test]
async fn customer_groups_of_an_empty_workspace_is_one_request() {
    let server = LocalServer::start().await.unwrap();
    assert!(client(&server).customer_groups().await.unwrap().is_empty());
    assert_eq!(operations(&server), ["customerGroups"]);
}

#[tokio::test]
async fn a_page_that_promises_more_without_a_cursor_is_an_error_not_a_loop() {
    let server = LocalServer::builder()
        .answer("customerGroups", |_| {
            json!({"customerGroups": {"edges": [], "pageInfo": {"hasNextPage": true, "endCursor": "c"}}})
        })
        .start()
        .await
        .unwrap();
    let error = client(&server).customer_groups().await.unwrap_err();
    assert!(
        matches!(error, plain_client::Error::Decode { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("no node"), "{error}");
    assert_eq!(operations(&server).len(), 1);
}

fn key(key: &str) -> plain_client::CustomerGroupIdentifier {
    plain_client::CustomerGroupIdentifier::key(key)
}

/// A customer created without groups: its id.
async fn customer(client: &plain_client::PlainClient, email: &str) -> String {
    use plain_client::{CustomerIdentifier, EmailAddress, OnCreate, UpsertCustomerInput};
    let input = UpsertCustomerInput::new(
        CustomerIdentifier::email(email),
        OnCreate::new("Donald Duck", EmailAddress::unverified(email)).external_id("u_1"),
    );
    let upserted = client.upsert_customer(input).await.unwrap();
    // The upsert does not select memberships.
    assert_eq!(upserted.customer.customer_groups, None);
    upserted.customer.id
}

/// A server with `groups` groups (see [`with_groups`]) and a customer in none of them: the
/// server, a client of it, and the customer's id.
async fn with_customer(groups: usize) -> (LocalServer, plain_client::PlainClient, String) {
    let server = with_groups(LocalServer::builder(), groups)
        .start()
        .await
        .unwrap();
    let client = client(&server);
    let id = customer(&client, "donald@example.com").await;
    (server, client, id)
}

/// The keys of the groups a lookup by id says the customer is in.
async fn looked_up(client: &plain_client::PlainClient, id: &str) -> Vec<String> {
    let found = client.customer_by_id(id).await.unwrap().unwrap();
    found
        .customer_groups
        .unwrap()
        .iter()
        .map(|m| m.customer_group.key.clone())
        .collect()
}

#[tokio::test]
async fn the_lookups_carry_every_membership_in_the_order_joined() {
    let (server, client, id) = with_customer(3).await;
    assert_eq!(looked_up(&client, &id).await, Vec::<String>::new());
    client
        .add_customer_to_customer_groups(&id, [key("g02"), key("g00")])
        .await
        .unwrap();
    assert_eq!(looked_up(&client, &id).await, ["g02", "g00"]);
    let by_email = client
        .customer_by_email("donald@example.com")
        .await
        .unwrap()
        .unwrap();
    let by_external = client
        .customer_by_external_id("u_1")
        .await
        .unwrap()
        .unwrap();
    let memberships = by_email.customer_groups.clone().unwrap();
    assert_eq!(by_external.customer_groups, Some(memberships.clone()));
    assert_eq!(memberships[0].customer_id, id);
    assert_eq!(
        memberships[0].customer_group.external_id.as_deref(),
        Some("x02")
    );
    assert_eq!(memberships[0].customer_group.color, "#64748B");
    // One request per lookup: 100 memberships come with the customer.
    assert_eq!(
        operations(&server)[1..],
        [
            "customerById",
            "addCustomerToCustomerGroups",
            "customerById",
            "customerByEmail",
            "customerByExternalId"
        ]
    );
    // Serialized under Plain's field name, as a list.
    let json = serde_json::to_value(&by_email).unwrap();
    assert_eq!(
        json["customerGroupMemberships"][1]["customerGroup"]["key"],
        "g00"
    );
}

#[tokio::test]
async fn a_lookup_reads_memberships_past_the_first_100() {
    let (server, client, id) = with_customer(130).await;
    let all: Vec<_> = (0..130).map(|i| key(&format!("g{i:02}"))).collect();
    let changes = client.set_customer_groups(&id, all).await.unwrap();
    assert_eq!(changes.added.len(), 130);
    // 25 groups a call: 6 calls.
    let adds = operations(&server)
        .iter()
        .filter(|o| *o == "addCustomerToCustomerGroups")
        .count();
    assert_eq!(adds, 6);
    let before = server.requests().len();
    assert_eq!(looked_up(&client, &id).await, keys(0..130));
    assert_eq!(
        operations(&server)[before..],
        ["customerById", "customerGroupMemberships"]
    );
}

#[tokio::test]
async fn set_customer_groups_adds_and_removes_to_match_and_then_sends_nothing() {
    let (server, client, id) = with_customer(3).await;
    let (a, b, c) = ("g00", "g01", "g02");

    let changes = client
        .set_customer_groups(&id, [key(a), key(b)])
        .await
        .unwrap();
    let added: Vec<&str> = changes
        .added
        .iter()
        .map(|m| m.customer_group.key.as_str())
        .collect();
    assert_eq!(added, [a, b]);
    assert!(changes.removed.is_empty());
    assert_eq!(looked_up(&client, &id).await, [a, b]);

    // b by its external id, c by its id: the same groups whatever names them.
    let c_id = server.customer_groups()[2].id.clone();
    let to = [
        plain_client::CustomerGroupIdentifier::external_id("x01"),
        plain_client::CustomerGroupIdentifier::id(c_id.clone()),
    ];
    let changes = client.set_customer_groups(&id, to.clone()).await.unwrap();
    assert_eq!(changes.added.len(), 1);
    assert_eq!(changes.added[0].customer_group.id, c_id);
    let removed: Vec<&str> = changes.removed.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(removed, [a]);
    assert_eq!(looked_up(&client, &id).await, [b, c]);

    // The same again: one read, no mutation.
    let before = server.requests().len();
    let changes = client.set_customer_groups(&id, to).await.unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(operations(&server)[before..], ["customerGroupMemberships"]);

    // To none.
    let changes = client.set_customer_groups(&id, []).await.unwrap();
    assert_eq!(changes.removed.len(), 2);
    assert_eq!(looked_up(&client, &id).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_membership_another_writer_removed_first_counts_as_removed() {
    let (server, client, id) = with_customer(2).await;
    client.set_customer_groups(&id, [key("g00")]).await.unwrap();
    // What the read answers: the membership as it was before another writer removed it.
    let stale =
        serde_json::to_value(client.customer_group_memberships(&id).await.unwrap()).unwrap();
    client
        .remove_customer_from_customer_groups(&id, [key("g00")])
        .await
        .unwrap();
    let edges: Vec<Value> = stale
        .as_array()
        .unwrap()
        .iter()
        .map(|node| json!({"node": node}))
        .collect();
    server.answer("customerGroupMemberships", move |_| {
        json!({"customer": {"customerGroupMemberships": {"edges": edges.clone(),
            "pageInfo": {"hasNextPage": false, "endCursor": null}}}})
    });
    let changes = client.set_customer_groups(&id, [key("g01")]).await.unwrap();
    let removed: Vec<&str> = changes.removed.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(removed, ["g00"]);
    assert_eq!(changes.added[0].customer_group.key, "g01");
    let last = operations(&server);
    assert_eq!(last.last().unwrap(), "removeCustomerFromCustomerGroups");
    // The removal it sent named a membership already gone, which Plain refuses as this.
    let refused = client
        .remove_customer_from_customer_groups(&id, [key("g00")])
        .await
        .unwrap_err();
    assert_eq!(
        refused.mutation_error().map(|e| e.code.as_str()),
        Some("customer_group_membership_not_found")
    );
    assert_eq!(
        server.customers()[0].customer_group_ids,
        [server.customer_groups()[1].id.clone()]
    );
}

#[tokio::test]
async fn an_unknown_customer_or_group_changes_nothing_and_says_so() {
    let server = with_groups(LocalServer::builder(), 1)
        .start()
        .await
        .unwrap();
    let client = client(&server);
    let error = client
        .set_customer_groups("c_nobody", [key("g00")])
        .await
        .unwrap_err();
    assert!(
        matches!(error, plain_client::Error::InvalidInput { .. }),
        "{error}"
    );
    assert_eq!(
        client.customer_group_memberships("c_nobody").await.unwrap(),
        None
    );
    let id = customer(&client, "donald@example.com").await;
    let error = client
        .set_customer_groups(&id, [key("g00"), key("nope")])
        .await
        .unwrap_err();
    assert_eq!(
        error.mutation_error().map(|e| e.code.as_str()),
        Some("customer_group_not_found")
    );
    assert!(server.customers()[0].customer_group_ids.is_empty());
}
