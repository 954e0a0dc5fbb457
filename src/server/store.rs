//! The customers of the local server and `upsertCustomer`'s semantics, as Plain defines them.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::input::{
    ClearableUpdate, CustomerIdentifier, EmailAddress, Update, UpsertCustomerInput,
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
}

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

/// Crockford's base-32 alphabet, as in ULIDs and Plain's ids.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The customers, indexed the ways `upsertCustomer` finds them.
#[derive(Debug)]
pub struct Store {
    customers: Vec<StoredCustomer>,
    by_id: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
    by_external_id: HashMap<String, usize>,
    rng: Rng,
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
    pub fn new(seed: u64) -> Self {
        Self {
            customers: Vec::new(),
            by_id: HashMap::new(),
            by_email: HashMap::new(),
            by_external_id: HashMap::new(),
            rng: Rng::new(seed),
        }
    }

    pub fn customers(&self) -> &[StoredCustomer] {
        &self.customers
    }

    /// A new customer id: 10 characters of milliseconds and 16 random ones, like a ULID.
    fn new_id(&mut self, now: SystemTime) -> String {
        let millis = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut id = String::from("c_");
        for i in (0..10).rev() {
            id.push(CROCKFORD[((millis >> (i * 5)) & 31) as usize] as char);
        }
        let random = self.rng.next_u64();
        let more = self.rng.next_u64();
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
            return Err(Rejection {
                message: format!("Customer with id {id} not found"),
                kind: "VALIDATION",
                code: "not_found",
                fields: vec![(
                    "customerId".into(),
                    "Customer not found".into(),
                    "NOT_FOUND",
                )],
            });
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
        let customer = StoredCustomer {
            id: self.new_id(now),
            external_id: on_create.external_id.clone(),
            full_name: on_create.full_name.clone(),
            short_name: on_create.short_name.clone(),
            email: on_create.email.email.clone(),
            email_verified: on_create.email.is_verified,
            email_verified_at: on_create.email.is_verified.then_some(now),
            created_at: now,
            updated_at: now,
        };
        let index = self.customers.len();
        self.by_id.insert(customer.id.clone(), index);
        self.by_email.insert(email_key(&customer.email), index);
        if let Some(external_id) = &customer.external_id {
            self.by_external_id.insert(external_id.clone(), index);
        }
        self.customers.push(customer.clone());
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
        self.customers[index] = next.clone();
        Ok((Outcome::Updated, next))
    }
}
