//! `CustomersFilter`: which customers `customers` lists, built field by field, sending only
//! the fields given.

use std::time::SystemTime;

use serde::Serialize;

use crate::input::TenantIdentifier;

/// Which customers [`PlainClient::customers`](crate::PlainClient::customers) lists: Plain's
/// `CustomersFilter`. A customer is listed when it passes every filter given; a filter not
/// given is not sent, and lets every customer through.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use plain_client::operations::customers::CustomersFilter;
///
/// let last_week = SystemTime::now() - Duration::from_secs(7 * 24 * 3600);
/// let filter = CustomersFilter::new()
///     .customer_group_keys(["vip", "enterprise"])
///     .updated_after(last_week);
/// # let _ = filter;
/// ```
///
/// Each method replaces what an earlier call of the same method gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomersFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    is_marked_as_spam: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_group_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_group_keys: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    company_identifiers: Option<Vec<CompanyIdentifier>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_identifiers: Option<Vec<TenantIdentifier>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<TimeRange>,
}

/// Plain's `DatetimeFilter`: from `after` (included) to `before` (excluded), each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
struct TimeRange {
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<String>,
}

/// A company, by Plain's id of it or its domain name: Plain's `CompanyIdentifierInput`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CompanyIdentifier {
    /// Plain's id of the company.
    CompanyId(String),
    /// The company's domain name, such as `plain.com` (Plain also takes a whole URL and keeps
    /// its domain).
    CompanyDomainName(String),
}

impl CompanyIdentifier {
    /// A company by Plain's id of it.
    pub fn id(id: impl Into<String>) -> Self {
        Self::CompanyId(id.into())
    }

    /// A company by its domain name, such as `plain.com`.
    pub fn domain_name(domain: impl Into<String>) -> Self {
        Self::CompanyDomainName(domain.into())
    }
}

fn strings(items: impl IntoIterator<Item = impl Into<String>>) -> Option<Vec<String>> {
    Some(items.into_iter().map(Into::into).collect())
}

impl CustomersFilter {
    /// No filter: every customer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only the customers marked as spam (`true`), or only those not marked (`false`).
    pub fn marked_as_spam(mut self, marked: bool) -> Self {
        self.is_marked_as_spam = Some(marked);
        self
    }

    /// Only the customers that are members of at least one of these groups, by Plain's id
    /// (`cg_...`). A customer in no group is never listed.
    pub fn customer_group_ids(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.customer_group_ids = strings(ids);
        self
    }

    /// Only the customers that are members of at least one of these groups, by key (such as
    /// `vip`). A customer in no group is never listed.
    pub fn customer_group_keys(
        mut self,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.customer_group_keys = strings(keys);
        self
    }

    /// Only the customers that belong to one of these companies.
    pub fn companies(mut self, companies: impl IntoIterator<Item = CompanyIdentifier>) -> Self {
        self.company_identifiers = Some(companies.into_iter().collect());
        self
    }

    /// Only the customers that belong to one of these tenants.
    pub fn tenants(mut self, tenants: impl IntoIterator<Item = TenantIdentifier>) -> Self {
        self.tenant_identifiers = Some(tenants.into_iter().collect());
        self
    }

    /// Only the customers last updated at or after this time (to the millisecond, in UTC).
    pub fn updated_after(mut self, time: SystemTime) -> Self {
        self.updated_at.get_or_insert_with(TimeRange::default).after =
            Some(crate::time::format_rfc3339(time));
        self
    }

    /// Only the customers last updated before this time (to the millisecond, in UTC).
    pub fn updated_before(mut self, time: SystemTime) -> Self {
        self.updated_at
            .get_or_insert_with(TimeRange::default)
            .before = Some(crate::time::format_rfc3339(time));
        self
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;

    #[test]
    fn only_the_filters_given_are_sent() {
        assert_eq!(
            serde_json::to_value(CustomersFilter::new()).unwrap(),
            json!({})
        );
        let at = UNIX_EPOCH + Duration::from_millis(1_767_713_400_250);
        let filter = CustomersFilter::new()
            .marked_as_spam(false)
            .customer_group_ids(["cg_1"])
            .customer_group_keys(["vip", "pro"])
            .companies([
                CompanyIdentifier::id("co_1"),
                CompanyIdentifier::domain_name("plain.com"),
            ])
            .tenants([TenantIdentifier::external_id("t_1")])
            .updated_after(at);
        assert_eq!(
            serde_json::to_value(&filter).unwrap(),
            json!({
                "isMarkedAsSpam": false,
                "customerGroupIds": ["cg_1"],
                "customerGroupKeys": ["vip", "pro"],
                "companyIdentifiers": [{"companyId": "co_1"}, {"companyDomainName": "plain.com"}],
                "tenantIdentifiers": [{"externalId": "t_1"}],
                "updatedAt": {"after": "2026-01-06T15:30:00.250Z"},
            })
        );
        let both = CustomersFilter::new()
            .updated_before(at)
            .updated_after(UNIX_EPOCH);
        assert_eq!(
            serde_json::to_value(&both).unwrap()["updatedAt"],
            json!({"after": "1970-01-01T00:00:00.000Z", "before": "2026-01-06T15:30:00.250Z"})
        );
    }
}
