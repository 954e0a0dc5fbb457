//! Deleting what the input no longer has: numbered missing lists, and deletions that check
//! the state and write ahead.

use super::storage::{Key, Row, Storage};
use super::{Entry, Inner, StateError, StateStore};
use crate::input::CustomerIdentifier;

/// A list of the customers the input no longer has: see [`StateStore::for_each_missing`].
/// Each line of the `--missing` file carries it, and a deletion names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingList {
    /// The state file's own id, made when the file was.
    pub state_id: String,
    /// The list's number: each list gets the next one.
    pub number: u64,
}

/// A deletion [`StateStore::prepare_deletion`] allowed: the state already says the customer
/// is no longer synced. Tell it how the deletion ended with [`PendingDeletion::finish`].
#[derive(Debug)]
pub struct PendingDeletion {
    store: StateStore,
    customer_id: String,
}

impl PendingDeletion {
    /// The customer Plain deleted, or did not have: it is forgotten. For a deletion that
    /// failed, drop this instead: the customer stays listed as missing and unsynced, so the
    /// deletion can be tried again, and a sync that names it sends it.
    pub fn finish(self) {
        let mut inner = self.store.lock();
        match inner.storage.forget(&self.customer_id) {
            Ok(_) => inner.commit_if_due(),
            Err(e) => inner.fail_with(e),
        }
    }
}

/// Why [`StateStore::prepare_deletion`] refused a deletion. Nothing was sent or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeletionRefused {
    /// The deletion names no missing list.
    #[error(
        "the line names no missing list: give a file sync-customers --missing wrote with this \
         state"
    )]
    NoList,
    /// The list was written from another state file.
    #[error(
        "the list was written from another state file ({listed}, and this one is {this}): \
         give the state file the list came from"
    )]
    OtherState {
        /// The state id the list names.
        listed: String,
        /// This state's id.
        this: String,
    },
    /// The state does not hold the customer.
    #[error(
        "the state does not hold customer {customer_id} (an earlier run deleted and forgot it, \
         or it was never synced with this state)"
    )]
    NotInState {
        /// Plain's id for the customer; for a deletion that names the customer by its
        /// identifier alone ([`StateStore::check_missing`]), that identifier
        /// (`externalId ...`).
        customer_id: String,
    },
    /// The line's identifier and customer id name different customers in the state.
    #[error(
        "the line names customer {customer_id} and identifier {identifier}, which the state \
         knows as {}",
        .state_says.as_deref().unwrap_or("no customer")
    )]
    Disagrees {
        /// The line's customer id.
        customer_id: String,
        /// The line's identifier.
        identifier: String,
        /// The customer the identifier leads to in the state, if any: its id, or a few words
        /// for one the state holds without an id.
        state_says: Option<String>,
    },
    /// An input named the customer after the list was written: it is not missing.
    #[error(
        "customer {customer_id} was synced again after list {list} was written: it is not \
         missing, and is not deleted"
    )]
    NotMissing {
        /// Plain's id for the customer; for a deletion that names the customer by its
        /// identifier alone, that identifier.
        customer_id: String,
        /// The list's number.
        list: u64,
    },
    /// The state file could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
}

