//! The customers and customer groups of the local server, and the semantics of the customer
//! operations as Plain defines them: `upsertCustomer`, the lookups, `deleteCustomer` and
//! group membership.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::input::{
    ClearableUpdate, CustomerGroupIdentifier, CustomerIdentifier, EmailAddress, Update,
    UpsertCustomerInput,
};
use crate::rng::Rng;

/// A customer held by the local server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredCustomer {
    /// Plain-style id: `c_` and 26 Crockford base-32 characters.
    pub id: String,
    /// Your own id for the customer.
    pub external_id: Option<String>,
    /// The full name.
    pub full_name: String,
    /// The short name.
    pub short_name: Option<String>,
    /// The email address.
    pub email: String,
    /// Whether the email address is verified.
    pub email_verified: bool,
    /// When the email address became verified.
    pub email_verified_at: Option<SystemTime>,
    /// When the customer was created.
    pub created_at: SystemTime,
    /// When the customer last changed.
    pub updated_at: SystemTime,
    /// The ids (`cg_...`) of the customer groups the customer is a member of, in the order
    /// the customer joined them.
    pub customer_group_ids: Vec<String>,
}

/// A customer group held by the local server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredCustomerGroup {
    /// Plain-style id: `cg_` and 26 Crockford base-32 characters.
    pub id: String,
    /// The group's key, such as `enterprise`, unique among the groups.
    pub key: String,
    /// The group's name, as people read it.
    pub name: String,
    /// Your own id for the group, unique among the groups.
    pub external_id: Option<String>,
    /// When the group was created.
    pub created_at: SystemTime,
    /// When the group last changed.
    pub updated_at: SystemTime,
}

/// A customer group for the local server to hold from its start: a key, a name and
/// optionally your own id for it. Give it to
/// [`LocalServerBuilder::customer_group_spec`](super::LocalServerBuilder::customer_group_spec).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CustomerGroupSpec {
    /// The key, such as `enterprise`.
    pub key: String,
    /// The name, such as `Enterprise`.
    pub name: String,
    /// Your own id for the group.
    pub external_id: Option<String>,
}

impl CustomerGroupSpec {
    /// A group with this key and name, and no external id.
    pub fn new(key: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            name: name.into(),
            external_id: None,
        }
    }

    /// Gives the group your own id, so that `{"externalId": ...}` identifies it.
    #[must_use]
    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }
}

/// A membership made by `addCustomerToCustomerGroups`, as its answer shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub customer_id: String,
    pub group: StoredCustomerGroup,
    pub created_at: SystemTime,
}

/// How many customer groups one `addCustomerToCustomerGroups` or
/// `removeCustomerFromCustomerGroups` may name, as Plain documents.
pub const MAX_GROUPS_AT_ONCE: usize = 25;

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Noop,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "CREATED",
            Outcome::Updated => "UPDATED",
            Outcome::Noop => "NOOP",
        }
    }
}

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

/// A `MutationError` as Plain returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub message: String,
    pub kind: &'static str,
    pub code: &'static str,
    pub fields: Vec<(String, String, &'static str)>,
}

impl Rejection {
    fn email_taken() -> Self {
        Self::validation(
            "customer_already_exists_with_email",
            "A customer with this email already exists.",
            "email",
            "VALIDATION",
            "Email is already in use",
        )
    }

    fn external_id_taken() -> Self {
        Self::validation(
            "customer_already_exists_with_external_id",
            "A customer with this external id already exists.",
            "externalId",
            "VALIDATION",
            "External id is already in use",
        )
    }

    /// Plain's answer for a customer id that matches no customer.
    fn customer_not_found(id: &str) -> Self {
        Self {
            message: format!("Customer with id {id} not found"),
            kind: "VALIDATION",
            code: "not_found",
            fields: vec![(
                "customerId".into(),
                "Customer not found".into(),
                "NOT_FOUND",
            )],
        }
    }

    /// Group identifiers that match no group: one field error for each.
    fn customer_groups_not_found(missing: &[String]) -> Self {
        Self {
            message: format!("No customer group matches {}.", missing.join(", ")),
            kind: "VALIDATION",
            code: "customer_group_not_found",
            fields: missing
                .iter()
                .map(|m| {
                    (
                        GROUPS_FIELD.to_owned(),
                        format!("No customer group with {m}"),
                        "NOT_FOUND",
                    )
                })
                .collect(),
        }
    }

    fn validation(
        code: &'static str,
        message: &str,
        field: &str,
        field_type: &'static str,
        field_message: &str,
    ) -> Self {
        Self {
            message: message.to_owned(),
            kind: "VALIDATION",
            code,
            fields: vec![(field.to_owned(), field_message.to_owned(), field_type)],
        }
    }
}

/// The input field that names customer groups, in field errors.
const GROUPS_FIELD: &str = "customerGroupIdentifiers";

/// Crockford's base-32 alphabet, as in ULIDs and Plain's ids.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The workspace a local server is: what `myWorkspace` answers, or that the key may not read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalWorkspace {
    /// Plain-style id: `w_` and 26 Crockford base-32 characters, unless one was given.
    pub id: String,
    /// The name.
    pub name: String,
    /// Whether `myWorkspace` answers it; otherwise it answers Plain's `FORBIDDEN`.
    pub readable: bool,
}

