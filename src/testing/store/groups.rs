//! The customer groups and their memberships: the groups given at the start, and
//! `addCustomerToCustomerGroups` and `removeCustomerFromCustomerGroups` as Plain defines them.

use std::time::SystemTime;

use super::records::{CustomerGroupSpec, Membership, StoredCustomer, StoredCustomerGroup};
use super::rejection::{Rejection, GROUPS_FIELD};
use super::{is_blank, Store};
use crate::input::CustomerGroupIdentifier;

/// How many customer groups one `addCustomerToCustomerGroups` or
/// `removeCustomerFromCustomerGroups` may name, as Plain documents.
pub const MAX_GROUPS_AT_ONCE: usize = 25;

/// How a group identifier reads in a message: `key "vip"`.
fn describe_group(identifier: &CustomerGroupIdentifier) -> String {
    match identifier {
        CustomerGroupIdentifier::CustomerGroupId(id) => format!("id {id:?}"),
        CustomerGroupIdentifier::CustomerGroupKey(key) => format!("key {key:?}"),
        CustomerGroupIdentifier::ExternalId(id) => format!("external id {id:?}"),
    }
}

/// Plain takes between one and [`MAX_GROUPS_AT_ONCE`] groups at once.
fn check_group_count(identifiers: &[CustomerGroupIdentifier]) -> Result<(), Rejection> {
    if identifiers.is_empty() {
        return Err(Rejection::validation(
            "input_validation",
            "There was a validation error.",
            GROUPS_FIELD,
            "REQUIRED",
            "At least one customer group is required",
        ));
    }
    if identifiers.len() > MAX_GROUPS_AT_ONCE {
        return Err(Rejection::validation(
            "input_validation",
            "There was a validation error.",
            GROUPS_FIELD,
            "VALIDATION",
            &format!(
                "At most {MAX_GROUPS_AT_ONCE} customer groups at once, not {}",
                identifiers.len()
            ),
        ));
    }
    Ok(())
}

impl Store {
    pub fn customer_groups(&self) -> &[StoredCustomerGroup] {
        &self.groups
    }

    /// The group with this `cg_...` id (`customerGroup`).
    pub fn customer_group(&self, id: &str) -> Option<&StoredCustomerGroup> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// The customer's memberships, in the order it joined the groups
    /// (`Customer.customerGroupMemberships`).
    pub fn memberships(&self, customer: &StoredCustomer) -> Vec<Membership> {
        customer
            .customer_group_ids
            .iter()
            .filter_map(|group_id| {
                let group = self.customer_group(group_id)?.clone();
                let key = (customer.id.clone(), group_id.clone());
                let created_at = self
                    .joined
                    .get(&key)
                    .copied()
                    .unwrap_or(customer.created_at);
                Some(Membership {
                    customer_id: customer.id.clone(),
                    group,
                    created_at,
                })
            })
            .collect()
    }

    /// Adds a customer group. Keys and external ids are unique, and a key and a name are
    /// required.
    pub fn create_customer_group(
        &mut self,
        spec: &CustomerGroupSpec,
        now: SystemTime,
    ) -> Result<&StoredCustomerGroup, String> {
        if is_blank(&spec.key) || is_blank(&spec.name) {
            return Err(format!(
                "customer group {:?} ({:?}): a key and a name are required",
                spec.key, spec.name
            ));
        }
        if self.groups.iter().any(|g| g.key == spec.key) {
            return Err(format!(
                "two customer groups have the key {:?}; keys are unique",
                spec.key
            ));
        }
        if let Some(external_id) = &spec.external_id {
            if self
                .groups
                .iter()
                .any(|g| g.external_id.as_ref() == Some(external_id))
            {
                return Err(format!(
                    "two customer groups have the external id {external_id:?}; external ids are unique"
                ));
            }
        }
        let group = StoredCustomerGroup {
            id: self.new_id("cg_", now),
            key: spec.key.clone(),
            name: spec.name.clone(),
            external_id: spec.external_id.clone(),
            created_at: now,
            updated_at: now,
        };
        self.groups.push(group);
        Ok(&self.groups[self.groups.len() - 1])
    }

