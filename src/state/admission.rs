//! Admission: whether an input is the one Plain last confirmed for its customer, turns for
//! inputs that may name the same customer, and recording Plain's answer.

use std::fmt;

use tokio::sync::oneshot;

use super::storage::{Key, Row};
use super::StateStore;
use crate::input::{ClearableUpdate, Update, UpsertCustomerInput};
use crate::{UpsertResult, UpsertedCustomer};

/// Why Plain's answer was not recorded: see [`crate::bulk::Done::NotRecorded`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub(crate) struct Unrecorded {
    /// What did not fit.
    pub reason: String,
}

/// The digest of an input: 128 bits of XXH3 over its JSON, as sent. `buffer` is reused.
fn digest(input: &UpsertCustomerInput, buffer: &mut Vec<u8>) -> [u8; 16] {
    buffer.clear();
    // Serializing these types cannot fail: no maps with non-string keys, no custom errors.
    let _ = serde_json::to_writer(&mut *buffer, input);
    xxhash_rust::xxh3::xxh3_128(buffer).to_le_bytes()
}

/// Every identifier an input may name its customer by: the identifier it is upserted by,
/// then `onCreate`'s email address and external id, without repeats.
fn names(input: &UpsertCustomerInput) -> Vec<Key> {
    let mut names = vec![Key::of(&input.identifier)];
    let mut add = |key: Key| {
        if !names.contains(&key) {
            names.push(key);
        }
    };
    add(Key::email(&input.on_create.email.email));
    if let Some(external_id) = &input.on_create.external_id {
        add(Key::External(external_id.clone()));
    }
    names
}

/// What Plain's answer must show to be recorded for an input.
#[derive(Debug)]
struct Expected {
    identifier: Key,
    create_email: String,
    create_external_id: Option<String>,
    update_email: Option<String>,
    update_external_id: ClearableUpdate<String>,
}

impl Expected {
    fn of(input: &UpsertCustomerInput) -> Self {
        Self {
            identifier: Key::of(&input.identifier),
            create_email: input.on_create.email.email.trim().to_lowercase(),
            create_external_id: input.on_create.external_id.clone(),
            update_email: match &input.on_update.email {
                Update::Set(email) => Some(email.email.trim().to_lowercase()),
                Update::Keep => None,
            },
            update_external_id: input.on_update.external_id.clone(),
        }
    }

    /// The email address the customer has after the input whichever way it went (created or
    /// updated), if that is known: then an email address already recorded for it stays true.
    fn settled_email(&self) -> Option<&str> {
        let email = self.create_email.as_str();
        let settled = !email.is_empty()
            && self
                .update_email
                .as_deref()
                .is_none_or(|update| update == email);
        settled.then_some(email)
    }

    /// Why `upserted` is not an answer to record for the input, if it is not.
    fn refuse(&self, upserted: &UpsertedCustomer) -> Option<String> {
        let created = match upserted.result {
            UpsertResult::Created => true,
            UpsertResult::Updated | UpsertResult::Noop => false,
            _ => {
                return Some(format!(
                    "Plain answered result {}, which this version does not know",
                    upserted.result.as_str()
                ))
            }
        };
        let customer = &upserted.customer;
        let email = customer.email.email.trim().to_lowercase();
        let external_id = customer.external_id.as_deref();
        let matches = match &self.identifier {
            Key::Id(id) => !created && customer.id == *id,
            Key::Email(wanted) => {
                email == *wanted
                    || (created && email == self.create_email)
                    || (!created && self.update_email.as_deref() == Some(email.as_str()))
            }
            Key::External(wanted) => {
                external_id == Some(wanted.as_str())
                    || (created && external_id == self.create_external_id.as_deref())
                    || (!created
                        && match &self.update_external_id {
                            ClearableUpdate::Set(value) => external_id == Some(value.as_str()),
                            ClearableUpdate::Clear => external_id.is_none(),
                            ClearableUpdate::Keep => false,
                        })
            }
        };
        (!matches).then(|| {
            format!(
                "Plain answered {} with customer {} ({}), which does not match the input's \
                 identifier",
                upserted.result.as_str(),
                customer.id,
                email
            )
        })
    }
}

