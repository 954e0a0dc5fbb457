//! The input of `importCustomers`: up to [`MAX_IMPORT_CUSTOMERS`] customers, each keyed by
//! your external id, with the tenants it belongs to.
//!
//! The types serialize to exactly the JSON Plain's `ImportCustomersInput` takes: an optional
//! field that is not set is absent, never `null`, and `tenants` is always sent (Plain requires
//! the list, empty or not).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The most customers one `importCustomers` request may carry, as Plain documents.
pub const MAX_IMPORT_CUSTOMERS: usize = 25;

/// One customer to import: created when no customer has its external id, updated when one
/// has (Plain's `ImportCustomerInput`).
///
/// ```
/// use plain_client::{ImportCustomer, ImportTenant};
///
/// let customer = ImportCustomer::new("crm-42", "Donald Duck")
///     .short_name("Donald")
///     .email("donald@example.com")
///     .tenant(ImportTenant::new("acme", "Acme Inc.").url("https://acme.example"));
/// assert_eq!(
///     serde_json::to_value(&customer).unwrap(),
///     serde_json::json!({
///         "externalId": "crm-42",
///         "fullName": "Donald Duck",
///         "shortName": "Donald",
///         "email": "donald@example.com",
///         "tenants": [{"externalId": "acme", "name": "Acme Inc.", "url": "https://acme.example"}]
///     })
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ImportCustomer {
    /// Your own id for the customer, unique in a workspace: what the import matches on.
    pub external_id: String,
    /// The full name; Plain requires a non-blank one.
    pub full_name: String,
    /// An optional short name, typically a first name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_name: Option<String>,
    /// The email address, a plain string: an import carries no verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// When the customer was created in your system, as an ISO 8601 timestamp such as
    /// `2024-01-31T09:00:00.000Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// The tenants the customer belongs to, each created or updated by its external id.
    #[serde(default)]
    pub tenants: Vec<ImportTenant>,
}

impl ImportCustomer {
    /// A customer with the two fields Plain requires, in no tenant.
    pub fn new(external_id: impl Into<String>, full_name: impl Into<String>) -> Self {
        Self {
            external_id: external_id.into(),
            full_name: full_name.into(),
            short_name: None,
            email: None,
            created_at: None,
            tenants: Vec::new(),
        }
    }

    /// Sets the short name.
    #[must_use]
    pub fn short_name(mut self, short_name: impl Into<String>) -> Self {
        self.short_name = Some(short_name.into());
        self
    }

    /// Sets the email address.
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets when the customer was created in your system: an ISO 8601 timestamp such as
    /// `2024-01-31T09:00:00.000Z`.
    #[must_use]
    pub fn created_at(mut self, created_at: impl Into<String>) -> Self {
        self.created_at = Some(created_at.into());
        self
    }

    /// Adds a tenant the customer belongs to.
    #[must_use]
    pub fn tenant(mut self, tenant: ImportTenant) -> Self {
        self.tenants.push(tenant);
        self
    }

    /// Sets the tenants the customer belongs to, replacing any added before.
    #[must_use]
    pub fn tenants(mut self, tenants: impl IntoIterator<Item = ImportTenant>) -> Self {
        self.tenants = tenants.into_iter().collect();
        self
    }
}

/// A tenant an imported customer belongs to, by your external id for it, with its name
/// (Plain's `ImportCustomerTenantInput`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ImportTenant {
    /// Your own id for the tenant.
    pub external_id: String,
    /// The tenant's name, such as the company's.
    pub name: String,
    /// An optional URL of the tenant, such as its website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl ImportTenant {
    /// A tenant by your external id for it, with its name.
    pub fn new(external_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            external_id: external_id.into(),
            name: name.into(),
            url: None,
        }
    }

    /// Sets the tenant's URL.
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
}

/// The whole input of one `importCustomers` request: between one and
/// [`MAX_IMPORT_CUSTOMERS`] customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportCustomersInput {
    customers: Vec<ImportCustomer>,
}

impl ImportCustomersInput {
    /// The customers of one request, or [`Error::InvalidInput`] when there are none or more
    /// than [`MAX_IMPORT_CUSTOMERS`].
    pub fn new(customers: impl IntoIterator<Item = ImportCustomer>) -> Result<Self> {
        let customers: Vec<ImportCustomer> = customers.into_iter().collect();
        if customers.is_empty() {
            return Err(Error::InvalidInput {
                message: "importCustomers needs at least one customer: give one or more".into(),
            });
        }
        if customers.len() > MAX_IMPORT_CUSTOMERS {
            return Err(Error::InvalidInput {
                message: format!(
                    "importCustomers takes at most {MAX_IMPORT_CUSTOMERS} customers a request, \
                     and {} were given: send them in batches of {MAX_IMPORT_CUSTOMERS} or fewer",
                    customers.len()
                ),
            });
        }
        Ok(Self { customers })
    }

    /// The customers, in the order they are sent.
    pub fn customers(&self) -> &[ImportCustomer] {
        &self.customers
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unset_optional_fields_are_absent_and_tenants_always_sent() {
        let customer = ImportCustomer::new("u_1", "Ada");
        assert_eq!(
            serde_json::to_value(&customer).unwrap(),
            json!({"externalId": "u_1", "fullName": "Ada", "tenants": []})
        );
        let tenant = ImportTenant::new("t_1", "Acme");
        assert_eq!(
            serde_json::to_value(&tenant).unwrap(),
            json!({"externalId": "t_1", "name": "Acme"})
        );
    }

    #[test]
    fn reads_back_what_it_writes_and_names_unknown_fields() {
        let customer = ImportCustomer::new("u_1", "Ada")
            .email("ada@example.com")
            .created_at("2024-01-31T09:00:00.000Z")
            .tenants([ImportTenant::new("t_1", "Acme").url("https://acme.example")]);
        let text = serde_json::to_string(&customer).unwrap();
        assert_eq!(
            serde_json::from_str::<ImportCustomer>(&text).unwrap(),
            customer
        );
        let error = serde_json::from_str::<ImportCustomer>(
            r#"{"externalId": "u_1", "fullName": "Ada", "tenants": [], "isVerified": true}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("isVerified"), "{error}");
    }

    #[test]
    fn one_to_twenty_five_customers_make_an_input() {
        let customers = |n: usize| (0..n).map(|i| ImportCustomer::new(format!("u_{i}"), "A"));
        assert_eq!(
            ImportCustomersInput::new(customers(1))
                .unwrap()
                .customers()
                .len(),
            1
        );
        assert_eq!(
            ImportCustomersInput::new(customers(MAX_IMPORT_CUSTOMERS))
                .unwrap()
                .customers()
                .len(),
            25
        );
        let Err(Error::InvalidInput { message }) = ImportCustomersInput::new(customers(26)) else {
            panic!("26 customers were taken");
        };
        assert!(
            message.contains("at most 25") && message.contains("26"),
            "{message}"
        );
        let Err(Error::InvalidInput { message }) = ImportCustomersInput::new(customers(0)) else {
            panic!("no customers were taken");
        };
        assert!(message.contains("at least one"), "{message}");
    }
}
