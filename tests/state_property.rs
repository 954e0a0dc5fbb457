//! A property of the state store: whatever the interleaving of syncs (by email and by
//! external id), missing lists and deletions (cut short at any point, as by `kill -9`), no
//! customer Plain lacks is recorded as synced, so no re-sync skips it.

use futures_util::StreamExt;
use plain_client::state::{MissingList, StateError, StateStore};
use plain_client::testing::LocalServer;
use plain_client::{
    CustomerIdentifier, EmailAddress, Error, OnCreate, OnUpdate, PlainClient, UpsertCustomerInput,
};
use proptest::prelude::*;

const CUSTOMERS: usize = 6;

fn email(i: usize) -> String {
    format!("p{i}@example.com")
}

fn external(i: usize) -> String {
    format!("px-{i}")
}

fn input(i: usize, by_external: bool, name: u8) -> UpsertCustomerInput {
    let identifier = if by_external {
        CustomerIdentifier::external_id(external(i))
    } else {
        CustomerIdentifier::email(email(i))
    };
    let name = format!("Name {name}");
    UpsertCustomerInput::new(
        identifier,
        OnCreate::new(&name, EmailAddress::unverified(email(i))).external_id(external(i)),
    )
    .on_update(OnUpdate::default().full_name(name))
}

/// Where a deletion run is cut short.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// It runs to its end.
    Never,
    /// At this line, after the deletion was written ahead and before it was sent.
    BeforeSend(usize),
    /// At this line, after Plain deleted the customer and before the state forgot it.
    AfterSend(usize),
}

#[derive(Debug, Clone)]
enum Op {
    /// Syncs the customers of the mask, by email or by external id, under a name; with
    /// `--missing`, the list is kept.
    Sync {
        mask: u8,
        by_external: bool,
        name: u8,
        missing: bool,
    },
    /// Deletes what a list kept earlier names (any of them, by this number modulo their count).
    Delete { list: usize, cut: Cut },
}

fn op() -> impl Strategy<Value = Op> {
    let cut = prop_oneof![
        Just(Cut::Never),
        (0usize..6).prop_map(Cut::BeforeSend),
        (0usize..6).prop_map(Cut::AfterSend),
    ];
    prop_oneof![
        3 => (any::<u8>(), any::<bool>(), 0u8..3, any::<bool>()).prop_map(
            |(mask, by_external, name, missing)| Op::Sync { mask, by_external, name, missing }
        ),
        2 => (0usize..4, cut).prop_map(|(list, cut)| Op::Delete { list, cut }),
    ]
}

/// A line of a missing list.
#[derive(Debug, Clone)]
struct Listed {
    customer_id: String,
    identifier: CustomerIdentifier,
    list: MissingList,
}

struct World {
    server: LocalServer,
    client: PlainClient,
    path: std::path::PathBuf,
    lists: Vec<Vec<Listed>>,
}

impl World {
    /// A run: the state opened and bound, as each command does.
    async fn open(&self) -> StateStore {
        let state = StateStore::open(&self.path).unwrap();
        state.bind(&self.client).await.unwrap();
        state
    }

    async fn apply(&mut self, op: &Op) {
        let state = self.open().await;
        match *op {
            Op::Sync {
                mask,
                by_external,
                name,
                missing,
            } => {
                let inputs: Vec<_> = (0..CUSTOMERS)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| input(i, by_external, name))
                    .collect();
                if missing {
                    state.track_seen().unwrap();
                }
                let empty = inputs.is_empty();
                let outcomes: Vec<_> = self
                    .client
                    .bulk()
                    .concurrency(3)
                    .state(&state)
                    .upsert(inputs)
                    .collect()
                    .await;
                let all_read = outcomes.iter().all(|o| o.result.is_ok());
                if missing && !empty && all_read {
                    let mut listed = Vec::new();
                    state
                        .for_each_missing(|list, entry| -> Result<(), StateError> {
                            listed.push(Listed {
                                // Every customer here is upserted, so Plain named it.
                                customer_id: entry.customer_id.expect("an upserted customer"),
                                identifier: entry.identifier,
                                list: list.clone(),
                            });
                            Ok(())
                        })
                        .unwrap();
                    self.lists.push(listed);
                }
            }
            Op::Delete { list, cut } => {
                if self.lists.is_empty() {
                    return;
                }
                let lines = self.lists[list % self.lists.len()].clone();
                for (at, line) in lines.iter().enumerate() {
                    let Ok(pending) = state.prepare_deletion(
                        &line.customer_id,
                        Some(&line.identifier),
                        Some(&line.list),
                    ) else {
                        continue;
                    };
                    if matches!(cut, Cut::BeforeSend(n) if n == at) {
                        // Killed here: the write-ahead is all the state has.
                        drop(pending);
                        break;
                    }
                    let gone = match self.client.delete_customer(&line.customer_id).await {
                        Ok(()) => true,
                        Err(Error::MutationRejected { error, .. }) => error.code == "not_found",
                        Err(other) => panic!("{other}"),
                    };
                    if matches!(cut, Cut::AfterSend(n) if n == at) {
                        // Killed before the state forgot it.
                        drop(pending);
                        break;
                    }
                    if gone {
                        pending.finish();
                    }
                }
            }
        }
        state.commit().unwrap();
    }

    /// Every customer the state records as synced is one Plain has.
    async fn check(&self) -> Result<(), TestCaseError> {
        let state = self.open().await;
        let held: Vec<String> = self.server.customers().into_iter().map(|c| c.id).collect();
        for i in 0..CUSTOMERS {
            for identifier in [
                CustomerIdentifier::email(email(i)),
                CustomerIdentifier::external_id(external(i)),
            ] {
                if let Some(entry) = state.get(&identifier).unwrap() {
                    prop_assert!(
                        entry.deleting
                            || entry
                                .customer_id
                                .as_ref()
                                .is_some_and(|id| held.contains(id)),
                        "{identifier:?} is recorded as synced as {:?}, which Plain lacks",
                        entry.customer_id
                    );
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_interleaving_leaves_a_customer_plain_lacks_recorded_as_synced(
        ops in proptest::collection::vec(op(), 1..10)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let server = LocalServer::start().await.unwrap();
            let client = server.client().unwrap();
            let dir = std::env::temp_dir().join(format!(
                "plain-state-property-{}-{}",
                std::process::id(),
                server.address().port()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let mut world = World {
                server,
                client,
                path: dir.join("s.state"),
                lists: Vec::new(),
            };
            let mut outcome = Ok(());
            for op in &ops {
                world.apply(op).await;
                outcome = world.check().await;
                if outcome.is_err() {
                    break;
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
            outcome
        })?;
    }
}