/// A new workspace id: `w_` and 26 characters, as [`Store`] makes customer ids, but drawn from
/// a generator no seed repeats. Two local servers are two workspaces even when given the same
/// seed (`plain serve` always has one), so they must never share an id: the generator is
/// seeded with the time, the process id and a count of the ids made in this process.
pub fn new_workspace_id(now: SystemTime) -> String {
    static MADE: AtomicU64 = AtomicU64::new(0);
    let made = MADE.fetch_add(1, Ordering::Relaxed);
    let nanos = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let seed = nanos ^ (u64::from(std::process::id()) << 32) ^ made.rotate_left(48);
    plain_id("w_", now, &mut Rng::new(seed))
}

/// An id such as `c_`, `cg_` or `w_` and 10 characters of milliseconds and 16 random ones, like
/// a ULID.
pub fn plain_id(prefix: &str, now: SystemTime, rng: &mut Rng) -> String {
    let millis = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let mut id = String::from(prefix);
    for i in (0..10).rev() {
        id.push(CROCKFORD[((millis >> (i * 5)) & 31) as usize] as char);
    }
    let random = rng.next_u64();
    let more = rng.next_u64();
    for i in 0..16 {
        let bits = if i < 12 {
            random >> (i * 5)
        } else {
            more >> ((i - 12) * 5)
        };
        id.push(CROCKFORD[(bits & 31) as usize] as char);
    }
    id
}

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
    /// The changes made since they were last taken, when recording.
    changes: Option<Vec<Change>>,
    rng: Rng,
}

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

fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

fn check_email(email: &EmailAddress, field: &str) -> Result<(), Rejection> {
    let address = email.email.trim();
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
        &format!("{:?} is not a valid email address", email.email),
    ))
}

fn required_name(name: &str, field: &str) -> Result<(), Rejection> {
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
    pub fn new(seed: u64, workspace: LocalWorkspace) -> Self {
        Self {
            workspace,
            customers: Vec::new(),
            by_id: HashMap::new(),
            by_email: HashMap::new(),
            by_external_id: HashMap::new(),
            groups: Vec::new(),
            joined: HashMap::new(),
            changes: None,
            rng: Rng::new(seed),
        }
    }

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

    fn recording(&self) -> bool {
        self.changes.is_some()
    }

    fn record(&mut self, change: Change) {
        if let Some(changes) = &mut self.changes {
            changes.push(change);
        }
    }

    /// Records one membership added or removed from the customer at `index`, when recording
    /// (`before` is then its snapshot before the change).
    fn record_membership(&mut self, added: bool, before: Option<CustomerSnapshot>, index: usize) {
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
    fn snapshot(&self, index: usize) -> CustomerSnapshot {
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

    /// The workspace (`myWorkspace`).
    pub fn workspace(&self) -> &LocalWorkspace {
        &self.workspace
    }

    pub fn customers(&self) -> &[StoredCustomer] {
        &self.customers
    }

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

    /// A new id, such as `c_` or `cg_` and 10 characters of milliseconds and 16 random ones,
    /// like a ULID.
    fn new_id(&mut self, prefix: &str, now: SystemTime) -> String {
        plain_id(prefix, now, &mut self.rng)
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

    fn index_of(&self, customer_id: &str) -> Result<usize, Rejection> {
        self.by_id
            .get(customer_id)
            .copied()
            .ok_or_else(|| Rejection::customer_not_found(customer_id))
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
    fn resolve_groups(
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

    fn email_taken(&self, email: &str, except: Option<usize>) -> bool {
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
        check_email(&on_create.email, "email")?;
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
        };
        let index = self.customers.len();
        for group_id in &customer.customer_group_ids {
            self.joined
                .insert((customer.id.clone(), group_id.clone()), now);
        }
        self.by_id.insert(customer.id.clone(), index);
        self.by_email.insert(email_key(&customer.email), index);
        if let Some(external_id) = &customer.external_id {
            self.by_external_id.insert(external_id.clone(), index);
        }
        self.customers.push(customer.clone());
        if self.recording() {
            let created = self.snapshot(index);
            self.record(Change::Created(created));
        }
        Ok((Outcome::Created, customer))
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
            check_email(email, "email")?;
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
        let current = &self.customers[index];
        if &next == current {
            return Ok((Outcome::Noop, next));
        }
        next.updated_at = now;
        self.by_email.remove(&email_key(&current.email));
        if let Some(old) = &current.external_id {
            self.by_external_id.remove(old);
        }
        self.by_email.insert(email_key(&next.email), index);
        if let Some(external_id) = &next.external_id {
            self.by_external_id.insert(external_id.clone(), index);
        }
        let before = self.recording().then(|| self.snapshot(index));
        self.customers[index] = next.clone();
        if let Some(before) = before {
            let after = self.snapshot(index);
            self.record(Change::Updated { before, after });
        }
        Ok((Outcome::Updated, next))
    }
}
