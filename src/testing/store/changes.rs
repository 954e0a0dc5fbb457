//! The changes the store makes, recorded when asked for the server's webhook deliveries: each
//! with the customer as it was before and after, memberships included.

use std::time::SystemTime;

use super::records::{StoredCustomer, StoredCustomerGroup};
use super::Store;

/// A customer as it was at one moment, with its memberships, for a webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSnapshot {
    pub customer: StoredCustomer,
    /// Each group the customer is a member of, with when it joined.
    pub memberships: Vec<(StoredCustomerGroup, SystemTime)>,
}

/// One change the store made, recorded for webhook deliveries when
/// [`Store::record_changes`] is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Created(CustomerSnapshot),
    Updated {
        before: CustomerSnapshot,
        after: CustomerSnapshot,
    },
    Deleted(CustomerSnapshot),
    /// One membership added (`added`) or removed: a call that changes several makes one
    /// change each.
    Membership {
        added: bool,
        before: CustomerSnapshot,
        after: CustomerSnapshot,
    },
}

impl Store {
    /// Records every change from now on, for [`Store::take_changes`].
    pub fn record_changes(&mut self) {
        self.changes.get_or_insert_with(Vec::new);
    }

    /// The changes made since the last call, oldest first (none unless recording).
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.changes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub(super) fn recording(&self) -> bool {
        self.changes.is_some()
    }

    pub(super) fn record(&mut self, change: Change) {
        if let Some(changes) = &mut self.changes {
            changes.push(change);
        }
    }

    /// Records one membership added or removed from the customer at `index`, when recording
    /// (`before` is then its snapshot before the change).
    pub(super) fn record_membership(
        &mut self,
        added: bool,
        before: Option<CustomerSnapshot>,
        index: usize,
    ) {
        if let Some(before) = before {
            let after = self.snapshot(index);
            self.record(Change::Membership {
                added,
                before,
                after,
            });
        }
    }

    /// The customer at `index` as it is now, with its memberships.
    pub(super) fn snapshot(&self, index: usize) -> CustomerSnapshot {
        let customer = self.customers[index].clone();
        let memberships = self
            .memberships(&customer)
            .into_iter()
            .map(|m| (m.group, m.created_at))
            .collect();
        CustomerSnapshot {
            customer,
            memberships,
        }
    }
}