    fn group_index(&self, identifier: &CustomerGroupIdentifier) -> Option<usize> {
        self.groups.iter().position(|g| match identifier {
            CustomerGroupIdentifier::CustomerGroupId(id) => &g.id == id,
            CustomerGroupIdentifier::CustomerGroupKey(key) => &g.key == key,
            CustomerGroupIdentifier::ExternalId(id) => g.external_id.as_ref() == Some(id),
        })
    }

    /// The groups the identifiers name, each once, in the order first named; or, when any
    /// names no group, a rejection that lists every one that does not.
    pub(super) fn resolve_groups(
        &self,
        identifiers: &[CustomerGroupIdentifier],
    ) -> Result<Vec<usize>, Rejection> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for identifier in identifiers {
            match self.group_index(identifier) {
                Some(index) if !found.contains(&index) => found.push(index),
                Some(_) => {}
                None => missing.push(describe_group(identifier)),
            }
        }
        if missing.is_empty() {
            Ok(found)
        } else {
            Err(Rejection::customer_groups_not_found(&missing))
        }
    }

    /// Runs one `addCustomerToCustomerGroups`. Memberships the customer already has are
    /// skipped; the answer holds the ones made now, as Plain's does.
    pub fn add_to_groups(
        &mut self,
        customer_id: &str,
        identifiers: &[CustomerGroupIdentifier],
        now: SystemTime,
    ) -> Result<Vec<Membership>, Rejection> {
        check_group_count(identifiers)?;
        let index = self.index_of(customer_id)?;
        let groups = self.resolve_groups(identifiers)?;
        let mut made = Vec::new();
        for group in groups {
            let group = self.groups[group].clone();
            if self.customers[index].customer_group_ids.contains(&group.id) {
                continue;
            }
            let before = self.recording().then(|| self.snapshot(index));
            let customer = &mut self.customers[index];
            customer.customer_group_ids.push(group.id.clone());
            let customer_id = customer.id.clone();
            self.joined
                .insert((customer_id.clone(), group.id.clone()), now);
            self.record_membership(true, before, index);
            made.push(Membership {
                customer_id,
                group,
                created_at: now,
            });
        }
        Ok(made)
    }

    /// Runs one `removeCustomerFromCustomerGroups`. Plain refuses it when the customer is a
    /// member of none of the groups; groups among them it is not a member of are skipped.
    pub fn remove_from_groups(
        &mut self,
        customer_id: &str,
        identifiers: &[CustomerGroupIdentifier],
    ) -> Result<(), Rejection> {
        check_group_count(identifiers)?;
        let index = self.index_of(customer_id)?;
        let groups = self.resolve_groups(identifiers)?;
        let leaving: Vec<&str> = groups.iter().map(|&g| self.groups[g].id.as_str()).collect();
        let customer = &self.customers[index];
        if !leaving
            .iter()
            .any(|id| customer.customer_group_ids.iter().any(|m| m == id))
        {
            return Err(Rejection::validation(
                "customer_group_membership_not_found",
                "The customer is not a member of any of these customer groups.",
                GROUPS_FIELD,
                "NOT_FOUND",
                "Not a member of any of these customer groups",
            ));
        }
        let leaving: Vec<String> = leaving
            .into_iter()
            .filter(|id| customer.customer_group_ids.iter().any(|m| m == id))
            .map(str::to_owned)
            .collect();
        for group_id in leaving {
            let before = self.recording().then(|| self.snapshot(index));
            let customer = &mut self.customers[index];
            customer.customer_group_ids.retain(|id| id != &group_id);
            let key = (customer.id.clone(), group_id);
            self.joined.remove(&key);
            self.record_membership(false, before, index);
        }
        Ok(())
    }
}
