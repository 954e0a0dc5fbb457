//! Answers registered with the local server for operations it does not model: served as the
//! operation selects them, checked against the schema, and refused when they do not fit.

use plain_client::testing::LocalServer;
use serde_json::{json, Value};

/// The crate's part of Plain's schema, with a connection of groups the server does not model,
/// under names of its own.
fn schema() -> String {
    let vendored = include_str!("../graphql/schema.graphql");
    let with_field = vendored.replacen(
        "type Query {",
        "type Query {\n  localGroups(first: Int, after: String): LocalGroupConnection!",
        1,
    );
    assert_ne!(with_field, vendored, "the vendored schema has a Query type");
    with_field
        + "
type LocalGroupConnection {
  edges: [LocalGroupEdge!]!
  pageInfo: LocalGroupPageInfo!
  totalCount: Int!
}

type LocalGroupEdge {
  cursor: String!
  node: LocalGroup!
}

type LocalGroup {
  id: ID!
  key: String!
  name: String!
  color: LocalGroupColor
}

enum LocalGroupColor {
  RED
  BLUE
}

type LocalGroupPageInfo {
  hasNextPage: Boolean!
  endCursor: String
}
"
}

const GROUPS: &str = "query groups($first: Int) {
  localGroups(first: $first) {
    total: totalCount
    edges { node { key name color } }
    pageInfo { hasNextPage }
  }
}";

/// `n` groups, as Plain would send them, with more fields than the operation selects.
fn groups(n: u64) -> Value {
    let edges: Vec<Value> = (0..n)
        .map(|i| {
            json!({"cursor": format!("c{i}"), "node": {
                "id": format!("cg_{i}"), "key": format!("k{i}"), "name": format!("G {i}"),
                "color": "RED"
            }})
        })
        .collect();
    json!({"localGroups": {
        "totalCount": n, "edges": edges, "pageInfo": {"hasNextPage": false, "endCursor": null}
    }})
}

/// Posts an operation to the server: the status and the answer.
async fn post(server: &LocalServer, query: &str, variables: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.endpoint())
        .bearer_auth(server.api_key().unwrap())
        .header("content-type", "application/json")
        .body(json!({"query": query, "variables": variables}).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn a_registered_answer_is_served_as_the_operation_selects_it() {
    let server = LocalServer::builder()
        .schema(schema())
        .answer("groups", |variables| {
            groups(variables["first"].as_u64().unwrap_or(25))
        })
        .start()
        .await
        .unwrap();
    let (status, answer) = post(&server, GROUPS, json!({"first": 2})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"data": {"localGroups": {
            "total": 2,
            "edges": [
                {"node": {"key": "k0", "name": "G 0", "color": "RED"}},
                {"node": {"key": "k1", "name": "G 1", "color": "RED"}}
            ],
            "pageInfo": {"hasNextPage": false}
        }}})
    );
    // The operation itself is validated as any request is.
    let (status, answer) = post(&server, "query groups { localGroups { nope } }", json!({})).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
}

#[tokio::test]
async fn an_answer_that_does_not_fit_the_schema_fails_with_its_path() {
    let server = LocalServer::builder()
        .schema(schema())
        .start()
        .await
        .unwrap();
    let cases = [
        (
            json!({"localGroups": {"edges": [], "pageInfo": {"hasNextPage": false}}}),
            "data.localGroups.totalCount is null",
        ),
        (
            json!({"localGroups": {"totalCount": "2", "edges": [], "pageInfo": {"hasNextPage": false}}}),
            "data.localGroups.totalCount is \"2\", not a Int",
        ),
        (
            json!({"localGroups": {"totalCount": 1, "edges": [{"node": null}], "pageInfo": {"hasNextPage": false}}}),
            "data.localGroups.edges[0].node is null",
        ),
        (
            json!({"localGroups": {"totalCount": 1, "edges": [{"node": {"key": "k", "name": "n", "color": "GREEN"}}], "pageInfo": {"hasNextPage": false}}}),
            "data.localGroups.edges[0].node.color is \"GREEN\", not a value of LocalGroupColor",
        ),
        (
            json!({"localGroups": {"totalCount": 0, "edges": {}, "pageInfo": {"hasNextPage": false}}}),
            "data.localGroups.edges is {}, not a list",
        ),
    ];
    for (data, expected) in cases {
        server.answer("groups", move |_| data.clone());
        let (status, answer) = post(&server, GROUPS, json!({})).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(
            answer["errors"][0]["extensions"]["code"],
            "LOCAL_ANSWER_INVALID"
        );
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{expected}: {message}");
        assert!(message.contains("operation \"groups\""), "{message}");
    }
}

#[tokio::test]
async fn an_operation_neither_modeled_nor_answered_says_how_to_register_one() {
    let server = LocalServer::builder()
        .schema(schema())
        .start()
        .await
        .unwrap();
    let (status, answer) = post(&server, GROUPS, json!({})).await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Query.localGroups"), "{message}");
    assert!(message.contains("LocalServerBuilder::answer"), "{message}");
    // Registered later, it is served.
    server.answer("groups", |_| groups(1));
    let (status, answer) = post(&server, GROUPS, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["localGroups"]["total"], 1);
    // An answer replaces what the server models, for that operation only.
    server.answer(
        "myName",
        |_| json!({"myWorkspace": {"id": "w_x", "name": "Registered"}}),
    );
    let (_, answer) = post(&server, "query myName { myWorkspace { name } }", json!({})).await;
    assert_eq!(answer["data"]["myWorkspace"]["name"], "Registered");
    let (_, answer) = post(&server, "query other { myWorkspace { name } }", json!({})).await;
    assert_eq!(answer["data"]["myWorkspace"]["name"], "Local workspace");
}
