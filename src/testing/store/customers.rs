//! The customers: the lookups, `upsertCustomer` and `deleteCustomer` as Plain defines them,
//! with unique email addresses (compared ignoring case) and external ids.

use std::time::SystemTime;

use super::changes::Change;
use super::records::{Outcome, StoredCustomer};
use super::rejection::Rejection;
use super::{is_blank, Store};
use crate::input::{ClearableUpdate, CustomerIdentifier, Update, UpsertCustomerInput};

/// An email address as Plain compares them: trimmed, ignoring case.
pub(super) fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Refuses an email address that is not `local@domain`, naming `field`.
pub(super) fn check_address(email: &str, field: &str) -> Result<(), Rejection> {
    let address = email.trim();
    let valid = match address.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    };
    if valid {
        return Ok(());
    }
    Err(Rejection::validation(
        "input_validation",
        "There was a validation error.",
        field,
        "VALIDATION",
        &format!("{email:?} is not a valid email address"),
    ))
}

/// Refuses a blank full name, naming `field`.
pub(super) fn required_name(name: &str, field: &str) -> Result<(), Rejection> {
    if is_blank(name) {
        return Err(Rejection::validation(
            "input_validation",
            "There was a validation error.",
            field,
            "REQUIRED",
            "A full name is required",
        ));
    }
    Ok(())
}

impl Store {
    /// The customer with Plain's id (`customer`).
    pub fn customer(&self, id: &str) -> Option<&StoredCustomer> {
        self.by_id.get(id).map(|&i| &self.customers[i])
    }

    /// The customer with this email address, compared as Plain compares them: ignoring case
    /// (`customerByEmail`).
    pub fn customer_by_email(&self, email: &str) -> Option<&StoredCustomer> {
        self.by_email
            .get(&email_key(email))
            .map(|&i| &self.customers[i])
    }

    /// The customer with your external id (`customerByExternalId`).
    pub fn customer_by_external_id(&self, id: &str) -> Option<&StoredCustomer> {
        self.by_external_id.get(id).map(|&i| &self.customers[i])
    }