impl StateStore {
    /// Writes a new missing list: every customer in the state that no input named since
    /// [`StateStore::track_seen`] is marked as missing since this list (unless an earlier
    /// list already marks it), and `f` is called with each. Returns the list, or `None` when
    /// nothing was tracked. Stops at `f`'s first error.
    ///
    /// # Errors
    ///
    /// `f`'s error, or the store's when it cannot be read or written (wrapped by `into`).
    pub fn for_each_missing<E: From<StateError>>(
        &self,
        mut f: impl FnMut(&MissingList, Entry) -> Result<(), E>,
    ) -> Result<Option<MissingList>, E> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.storage.commit()?;
        if !inner.storage.tracking {
            return Ok(None);
        }
        let number = (|| -> rusqlite::Result<u64> {
            let last: u64 = inner
                .storage
                .meta("missing_lists")?
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            inner
                .storage
                .set_meta("missing_lists", &(last + 1).to_string())?;
            Ok(last + 1)
        })()
        .map_err(|e| E::from(inner.storage.error(e)))?;
        let list = MissingList {
            state_id: inner.state_id.clone(),
            number,
        };
        let marked = i64::try_from(number).unwrap_or(i64::MAX);
        inner
            .storage
            .list_missing(marked, |entry| f(&list, entry))?;
        Ok(Some(list))
    }

    /// Whether the state allows deleting a customer a missing list named: it still says the
    /// customer is missing since that list (or an earlier one), and `identifier`, when given,
    /// leads to the same customer. Writes nothing.
    ///
    /// # Errors
    ///
    /// [`DeletionRefused`] says why the customer must not be deleted.
    pub fn check_deletion(
        &self,
        customer_id: &str,
        identifier: Option<&CustomerIdentifier>,
        list: Option<&MissingList>,
    ) -> Result<(), DeletionRefused> {
        let mut inner = self.lock();
        check(&mut inner, Of::Id(customer_id), identifier, list).map(drop)
    }

    /// Whether the state allows deleting a customer a missing list named by its identifier
    /// alone: one Plain confirmed only in a batch, which the state holds without an id (the
    /// line of the list has no `customerId`). As [`StateStore::check_deletion`], with the
    /// customer found by `identifier`. Writes nothing.
    ///
    /// To delete it, learn its id from Plain (by its external id), tell the state with
    /// [`StateStore::learn_customer_id`], then delete it by that id as any other; if Plain no
    /// longer has it, [`StateStore::forget_missing`].
    ///
    /// # Errors
    ///
    /// [`DeletionRefused`] says why the customer must not be deleted.
    pub fn check_missing(
        &self,
        identifier: &CustomerIdentifier,
        list: Option<&MissingList>,
    ) -> Result<(), DeletionRefused> {
        let mut inner = self.lock();
        check(&mut inner, Of::Identifier(identifier), None, list).map(drop)
    }

    /// Forgets a customer a missing list named by its identifier alone, which Plain no longer
    /// has, when [`StateStore::check_missing`] allows its deletion: nothing is left to delete.
    ///
    /// # Errors
    ///
    /// [`DeletionRefused`] says why the state does not allow it; nothing was written.
    pub fn forget_missing(
        &self,
        identifier: &CustomerIdentifier,
        list: Option<&MissingList>,
    ) -> Result<(), DeletionRefused> {
        let mut inner = self.lock();
        let row = check(&mut inner, Of::Identifier(identifier), None, list)?;
        match inner.storage.forget_entry(row.entry) {
            Ok(_) => inner.commit_if_due(),
            Err(e) => inner.fail_with(e),
        }
        Ok(())
    }

    /// Plain says the customer with `external_id` has id `customer_id` (a look-up by
    /// external id answered it): a customer the state holds by that external id without an
    /// id gets it, unless the state holds `customer_id` already under other identifiers.
    /// Returns whether it did.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the file cannot be written.
    pub fn learn_customer_id(
        &self,
        external_id: &str,
        customer_id: &str,
    ) -> Result<bool, StateError> {
        let mut inner = self.lock();
        let filled = inner.storage.fill_in(external_id, customer_id);
        let filled = filled.map_err(|e| inner.storage.error(e))?;
        inner.commit_if_due();
        Ok(filled)
    }

    /// Allows the deletion of a customer as [`StateStore::check_deletion`] does, and writes
    /// ahead, committed before this returns, that it is no longer synced: from now on no
    /// input for it is skipped, whatever happens to the deletion.
    ///
    /// # Errors
    ///
    /// [`DeletionRefused`] says why the customer must not be deleted; nothing was written.
    pub fn prepare_deletion(
        &self,
        customer_id: &str,
        identifier: Option<&CustomerIdentifier>,
        list: Option<&MissingList>,
    ) -> Result<PendingDeletion, DeletionRefused> {
        let mut inner = self.lock();
        let row = check(&mut inner, Of::Id(customer_id), identifier, list)?;
        inner.storage.mark_deleting(row.entry)?;
        Ok(PendingDeletion {
            store: self.clone(),
            customer_id: customer_id.to_owned(),
        })
    }
}

/// The customer a deletion names: by Plain's id, or by an identifier alone.
#[derive(Clone, Copy)]
enum Of<'a> {
    Id(&'a str),
    Identifier(&'a CustomerIdentifier),
}

/// The customer's row, when the state allows the deletion.
fn check(
    inner: &mut Inner,
    of: Of<'_>,
    identifier: Option<&CustomerIdentifier>,
    list: Option<&MissingList>,
) -> Result<Row, DeletionRefused> {
    let list = list.ok_or(DeletionRefused::NoList)?;
    if list.state_id != inner.state_id {
        return Err(DeletionRefused::OtherState {
            listed: list.state_id.clone(),
            this: inner.state_id.clone(),
        });
    }
    let (key, named) = match of {
        Of::Id(id) => (Key::Id(id.to_owned()), id.to_owned()),
        Of::Identifier(identifier) => (Key::of(identifier), describe(identifier)),
    };
    let find = |storage: &mut Storage, key: &Key| storage.find(key).map_err(|e| storage.error(e));
    let Some(row) = find(&mut inner.storage, &key)? else {
        return Err(DeletionRefused::NotInState { customer_id: named });
    };
    if let Some(identifier) = identifier {
        let key = Key::of(identifier);
        if !key.names(&row) {
            let other = find(&mut inner.storage, &key)?;
            return Err(DeletionRefused::Disagrees {
                customer_id: named,
                identifier: describe(identifier),
                state_says: other.map(|row| {
                    row.customer_id
                        .unwrap_or_else(|| "a customer it holds without an id".to_owned())
                }),
            });
        }
    }
    let listed = i64::try_from(list.number).unwrap_or(i64::MAX);
    if row.missing_since.is_none_or(|since| since > listed) {
        return Err(DeletionRefused::NotMissing {
            customer_id: named,
            list: list.number,
        });
    }
    Ok(row)
}

/// An identifier as a person reads it: `emailAddress a@example.com`.
fn describe(identifier: &CustomerIdentifier) -> String {
    match identifier {
        CustomerIdentifier::EmailAddress(v) => format!("emailAddress {v}"),
        CustomerIdentifier::ExternalId(v) => format!("externalId {v}"),
        CustomerIdentifier::CustomerId(v) => format!("customerId {v}"),
    }
}
