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
        /// Plain's id for the customer, as recorded.
        customer_id: String,
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
        inner.record(&self.digest, upserted);
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
