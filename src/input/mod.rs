//! The input of `upsertCustomer`, written by hand so that it is hard to misuse.
//!
//! - The identifier is exactly one of email address, external id or customer id, by
//!   construction ([`CustomerIdentifier`]).
//! - [`OnCreate`] takes the fields Plain requires up front.
//! - [`OnUpdate`] says for every field whether to keep it ([`Update::Keep`]), set it, or (only
//!   where Plain allows it) clear it ([`ClearableUpdate::Clear`]).
//!
//! The types serialize to exactly the JSON Plain documents, field for field: a kept field is
//! absent, a cleared one is `{"value": null}`, and an `onUpdate` that changes nothing is `{}`.
//! They also deserialize from that JSON, rejecting unknown fields and ambiguous identifiers
//! with a message that names the field at fault.
//!
//! The input of `importCustomers` ([`ImportCustomer`], [`ImportTenant`]) is in the same
//! style: builders, and exactly Plain's JSON on the wire.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod import;
mod update;

pub use import::{ImportCustomer, ImportCustomersInput, ImportTenant, MAX_IMPORT_CUSTOMERS};
pub use update::{ClearableUpdate, OnUpdate, Update};

/// The whole input of one upsert: which customer, what to create, what to update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct UpsertCustomerInput {
    /// How Plain finds an existing customer.
    pub identifier: CustomerIdentifier,
    /// The customer to create when none matches.
    pub on_create: OnCreate,
    /// The changes to make when one matches.
    pub on_update: OnUpdate,
}

impl UpsertCustomerInput {
    /// An upsert that creates the customer when none matches and otherwise changes nothing.
    ///
    /// Add changes for an existing customer with [`UpsertCustomerInput::on_update`].
    pub fn new(identifier: CustomerIdentifier, on_create: OnCreate) -> Self {
        Self {
            identifier,
            on_create,
            on_update: OnUpdate::default(),
        }
    }

    /// Sets the changes made when the customer already exists.
    #[must_use]
    pub fn on_update(mut self, on_update: OnUpdate) -> Self {
        self.on_update = on_update;
        self
    }

    /// Reads one input in Plain's documented JSON shape (as in Plain's `upsertCustomer` recipe).
    ///
    /// The error names the field at fault, for example
    /// `onUpdate.shortName: ... leave the field out to keep the short name`.
    pub fn from_json(json: &str) -> Result<Self> {
        // Read at full speed; only an input with a fault is read again to say where it is.
        if let Ok(input) = serde_json::from_str(json) {
            return Ok(input);
        }
        let deserializer = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            };
            Error::InvalidInput { message }
        })
    }
}

/// Which customer an upsert is about. Plain matches on exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CustomerIdentifier {
    /// The customer's email address, unique in a workspace.
    EmailAddress(String),
    /// Your own id for the customer, unique in a workspace.
    ExternalId(String),
    /// Plain's customer id (`c_...`). An upsert by customer id never creates a customer.
    CustomerId(String),
}

impl CustomerIdentifier {
    /// Identifies the customer by email address.
    pub fn email(address: impl Into<String>) -> Self {
        Self::EmailAddress(address.into())
    }

    /// Identifies the customer by your own id for it.
    pub fn external_id(id: impl Into<String>) -> Self {
        Self::ExternalId(id.into())
    }

    /// Identifies the customer by Plain's id. Such an upsert only ever updates.
    pub fn customer_id(id: impl Into<String>) -> Self {
        Self::CustomerId(id.into())
    }
}

/// Picks the one field of a "one of" input object, or says what is wrong.
fn exactly_one<E: de::Error>(what: &str, fields: &[(&str, Option<String>)]) -> Result<usize, E> {
    let given: Vec<usize> = (0..fields.len())
        .filter(|&i| fields[i].1.is_some())
        .collect();
    let names = fields
        .iter()
        .map(|(name, _)| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match given.as_slice() {
        [one] => Ok(*one),
        [] => Err(E::custom(format!(
            "{what} needs exactly one of {names}, and it has none"
        ))),
        many => {
            let set = many
                .iter()
                .map(|&i| format!("`{}`", fields[i].0))
                .collect::<Vec<_>>()
                .join(" and ");
            Err(E::custom(format!(
                "{what} needs exactly one of {names}, but it has {set}: keep one"
            )))
        }
    }
}

impl<'de> Deserialize<'de> for CustomerIdentifier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Wire {
            email_address: Option<String>,
            external_id: Option<String>,
            customer_id: Option<String>,
        }
        let wire = Wire::deserialize(deserializer)?;
        let mut fields = [
            ("emailAddress", wire.email_address),
            ("externalId", wire.external_id),
            ("customerId", wire.customer_id),
        ];
        let index = exactly_one("the identifier", &fields)?;
        let value = fields[index].1.take().unwrap_or_default();
        Ok(match index {
            0 => Self::EmailAddress(value),
            1 => Self::ExternalId(value),
            _ => Self::CustomerId(value),
        })
    }
}

/// An email address and whether its owner has verified it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailAddress {
    /// The address.
    pub email: String,
    /// Whether ownership was verified. Plain may not email an unverified address.
    pub is_verified: bool,
}

