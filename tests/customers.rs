//! Listing customers: the local server pages `customers` as Plain does, and
//! `PlainClient::customers` streams them, a page ahead, resumable from a cursor.

mod common;

use std::time::{Duration, SystemTime};

use plain_client::operations::customers::{
    CompanyIdentifier, CustomersFilter, CustomersQuery, CustomersSort, CustomersSortField,
    SortDirection,
};
use plain_client::testing::{LocalServer, ScriptedAnswer};
use plain_client::{
    CustomerGroupIdentifier, CustomerIdentifier, EmailAddress, Error, OnCreate, OnUpdate,
    TenantIdentifier, UpsertCustomerInput,
};
use serde_json::{json, Value};

use common::once_client as client;
use common::post_query as post;

fn input(i: usize) -> UpsertCustomerInput {
    named(i, &format!("Customer {i:04}"), [])
}

/// Customer `i`, under `name`, a member of `groups` (by key).
fn named<const N: usize>(i: usize, name: &str, groups: [&str; N]) -> UpsertCustomerInput {
    let email = format!("customer{i:04}@example.com");
    let groups = groups.map(CustomerGroupIdentifier::key);
    UpsertCustomerInput::new(
        CustomerIdentifier::email(email.clone()),
        OnCreate::new(name, EmailAddress::unverified(email)).customer_groups(groups),
    )
}

/// A server with `n` customers, `Customer 0000`, `Customer 0001`, ... created in that order.
async fn server_with(n: usize) -> LocalServer {
    let server = LocalServer::builder()
        .customer_group("vip", "VIP")
        .customer_group("pro", "Pro")
        .start()
        .await
        .unwrap();
    let client = client(&server);
    for i in 0..n {
        client.upsert_customer(input(i)).await.unwrap();
    }
    server
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("Customer {i:04}")).collect()
}

/// How many `customers` requests the server received.
fn pages_asked(server: &LocalServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.body["operationName"] == "customers")
        .count()
}

const PAGE: &str = "query page($first: Int, $after: String, $last: Int, $before: String, $filters: CustomersFilter, $sortBy: CustomersSort) {
  customers(first: $first, after: $after, last: $last, before: $before, filters: $filters, sortBy: $sortBy) {
    edges { cursor node { fullName } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}";

/// One page: the names on it, the cursors of its edges, its `pageInfo` and `totalCount`.
struct Page {
    names: Vec<String>,
    cursors: Vec<String>,
    info: Value,
    total: u64,
}

async fn page(server: &LocalServer, variables: Value) -> Page {
    let (status, answer) = post(server, PAGE, variables).await;
    assert_eq!(status, 200, "{answer}");
    let connection = &answer["data"]["customers"];
    let edges = connection["edges"].as_array().unwrap();
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    Page {
        names: edges.iter().map(|e| text(&e["node"]["fullName"])).collect(),
        cursors: edges.iter().map(|e| text(&e["cursor"])).collect(),
        info: connection["pageInfo"].clone(),
        total: connection["totalCount"].as_u64().unwrap(),
    }
}

/// Every customer, following `endCursor` with pages of `size`.
async fn every_page(server: &LocalServer, size: usize, extra: Value) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let mut variables = json!({"first": size, "after": after});
        variables
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let page = page(server, variables).await;
        assert!(page.names.len() <= size);
        seen.extend(page.names);
        pages += 1;
        if page.info["hasNextPage"] == false {
            return (seen, pages);
        }
        after = page.info["endCursor"].clone();
    }
}

#[tokio::test]
async fn the_server_pages_customers_by_25_unless_told_and_100_at_most() {
    let server = server_with(130).await;
    let first = page(&server, json!({})).await;
    assert_eq!(first.names, names(0..25));
    assert_eq!(first.info["hasNextPage"], true);
    assert_eq!(first.total, 130);
    assert_eq!(first.info["endCursor"], first.cursors[24].as_str());

    let hundred = page(&server, json!({"first": 100})).await;
    assert_eq!(hundred.names, names(0..100));
    for size in [100, 25, 7] {
        let (seen, pages) = every_page(&server, size, json!({})).await;
        assert_eq!(seen, names(0..130), "pages of {size}");
        assert_eq!(pages, 130usize.div_ceil(size), "pages of {size}");
    }
    let last = page(&server, json!({"first": 30, "after": hundred.cursors[99]})).await;
    assert_eq!(last.names, names(100..130));
    assert_eq!(last.info["hasNextPage"], false);
    assert_eq!(last.total, 130, "the count of them all, on every page");
}