/// How an input stands against the state: see [`StateStore::admit`].
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum Admission {
    /// Plain confirmed this very input last time: send nothing.
    Unchanged {
        /// Plain's id for the customer, as recorded: `None` when Plain confirmed it in a
        /// batch, which names no customer.
        customer_id: Option<String>,
    },
    /// The input is new or changed: send it, then [`Admitted::confirm`] Plain's answer.
    Send(Admitted),
    /// An earlier input that may name the same customer is in flight: wait for it, then call
    /// [`StateStore::admit_turn`] (the later input wins, as in the input's order).
    Wait(Turn),
}

/// Waits for earlier inputs that may name the same customer: see [`Admission::Wait`].
pub(crate) struct Turn {
    receiver: oneshot::Receiver<()>,
    ticket: Ticket,
}

/// An input's place in the turns, given back when it is dropped.
struct Ticket {
    store: StateStore,
    number: u64,
    keys: Vec<Key>,
    names: Vec<Key>,
    live: bool,
}

impl Ticket {
    /// The same place, moved on to the next step (this one no longer gives it back).
    fn pass(&mut self) -> Ticket {
        self.live = false;
        Ticket {
            store: self.store.clone(),
            number: self.number,
            keys: std::mem::take(&mut self.keys),
            names: std::mem::take(&mut self.names),
            live: true,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.live {
            self.store.lock().turns.leave(self.number, &self.keys);
        }
    }
}

impl fmt::Debug for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turn").finish_non_exhaustive()
    }
}

impl Turn {
    /// Completes when this input's turn has come. Then call [`StateStore::admit_turn`].
    pub(crate) async fn ready(mut self) -> TurnReady {
        // The sender goes only when the turn is given or the store's turns are dropped,
        // which this turn's ticket prevents.
        let _ = (&mut self.receiver).await;
        TurnReady {
            ticket: self.ticket.pass(),
        }
    }
}

/// An input whose turn has come: see [`StateStore::admit_turn`]. Dropped unused, it passes
/// the turn on.
pub(crate) struct TurnReady {
    ticket: Ticket,
}

impl fmt::Debug for TurnReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnReady").finish_non_exhaustive()
    }
}

/// An input about to be sent. The customers it may name stay "in flight" (later inputs for
/// them wait) until this is confirmed or dropped.
pub(crate) struct Admitted {
    ticket: Ticket,
    digest: [u8; 16],
    expected: Expected,
}

impl fmt::Debug for Admitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admitted").finish_non_exhaustive()
    }
}

impl Admitted {
    /// Records Plain's answer for the input, if it is one to record: `CREATED`, `UPDATED` or
    /// `NOOP`, for a customer that matches the input's identifier. A failure to write is kept,
    /// and reported by [`StateStore::commit`]; from then on nothing is skipped.
    ///
    /// # Errors
    ///
    /// [`Unrecorded`] when the answer is not one to record: nothing was recorded.
    pub(crate) fn confirm(self, upserted: &UpsertedCustomer) -> Result<(), Unrecorded> {
        if let Some(reason) = self.expected.refuse(upserted) {
            return Err(Unrecorded { reason });
        }
        let store = self.ticket.store.clone();
        let mut inner = store.lock();
        if upserted.result == UpsertResult::Created && !inner.broken {
            // A customer Plain just created cannot be one the state already holds under
            // another identifier.
            match inner.storage.find(&Key::Id(upserted.customer.id.clone())) {
                Ok(Some(row)) if !self.expected.identifier.names(&row) => {
                    return Err(Unrecorded {
                        reason: format!(
                            "Plain answered CREATED with customer {}, which the state already \
                             holds under other identifiers",
                            upserted.customer.id
                        ),
                    });
                }
                Ok(_) => {}
                Err(e) => inner.fail_with(e),
            }
        }
        if let Key::External(external_id) = &self.expected.identifier {
            // Plain upserted by this external id: a customer held by it without an id is the
            // one Plain answered, or no customer has the external id any more.
            if !inner.broken {
                if let Err(e) = inner.storage.forget_unidentified(external_id) {
                    inner.fail_with(e);
                }
            }
        }
        inner.record(&self.digest, upserted);
        // Dropping `self` gives the turn back; the lock is released first.
        drop(inner);
        Ok(())
    }

