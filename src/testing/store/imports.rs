//! `importCustomers`: a batch of customers, each created or updated by its external id, with
//! the tenants it belongs to, answered with counts only.
//!
//! Where Plain's documentation is silent, the server decides so:
//!
//! - The batch is validated whole first (more than [`MAX_IMPORT_CUSTOMERS`] customers, a blank
//!   external id, full name or tenant name, a malformed email address or `createdAt`): a
//!   `MutationError` with the code `input_validation` and a field error for each fault, named
//!   by its path (`customers.3.fullName`), and nothing changes.
//! - A customer that matches an existing one by external id counts as `updated`, changed or
//!   not (an import reports no `NOOP`); one that matches none is `added`.
//! - A customer is `skipped`, and nothing of it is kept, when its email address belongs to
//!   another customer, or when it is new and has no email address (a Plain customer always
//!   has one).
//! - An update sets the full name, and the short name and email address when given (a new
//!   address is unverified); it never clears them. `createdAt` is used when the customer is
//!   created.
//! - Tenants are created by external id, or get the name (and the URL, when given) of the
//!   import; the customer joins those it was not in, and leaves none.
//! - A customer whose fields changed is recorded as an upsert's update is (a webhook
//!   `customer.customer_updated`); a change of tenants alone is not a change of the customer.

use std::time::SystemTime;

use super::customers::{check_address, email_key};
use super::records::{ImportCounts, StoredCustomer};
use super::rejection::Rejection;
use super::{is_blank, Store};
use crate::input::{ImportCustomer, ImportTenant, MAX_IMPORT_CUSTOMERS};
use crate::time::parse_rfc3339_utc;

/// What became of one customer of the batch.
enum Fate {
    Added,
    Updated,
    Skipped,
}