#[tokio::test]
async fn more_than_100_or_a_negative_count_is_refused_as_plain_refuses_it() {
    let server = server_with(3).await;
    for (variables, bound) in [
        (json!({"first": 101}), "between 0 and 100, got 101"),
        (json!({"first": -1}), "between 0 and 100, got -1"),
        (json!({"last": 101}), "between 0 and 100, got 101"),
        (json!({"first": 2, "last": 2}), "not both"),
        (json!({"after": "c_1"}), "not a cursor customers answered"),
    ] {
        let (status, answer) = post(&server, PAGE, variables.clone()).await;
        assert_eq!(status, 400, "{variables}: {answer}");
        let error = &answer["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(bound), "{variables}: {message}");
        assert!(answer.get("data").is_none(), "{answer}");
    }
    let zero = page(&server, json!({"first": 0})).await;
    assert!(zero.names.is_empty());
    assert_eq!(zero.info, json!({"hasNextPage": true, "endCursor": null}));
}

#[tokio::test]
async fn cursors_are_opaque_and_keep_their_place_when_customers_come_and_go() {
    let server = server_with(60).await;
    let first = page(&server, json!({"first": 20})).await;
    let stored = server.customers();
    for (cursor, customer) in first.cursors.iter().zip(&stored) {
        assert!(!cursor.contains(&customer.id), "{cursor}");
        assert!(!cursor.contains("customer"), "{cursor}");
    }
    let after = json!({"first": 10, "after": first.cursors[19]});
    let again = page(&server, after.clone()).await;
    assert_eq!(again.names, names(20..30));
    assert_eq!(
        page(&server, after.clone()).await.cursors,
        again.cursors,
        "stable"
    );

    // The customer of the cursor, and one before it, are deleted; one is created: the page
    // after the cursor is the same, and the new customer comes last.
    let client = client(&server);
    client.delete_customer(&stored[19].id).await.unwrap();
    client.delete_customer(&stored[3].id).await.unwrap();
    client.upsert_customer(input(60)).await.unwrap();
    let after_delete = page(&server, after).await;
    assert_eq!(after_delete.names, again.names);
    assert_eq!(after_delete.cursors, again.cursors);
    assert_eq!(after_delete.total, 59);
    let (rest, _) = every_page(&server, 100, json!({"after": again.cursors[9]})).await;
    assert_eq!(rest, names(30..61));
}

#[tokio::test]
async fn the_server_filters_customers_and_counts_those_that_pass() {
    let server = server_with(0).await;
    let client = client(&server);
    let started = SystemTime::now();
    for i in 0..30 {
        let name = format!("Customer {i:04}");
        let input = match i % 3 {
            0 => named(i, &name, ["vip"]),
            1 => named(i, &name, ["pro"]),
            _ => input(i),
        };
        client.upsert_customer(input).await.unwrap();
    }
    let vip = server.customer_groups()[0].id.clone();
    let filtered = |filters: Value| every_page(&server, 7, json!({"filters": filters}));
    let thirds: Vec<String> = (0..30)
        .step_by(3)
        .map(|i| format!("Customer {i:04}"))
        .collect();
    assert_eq!(
        filtered(json!({"customerGroupKeys": ["vip"]})).await.0,
        thirds
    );
    assert_eq!(filtered(json!({"customerGroupIds": [vip]})).await.0, thirds);
    let either = filtered(json!({"customerGroupKeys": ["vip", "pro", "nope"]}))
        .await
        .0;
    assert_eq!(either.len(), 20);
    let both = json!({"customerGroupKeys": ["pro"], "customerGroupIds": [vip]});
    assert!(filtered(both).await.0.is_empty(), "every filter must pass");
    assert!(filtered(json!({"isMarkedAsSpam": true})).await.0.is_empty());
    assert_eq!(filtered(json!({"isMarkedAsSpam": false})).await.0.len(), 30);
    let company = json!({"companyIdentifiers": [{"companyDomainName": "plain.com"}]});
    assert!(filtered(company).await.0.is_empty(), "no companies here");
    let counted = page(&server, json!({"filters": {"customerGroupKeys": ["pro"]}})).await;
    assert_eq!(counted.total, 10);

    // Customer 5 is updated later than everyone else was.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let changed_from = SystemTime::now();
    let update = input(5).on_update(OnUpdate::new().full_name("Customer 0005 renamed"));
    client.upsert_customer(update).await.unwrap();
    let from = plain_client::testing::format_timestamp(changed_from);
    let since = filtered(json!({"updatedAt": {"after": from}})).await.0;
    assert_eq!(since, ["Customer 0005 renamed"]);
    let until = filtered(json!({"updatedAt": {"before": from}})).await.0;
    assert_eq!(until.len(), 29);
    let all = json!({"updatedAt": {"after": plain_client::testing::format_timestamp(started)}});
    assert_eq!(filtered(all).await.0.len(), 30);

    let (status, answer) = post(
        &server,
        PAGE,
        json!({"filters": {"updatedAt": {"after": "yesterday"}}}),
    )
    .await;
    assert_eq!(status, 400);
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("2024-10-28T18:30:00Z"), "{message}");
}

