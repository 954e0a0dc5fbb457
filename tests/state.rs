//! The state store from the library: what Plain confirmed is remembered, unchanged inputs are
//! not sent, and a state file is never shared or overwritten.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use plain_client::bulk::Done;
use plain_client::state::{StateError, StateStore};
use plain_client::testing::{LocalServer, ScriptedAnswer};
use plain_client::{
    CustomerIdentifier, EmailAddress, OnCreate, PlainClient, UpsertCustomerInput, UpsertResult,
};

mod sync_support;

use sync_support::{named as customer, upserts};

/// A state file in a scratch folder, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("plain-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn state(&self) -> PathBuf {
        self.0.join("customers.state")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs inputs through the state; the outcomes in input order.
async fn sync(
    client: &PlainClient,
    state: &StateStore,
    inputs: Vec<UpsertCustomerInput>,
    concurrency: usize,
) -> Vec<plain_client::Result<Done>> {
    let mut outcomes: Vec<_> = client
        .bulk()
        .concurrency(concurrency)
        .state(state)
        .upsert(inputs)
        .collect()
        .await;
    outcomes.sort_by_key(|o| o.index);
    outcomes.into_iter().map(|o| o.result).collect()
}

/// Opens the state file, bound to the workspace `client` reaches.
async fn open(path: impl AsRef<std::path::Path>, client: &PlainClient) -> StateStore {
    let state = StateStore::open(path).unwrap();
    state.bind(client).await.unwrap();
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_sends_only_what_changed() {
    let scratch = Scratch::new("changed");
    let server = LocalServer::start().await.unwrap();
    let client = server.client().unwrap();
    let state = open(scratch.state(), &client).await;

    let first: Vec<_> = (0..20).map(|i| customer(i, &format!("C {i}"))).collect();
    let outcomes = sync(&client, &state, first.clone(), 4).await;
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Ok(Done::Upserted(u)) if u.result == UpsertResult::Created)));
    state.commit().unwrap();
    assert_eq!(state.len().unwrap(), 20);
    assert_eq!(upserts(&server), 20);

    let mut second = first;
    for i in [3, 11, 17] {
        second[i] = customer(i, &format!("Renamed {i}"));
    }
    let outcomes = sync(&client, &state, second, 4).await;
    assert_eq!(
        upserts(&server),
        23,
        "only the three changed inputs are sent"
    );
    for (i, outcome) in outcomes.iter().enumerate() {
        let stored = server
            .customers()
            .into_iter()
            .find(|c| c.email == format!("customer{i}@example.com"))
            .unwrap();
        match outcome {
            Ok(Done::Upserted(u)) => {
                assert!([3, 11, 17].contains(&i), "{i} was sent");
                assert_eq!(u.result, UpsertResult::Updated);
                assert_eq!(stored.full_name, format!("Renamed {i}"));
            }
            Ok(Done::Unchanged { customer_id }) => {
                assert_eq!(customer_id.as_deref(), Some(stored.id.as_str()))
            }
            other => panic!("{i}: {other:?}"),
        }
    }
    state.commit().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_plain_confirmed_is_recorded() {
    let scratch = Scratch::new("confirmed");
    let server = LocalServer::start().await.unwrap();
    let client = server
        .client_builder()
        .retry_policy(plain_client::RetryPolicy::default().max_attempts(1))
        .build()
        .unwrap();
    let state = open(scratch.state(), &client).await;
    // The first answer is a server error: that input is not recorded, and is sent again.
    server.script([ScriptedAnswer::status(500)]);
    let outcomes = sync(&client, &state, vec![customer(1, "One")], 1).await;
    assert!(outcomes[0].is_err());
    let rejected = UpsertCustomerInput::new(
        CustomerIdentifier::email("blank@example.com"),
        OnCreate::new(" ", EmailAddress::unverified("blank@example.com")),
    );
    let outcomes = sync(&client, &state, vec![rejected.clone()], 1).await;
    assert!(outcomes[0].is_err(), "Plain refuses a blank name");
    state.commit().unwrap();
    assert!(state.is_empty().unwrap());

    let before = upserts(&server);
    let outcomes = sync(&client, &state, vec![customer(1, "One"), rejected], 1).await;
    assert_eq!(
        upserts(&server),
        before + 2,
        "neither was recorded: both are sent again"
    );
    assert!(matches!(&outcomes[0], Ok(Done::Upserted(_))));
    state.commit().unwrap();
    let entry = state
        .get(&CustomerIdentifier::email("CUSTOMER1@example.com "))
        .unwrap()
        .expect("emails are compared as Plain compares them");
    assert_eq!(entry.customer_id, Some(server.customers()[0].id.clone()));
    assert_eq!(entry.result, "CREATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_later_of_two_inputs_for_one_customer_wins() {
    let scratch = Scratch::new("later");
    let server = LocalServer::start().await.unwrap();
    // Slow answers: without ordering, the two would be in flight together.
    server.set_delay(Duration::from_millis(30));
    let client = server.client().unwrap();
    let state = open(scratch.state(), &client).await;
    let inputs = vec![
        customer(1, "First"),
        customer(2, "Other"),
        customer(1, "Second"),
        customer(1, "Third"),
    ];
    let outcomes = sync(&client, &state, inputs, 8).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(sync_support::stored(&server, 1).full_name, "Third");
    // The state holds the last input: sending it again sends nothing.
    let before = upserts(&server);
    let outcomes = sync(&client, &state, vec![customer(1, "Third")], 1).await;
    assert!(matches!(&outcomes[0], Ok(Done::Unchanged { .. })));
    assert_eq!(upserts(&server), before);

    // The same input twice in a row: the second waits for the first, then is unchanged.
    let outcomes = sync(
        &client,
        &state,
        vec![customer(5, "Five"), customer(5, "Five")],
        8,
    )
    .await;
    assert!(matches!(&outcomes[0], Ok(Done::Upserted(_))));
    assert!(matches!(&outcomes[1], Ok(Done::Unchanged { .. })));
}

#[tokio::test]
async fn a_second_handle_on_one_file_is_refused_and_the_file_is_kept() {
    let scratch = Scratch::new("locked");
    let path = scratch.state();
    let state = StateStore::open(&path).unwrap();
    let error = StateStore::open(&path).unwrap_err();
    assert!(matches!(error, StateError::Locked { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("in use by another process"), "{message}");
    drop(state);
    StateStore::open(&path).expect("free again once the first is dropped");
}

#[test]
fn a_file_that_is_not_a_state_file_is_refused_and_left_as_it_is() {
    let scratch = Scratch::new("foreign");
    let path = scratch.0.join("notes.txt");
    let text = "these are my notes, not a database\n".repeat(200);
    std::fs::write(&path, &text).unwrap();
    let error = StateStore::open(&path).unwrap_err();
    assert!(matches!(error, StateError::Foreign { .. }), "{error:?}");
    assert!(
        error.to_string().contains("not a plain state file"),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    let dir = StateStore::open(&scratch.0).unwrap_err();
    assert!(matches!(dir, StateError::Foreign { .. }), "{dir:?}");
}

/// Runs SQL on a file with the `sqlite3`-compatible library the crate bundles.
fn sql(path: &std::path::Path, statements: &str) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection.execute_batch(statements).unwrap();
}

#[test]
fn another_programs_database_is_refused_and_left_as_it_is() {
    let scratch = Scratch::new("other-db");
    let path = scratch.0.join("other.db");
    sql(
        &path,
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);
         INSERT INTO invoices (total) VALUES (12.5);",
    );
    let before = std::fs::read(&path).unwrap();
    let error = StateStore::open(&path).unwrap_err();
    assert!(matches!(error, StateError::Foreign { .. }), "{error:?}");
    assert!(error.to_string().contains("another program"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_newer_format_is_refused_and_left_as_it_is() {
    let scratch = Scratch::new("newer");
    let path = scratch.state();
    drop(StateStore::open(&path).unwrap());
    sql(&path, "PRAGMA user_version = 4;");
    let before = std::fs::read(&path).unwrap();
    let error = StateStore::open(&path).unwrap_err();
    assert!(
        matches!(error, StateError::NewerFormat { found: 4, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("reads format 3"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_customers_are_those_the_input_no_longer_names() {
    let scratch = Scratch::new("missing");
    let server = LocalServer::start().await.unwrap();
    let client = server.client().unwrap();
    let state = open(scratch.state(), &client).await;
    let inputs: Vec<_> = (0..6).map(|i| customer(i, &format!("C {i}"))).collect();
    sync(&client, &state, inputs.clone(), 2).await;
    state.commit().unwrap();
    drop(state);

    let state = open(scratch.state(), &client).await;
    state.track_seen().unwrap();
    let kept: Vec<_> = inputs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| ![1, 4].contains(i))
        .map(|(_, input)| input)
        .collect();
    sync(&client, &state, kept, 2).await;
    let mut missing = Vec::new();
    state
        .for_each_missing(|_, entry| -> Result<(), StateError> {
            missing.push(entry);
            Ok(())
        })
        .unwrap();
    let emails: Vec<_> = missing.iter().map(|e| e.identifier.clone()).collect();
    assert_eq!(
        emails,
        [
            CustomerIdentifier::email("customer1@example.com"),
            CustomerIdentifier::email("customer4@example.com")
        ]
    );
    // The server's ids of those two, in the same order (answers at concurrency 2 may have
    // created customer 4 before customer 1).
    let ids: Vec<_> = ["customer1@example.com", "customer4@example.com"]
        .into_iter()
        .map(|email| {
            let stored = server.customers().into_iter().find(|c| c.email == email);
            stored.unwrap().id
        })
        .collect();
    assert_eq!(
        missing
            .iter()
            .map(|e| e.customer_id.clone().unwrap())
            .collect::<Vec<_>>(),
        ids
    );
    assert!(state
        .forget(&CustomerIdentifier::email("customer1@example.com"))
        .unwrap());
    assert_eq!(state.len().unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_all_sends_every_input_and_refreshes_the_state() {
    let scratch = Scratch::new("full");
    let server = LocalServer::start().await.unwrap();
    let client = server.client().unwrap();
    let state = open(scratch.state(), &client).await;
    let inputs: Vec<_> = (0..5).map(|i| customer(i, "Same")).collect();
    sync(&client, &state, inputs.clone(), 2).await;
    state.resend_all();
    let outcomes = sync(&client, &state, inputs, 2).await;
    assert_eq!(upserts(&server), 10);
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Ok(Done::Upserted(u)) if u.result == UpsertResult::Noop)));
    let single = sync(&client, &state, vec![customer(9, "Nine")], 1).await;
    assert!(matches!(&single[..], [Ok(Done::Upserted(_))]));
    state.commit().unwrap();
    assert_eq!(state.len().unwrap(), 6);
}

#[test]
fn a_damaged_state_file_is_refused_with_a_clear_error_and_left_as_it_is() {
    let scratch = Scratch::new("damaged");
    let path = scratch.state();
    drop(StateStore::open(&path).unwrap());
    // The header stays; the page that describes the tables is overwritten.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 4096, "a state file has more than a page");
    for (i, byte) in bytes[100..4096].iter_mut().enumerate() {
        *byte = (i * 31 % 251) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    let error = StateStore::open(&path).unwrap_err();
    assert!(matches!(error, StateError::Damaged { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains("malformed"),
        "{message}"
    );
    assert!(message.contains("move it away"), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_file_of_format_1_is_migrated_to_one_entry_per_customer() {
    let scratch = Scratch::new("migrate");
    let path = scratch.state();
    // Format 1: one row per identifier; c_1 was synced by email and by external id.
    sql(
        &path,
        "CREATE TABLE customers (kind TEXT NOT NULL, value TEXT NOT NULL, digest BLOB NOT NULL,
             customer_id TEXT NOT NULL, result TEXT NOT NULL, synced_at INTEGER NOT NULL,
             PRIMARY KEY (kind, value)) WITHOUT ROWID;
         INSERT INTO customers VALUES ('emailAddress', 'a@example.com', x'01', 'c_1', 'CREATED', 1);
         INSERT INTO customers VALUES ('externalId', 'ext-a', x'02', 'c_1', 'UPDATED', 2);
         INSERT INTO customers VALUES ('emailAddress', 'b@example.com', x'03', 'c_2', 'CREATED', 3);
         PRAGMA application_id = 1349283411; PRAGMA user_version = 1;",
    );
    let state = StateStore::open(&path).unwrap();
    assert_eq!(state.len().unwrap(), 2, "one entry per customer");
    let by_email = state
        .get(&CustomerIdentifier::email("A@example.com"))
        .unwrap()
        .unwrap();
    let by_external = state
        .get(&CustomerIdentifier::external_id("ext-a"))
        .unwrap()
        .unwrap();
    assert_eq!(by_email, by_external);
    assert_eq!(by_email.customer_id.as_deref(), Some("c_1"));
    assert_eq!(by_email.external_id.as_deref(), Some("ext-a"));
    let b = state
        .get(&CustomerIdentifier::email("b@example.com"))
        .unwrap();
    assert_eq!(b.unwrap().customer_id.as_deref(), Some("c_2"));
    drop(state);
    assert_eq!(
        query(&path, "PRAGMA user_version"),
        3,
        "through format 2 to this one"
    );
}

/// A value of a file, read with the library the crate bundles.
fn query(path: &std::path::Path, statement: &str) -> i64 {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .query_row(statement, [], |row| row.get(0))
        .unwrap()
}

#[test]
fn a_file_of_format_2_is_migrated_and_keeps_every_entry_as_it_was() {
    let scratch = Scratch::new("migrate-2");
    let path = scratch.state();
    sql(
        &path,
        "CREATE TABLE customers (customer_id TEXT NOT NULL PRIMARY KEY, email TEXT UNIQUE,
             external_id TEXT UNIQUE, digest BLOB, result TEXT NOT NULL,
             synced_at INTEGER NOT NULL, missing_since INTEGER,
             deleting INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
         CREATE TABLE meta (name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
         INSERT INTO customers VALUES ('c_1', 'a@example.com', 'ext-a', x'01', 'CREATED', 1,
             NULL, 0);
         INSERT INTO customers VALUES ('c_2', NULL, 'ext-b', NULL, 'UPDATED', 2, 3, 1);
         INSERT INTO meta VALUES ('state_id', 'st_format2');
         INSERT INTO meta VALUES ('missing_lists', '3');
         PRAGMA application_id = 1349283411; PRAGMA user_version = 2;",
    );
    let state = StateStore::open(&path).unwrap();
    assert_eq!(
        state.state_id(),
        "st_format2",
        "what it was bound to is kept"
    );
    assert_eq!(state.len().unwrap(), 2);
    let a = state
        .get(&CustomerIdentifier::external_id("ext-a"))
        .unwrap()
        .unwrap();
    assert_eq!(a.customer_id.as_deref(), Some("c_1"));
    assert_eq!(a.email.as_deref(), Some("a@example.com"));
    assert_eq!(a.result, "CREATED");
    assert_eq!(a.missing_since, None);
    let b = state
        .get(&CustomerIdentifier::customer_id("c_2"))
        .unwrap()
        .unwrap();
    assert_eq!(b.identifier, CustomerIdentifier::external_id("ext-b"));
    assert_eq!((b.missing_since, b.deleting), (Some(3), true));
    assert_eq!(b.synced_at, std::time::UNIX_EPOCH + Duration::from_secs(2));
    drop(state);

    assert_eq!(query(&path, "PRAGMA user_version"), 3);
    // A customer may now be held without an id, by its external id, and never by nothing.
    sql(
        &path,
        "INSERT INTO customers (external_id, result, synced_at) VALUES ('ext-c', 'IMPORTED', 4)",
    );
    let unnamed = rusqlite::Connection::open(&path).unwrap().execute_batch(
        "INSERT INTO customers (email, result, synced_at) VALUES ('d@example.com', 'IMPORTED', 5)",
    );
    assert!(unnamed.is_err(), "a row without an id has an external id");
    let duplicate = rusqlite::Connection::open(&path).unwrap().execute_batch(
        "INSERT INTO customers (customer_id, result, synced_at) VALUES ('c_1', 'X', 6)",
    );
    assert!(duplicate.is_err(), "an id is unique");
    let state = StateStore::open(&path).unwrap();
    let c = state
        .get(&CustomerIdentifier::external_id("ext-c"))
        .unwrap()
        .unwrap();
    assert_eq!(c.customer_id, None);
    assert_eq!(state.len().unwrap(), 3);
}
