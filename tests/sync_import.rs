//! Batched upserts through `importCustomers` (`Bulk::import`, `plain sync-customers
//! --import`) against the local server: what qualifies goes 25 to a request, everything else
//! through `upsertCustomer`, and a batch Plain's counts do not confirm is sent again record by
//! record, so every record ends with its own result.

use std::time::Duration;

mod sync_support;

use futures_util::StreamExt;
use plain_client::bulk::{BulkOutcome, Done};
use plain_client::testing::{ImportFault, LocalServer, ScriptedAnswer};
use plain_client::{
    CustomerIdentifier, EmailAddress, OnCreate, OnUpdate, RetryPolicy, UpsertCustomerInput,
    UpsertResult,
};
use sync_support::{command, finish, line, line_count, sent, signal, wait_exit, wait_until, Dir};

/// Customer `i`, which `importCustomers` can carry exactly.
fn qualifying(i: usize) -> UpsertCustomerInput {
    let email = EmailAddress::unverified(format!("crm{i}@example.com"));
    let name = format!("Customer {i}");
    UpsertCustomerInput::new(
        CustomerIdentifier::external_id(format!("crm-{i}")),
        OnCreate::new(name.clone(), email.clone()).external_id(format!("crm-{i}")),
    )
    .on_update(OnUpdate::new().full_name(name).email(email))
}

/// Customer `i`, named by its email address: only `upsertCustomer` can say that.
fn by_email(i: usize) -> UpsertCustomerInput {
    let mut input = qualifying(i);
    input.identifier = CustomerIdentifier::email(format!("crm{i}@example.com"));
    input
}

/// `n` records, every fifth of them not qualifying.
fn mixed(n: usize) -> Vec<UpsertCustomerInput> {
    (0..n)
        .map(|i| {
            if i % 5 == 4 {
                by_email(i)
            } else {
                qualifying(i)
            }
        })
        .collect()
}

struct Ran {
    outcomes: Vec<BulkOutcome<CustomerIdentifier>>,
    requests: u64,
    sent: u64,
}

async fn import(
    client: &plain_client::PlainClient,
    inputs: Vec<UpsertCustomerInput>,
    concurrency: usize,
) -> Ran {
    let mut run = client
        .bulk()
        .concurrency(concurrency)
        .import(true)
        .upsert(inputs);
    let mut outcomes = Vec::new();
    while let Some(outcome) = run.next().await {
        outcomes.push(outcome);
    }
    outcomes.sort_by_key(|o| o.index);
    Ran {
        outcomes,
        requests: run.requests(),
        sent: run.sent(),
    }
}

fn imported(outcome: &BulkOutcome<CustomerIdentifier>) -> bool {
    matches!(
        outcome.result,
        Ok(Done::Imported {
            request_id: Some(_)
        })
    )
}

fn upserted(outcome: &BulkOutcome<CustomerIdentifier>) -> Option<UpsertResult> {
    match &outcome.result {
        Ok(Done::Upserted(upserted)) => Some(upserted.result.clone()),
        _ => None,
    }
}