#[tokio::test]
async fn the_server_sorts_by_full_name_both_ways_with_cursors_of_that_order() {
    let server = server_with(0).await;
    let client = client(&server);
    for (i, name) in ["Carol", "alice", "Bob", "Alice", "Bob"].iter().enumerate() {
        client.upsert_customer(named(i, name, [])).await.unwrap();
    }
    let sort = |direction| json!({"sortBy": {"field": "FULL_NAME", "direction": direction}});
    let (up, _) = every_page(&server, 2, sort("ASC")).await;
    assert_eq!(up, ["Alice", "Bob", "Bob", "Carol", "alice"]);
    let (down, _) = every_page(&server, 2, sort("DESC")).await;
    assert_eq!(down, ["alice", "Carol", "Bob", "Bob", "Alice"]);
    // A cursor of the order of creation is not one of the order by name.
    let created = page(&server, json!({"first": 1})).await;
    let mut variables = sort("ASC");
    variables["after"] = created.cursors[0].clone().into();
    let (status, answer) = post(&server, PAGE, variables).await;
    assert_eq!(status, 400);
    assert!(answer.to_string().contains("another order"), "{answer}");
}

#[tokio::test]
async fn with_plains_schema_customers_page_backward_too() {
    let Some(path) = common::shared_plain("schema.graphql") else {
        return;
    };
    let server = LocalServer::builder()
        .schema(std::fs::read_to_string(path).unwrap())
        .start()
        .await
        .unwrap();
    let client = client(&server);
    for i in 0..40 {
        client.upsert_customer(input(i)).await.unwrap();
    }
    let query = "query page($last: Int, $before: String, $after: String) {
      customers(last: $last, before: $before, after: $after) {
        edges { cursor node { fullName isAnonymous } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        totalCount
      }
    }";
    let (status, answer) = post(&server, query, json!({"last": 15})).await;
    assert_eq!(status, 200, "{answer}");
    let connection = &answer["data"]["customers"];
    let edges = connection["edges"].as_array().unwrap();
    let first_name = |edges: &[Value]| edges[0]["node"]["fullName"].clone();
    assert_eq!(first_name(edges), "Customer 0025");
    let info = &connection["pageInfo"];
    assert_eq!(info["hasPreviousPage"], true);
    assert_eq!(info["hasNextPage"], false);
    assert_eq!(info["startCursor"], edges[0]["cursor"]);
    // A field Plain has and the server does not model answers null.
    assert_eq!(edges[0]["node"]["isAnonymous"], Value::Null);

    let before = json!({"last": 100, "before": info["startCursor"]});
    let (_, answer) = post(&server, query, before).await;
    let earlier = answer["data"]["customers"]["edges"].as_array().unwrap();
    assert_eq!(earlier.len(), 25);
    assert_eq!(first_name(earlier), "Customer 0000");
    let between = json!({"after": earlier[4]["cursor"], "before": earlier[10]["cursor"]});
    let (_, answer) = post(&server, query, between).await;
    let names: Vec<&str> = answer["data"]["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["fullName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Customer 0005",
            "Customer 0006",
            "Customer 0007",
            "Customer 0008",
            "Customer 0009"
        ]
    );
}

