//! A state that matches Plain, tried as a careless operator and a hostile server would: one
//! entry per customer, deletions that cannot hit a live customer, a guard and a dry run, one
//! workspace per state, only understood answers recorded, outputs that agree with the state,
//! and a `--missing` list that writes through links. Each test runs `plain` against
//! `plain serve` as processes of their own (or, where a hostile answer is scripted, against a
//! local server in the test).

use std::collections::BTreeMap;

mod sync_support;

use plain_client::{CustomerIdentifier, EmailAddress, OnCreate, OnUpdate, UpsertCustomerInput};
use serde_json::Value;
use sync_support::{line, Dir, Serve};

fn email(i: usize) -> String {
    format!("customer{i}@example.com")
}

fn external(i: usize) -> String {
    format!("ext-{i}")
}

/// Customer `i` named by its email address, created with both identifiers.
fn by_email(i: usize, name: &str) -> UpsertCustomerInput {
    UpsertCustomerInput::new(
        CustomerIdentifier::email(email(i)),
        OnCreate::new(name, EmailAddress::unverified(email(i))).external_id(external(i)),
    )
    .on_update(OnUpdate::default().full_name(name))
}

/// Customer `i` named by its external id, created with both identifiers.
fn by_external(i: usize, name: &str) -> UpsertCustomerInput {
    UpsertCustomerInput::new(
        CustomerIdentifier::external_id(external(i)),
        OnCreate::new(name, EmailAddress::unverified(email(i))).external_id(external(i)),
    )
    .on_update(OnUpdate::default().full_name(name))
}

fn jsonl(inputs: impl IntoIterator<Item = UpsertCustomerInput>) -> String {
    inputs.into_iter().map(|i| line(&i) + "\n").collect()
}