    fn find(&self, identifier: &CustomerIdentifier) -> Option<usize> {
        match identifier {
            CustomerIdentifier::EmailAddress(email) => {
                self.by_email.get(&email_key(email)).copied()
            }
            CustomerIdentifier::ExternalId(id) => self.by_external_id.get(id).copied(),
            CustomerIdentifier::CustomerId(id) => self.by_id.get(id).copied(),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Whether another customer than the one at `except` has this email address.
    pub(super) fn email_taken(&self, email: &str, except: Option<usize>) -> bool {
        self.by_email
            .get(&email_key(email))
            .is_some_and(|&i| Some(i) != except)
    }

    fn external_id_taken(&self, id: &str, except: Option<usize>) -> bool {
        self.by_external_id
            .get(id)
            .is_some_and(|&i| Some(i) != except)
    }

    /// Runs one `upsertCustomer`.
    pub fn upsert(
        &mut self,
        input: &UpsertCustomerInput,
        now: SystemTime,
    ) -> Result<(Outcome, StoredCustomer), Rejection> {
        match self.find(&input.identifier) {
            Some(index) => self.update(index, input, now),
            None => self.create(input, now),
        }
    }

    fn create(
        &mut self,
        input: &UpsertCustomerInput,
        now: SystemTime,
    ) -> Result<(Outcome, StoredCustomer), Rejection> {
        if let CustomerIdentifier::CustomerId(id) = &input.identifier {
            return Err(Rejection::customer_not_found(id));
        }
        let on_create = &input.on_create;
        required_name(&on_create.full_name, "fullName")?;
        check_address(&on_create.email.email, "email")?;
        if self.email_taken(&on_create.email.email, None) {
            return Err(Rejection::email_taken());
        }
        if let Some(external_id) = &on_create.external_id {
            if self.external_id_taken(external_id, None) {
                return Err(Rejection::external_id_taken());
            }
        }
        let groups = match &on_create.customer_group_identifiers {
            Some(identifiers) => self.resolve_groups(identifiers)?,
            None => Vec::new(),
        };
        let tenant_ids = match &on_create.tenant_identifiers {
            Some(identifiers) => self.resolve_tenants(identifiers)?,
            None => Vec::new(),
        };
        let customer = StoredCustomer {
            id: self.new_id("c_", now),
            external_id: on_create.external_id.clone(),
            full_name: on_create.full_name.clone(),
            short_name: on_create.short_name.clone(),
            email: on_create.email.email.clone(),
            email_verified: on_create.email.is_verified,
            email_verified_at: on_create.email.is_verified.then_some(now),
            created_at: now,
            updated_at: now,
            customer_group_ids: groups
                .into_iter()
                .map(|g| self.groups[g].id.clone())
                .collect(),
            tenant_ids,
        };
        for group_id in &customer.customer_group_ids {
            self.joined
                .insert((customer.id.clone(), group_id.clone()), now);
        }
        self.insert(customer.clone());
        Ok((Outcome::Created, customer))
    }

    /// Adds a new customer, indexed by id, email address and external id, and records its
    /// creation.
    pub(super) fn insert(&mut self, customer: StoredCustomer) {
        let index = self.customers.len();
        self.by_id.insert(customer.id.clone(), index);
        self.by_email.insert(email_key(&customer.email), index);
        if let Some(external_id) = &customer.external_id {
            self.by_external_id.insert(external_id.clone(), index);
        }
        self.customers.push(customer);
        if self.recording() {
            let created = self.snapshot(index);
            self.record(Change::Created(created));
        }
    }

    fn update(
        &mut self,
        index: usize,
        input: &UpsertCustomerInput,
        now: SystemTime,
    ) -> Result<(Outcome, StoredCustomer), Rejection> {
        let on_update = &input.on_update;
        let mut next = self.customers[index].clone();
        if let Update::Set(name) = &on_update.full_name {
            required_name(name, "fullName")?;
            next.full_name = name.clone();
        }
        match &on_update.short_name {
            ClearableUpdate::Set(name) => next.short_name = Some(name.clone()),
            ClearableUpdate::Clear => next.short_name = None,
            ClearableUpdate::Keep => {}
        }
        if let Update::Set(email) = &on_update.email {
            check_address(&email.email, "email")?;
            if self.email_taken(&email.email, Some(index)) {
                return Err(Rejection::email_taken());
            }
            if email.is_verified != next.email_verified {
                next.email_verified_at = email.is_verified.then_some(now);
            }
            next.email = email.email.clone();
            next.email_verified = email.is_verified;
        }
        match &on_update.external_id {
            ClearableUpdate::Set(id) => {
                if self.external_id_taken(id, Some(index)) {
                    return Err(Rejection::external_id_taken());
                }
                next.external_id = Some(id.clone());
            }
            ClearableUpdate::Clear => next.external_id = None,
            ClearableUpdate::Keep => {}
        }
        if next == self.customers[index] {
            return Ok((Outcome::Noop, next));
        }
        next.updated_at = now;
        self.replace(index, next.clone());
        Ok((Outcome::Updated, next))
    }

    /// Puts `next` in the place of the customer at `index`, indexed by its email address and
    /// external id, and records the update.
    pub(super) fn replace(&mut self, index: usize, next: StoredCustomer) {
        let current = &self.customers[index];
        self.by_email.remove(&email_key(&current.email));
        if let Some(old) = &current.external_id {
            self.by_external_id.remove(old);
        }
        self.by_email.insert(email_key(&next.email), index);
        if let Some(external_id) = &next.external_id {
            self.by_external_id.insert(external_id.clone(), index);
        }
        let before = self.recording().then(|| self.snapshot(index));
        self.customers[index] = next;
        if let Some(before) = before {
            let after = self.snapshot(index);
            self.record(Change::Updated { before, after });
        }
    }

    /// Runs one `deleteCustomer`: the customer goes, with its memberships, and its email
    /// address and external id are free again.
    pub fn delete(&mut self, customer_id: &str) -> Result<(), Rejection> {
        let index = self.index_of(customer_id)?;
        if self.recording() {
            let before = self.snapshot(index);
            self.record(Change::Deleted(before));
        }
        let customer = self.customers.remove(index);
        self.joined.retain(|(member, _), _| member != &customer.id);
        self.by_id.remove(&customer.id);
        self.by_email.remove(&email_key(&customer.email));
        if let Some(external_id) = &customer.external_id {
            self.by_external_id.remove(external_id);
        }
        // The customers after it moved down by one.
        for map in [
            &mut self.by_id,
            &mut self.by_email,
            &mut self.by_external_id,
        ] {
            for position in map.values_mut() {
                if *position > index {
                    *position -= 1;
                }
            }
        }
        Ok(())
    }
}