/// Every customer the stream yields, by name, and its cursor at the end.
async fn read_all(query: CustomersQuery) -> (Vec<String>, Option<String>) {
    let mut stream = query.stream();
    let mut seen = Vec::new();
    while let Some(customer) = stream.next().await {
        seen.push(customer.unwrap().full_name);
    }
    (seen, stream.cursor().map(str::to_owned))
}

#[tokio::test]
async fn the_stream_reads_every_customer_in_pages_of_100() {
    let server = server_with(250).await;
    let client = client(&server);
    let before = pages_asked(&server);
    let mut stream = client.customers().stream();
    assert_eq!(stream.total_count(), None);
    let mut seen = Vec::new();
    while let Some(customer) = stream.next().await {
        seen.push(customer.unwrap().full_name);
        assert_eq!(stream.total_count(), Some(250));
    }
    assert_eq!(seen, names(0..250));
    assert_eq!(stream.pages(), 3);
    assert_eq!(pages_asked(&server) - before, 3, "⌈250/100⌉ requests");
    for request in server
        .requests()
        .iter()
        .filter(|r| r.body["operationName"] == "customers")
    {
        assert_eq!(request.body["variables"]["first"], 100);
    }

    // An exact multiple of 100 costs no extra request, and none costs one.
    let exact = server_with(200).await;
    let (seen, _) = read_all(common::once_client(&exact).customers()).await;
    assert_eq!(seen.len(), 200);
    assert_eq!(pages_asked(&exact), 2);
    let empty = server_with(0).await;
    let (seen, cursor) = read_all(common::once_client(&empty).customers()).await;
    assert!(seen.is_empty());
    assert_eq!(cursor, None);
    assert_eq!(pages_asked(&empty), 1);
}

/// Waits until the server has received `n` pages requests; panics only after a pause no
/// working stream needs (a hang detector, not a speed check).
async fn until_asked(server: &LocalServer, n: usize) {
    for _ in 0..3000 {
        if pages_asked(server) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the server never received {n} customers requests");
}

#[tokio::test]
async fn the_stream_asks_for_the_next_page_while_the_caller_reads_and_never_two_ahead() {
    let server = server_with(350).await;
    let client = client(&server);
    let mut stream = client.customers().stream();
    assert_eq!(
        pages_asked(&server),
        0,
        "nothing is sent before the first poll"
    );
    stream.next().await.unwrap().unwrap();
    // The caller holds one customer and polls no more: page 2 is asked for all the same.
    until_asked(&server, 2).await;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(pages_asked(&server), 2, "never more than one page ahead");
    }
    for _ in 1..100 {
        stream.next().await.unwrap().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        pages_asked(&server),
        2,
        "page 3 waits until page 2 is taken"
    );
    let hundred_and_first = stream.next().await.unwrap().unwrap();
    assert_eq!(hundred_and_first.full_name, "Customer 0100");
    until_asked(&server, 3).await;
    // A stream dropped midway leaves nothing behind it.
    drop(stream);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pages_asked(&server), 3);
}

