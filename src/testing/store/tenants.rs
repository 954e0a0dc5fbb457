//! The tenants: made or renamed by `importCustomers`, keyed by your external id, and named by
//! `upsertCustomer`'s `onCreate.tenantIdentifiers`.

use std::time::SystemTime;

use super::records::StoredTenant;
use super::rejection::Rejection;
use super::Store;
use crate::input::{ImportTenant, TenantIdentifier};

impl Store {
    /// Every tenant, in the order they were created.
    pub fn tenants(&self) -> &[StoredTenant] {
        &self.tenants
    }

    /// Creates the tenant with this external id, or sets the name (and the URL, when given)
    /// of the one that has it; returns its id.
    pub(super) fn put_tenant(&mut self, tenant: &ImportTenant, now: SystemTime) -> String {
        if let Some(&index) = self.tenants_by_external_id.get(&tenant.external_id) {
            let stored = &mut self.tenants[index];
            let url = tenant.url.clone().or_else(|| stored.url.clone());
            if stored.name != tenant.name || stored.url != url {
                stored.name = tenant.name.clone();
                stored.url = url;
                stored.updated_at = now;
            }
            return stored.id.clone();
        }
        let id = self.new_id("te_", now);
        self.tenants_by_external_id
            .insert(tenant.external_id.clone(), self.tenants.len());
        self.tenants.push(StoredTenant {
            id: id.clone(),
            external_id: tenant.external_id.clone(),
            name: tenant.name.clone(),
            url: tenant.url.clone(),
            created_at: now,
            updated_at: now,
        });
        id
    }

    /// The ids of the tenants `identifiers` name, each once, in order; a `MutationError`
    /// naming every identifier that matches no tenant.
    pub(super) fn resolve_tenants(
        &self,
        identifiers: &[TenantIdentifier],
    ) -> Result<Vec<String>, Rejection> {
        let mut ids: Vec<String> = Vec::new();
        let mut missing = Vec::new();
        for identifier in identifiers {
            let found = match identifier {
                TenantIdentifier::TenantId(id) => self.tenants.iter().find(|t| &t.id == id),
                TenantIdentifier::ExternalId(id) => self
                    .tenants_by_external_id
                    .get(id)
                    .map(|&index| &self.tenants[index]),
            };
            match found {
                Some(tenant) if !ids.contains(&tenant.id) => ids.push(tenant.id.clone()),
                Some(_) => {}
                None => missing.push(match identifier {
                    TenantIdentifier::TenantId(id) => format!("id {id:?}"),
                    TenantIdentifier::ExternalId(id) => format!("external id {id:?}"),
                }),
            }
        }
        if missing.is_empty() {
            Ok(ids)
        } else {
            Err(Rejection::tenants_not_found(&missing))
        }
    }
}