impl EmailAddress {
    /// An address whose owner has not been verified.
    pub fn unverified(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            is_verified: false,
        }
    }

    /// An address whose owner has been verified (for example by a sign-in link).
    pub fn verified(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            is_verified: true,
        }
    }
}

/// A customer group to add a new customer to: by Plain's id, its key, or your external id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CustomerGroupIdentifier {
    /// Plain's id of the group.
    CustomerGroupId(String),
    /// The group's key, such as `enterprise`.
    CustomerGroupKey(String),
    /// Your own id of the group.
    ExternalId(String),
}

impl CustomerGroupIdentifier {
    /// A group by Plain's id of it.
    pub fn id(id: impl Into<String>) -> Self {
        Self::CustomerGroupId(id.into())
    }

    /// A group by its key, such as `enterprise`.
    pub fn key(key: impl Into<String>) -> Self {
        Self::CustomerGroupKey(key.into())
    }

    /// A group by your own id of it.
    pub fn external_id(id: impl Into<String>) -> Self {
        Self::ExternalId(id.into())
    }
}

/// A customer and the groups to add it to or remove it from: the input of
/// `addCustomerToCustomerGroups` and `removeCustomerFromCustomerGroups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerGroupsInput {
    customer_id: String,
    customer_group_identifiers: Vec<CustomerGroupIdentifier>,
}

impl CustomerGroupsInput {
    /// The customer by Plain's id, and the groups.
    pub fn new(
        customer_id: impl Into<String>,
        groups: impl IntoIterator<Item = CustomerGroupIdentifier>,
    ) -> Self {
        Self {
            customer_id: customer_id.into(),
            customer_group_identifiers: groups.into_iter().collect(),
        }
    }
}

impl<'de> Deserialize<'de> for CustomerGroupIdentifier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Wire {
            customer_group_id: Option<String>,
            customer_group_key: Option<String>,
            external_id: Option<String>,
        }
        let wire = Wire::deserialize(deserializer)?;
        let mut fields = [
            ("customerGroupId", wire.customer_group_id),
            ("customerGroupKey", wire.customer_group_key),
            ("externalId", wire.external_id),
        ];
        let index = exactly_one("a customer group identifier", &fields)?;
        let value = fields[index].1.take().unwrap_or_default();
        Ok(match index {
            0 => Self::CustomerGroupId(value),
            1 => Self::CustomerGroupKey(value),
            _ => Self::ExternalId(value),
        })
    }
}

/// A tenant to add a new customer to: by Plain's id or your external id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TenantIdentifier {
    /// Plain's id of the tenant.
    TenantId(String),
    /// Your own id of the tenant.
    ExternalId(String),
}

impl TenantIdentifier {
    /// A tenant by Plain's id of it.
    pub fn id(id: impl Into<String>) -> Self {
        Self::TenantId(id.into())
    }

    /// A tenant by your own id of it.
    pub fn external_id(id: impl Into<String>) -> Self {
        Self::ExternalId(id.into())
    }
}

impl<'de> Deserialize<'de> for TenantIdentifier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Wire {
            tenant_id: Option<String>,
            external_id: Option<String>,
        }
        let wire = Wire::deserialize(deserializer)?;
        let mut fields = [
            ("tenantId", wire.tenant_id),
            ("externalId", wire.external_id),
        ];
        let index = exactly_one("a tenant identifier", &fields)?;
        let value = fields[index].1.take().unwrap_or_default();
        Ok(match index {
            0 => Self::TenantId(value),
            _ => Self::ExternalId(value),
        })
    }
}

/// The customer Plain creates when no customer matches the identifier.
///
/// Field order follows Plain's documented requests, so the JSON on the wire reads like them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct OnCreate {
    /// The full name; Plain requires a non-blank one.
    pub full_name: String,
    /// An optional short name, typically a first name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_name: Option<String>,
    /// The customer's email address.
    pub email: EmailAddress,
    /// Your own id for the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Customer groups to put the new customer in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_group_identifiers: Option<Vec<CustomerGroupIdentifier>>,
    /// Tenants to put the new customer in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_identifiers: Option<Vec<TenantIdentifier>>,
}

impl OnCreate {
    /// A new customer with the two fields Plain requires.
    pub fn new(full_name: impl Into<String>, email: EmailAddress) -> Self {
        Self {
            full_name: full_name.into(),
            short_name: None,
            email,
            external_id: None,
            customer_group_identifiers: None,
            tenant_identifiers: None,
        }
    }

    /// Sets the short name.
    #[must_use]
    pub fn short_name(mut self, short_name: impl Into<String>) -> Self {
        self.short_name = Some(short_name.into());
        self
    }

    /// Sets your own id for the customer.
    #[must_use]
    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// Puts the new customer in these customer groups.
    #[must_use]
    pub fn customer_groups(
        mut self,
        groups: impl IntoIterator<Item = CustomerGroupIdentifier>,
    ) -> Self {
        self.customer_group_identifiers = Some(groups.into_iter().collect());
        self
    }

    /// Puts the new customer in these tenants.
    #[must_use]
    pub fn tenants(mut self, tenants: impl IntoIterator<Item = TenantIdentifier>) -> Self {
        self.tenant_identifiers = Some(tenants.into_iter().collect());
        self
    }
}