    /// Records that Plain confirmed the input in a batch (`importCustomers`, upserting by
    /// external id), which answers only counts: the input's digest is recorded for the
    /// customer with the input's external id, with result `IMPORTED` and no email address.
    /// A customer the state already holds by that external id keeps its id; one it does not
    /// is recorded without an id, which the next answer that names it fills in. Turns and
    /// failures to write go as for [`Admitted::confirm`].
    ///
    /// # Errors
    ///
    /// [`Unrecorded`] when the input is not identified by an external id, which is how a
    /// batch names its customers: nothing was recorded.
    pub(crate) fn confirm_imported(self) -> Result<(), Unrecorded> {
        let Key::External(external_id) = &self.expected.identifier else {
            return Err(Unrecorded {
                reason: "a batch confirms only inputs identified by an external id, and this \
                         input is identified otherwise"
                    .to_owned(),
            });
        };
        let store = self.ticket.store.clone();
        let mut inner = store.lock();
        inner.record_imported(&self.digest, external_id, self.expected.settled_email());
        // Dropping `self` gives the turn back; the lock is released first.
        drop(inner);
        Ok(())
    }
}

impl StateStore {
    /// Compares an input with what Plain last confirmed for its customer.
    ///
    /// Inputs that may name the same customer (by their identifier, `onCreate`'s email
    /// address or external id, or the customer those lead to in the state) are taken in the
    /// order they are admitted: while one is in flight, a later one gets [`Admission::Wait`].
    pub(crate) fn admit(&self, input: &UpsertCustomerInput) -> Admission {
        let names = names(input);
        let mut inner = self.lock();
        let (keys, identified) = inner.look_up(&names);
        let (number, go) = inner.turns.enter(&keys);
        if !go {
            let receiver = inner.turns.wait(number, keys.clone());
            drop(inner);
            return Admission::Wait(Turn {
                receiver,
                ticket: Ticket {
                    store: self.clone(),
                    number,
                    keys,
                    names,
                    live: true,
                },
            });
        }
        drop(inner);
        let ticket = Ticket {
            store: self.clone(),
            number,
            keys,
            names,
            live: true,
        };
        self.decide(ticket, identified, input)
    }

    /// [`StateStore::admit`] for an input whose [`Turn`] came: it cannot be told to wait
    /// again.
    ///
    /// `input` must be the input that was told to wait.
    pub(crate) fn admit_turn(
        &self,
        input: &UpsertCustomerInput,
        mut ready: TurnReady,
    ) -> Admission {
        if names(input) != ready.ticket.names {
            // Not the input that waited: its turn passes on, and this one queues.
            drop(ready);
            return self.admit(input);
        }
        let ticket = ready.ticket.pass();
        let identified = {
            let mut inner = self.lock();
            match inner.storage.find(&ticket.names[0]) {
                Ok(row) => row,
                Err(e) => {
                    inner.fail_with(e);
                    None
                }
            }
        };
        self.decide(ticket, identified, input)
    }