#[tokio::test]
async fn a_stream_resumes_after_the_cursor_of_the_last_customer_it_yielded() {
    let server = server_with(230).await;
    let client = client(&server);
    let mut stream = client.customers().stream();
    let mut seen = Vec::new();
    for _ in 0..150 {
        seen.push(stream.next().await.unwrap().unwrap().full_name);
    }
    let cursor = stream.cursor().unwrap().to_owned();
    drop(stream);
    let (rest, end) = read_all(client.customers().after(cursor.clone())).await;
    seen.extend(rest);
    assert_eq!(seen, names(0..230), "every customer once");
    // From the last cursor of a whole read, only customers created since.
    client.upsert_customer(input(230)).await.unwrap();
    let (new, _) = read_all(client.customers().after(end.unwrap())).await;
    assert_eq!(new, names(230..231));

    let (status, _) = post(&server, PAGE, json!({"after": cursor})).await;
    assert_eq!(status, 200, "the stream's cursor is the server's own");
}

#[tokio::test]
async fn a_failed_page_is_yielded_once_and_the_cursor_stays_where_reading_stopped() {
    let server = server_with(150).await;
    let client = client(&server);
    // Page 1 is answered; page 2, asked for while page 1 is read, fails.
    server.script([
        ScriptedAnswer::normal(),
        ScriptedAnswer::graphql_error(500, "INTERNAL_SERVER_ERROR", "boom"),
    ]);
    let mut stream = client.customers().stream();
    let mut seen = 0;
    let error = loop {
        match stream.next().await.unwrap() {
            Ok(_) => seen += 1,
            Err(error) => break error,
        }
    };
    assert_eq!(seen, 100);
    assert!(error.is_retryable(), "{error}");
    assert!(
        stream.next().await.is_none(),
        "the stream ends after its failure"
    );
    let cursor = stream.cursor().unwrap().to_owned();
    let (rest, _) = read_all(client.customers().after(cursor)).await;
    assert_eq!(rest, names(100..150));
}

#[tokio::test]
async fn the_stream_filters_and_sorts_as_told() {
    let server = server_with(0).await;
    let client = client(&server);
    for i in 0..120 {
        let input = match i % 2 {
            0 => named(i, &format!("Customer {i:04}"), ["vip"]),
            _ => input(i),
        };
        client.upsert_customer(input).await.unwrap();
    }
    let vip = CustomersFilter::new().customer_group_keys(["vip"]);
    let (seen, _) = read_all(client.customers().filter(vip.clone())).await;
    let evens: Vec<String> = (0..120)
        .step_by(2)
        .map(|i| format!("Customer {i:04}"))
        .collect();
    assert_eq!(seen, evens);
    let sent = server.requests().last().unwrap().body["variables"].clone();
    assert_eq!(sent["filters"], json!({"customerGroupKeys": ["vip"]}));

    let down = CustomersSort {
        field: CustomersSortField::FullName,
        direction: SortDirection::Desc,
    };
    let (seen, _) = read_all(client.customers().filter(vip).sort_by(down)).await;
    assert_eq!(seen, evens.into_iter().rev().collect::<Vec<_>>());

    let nobody = [
        CustomersFilter::new().marked_as_spam(true),
        CustomersFilter::new().companies([CompanyIdentifier::id("co_1")]),
        CustomersFilter::new().tenants([TenantIdentifier::external_id("t_1")]),
        CustomersFilter::new().updated_after(SystemTime::now() + Duration::from_secs(60)),
    ];
    for filter in nobody {
        let (seen, _) = read_all(client.customers().filter(filter.clone())).await;
        assert!(seen.is_empty(), "{filter:?}");
    }
    let everyone =
        CustomersFilter::new().updated_before(SystemTime::now() + Duration::from_secs(60));
    assert_eq!(
        read_all(client.customers().filter(everyone)).await.0.len(),
        120
    );
}

#[tokio::test]
async fn a_cursor_that_is_not_one_is_a_clear_error() {
    let server = server_with(3).await;
    let client = client(&server);
    let mut empty = client.customers().after(" ").stream();
    let error = empty.next().await.unwrap().unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    assert!(error.to_string().contains("cursor"), "{error}");
    assert!(empty.next().await.is_none());
    assert_eq!(pages_asked(&server), 0, "nothing sent");

    let mut foreign = client.customers().after("c_01").stream();
    let error = foreign.next().await.unwrap().unwrap_err();
    let text = error.to_string();
    assert!(text.contains("not a cursor customers answered"), "{text}");
}