/// The server holds customer `i` as the input says, once.
fn holds(server: &LocalServer, n: usize) {
    let customers = server.customers();
    assert_eq!(customers.len(), n, "every customer, once");
    for i in 0..n {
        let customer = customers
            .iter()
            .find(|c| c.external_id.as_deref() == Some(&format!("crm-{i}")))
            .unwrap_or_else(|| panic!("customer {i} is missing"));
        assert_eq!(customer.full_name, format!("Customer {i}"));
        assert_eq!(customer.email, format!("crm{i}@example.com"));
        assert!(!customer.email_verified);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qualifying_records_go_25_to_a_request_and_the_others_one_by_one() {
    let server = LocalServer::start().await.unwrap();
    let client = server.client().unwrap();
    let inputs = mixed(100);
    let ran = import(&client, inputs.clone(), 4).await;
    // 80 qualify: ⌈80 / 25⌉ = 4 batches, and 20 upserts.
    assert_eq!(sent(&server, "importCustomers"), 4);
    assert_eq!(sent(&server, "upsertCustomer"), 20);
    assert_eq!((ran.requests, ran.sent), (24, 100));
    assert_eq!(ran.outcomes.len(), 100);
    for (i, outcome) in ran.outcomes.iter().enumerate() {
        assert_eq!(outcome.index, i as u64);
        assert_eq!(outcome.record, inputs[i], "the record comes back as it was");
        if i % 5 == 4 {
            assert_eq!(
                upserted(outcome),
                Some(UpsertResult::Created),
                "{outcome:?}"
            );
        } else {
            assert!(imported(outcome), "{outcome:?}");
        }
    }
    holds(&server, 100);

    // Sent again: the batches update, the upserts change nothing.
    let again = import(&client, inputs, 4).await;
    assert_eq!(again.requests, 24);
    for outcome in &again.outcomes {
        assert!(
            imported(outcome) || upserted(outcome) == Some(UpsertResult::Noop),
            "{outcome:?}"
        );
    }
    holds(&server, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_import_every_record_is_an_upsert() {
    let server = LocalServer::start().await.unwrap();
    let client = server.client().unwrap();
    let outcomes: Vec<_> = client.bulk().upsert(mixed(30)).collect().await;
    assert_eq!(sent(&server, "importCustomers"), 0);
    assert_eq!(sent(&server, "upsertCustomer"), 30);
    assert!(outcomes
        .iter()
        .all(|o| upserted(o) == Some(UpsertResult::Created)));
}

/// Runs 50 qualifying records (two batches) with `fault` on the first batch, one at a time.
async fn first_batch_with(fault: ImportFault) -> (LocalServer, Ran) {
    let server = LocalServer::builder()
        .import_fault(1, fault)
        .start()
        .await
        .unwrap();
    let client = server.client().unwrap();
    let ran = import(&client, (0..50).map(qualifying).collect(), 1).await;
    (server, ran)
}

/// The first batch fell back: its 25 records were each upserted, and the second imported.
fn fell_back(server: &LocalServer, ran: &Ran) {
    assert_eq!(ran.outcomes.len(), 50);
    for outcome in &ran.outcomes[..25] {
        assert!(upserted(outcome).is_some(), "{outcome:?}");
    }
    for outcome in &ran.outcomes[25..] {
        assert!(imported(outcome), "{outcome:?}");
    }
    // Exactly the fallback's requests on top of the two batches.
    assert_eq!(sent(server, "upsertCustomer"), 25);
    assert_eq!(ran.requests, 2 + 25);
    holds(server, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_skipped_anything_is_sent_again_record_by_record() {
    let (server, ran) = first_batch_with(ImportFault::skip_last(1)).await;
    fell_back(&server, &ran);
    // 24 were added by the batch, the skipped one by its own upsert.
    let created = ran.outcomes[..25]
        .iter()
        .filter(|o| upserted(o) == Some(UpsertResult::Created))
        .count();
    assert_eq!(created, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_that_do_not_add_up_are_not_trusted() {
    let (server, ran) = first_batch_with(ImportFault::counts(20, 0, 0)).await;
    fell_back(&server, &ran);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refused_with_a_mutation_error_is_sent_record_by_record() {
    let (server, ran) = first_batch_with(ImportFault::validation_error()).await;
    fell_back(&server, &ran);
    // The batch applied nothing: each of its records was created by its own upsert.
    assert!(ran.outcomes[..25]
        .iter()
        .all(|o| upserted(o) == Some(UpsertResult::Created)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_may_have_reached_plain_is_retried_as_it_is() {
    for fault in [
        ImportFault::server_error(),
        ImportFault::internal_error(),
        ImportFault::after_applying(ScriptedAnswer::drop_connection()),
    ] {
        let (server, ran) = first_batch_with(fault).await;
        assert!(ran.outcomes.iter().all(imported), "{:?}", ran.outcomes);
        assert_eq!(sent(&server, "upsertCustomer"), 0, "no fallback");
        assert_eq!(ran.requests, 2, "retries are not requests of their own");
        holds(&server, 50);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_fails_for_every_request_fails_each_of_its_records() {
    let mut builder = LocalServer::builder();
    for nth in 1..=10 {
        builder = builder.import_fault(nth, ImportFault::instead(ScriptedAnswer::gateway(504)));
    }
    let server = builder.start().await.unwrap();
    let client = plain_client::PlainClient::builder()
        .endpoint(server.endpoint())
        .api_key(server.api_key().unwrap_or("plainApiKey_none"))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let ran = import(&client, (0..25).map(qualifying).collect(), 1).await;
    assert_eq!(ran.outcomes.len(), 25);
    for outcome in &ran.outcomes {
        let error = outcome.result.as_ref().unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert!(error.to_string().contains("504"), "{error}");
    }
    // An outage is not the batch's own failure: no record is sent on its own.
    assert_eq!(sent(&server, "upsertCustomer"), 0);
    assert_eq!(ran.requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answered_429_waits_for_the_window_and_lands() {
    let too_many = || {
        ImportFault::instead(
            ScriptedAnswer::graphql_error(429, "RATE_LIMITED", "Too many requests")
                .header("retry-after", "1"),
        )
    };
    let server = LocalServer::builder()
        .import_fault(1, too_many())
        .import_fault(2, too_many())
        .start()
        .await
        .unwrap();
    let client = server.client().unwrap();
    let ran = import(&client, (0..50).map(qualifying).collect(), 2).await;
    assert!(ran.outcomes.iter().all(imported), "{:?}", ran.outcomes);
    let answered_429 = server
        .requests()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    assert_eq!(answered_429, 2);
    // Waited for and sent again as it was: no record fell back.
    assert_eq!(sent(&server, "upsertCustomer"), 0);
    assert_eq!(ran.requests, 2);
    holds(&server, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_says_imported_with_the_batch_request_id_and_counts_requests_apart() {
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("import-command");
    let input: String = mixed(60).iter().map(|i| line(i) + "\n").collect();
    let input = dir.file("in.jsonl", input);
    let results = dir.path("results.jsonl");
    let (code, _, stderr) = finish(command(
        &server,
        &input,
        &["--import", "--results", &results],
    ))
    .await;
    assert_eq!(code, 0, "{stderr}");
    let lines = dir.jsonl("results.jsonl");
    assert_eq!(lines.len(), 60);
    for line in &lines {
        let n = line["line"].as_u64().unwrap();
        if n % 5 == 0 {
            assert_eq!(line["result"], "CREATED", "{line}");
            assert!(line["customerId"].is_string(), "{line}");
        } else {
            assert_eq!(line["result"], "IMPORTED", "{line}");
            assert!(line["requestId"].is_string(), "{line}");
            assert!(line.get("customerId").is_none(), "{line}");
        }
    }
    // 48 qualify: 2 batches, and 12 upserts.
    assert!(stderr.contains("imported 48"), "{stderr}");
    assert!(
        stderr.contains("60 records sent in 14 requests"),
        "{stderr}"
    );
    holds(&server, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_a_batched_sync_resumes_with_its_state() {
    let server = LocalServer::start().await.unwrap();
    // 80 batches one at a time, 50 ms each: the kill comes long before the end.
    server.set_delay(Duration::from_millis(50));
    let dir = Dir::new("import-resume");
    let n = 2000;
    let state = dir.path("customers.state");
    let input: String = (0..n).map(|i| line(&qualifying(i)) + "\n").collect();
    let input = dir.file("in.jsonl", input);
    let results = dir.path("first.jsonl");
    let mut child = command(
        &server,
        &input,
        &[
            "--import",
            "--state",
            &state,
            "--results",
            &results,
            "--concurrency",
            "1",
        ],
    )
    .spawn()
    .unwrap();
    wait_until("200 results", || line_count(&results) >= 200).await;
    signal(&child, libc::SIGKILL);
    wait_exit(&mut child).await;
    let confirmed = line_count(&results);
    assert!(confirmed < n, "killed before the end");
    let before = sent(&server, "importCustomers");

    server.set_delay(Duration::ZERO);
    let second = dir.path("second.jsonl");
    let (code, _, stderr) = finish(command(
        &server,
        &input,
        &["--import", "--state", &state, "--results", &second],
    ))
    .await;
    assert_eq!(code, 0, "{stderr}");
    let resent = sent(&server, "importCustomers") - before;
    let lines = dir.jsonl("second.jsonl");
    assert_eq!(lines.len(), n, "every record has a result");
    // What the state holds is not sent again: at most the records not confirmed, and the one
    // batch that was under way.
    let unchanged = lines.iter().filter(|l| l["result"] == "UNCHANGED").count();
    let again = lines.iter().filter(|l| l["result"] == "IMPORTED").count();
    assert_eq!(unchanged + again, n, "every record unchanged or imported");
    assert!(
        unchanged >= confirmed,
        "{unchanged} unchanged, {confirmed} confirmed"
    );
    assert!(
        again <= n - confirmed + 25,
        "{again} imported again, {confirmed} were confirmed before the kill"
    );
    assert!(
        resent >= again.div_ceil(25),
        "{resent} batches for {again} records"
    );
    holds(&server, n);

    // Everything is recorded now: a third run sends nothing.
    let requests = server.requests().len();
    let (code, _, stderr) =
        finish(command(&server, &input, &["--import", "--state", &state])).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(sent(&server, "importCustomers"), before + resent);
    assert_eq!(sent(&server, "upsertCustomer"), 0);
    assert!(
        server.requests().len() - requests <= 1,
        "only the workspace is asked"
    );
    assert!(stderr.contains(&format!("unchanged {n}")), "{stderr}");
}

/// Customer `i` under another name, on creation and on update.
fn renamed(i: usize, name: &str) -> UpsertCustomerInput {
    let mut input = qualifying(i);
    input.on_create.full_name = name.to_owned();
    input.on_update = input.on_update.full_name(name);
    input
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_twice_in_a_row_ends_as_its_later_record_says() {
    let dir = Dir::new("import-twice");
    for with_state in [false, true] {
        let server = LocalServer::start().await.unwrap();
        let client = server.client().unwrap();
        let mut inputs: Vec<_> = (0..10).map(qualifying).collect();
        inputs.push(renamed(3, "Later"));
        inputs.extend((10..20).map(qualifying));
        let state = plain_client::state::StateStore::open(dir.path(&format!("state-{with_state}")))
            .unwrap();
        state.bind(&client).await.unwrap();
        let mut bulk = client.bulk().concurrency(1).import(true);
        if with_state {
            bulk = bulk.state(&state);
        }
        let outcomes: Vec<_> = bulk.upsert(inputs).collect().await;
        assert_eq!(outcomes.len(), 21);
        assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
        let later = server
            .customers()
            .into_iter()
            .find(|c| c.external_id.as_deref() == Some("crm-3"))
            .unwrap();
        assert_eq!(later.full_name, "Later", "with a state: {with_state}");
        assert_eq!(server.customers().len(), 20);
        // The second record of the customer cut the batch short: never two of one customer
        // in a batch.
        assert!(sent(&server, "importCustomers") >= 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_does_not_wait_for_an_input_that_has_nothing_ready() {
    let server = LocalServer::start().await.unwrap();
    let client = server.client().unwrap();
    let (sender, mut receiver) = tokio::sync::mpsc::channel(16);
    let inputs = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let mut run = client.bulk().import(true).upsert_stream(inputs);
    for i in 0..3 {
        sender.send(qualifying(i)).await.unwrap();
    }
    // The input stays open with nothing more: the three go in a batch of their own.
    for _ in 0..3 {
        assert!(imported(&run.next().await.unwrap()));
    }
    for i in 3..6 {
        sender.send(qualifying(i)).await.unwrap();
    }
    drop(sender);
    let rest: Vec<_> = run.collect().await;
    assert_eq!(rest.len(), 3);
    assert!(rest.iter().all(imported));
    assert_eq!(sent(&server, "importCustomers"), 2);
    holds(&server, 6);
}
