//! The customers, customer groups and tenants of the local server, and the semantics of the
//! customer operations as Plain defines them: `upsertCustomer`, the lookups, `deleteCustomer`,
//! group membership and `importCustomers`.
//!
//! The customers live in [`customers`], the customer groups and memberships in [`groups`], the
//! tenants in [`tenants`], the batch import in [`imports`], and the changes recorded for
//! webhook deliveries in [`changes`].

pub mod changes;
mod customers;
mod groups;
pub mod ids;
mod imports;
pub mod records;
pub mod rejection;
mod tenants;

use std::collections::HashMap;
use std::time::SystemTime;

use crate::rng::Rng;
use changes::Change;
use ids::plain_id;
use records::{LocalWorkspace, StoredCustomer, StoredCustomerGroup, StoredTenant};
use rejection::Rejection;

/// The workspace, its customers, indexed the ways the operations find them, and its customer
/// groups.
#[derive(Debug)]
pub struct Store {
    workspace: LocalWorkspace,
    customers: Vec<StoredCustomer>,
    by_id: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
    by_external_id: HashMap<String, usize>,
    groups: Vec<StoredCustomerGroup>,
    /// When each membership began, by customer id and group id.
    joined: HashMap<(String, String), SystemTime>,
    tenants: Vec<StoredTenant>,
    tenants_by_external_id: HashMap<String, usize>,
    /// The changes made since they were last taken, when recording.
    changes: Option<Vec<Change>>,
    rng: Rng,
}

fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

impl Store {
    pub fn new(seed: u64, workspace: LocalWorkspace) -> Self {
        Self {
            workspace,
            customers: Vec::new(),
            by_id: HashMap::new(),
            by_email: HashMap::new(),
            by_external_id: HashMap::new(),
            groups: Vec::new(),
            joined: HashMap::new(),
            tenants: Vec::new(),
            tenants_by_external_id: HashMap::new(),
            changes: None,
            rng: Rng::new(seed),
        }
    }

    /// The workspace (`myWorkspace`).
    pub fn workspace(&self) -> &LocalWorkspace {
        &self.workspace
    }

    pub fn customers(&self) -> &[StoredCustomer] {
        &self.customers
    }

    /// A new id, such as `c_` or `cg_` and 10 characters of milliseconds and 16 random ones,
    /// like a ULID.
    fn new_id(&mut self, prefix: &str, now: SystemTime) -> String {
        plain_id(prefix, now, &mut self.rng)
    }

    fn index_of(&self, customer_id: &str) -> Result<usize, Rejection> {
        self.by_id
            .get(customer_id)
            .copied()
            .ok_or_else(|| Rejection::customer_not_found(customer_id))
    }
}