/// A field error of a batch: the field's path, the message, its type.
type FieldError = (String, String, &'static str);

fn required(errors: &mut Vec<FieldError>, value: &str, field: String, what: &str) {
    if is_blank(value) {
        errors.push((field, format!("{what} is required"), "REQUIRED"));
    }
}

/// Every fault of the batch, or none.
fn check_batch(customers: &[ImportCustomer]) -> Result<(), Rejection> {
    let mut errors: Vec<FieldError> = Vec::new();
    if customers.len() > MAX_IMPORT_CUSTOMERS {
        errors.push((
            "customers".to_owned(),
            format!(
                "At most {MAX_IMPORT_CUSTOMERS} customers can be imported at once, not {}",
                customers.len()
            ),
            "VALIDATION",
        ));
    }
    for (i, customer) in customers.iter().enumerate() {
        let at = |field: &str| format!("customers.{i}.{field}");
        required(
            &mut errors,
            &customer.external_id,
            at("externalId"),
            "An external id",
        );
        required(
            &mut errors,
            &customer.full_name,
            at("fullName"),
            "A full name",
        );
        if let Some(email) = &customer.email {
            if let Err(rejection) = check_address(email, &at("email")) {
                errors.extend(rejection.fields);
            }
        }
        if let Some(created_at) = &customer.created_at {
            if parse_rfc3339_utc(created_at).is_none() {
                errors.push((
                    at("createdAt"),
                    format!("{created_at:?} is not a timestamp such as 2024-01-31T09:00:00.000Z"),
                    "VALIDATION",
                ));
            }
        }
        for (j, tenant) in customer.tenants.iter().enumerate() {
            let at = |field: &str| format!("customers.{i}.tenants.{j}.{field}");
            required(
                &mut errors,
                &tenant.external_id,
                at("externalId"),
                "A tenant's external id",
            );
            required(&mut errors, &tenant.name, at("name"), "A tenant's name");
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(Rejection {
        message: "There was a validation error.".into(),
        kind: "VALIDATION",
        code: "input_validation",
        fields: errors,
    })
}

impl Store {
    /// Runs one `importCustomers`: the batch is checked whole, then each customer is created
    /// or updated by its external id, in order. The last `skip_last` customers are skipped
    /// without being looked at, as a scripted fault asks.
    pub fn import_customers(
        &mut self,
        customers: &[ImportCustomer],
        skip_last: usize,
        now: SystemTime,
    ) -> Result<ImportCounts, Rejection> {
        check_batch(customers)?;
        let kept = customers.len().saturating_sub(skip_last);
        let mut counts = ImportCounts {
            skipped: (customers.len() - kept) as u32,
            ..ImportCounts::default()
        };
        for customer in &customers[..kept] {
            let fate = match self.by_external_id.get(&customer.external_id).copied() {
                Some(index) => self.import_existing(index, customer, now),
                None => self.import_new(customer, now),
            };
            match fate {
                Fate::Added => counts.added += 1,
                Fate::Updated => counts.updated += 1,
                Fate::Skipped => counts.skipped += 1,
            }
        }
        Ok(counts)
    }

    fn import_new(&mut self, customer: &ImportCustomer, now: SystemTime) -> Fate {
        let Some(email) = &customer.email else {
            return Fate::Skipped;
        };
        if self.email_taken(email, None) {
            return Fate::Skipped;
        }
        let tenant_ids = self.join_tenants(Vec::new(), &customer.tenants, now);
        let created_at = customer.created_at.as_deref().and_then(parse_rfc3339_utc);
        let stored = StoredCustomer {
            id: self.new_id("c_", now),
            external_id: Some(customer.external_id.clone()),
            full_name: customer.full_name.clone(),
            short_name: customer.short_name.clone(),
            email: email.clone(),
            email_verified: false,
            email_verified_at: None,
            created_at: created_at.unwrap_or(now),
            updated_at: now,
            customer_group_ids: Vec::new(),
            tenant_ids,
        };
        self.insert(stored);
        Fate::Added
    }

    fn import_existing(
        &mut self,
        index: usize,
        customer: &ImportCustomer,
        now: SystemTime,
    ) -> Fate {
        if let Some(email) = &customer.email {
            if self.email_taken(email, Some(index)) {
                return Fate::Skipped;
            }
        }
        let mut next = self.customers[index].clone();
        next.full_name = customer.full_name.clone();
        if let Some(short_name) = &customer.short_name {
            next.short_name = Some(short_name.clone());
        }
        if let Some(email) = &customer.email {
            if email_key(email) != email_key(&next.email) {
                next.email_verified = false;
                next.email_verified_at = None;
            }
            next.email = email.clone();
        }
        let fields_changed = next != self.customers[index];
        let tenant_ids = std::mem::take(&mut next.tenant_ids);
        next.tenant_ids = self.join_tenants(tenant_ids, &customer.tenants, now);
        if fields_changed {
            next.updated_at = now;
            self.replace(index, next);
        } else {
            self.customers[index].tenant_ids = next.tenant_ids;
        }
        Fate::Updated
    }

    /// Creates or updates each of `tenants`, and adds the ids of those not in `ids` to it.
    fn join_tenants(
        &mut self,
        mut ids: Vec<String>,
        tenants: &[ImportTenant],
        now: SystemTime,
    ) -> Vec<String> {
        for tenant in tenants {
            let id = self.put_tenant(tenant, now);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::testing::store::changes::Change;
    use crate::testing::store::records::LocalWorkspace;

    fn store() -> Store {
        let mut store = Store::new(
            7,
            LocalWorkspace {
                id: "w_1".into(),
                name: "Local".into(),
                readable: true,
            },
        );
        store.record_changes();
        store
    }

    fn ada(name: &str) -> ImportCustomer {
        ImportCustomer::new("crm-1", name).email("ada@example.com")
    }

    #[test]
    fn imports_record_the_changes_upserts_record() {
        let mut store = store();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let created_at = "2024-01-31T09:00:00.000Z";
        let counts = store
            .import_customers(&[ada("Ada").created_at(created_at)], 0, now)
            .unwrap();
        assert_eq!(counts.added, 1);
        let changes = store.take_changes();
        let [Change::Created(created)] = &changes[..] else {
            panic!("{changes:?}");
        };
        assert_eq!(
            created.customer.created_at,
            parse_rfc3339_utc(created_at).unwrap()
        );
        assert_eq!(created.customer.updated_at, now);

        // Unchanged: counted as updated, and no change recorded.
        let counts = store.import_customers(&[ada("Ada")], 0, now).unwrap();
        assert_eq!((counts.added, counts.updated), (0, 1));
        assert!(store.take_changes().is_empty());

        // A new tenant alone is no change of the customer.
        let with_tenant = ada("Ada").tenant(ImportTenant::new("acme", "Acme"));
        store.import_customers(&[with_tenant], 0, now).unwrap();
        assert!(store.take_changes().is_empty());
        assert_eq!(store.customers()[0].tenant_ids.len(), 1);

        let later = now + Duration::from_secs(60);
        store
            .import_customers(&[ada("Ada Lovelace")], 0, later)
            .unwrap();
        let changes = store.take_changes();
        let [Change::Updated { before, after }] = &changes[..] else {
            panic!("{changes:?}");
        };
        assert_eq!(before.customer.full_name, "Ada");
        assert_eq!(after.customer.full_name, "Ada Lovelace");
        assert_eq!(after.customer.updated_at, later);
        assert_eq!(after.customer.tenant_ids.len(), 1);
    }

    #[test]
    fn skipped_customers_are_not_looked_at() {
        let mut store = store();
        let customers = [ada("Ada"), ImportCustomer::new("crm-2", "Grace")];
        let counts = store.import_customers(&customers, 5, UNIX_EPOCH).unwrap();
        assert_eq!((counts.added, counts.updated, counts.skipped), (0, 0, 2));
        assert!(store.customers().is_empty());
        assert!(store.take_changes().is_empty());
    }
}