/// The results file's `result` per line number.
fn results(dir: &Dir, name: &str) -> BTreeMap<u64, String> {
    dir.jsonl(name)
        .iter()
        .map(|v| {
            (
                v["line"].as_u64().unwrap(),
                v["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn count(results: &BTreeMap<u64, String>, result: &str) -> usize {
    results.values().filter(|r| *r == result).count()
}

/// The id Plain holds for customer `i`, if it holds one.
async fn in_plain(server: &Serve, i: usize) -> Option<plain_client::Customer> {
    server.client().customer_by_email(email(i)).await.unwrap()
}

async fn all_in_plain(server: &Serve, n: usize) -> usize {
    let mut held = 0;
    for i in 0..n {
        held += usize::from(in_plain(server, i).await.is_some());
    }
    held
}

/// Runs `plain sync-customers INPUT --state STATE ARGS...`.
async fn sync(server: &Serve, input: &str, state: &str, args: &[&str]) -> (i32, String) {
    let mut all = vec![input, "--state", state, "-q"];
    all.extend_from_slice(args);
    let (code, _, stderr) = server.run("sync-customers", &all).await;
    (code, stderr)
}

/// Runs `plain delete-customers FILE ARGS...`: exit code, stdout, stderr.
async fn delete(server: &Serve, file: &str, args: &[&str]) -> (i32, String, String) {
    let mut all = vec![file];
    all.extend_from_slice(args);
    server.run("delete-customers", &all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_synced_by_email_then_by_external_id_is_one_entry_and_stays_synced() {
    let server = Serve::start(&[]);
    let dir = Dir::new("integrity-one-entry");
    let state = dir.path("s.state");
    let by_mail = dir.file("email.jsonl", jsonl((0..20).map(|i| by_email(i, "A"))));
    let (code, stderr) = sync(&server, &by_mail, &state, &[]).await;
    assert_eq!(code, 0, "{stderr}");

    // The same customers by external id, with --missing: nobody is missing.
    let by_ext = dir.file("ext.jsonl", jsonl((0..20).map(|i| by_external(i, "A"))));
    let missing = dir.path("missing.jsonl");
    let out = dir.path("second.jsonl");
    let (code, stderr) = sync(
        &server,
        &by_ext,
        &state,
        &["--missing", &missing, "--results", &out],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        dir.jsonl("missing.jsonl").len(),
        0,
        "one customer, one entry"
    );
    // Found by external id: the customers Plain has, by the state's one entry each.
    let second = results(&dir, "second.jsonl");
    assert_eq!(count(&second, "NOOP"), 20, "{second:?}");

    // The (empty) list deletes nothing, and the next sync still finds every customer in Plain.
    let (code, _, stderr) = delete(&server, &missing, &["--state", &state]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(all_in_plain(&server, 20).await, 20);
    let third = dir.path("third.jsonl");
    let (code, _) = sync(&server, &by_ext, &state, &["--results", &third]).await;
    assert_eq!(code, 0);
    assert_eq!(count(&results(&dir, "third.jsonl"), "UNCHANGED"), 20);
}

/// Syncs customers `0..n`, then `keep` alone with `--missing`: the list of the others.
async fn listed(server: &Serve, dir: &Dir, state: &str, n: usize, keep: &[usize]) -> String {
    let all = dir.file("all.jsonl", jsonl((0..n).map(|i| by_email(i, "A"))));
    let (code, stderr) = sync(server, &all, state, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let kept = dir.file("kept.jsonl", jsonl(keep.iter().map(|&i| by_email(i, "A"))));
    let missing = dir.path("missing.jsonl");
    let (code, stderr) = sync(server, &kept, state, &["--missing", &missing]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(dir.jsonl("missing.jsonl").len(), n - keep.len());
    missing
}

/// Runs `plain delete-customers FILE --state STATE` on a file of one line the state refuses:
/// the code of its reject.
async fn refused(server: &Serve, dir: &Dir, file: &str, state: &str) -> String {
    let rejects = dir.path("rejects.jsonl");
    let args = [
        "--state",
        state,
        "--rejects",
        &rejects,
        "--allow-mass-delete",
    ];
    let (code, _, stderr) = delete(server, file, &args).await;
    assert_eq!(code, 6, "{stderr}");
    let rejected = dir.jsonl("rejects.jsonl");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    rejected[0]["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_line_that_disagrees_with_the_state_is_refused() {
    let server = Serve::start(&[]);
    let dir = Dir::new("integrity-disagree");
    let state = dir.path("s.state");
    let missing = listed(&server, &dir, &state, 3, &[2]).await;
    let lines = dir.jsonl("missing.jsonl");
    let alice = lines
        .iter()
        .find(|l| l["identifier"]["emailAddress"] == email(0));
    let bob = lines
        .iter()
        .find(|l| l["identifier"]["emailAddress"] == email(1));
    let (alice, bob) = (alice.unwrap(), bob.unwrap());
    // Alice's email, Bob's customer id.
    let mut mixed = alice.clone();
    mixed["customerId"] = bob["customerId"].clone();
    let mixed = dir.file("mixed.jsonl", format!("{mixed}\n"));
    let refused = refused(&server, &dir, &mixed, &state).await;
    assert_eq!(refused, "disagrees_with_state");
    assert!(in_plain(&server, 1).await.is_some(), "Bob is not deleted");
    assert!(in_plain(&server, 0).await.is_some());
    drop(missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_missing_list_deletes_nobody_synced_since() {
    let server = Serve::start(&[]);
    let dir = Dir::new("integrity-stale");
    let state = dir.path("s.state");
    // a+b, then a alone (b listed), then a+b again.
    let missing = listed(&server, &dir, &state, 2, &[0]).await;
    let both = dir.file("both.jsonl", jsonl((0..2).map(|i| by_email(i, "A"))));
    let (code, _) = sync(&server, &both, &state, &[]).await;
    assert_eq!(code, 0);
    let b = in_plain(&server, 1).await.unwrap().id;

    assert_eq!(
        refused(&server, &dir, &missing, &state).await,
        "not_missing"
    );
    assert_eq!(
        in_plain(&server, 1).await.unwrap().id,
        b,
        "b is not deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_deletion_is_refused_and_a_dry_run_lists_it_and_sends_nothing() {
    let server = Serve::start(&[]);
    let dir = Dir::new("integrity-guard");
    let state = dir.path("s.state");
    let keep: Vec<usize> = (0..10).collect();
    let missing = listed(&server, &dir, &state, 100, &keep).await;

    let (code, _, stderr) = delete(&server, &missing, &["--state", &state]).await;
    assert_eq!(code, 3, "{stderr}");
    for number in ["90 customers", "the 10 allowed", "10% of the 100 customers"] {
        assert!(stderr.contains(number), "{number}: {stderr}");
    }
    assert_eq!(all_in_plain(&server, 100).await, 100, "nothing was deleted");
    let (code, _, stderr) = delete(
        &server,
        &missing,
        &["--state", &state, "--max-deletes", "89"],
    )
    .await;
    assert_eq!(code, 3, "{stderr}");

    let (code, stdout, stderr) = delete(&server, &missing, &["--state", &state, "--dry-run"]).await;
    assert_eq!(
        code, 3,
        "the dry run says the real one would be refused: {stderr}"
    );
    let listed: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 90);
    assert!(listed.iter().all(|l| l["result"] == "WOULD_DELETE"));
    assert!(stderr.contains("would delete 90"), "{stderr}");
    assert_eq!(
        all_in_plain(&server, 100).await,
        100,
        "a dry run sends nothing"
    );

    let (code, _, stderr) = delete(
        &server,
        &missing,
        &["--state", &state, "--max-deletes", "90"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("deleted 90"), "{stderr}");
    assert_eq!(all_in_plain(&server, 100).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_without_records_writes_no_missing_list() {
    let server = Serve::start(&[]);
    let dir = Dir::new("integrity-empty");
    let state = dir.path("s.state");
    let all = dir.file("all.jsonl", jsonl((0..5).map(|i| by_email(i, "A"))));
    let (code, _) = sync(&server, &all, &state, &[]).await;
    assert_eq!(code, 0);
    let missing = dir.path("missing.jsonl");
    let empty = dir.file("empty.jsonl", "");
    let header_only = dir.file("header.csv", "email,full_name\n");
    for (input, format) in [(&empty, "jsonl"), (&header_only, "csv")] {
        let (code, stderr) = sync(
            &server,
            input,
            &state,
            &["--missing", &missing, "--format", format],
        )
        .await;
        assert_eq!(code, 6, "{stderr}");
        assert!(stderr.contains("holds no record"), "{stderr}");
        assert!(!std::path::Path::new(&missing).exists());
    }
    // Empty standard input.
    let mut command = server.plain(
        "sync-customers",
        &["-", "--state", &state, "--missing", &missing, "-q"],
    );
    command.stdin(std::process::Stdio::null());
    let (code, _, stderr) = sync_support::finish(command).await;
    assert_eq!(code, 6, "{stderr}");
    assert!(!std::path::Path::new(&missing).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lines_naming_one_customer_take_turns_and_the_later_wins() {
    let server = Serve::start(&[]);
    let dir = Dir::new("integrity-two-lines");
    let state = dir.path("s.state");
    let n = 150;
    let input = dir.file(
        "in.jsonl",
        jsonl((0..n).flat_map(|i| {
            [
                by_email(i, &format!("A {i}")),
                by_external(i, &format!("B {i}")),
            ]
        })),
    );
    for run in 0..2 {
        let out = dir.path("out.jsonl");
        let (code, stderr) = sync(
            &server,
            &input,
            &state,
            &["--concurrency", "16", "--results", &out],
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
        let results = results(&dir, "out.jsonl");
        assert_eq!(results.len(), 2 * n);
        if run == 1 {
            // Each line differs from what the state last recorded for its customer (the other
            // line): both are sent again, in order.
            assert_eq!(count(&results, "UNCHANGED"), 0, "{results:?}");
        }
        for i in 0..n {
            let customer = in_plain(&server, i).await.unwrap();
            assert_eq!(customer.full_name, format!("B {i}"), "run {run}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_of_another_workspace_is_refused_and_can_be_reset() {
    let first = Serve::start(&[]);
    let dir = Dir::new("integrity-workspace");
    let state = dir.path("s.state");
    let input = dir.file("in.jsonl", jsonl((0..10).map(|i| by_email(i, "A"))));
    let (code, _) = sync(&first, &input, &state, &[]).await;
    assert_eq!(code, 0);

    let other = Serve::start(&[]);
    let (code, stderr) = sync(&other, &input, &state, &[]).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("built against workspace"), "{stderr}");
    assert!(stderr.contains("--reset-state"), "{stderr}");
    assert_eq!(all_in_plain(&other, 10).await, 0, "nothing was sent");

    let out = dir.path("out.jsonl");
    let (code, stderr) = sync(
        &other,
        &input,
        &state,
        &["--reset-state", "--results", &out],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(&results(&dir, "out.jsonl"), "CREATED"), 10);
    // And now the state belongs to the second workspace.
    let (code, _) = sync(&first, &input, &state, &[]).await;
    assert_eq!(code, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_may_not_read_its_workspace_binds_by_endpoint_and_key() {
    let server = Serve::start(&["--forbid-workspace-read"]);
    let dir = Dir::new("integrity-fingerprint");
    let state = dir.path("s.state");
    let input = dir.file("in.jsonl", jsonl((0..3).map(|i| by_email(i, "A"))));
    let (code, stderr) = sync(&server, &input, &state, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let out = dir.path("out.jsonl");
    let (code, _) = sync(&server, &input, &state, &["--results", &out]).await;
    assert_eq!(code, 0);
    assert_eq!(count(&results(&dir, "out.jsonl"), "UNCHANGED"), 3);
    // Another key: another workspace, as far as the state can tell.
    let mut command = server.plain("sync-customers", &[&input, "--state", &state, "-q"]);
    command.env("PLAIN_API_KEY", "plainApiKey_another");
    let (code, _, stderr) = sync_support::finish(command).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("fingerprint"), "{stderr}");
    assert!(
        !stderr.contains("plainApiKey_another"),
        "the key is never shown: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_missing_list_writes_through_a_link_and_refuses_special_and_state_files() {
    let server = Serve::start(&[]);
    let dir = Dir::new("integrity-links");
    let state = dir.path("s.state");
    let all = dir.file("all.jsonl", jsonl((0..3).map(|i| by_email(i, "A"))));
    let (code, _) = sync(&server, &all, &state, &[]).await;
    assert_eq!(code, 0);
    let one = dir.file("one.jsonl", jsonl([by_email(0, "A")]));

    let target = dir.file("target.jsonl", "old\n");
    let link = dir.path("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (code, stderr) = sync(&server, &one, &state, &["--missing", &link]).await;
    assert_eq!(code, 0, "{stderr}");
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_symlink(), "the link stays a link");
    assert_eq!(dir.jsonl("target.jsonl").len(), 2, "written through it");

    let wal = format!("{state}-wal");
    for (path, what) in [
        ("/dev/null", "not a regular file"),
        (wal.as_str(), "state file's own wal"),
        (state.as_str(), "same file"),
    ] {
        let (code, stderr) = sync(&server, &one, &state, &["--missing", path]).await;
        assert_eq!(code, 3, "{path}: {stderr}");
        assert!(stderr.contains(what), "{path}: {stderr}");
    }
}

/// Every customer the state file records as synced (and not being deleted) is one Plain has.
async fn state_matches_plain(server: &Serve, state: &str, n: usize) {
    let store = plain_client::state::StateStore::open(state).unwrap();
    for i in 0..n {
        let entry = store.get(&CustomerIdentifier::email(email(i))).unwrap();
        let Some(entry) = entry.filter(|e| !e.deleting) else {
            continue;
        };
        let held = in_plain(server, i).await.map(|c| c.id);
        assert_eq!(
            held.as_deref(),
            entry.customer_id.as_deref(),
            "customer {i} is recorded as synced, and Plain lacks it"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_deletions_never_leaves_a_deleted_customer_recorded_as_synced() {
    // 10 requests a second: the deletions are under way, some in flight, at each kill.
    let server = Serve::start(&["--rate-limit", "10", "--window", "1"]);
    let dir = Dir::new("integrity-kill-delete");
    let state = dir.path("s.state");
    let n = 40;
    let missing = listed(&server, &dir, &state, n, &[0]).await;
    let deleted = dir.path("deleted.jsonl");
    let args = [
        "--state",
        &state,
        "--allow-mass-delete",
        "--concurrency",
        "4",
        "--results",
        &deleted,
    ];
    for kill_at in [1, 8, 20] {
        let mut child = server
            .plain(
                "delete-customers",
                &[&[missing.as_str()][..], &args[..]].concat(),
            )
            .spawn()
            .unwrap();
        sync_support::wait_until("deletions under way", || {
            sync_support::line_count(&deleted) >= kill_at
        })
        .await;
        sync_support::signal(&child, libc::SIGKILL);
        sync_support::wait_exit(&mut child).await;
        state_matches_plain(&server, &state, n).await;
    }
    // The last run finishes what the killed ones left: every line is deleted, not found (it
    // was deleted in flight at a kill) or forgotten (an earlier run deleted it).
    let (code, _, stderr) = delete(&server, &missing, &args).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(all_in_plain(&server, n).await, 1);
    state_matches_plain(&server, &state, n).await;
    // A full re-sync creates every deleted customer again: none is skipped as unchanged.
    let all = dir.file("all.jsonl", jsonl((0..n).map(|i| by_email(i, "A"))));
    let out = dir.path("resync.jsonl");
    let (code, stderr) = sync(&server, &all, &state, &["--results", &out]).await;
    assert_eq!(code, 0, "{stderr}");
    let resync = results(&dir, "resync.jsonl");
    assert_eq!(count(&resync, "CREATED"), n - 1, "{resync:?}");
    assert_eq!(all_in_plain(&server, n).await, n);
}

/// An answer to an upsert of customer `i`'s email, from a hostile or newer server.
fn answer(result: &str, id: &str, i: usize) -> plain_client::testing::ScriptedAnswer {
    let now = serde_json::json!({"iso8601": "2026-01-01T00:00:00.000Z"});
    plain_client::testing::ScriptedAnswer::json(
        200,
        &serde_json::json!({"data": {"upsertCustomer": {
            "result": result,
            "customer": {
                "id": id, "externalId": null, "shortName": null, "fullName": "X",
                "email": {"email": email(i), "isVerified": false, "verifiedAt": null},
                "status": null, "createdAt": now, "updatedAt": now,
            },
            "error": null,
        }}}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_not_understood_are_not_recorded_and_are_sent_again() {
    use plain_client::testing::{LocalServer, ScriptedAnswer};
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("integrity-hostile");
    let state = dir.path("s.state");
    let input = dir.file("in.jsonl", jsonl((0..10).map(|i| by_email(i, "A"))));
    // The workspace question is answered; then MERGED for five, and CREATED with one id and
    // the first customer's email for the other five.
    let mut script = vec![ScriptedAnswer::normal()];
    script.extend((0..5).map(|i| answer("MERGED", "c_same", i)));
    script.extend((5..10).map(|_| answer("CREATED", "c_same", 0)));
    server.script(script);
    let out = dir.path("out.jsonl");
    let rejects = dir.path("rejects.jsonl");
    let args = [
        "--state",
        &state,
        "--concurrency",
        "1",
        "--results",
        &out,
        "--rejects",
        &rejects,
    ];
    let (code, _, stderr) =
        sync_support::finish(sync_support::command(&server, &input, &args)).await;
    assert_eq!(code, 6, "{stderr}");
    let rejected = dir.jsonl("rejects.jsonl");
    assert_eq!(rejected.len(), 10);
    assert!(rejected
        .iter()
        .all(|r| r["error"]["code"] == "not_recorded"));
    assert!(rejected
        .iter()
        .all(|r| r["answer"]["customerId"] == "c_same"));
    // Plain's answer as it came: a result this version does not know keeps its text.
    let merged = rejected
        .iter()
        .filter(|r| r["answer"]["result"] == "MERGED");
    assert_eq!(merged.count(), 5);
    assert!(dir
        .jsonl("out.jsonl")
        .iter()
        .all(|r| r["result"] == "FAILED" && r["error"] == "not_recorded"));

    // Nothing was recorded: every record is sent again, and now Plain creates each.
    let (code, _, stderr) =
        sync_support::finish(sync_support::command(&server, &input, &args)).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(&results(&dir, "out.jsonl"), "CREATED"), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_leaves_no_results_line_the_state_does_not_hold_and_counts_the_rest() {
    use plain_client::testing::LocalServer;
    use std::os::unix::process::CommandExt;
    let server = LocalServer::start().await.unwrap();
    let dir = Dir::new("integrity-full-disk");
    let state = dir.path("s.state");
    let n = 500;
    let input = dir.file("in.jsonl", jsonl((0..n).map(|i| by_email(i, "A"))));
    let out = dir.path("out.jsonl");
    let mut command =
        sync_support::command(&server, &input, &["--state", &state, "--results", &out]);
    // Every file the run writes may grow to 48 KiB: the state's write-ahead log reaches it
    // first, as on a full disk.
    // SAFETY: setrlimit and signal are async-signal-safe, and touch only the child.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 48 * 1024,
                rlim_max: 48 * 1024,
            };
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (code, _, stderr) = sync_support::finish(command).await;
    assert_eq!(code, 7, "{stderr}");
    let listed = dir.jsonl("out.jsonl");
    let unrecorded: usize = stderr
        .split("; ")
        .find_map(|part| {
            let (n, rest) = part.split_once(' ')?;
            rest.starts_with("answers not recorded in the state")
                .then(|| n.parse().ok())?
        })
        .unwrap_or(0);
    assert!(
        unrecorded > 0,
        "the summary counts the answers not recorded: {stderr}"
    );
    let store = plain_client::state::StateStore::open(&state).unwrap();
    let inputs: Vec<Value> = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for line in &listed {
        if line["result"] == "FAILED" {
            continue;
        }
        let at = usize::try_from(line["line"].as_u64().unwrap()).unwrap() - 1;
        let email = inputs[at]["identifier"]["emailAddress"].as_str().unwrap();
        let held = store.get(&CustomerIdentifier::email(email)).unwrap();
        assert_eq!(
            held.and_then(|e| e.customer_id).as_deref(),
            line["customerId"].as_str(),
            "line {} is in the results file, so the state holds it",
            line["line"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_a_rerun_sends_again_at_most_the_concurrency_plus_a_commit_batch() {
    use plain_client::testing::LocalServer;
    use std::time::Duration;
    let server = LocalServer::start().await.unwrap();
    server.set_delay(Duration::from_millis(20));
    let dir = Dir::new("integrity-crash-bound");
    let state = dir.path("s.state");
    let n = 600;
    let input = dir.file("in.jsonl", jsonl((0..n).map(|i| by_email(i, "A"))));
    let out = dir.path("out.jsonl");
    let concurrency = 8;
    let mut child = sync_support::command(
        &server,
        &input,
        &["--state", &state, "--results", &out, "--concurrency", "8"],
    )
    .spawn()
    .unwrap();
    sync_support::wait_until("200 results", || sync_support::line_count(&out) >= 200).await;
    sync_support::signal(&child, libc::SIGKILL);
    sync_support::wait_exit(&mut child).await;
    let first = sync_support::upserts(&server);
    assert!(first < n, "killed before the end");
    let (code, _, stderr) =
        sync_support::finish(sync_support::command(&server, &input, &["--state", &state])).await;
    assert_eq!(code, 0, "{stderr}");
    // Each record was sent once at least; the rest were sent twice.
    let again = sync_support::upserts(&server) - n;
    // The command commits (and writes results lines) every COMMIT_EVERY answers: the
    // README's bound.
    let bound = concurrency + plain_client::state::COMMIT_EVERY;
    assert!(
        again <= bound,
        "{again} records sent twice, more than {bound}"
    );
}

/// The lines of a results file by their `line`.
fn by_line(dir: &Dir, name: &str) -> BTreeMap<u64, Value> {
    dir.jsonl(name)
        .into_iter()
        .map(|v| (v["line"].as_u64().unwrap(), v))
        .collect()
}

/// Writes into a state file, as a test may and the commands never do.
fn sql(path: &str, statements: &str) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection.execute_batch(statements).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_held_without_an_id_is_listed_by_external_id_and_deleted_after_a_look_up() {
    let server = Serve::start(&[]);
    let dir = Dir::new("integrity-imported");
    let state = dir.path("s.state");
    let all = dir.file("all.jsonl", jsonl((0..3).map(|i| by_email(i, "A"))));
    let (code, stderr) = sync(&server, &all, &state, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    // Plain has imp-a and imp-b from a batch; the state holds them, and imp-c, as a batch's
    // confirmation leaves them: by external id, without an id.
    let client = server.client();
    let batch = ["imp-a", "imp-b"].map(|id| {
        plain_client::ImportCustomer::new(id, "Imported").email(format!("{id}@example.com"))
    });
    client.import_customers(batch.to_vec()).await.unwrap();
    sql(
        &state,
        "INSERT INTO customers (external_id, digest, result, synced_at) VALUES
             ('imp-a', x'00', 'IMPORTED', 1), ('imp-b', x'00', 'IMPORTED', 1),
             ('imp-c', x'00', 'IMPORTED', 1);",
    );
    let missing = dir.path("missing.jsonl");
    let (code, stderr) = sync(&server, &all, &state, &["--missing", &missing]).await;
    assert_eq!(code, 0, "{stderr}");
    let listed = dir.jsonl("missing.jsonl");
    let external_ids: Vec<_> = listed
        .iter()
        .map(|l| l["identifier"]["externalId"].as_str().unwrap())
        .collect();
    assert_eq!(external_ids, ["imp-a", "imp-b", "imp-c"], "{listed:?}");
    assert!(
        listed.iter().all(|l| l.get("customerId").is_none()),
        "{listed:?}"
    );
    assert!(listed.iter().all(|l| l["lastResult"] == "IMPORTED"));

    let id_of = async |external_id: &str| {
        let found = client.customer_by_external_id(external_id).await.unwrap();
        found.map(|c| c.id)
    };
    let (a, b) = (id_of("imp-a").await.unwrap(), id_of("imp-b").await.unwrap());
    // A dry run asks Plain for the ids, and deletes nothing.
    let out = dir.path("results.jsonl");
    let guard = ["--max-deletes", "3"];
    let mut args = vec!["--state", &state, "--results", &out, "--dry-run"];
    args.extend(guard);
    let (code, stdout, stderr) = delete(&server, &missing, &args).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&a) && stdout.contains(&b), "{stdout}");
    let dry = by_line(&dir, "results.jsonl");
    let said: Vec<_> = dry
        .values()
        .map(|l| l["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        said,
        ["WOULD_DELETE", "WOULD_DELETE", "NOT_FOUND"],
        "{dry:?}"
    );
    assert_eq!(dry[&3]["identifier"]["externalId"], "imp-c");
    assert_eq!(
        id_of("imp-a").await.as_ref(),
        Some(&a),
        "a dry run deletes nothing"
    );

    let args = ["--state", &state, "--results", &out, guard[0], guard[1]];
    let (code, _, stderr) = delete(&server, &missing, &args).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("deleted 2, not found 1"), "{stderr}");
    let done = results(&dir, "results.jsonl");
    assert_eq!(
        done.values().collect::<Vec<_>>(),
        ["DELETED", "DELETED", "NOT_FOUND"]
    );
    let deleted: Vec<_> = by_line(&dir, "results.jsonl")
        .values()
        .filter_map(|l| l["customerId"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(deleted, [a, b]);
    assert_eq!((id_of("imp-a").await, id_of("imp-b").await), (None, None));
    assert_eq!(all_in_plain(&server, 3).await, 3, "the others are kept");

    // The state forgot all three: the list deletes nothing more, and asks Plain nothing.
    let (code, _, stderr) = delete(&server, &missing, &args).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(&results(&dir, "results.jsonl"), "FORGOTTEN"), 3);
    let (code, stderr) = sync(&server, &all, &state, &["--missing", &missing]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(dir.jsonl("missing.jsonl").len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_without_a_customer_id_is_deleted_unchecked_by_its_external_id_or_refused() {
    let server = Serve::start(&[]);
    let dir = Dir::new("integrity-by-external");
    let client = server.client();
    let batch = vec![plain_client::ImportCustomer::new("imp-z", "Z").email("z@example.com")];
    client.import_customers(batch).await.unwrap();
    let lines = dir.file(
        "hand.jsonl",
        "{\"identifier\":{\"externalId\":\"imp-z\"}}\n\
         {\"identifier\":{\"emailAddress\":\"z@example.com\"}}\n",
    );
    let out = dir.path("results.jsonl");
    let rejects = dir.path("rejects.jsonl");
    let args = ["--unchecked", "--results", &out, "--rejects", &rejects];
    let (code, _, stderr) = delete(&server, &lines, &args).await;
    assert_ne!(code, 0, "a line could not be read: {stderr}");
    let done = results(&dir, "results.jsonl");
    assert_eq!(
        done.get(&1).map(String::as_str),
        Some("DELETED"),
        "{done:?}"
    );
    assert_eq!(
        done.get(&2).map(String::as_str),
        Some("MALFORMED"),
        "{done:?}"
    );
    let rejected = dir.jsonl("rejects.jsonl");
    let message = rejected[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("externalId"), "{message}");
    assert!(client
        .customer_by_external_id("imp-z")
        .await
        .unwrap()
        .is_none());
}
