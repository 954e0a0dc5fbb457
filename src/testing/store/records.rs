//! What the local server holds: its workspace, customers, customer groups and memberships,
//! tenants, the groups given to it at the start, and what an upsert or an import did.

use std::time::SystemTime;

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
    /// The ids (`te_...`) of the tenants the customer belongs to, in the order it joined
    /// them.
    pub tenant_ids: Vec<String>,
}

/// A tenant held by the local server: made by `importCustomers`, named by
/// `upsertCustomer`'s `onCreate.tenantIdentifiers`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredTenant {
    /// Plain-style id: `te_` and 26 Crockford base-32 characters.
    pub id: String,
    /// Your own id for the tenant, unique among the tenants.
    pub external_id: String,
    /// The tenant's name.
    pub name: String,
    /// The tenant's URL.
    pub url: Option<String>,
    /// When the tenant was created.
    pub created_at: SystemTime,
    /// When the tenant last changed.
    pub updated_at: SystemTime,
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
/// [`LocalServerBuilder::customer_group_spec`](crate::testing::LocalServerBuilder::customer_group_spec).
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

/// What an `importCustomers` did, as its `ImportResult` counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub added: u32,
    pub updated: u32,
    pub skipped: u32,
}