    fn decide(
        &self,
        ticket: Ticket,
        identified: Option<Row>,
        input: &UpsertCustomerInput,
    ) -> Admission {
        let (digest, unchanged) = {
            let mut inner = self.lock();
            let inner = &mut *inner;
            let digest = digest(input, &mut inner.buffer);
            let skip = inner.bound && !inner.resend && !inner.broken;
            let unchanged = identified
                .filter(|row| skip && !row.deleting && row.digest.as_deref() == Some(&digest[..]));
            (digest, unchanged)
        };
        match unchanged {
            // The ticket is dropped: the next in line may go.
            Some(row) => Admission::Unchanged {
                customer_id: row.customer_id,
            },
            None => Admission::Send(Admitted {
                ticket,
                digest,
                expected: Expected::of(input),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::input::{CustomerIdentifier, EmailAddress, OnCreate};

    fn customer(i: u32, name: &str) -> UpsertCustomerInput {
        let email = format!("customer{i}@example.com");
        UpsertCustomerInput::new(
            CustomerIdentifier::email(email.clone()),
            OnCreate::new(name, EmailAddress::unverified(email)),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_later_input_waits_its_turn_and_a_dropped_turn_passes_it_on() {
        let dir = std::env::temp_dir().join(format!("plain-turns-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let state = StateStore::open(dir.join("customers.state")).unwrap();
        let Admission::Send(first) = state.admit(&customer(1, "A")) else {
            panic!("a new customer is sent");
        };
        let Admission::Wait(second) = state.admit(&customer(1, "B")) else {
            panic!("the second input for a customer in flight waits");
        };
        let Admission::Wait(third) = state.admit(&customer(1, "C")) else {
            panic!("and so does the third");
        };
        // Another customer is not held up.
        assert!(matches!(state.admit(&customer(2, "X")), Admission::Send(_)));
        drop(second);
        drop(first);
        let ready = tokio::time::timeout(Duration::from_secs(300), third.ready())
            .await
            .expect("only a hang reaches this");
        assert!(matches!(
            state.admit_turn(&customer(1, "C"), ready),
            Admission::Send(_)
        ));
        drop(state);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Customers Plain confirmed in a batch (`importCustomers`), held without an id.
#[cfg(all(test, feature = "testing"))]
mod imported {
    use super::*;
    use crate::input::{CustomerIdentifier, EmailAddress, ImportCustomer, OnCreate, OnUpdate};
    use crate::state::StateError;
    use crate::testing::LocalServer;
    use crate::PlainClient;

    /// A scratch folder, removed afterwards.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("plain-imported-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn state(&self) -> std::path::PathBuf {
            self.0.join("customers.state")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn open(scratch: &Scratch, client: &PlainClient) -> StateStore {
        let state = StateStore::open(scratch.state()).unwrap();
        state.bind(client).await.unwrap();
        state
    }

    /// A local Plain, a client of it, and a state bound to it in a scratch folder.
    struct World {
        state: StateStore,
        client: PlainClient,
        _server: LocalServer,
        scratch: Scratch,
    }

    async fn world(name: &str) -> World {
        let scratch = Scratch::new(name);
        let server = LocalServer::start().await.unwrap();
        let client = server.client().unwrap();
        let state = open(&scratch, &client).await;
        World {
            state,
            client,
            _server: server,
            scratch,
        }
    }

    /// Customer `crm-{i}` by its external id, as a batch would import it.
    fn by_external(i: u32, name: &str) -> UpsertCustomerInput {
        let email = format!("crm{i}@example.com");
        UpsertCustomerInput::new(
            CustomerIdentifier::external_id(format!("crm-{i}")),
            OnCreate::new(name, EmailAddress::unverified(email)).external_id(format!("crm-{i}")),
        )
        .on_update(OnUpdate::default().full_name(name))
    }

    fn send(state: &StateStore, input: &UpsertCustomerInput) -> Admitted {
        match state.admit(input) {
            Admission::Send(admitted) => admitted,
            other => panic!("{other:?}: the input is to be sent"),
        }
    }

    async fn import(client: &PlainClient, i: u32, name: &str) {
        let customer =
            ImportCustomer::new(format!("crm-{i}"), name).email(format!("crm{i}@example.com"));
        let imported = client.import_customers(vec![customer]).await.unwrap();
        assert_eq!(imported.total(), 1, "{imported:?}");
    }

    fn external(i: u32) -> CustomerIdentifier {
        CustomerIdentifier::external_id(format!("crm-{i}"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_customer_confirmed_in_a_batch_is_held_without_an_id_until_an_answer_names_it() {
        let World { state, client, .. } = &world("fill").await;
        import(client, 1, "Ada").await;
        send(state, &by_external(1, "Ada"))
            .confirm_imported()
            .unwrap();

        let entry = state.get(&external(1)).unwrap().expect("held");
        assert_eq!(entry.customer_id, None);
        assert_eq!(entry.identifier, external(1));
        assert_eq!(entry.email, None, "a count tells no email address");
        assert_eq!(entry.result, "IMPORTED");
        match state.admit(&by_external(1, "Ada")) {
            Admission::Unchanged { customer_id } => assert_eq!(customer_id, None),
            other => panic!("{other:?}: the very input Plain confirmed is unchanged"),
        }

        // The next answer that names the customer fills its id in: still one entry.
        let changed = by_external(1, "Ada Lovelace");
        let admitted = send(state, &changed);
        let upserted = client.upsert_customer(changed.clone()).await.unwrap();
        admitted.confirm(&upserted).unwrap();
        state.commit().unwrap();
        assert_eq!(state.len().unwrap(), 1);
        let entry = state.get(&external(1)).unwrap().unwrap();
        assert_eq!(
            entry.customer_id.as_deref(),
            Some(upserted.customer.id.as_str())
        );
        assert_eq!(entry.result, upserted.result.as_str());
        let by_email = state.get(&CustomerIdentifier::email("crm1@example.com"));
        assert_eq!(by_email.unwrap(), Some(entry));
        let by_id = state.get(&CustomerIdentifier::customer_id(
            upserted.customer.id.clone(),
        ));
        assert!(by_id.unwrap().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_for_a_customer_held_twice_leaves_one_entry() {
        let World { state, client, .. } = &world("merge").await;
        // Held by its id and email address, without an external id...
        let by_email = UpsertCustomerInput::new(
            CustomerIdentifier::email("crm2@example.com"),
            OnCreate::new("Grace", EmailAddress::unverified("crm2@example.com")),
        );
        let admitted = send(state, &by_email);
        admitted
            .confirm(&client.upsert_customer(by_email.clone()).await.unwrap())
            .unwrap();
        // ...and, confirmed in a batch, by an external id without an id.
        send(state, &by_external(2, "Grace"))
            .confirm_imported()
            .unwrap();
        assert_eq!(state.len().unwrap(), 2);

        // Plain then names the one customer with both.
        let both = by_email.on_update(OnUpdate::default().external_id("crm-2"));
        let admitted = send(state, &both);
        let upserted = client.upsert_customer(both).await.unwrap();
        assert_eq!(upserted.customer.external_id.as_deref(), Some("crm-2"));
        admitted.confirm(&upserted).unwrap();
        assert_eq!(state.len().unwrap(), 1, "one customer, one entry");
        let entry = state.get(&external(2)).unwrap().unwrap();
        assert_eq!(entry.customer_id, Some(upserted.customer.id));
        assert_eq!(entry.email.as_deref(), Some("crm2@example.com"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_that_takes_the_external_id_away_forgets_the_entry_without_an_id() {
        let World { state, client, .. } = &world("cleared").await;
        import(client, 3, "Ida").await;
        send(state, &by_external(3, "Ida"))
            .confirm_imported()
            .unwrap();
        let cleared = by_external(3, "Ida").on_update(OnUpdate::default().clear_external_id());
        let admitted = send(state, &cleared);
        let upserted = client.upsert_customer(cleared).await.unwrap();
        assert_eq!(upserted.customer.external_id, None);
        admitted.confirm(&upserted).unwrap();
        assert_eq!(
            state.get(&external(3)).unwrap(),
            None,
            "no customer has crm-3"
        );
        assert_eq!(state.len().unwrap(), 1);
        // The same input again is sent: Plain would create a customer with crm-3.
        assert!(matches!(
            state.admit(&by_external(3, "Ida")),
            Admission::Send(_)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_keeps_the_id_of_a_customer_held_with_one() {
        let World { state, client, .. } = &world("keep").await;
        let first = by_external(4, "Kay");
        let admitted = send(state, &first);
        let upserted = client.upsert_customer(first).await.unwrap();
        admitted.confirm(&upserted).unwrap();

        send(state, &by_external(4, "Kay B"))
            .confirm_imported()
            .unwrap();
        let entry = state.get(&external(4)).unwrap().unwrap();
        assert_eq!(
            entry.customer_id.as_deref(),
            Some(upserted.customer.id.as_str())
        );
        assert_eq!(entry.result, "IMPORTED");
        assert_eq!(
            entry.email.as_deref(),
            Some("crm4@example.com"),
            "the same either way"
        );
        assert!(matches!(
            state.admit(&by_external(4, "Kay B")),
            Admission::Unchanged {
                customer_id: Some(_)
            }
        ));

        // An input that may leave another email address: the one held is no longer known.
        let moved = by_external(4, "Kay B")
            .on_update(OnUpdate::default().email(EmailAddress::unverified("kay@example.com")));
        send(state, &moved).confirm_imported().unwrap();
        let entry = state.get(&external(4)).unwrap().unwrap();
        assert_eq!(entry.email, None);
        assert_eq!(
            entry.customer_id.as_deref(),
            Some(upserted.customer.id.as_str())
        );
        assert_eq!(state.len().unwrap(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_an_input_by_external_id_is_confirmed_by_a_batch_and_its_turn_passes_on() {
        let World { state, .. } = &world("refused").await;
        let by_email = UpsertCustomerInput::new(
            CustomerIdentifier::email("crm5@example.com"),
            OnCreate::new("Eve", EmailAddress::unverified("crm5@example.com")).external_id("crm-5"),
        );
        let refused = send(state, &by_email).confirm_imported().unwrap_err();
        assert!(refused.reason.contains("external id"), "{}", refused.reason);
        assert!(state.is_empty().unwrap(), "nothing recorded");
        // The turn was given back: the next input for the customer goes at once, and holds
        // it in turn.
        let held = state.admit(&by_email);
        assert!(matches!(held, Admission::Send(_)), "{held:?}");
        assert!(matches!(
            state.admit(&by_external(5, "Eve")),
            Admission::Wait(_)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn customers_without_an_id_are_listed_missing_and_deleted_by_external_id() {
        let World {
            state,
            client,
            _server,
            scratch,
        } = world("missing").await;
        for i in 6..9 {
            send(&state, &by_external(i, "Old"))
                .confirm_imported()
                .unwrap();
        }
        state.commit().unwrap();
        drop(state);

        // A run names 6 (unchanged) and a new 9 (confirmed in a batch): 7 and 8 are missing.
        let state = open(&scratch, &client).await;
        state.track_seen().unwrap();
        assert!(matches!(
            state.admit(&by_external(6, "Old")),
            Admission::Unchanged { customer_id: None }
        ));
        send(&state, &by_external(9, "New"))
            .confirm_imported()
            .unwrap();
        let mut missing = Vec::new();
        let list = state
            .for_each_missing(|_, entry| -> Result<(), StateError> {
                missing.push(entry);
                Ok(())
            })
            .unwrap()
            .unwrap();
        let named: Vec<_> = missing.iter().map(|e| e.identifier.clone()).collect();
        assert_eq!(named, [external(7), external(8)]);
        assert!(missing.iter().all(|e| e.customer_id.is_none()));

        // Only by external id: by an id, the state holds neither.
        state.check_missing(&external(7), Some(&list)).unwrap();
        assert!(
            state.check_missing(&external(6), Some(&list)).is_err(),
            "not missing"
        );
        assert!(matches!(
            state.check_deletion("c_7", Some(&external(7)), Some(&list)),
            Err(crate::state::DeletionRefused::NotInState { .. })
        ));
        assert!(!state.forget_customer_id("c_7").unwrap());
        // Plain's id, once looked up, makes it a deletion like any other.
        assert!(state.learn_customer_id("crm-7", "c_7").unwrap());
        assert!(
            !state.learn_customer_id("crm-8", "c_7").unwrap(),
            "one entry per id"
        );
        let pending = state
            .prepare_deletion("c_7", Some(&external(7)), Some(&list))
            .unwrap();
        pending.finish();
        // One Plain no longer has is forgotten, without a deletion.
        state.forget_missing(&external(8), Some(&list)).unwrap();
        assert!(matches!(
            state.forget_missing(&external(8), Some(&list)),
            Err(crate::state::DeletionRefused::NotInState { .. })
        ));
        assert_eq!(state.get(&external(7)).unwrap(), None);
        assert!(state.forget(&external(9)).unwrap());
        assert_eq!(state.len().unwrap(), 1, "6 is left");
    }
}
