//! `customerGroupMemberships`: a customer's group memberships, page by page; and
//! [`PlainClient::set_customer_groups`], which makes them exactly a given set.
//!
//! The customer lookups select the first 100 memberships with the customer and read the rest
//! with this operation; [`CustomerGroupMemberships::build_query`](graphql_client::GraphQLQuery::build_query)
//! gives the exact request body of one page.

use serde::Serialize;

use crate::client::PlainClient;
use crate::error::{Error, Result};
use crate::input::CustomerGroupIdentifier;
use crate::operations::customer_groups::{read_pages, MAX_CUSTOMER_GROUPS, PAGE_SIZE};
use crate::operations::{Customer, CustomerGroup, CustomerGroupMembership};
use crate::retry::Idempotency;

pub use crate::generated::customer_group_memberships::{ResponseData, Variables};
pub use crate::generated::shared::CustomerGroupMembershipPage;
pub use crate::generated::CustomerGroupMemberships;

/// How many groups one `addCustomerToCustomerGroups` or `removeCustomerFromCustomerGroups`
/// names at most, as Plain allows.
const GROUPS_PER_CALL: usize = 25;

/// The code of Plain's `MutationError` for removing a customer from groups it is a member of
/// none of.
const MEMBERSHIP_NOT_FOUND: &str = "customer_group_membership_not_found";

/// What [`PlainClient::set_customer_groups`] changed.
///
/// Serializes as `{"added": [...], "removed": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct GroupChanges {
    /// The memberships made, as Plain answered them.
    pub added: Vec<CustomerGroupMembership>,
    /// The groups the customer was a member of when its memberships were read, and no longer
    /// is (including any that another writer removed meanwhile).
    pub removed: Vec<CustomerGroup>,
}

impl GroupChanges {
    /// Whether nothing changed: the customer was a member of exactly the groups already.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Whether a group identifier names this group.
fn names(identifier: &CustomerGroupIdentifier, group: &CustomerGroup) -> bool {
    match identifier {
        CustomerGroupIdentifier::CustomerGroupId(id) => *id == group.id,
        CustomerGroupIdentifier::CustomerGroupKey(key) => *key == group.key,
        CustomerGroupIdentifier::ExternalId(id) => group.external_id.as_ref() == Some(id),
    }
}

impl PlainClient {
    /// Every group membership of the customer with Plain's id, in the order it joined the
    /// groups, or `None` when Plain has no such customer. Read 100 a page, each page a query
    /// retried on every failure that can succeed later; more than
    /// [`MAX_CUSTOMER_GROUPS`] is [`Error::TooMany`].
    pub async fn customer_group_memberships(
        &self,
        customer_id: impl Into<String>,
    ) -> Result<Option<Vec<CustomerGroupMembership>>> {
        let customer_id = customer_id.into();
        let Some(first) = self.membership_page(&customer_id, None).await? else {
            return Ok(None);
        };
        self.all_memberships(&customer_id, first).await.map(Some)
    }

    /// One page of the customer's memberships after the cursor; `None` for no such customer.
    async fn membership_page(
        &self,
        customer_id: &str,
        after: Option<String>,
    ) -> Result<Option<CustomerGroupMembershipPage>> {
        let variables = Variables {
            customer_id: customer_id.to_owned(),
            first: Some(PAGE_SIZE),
            after,
        };
        let data = self
            .execute_with::<CustomerGroupMemberships>(variables, Idempotency::Idempotent)
            .await?;
        Ok(data.customer.map(|c| c.customer_group_memberships))
    }

    /// The memberships of `first` and of every page after it.
    async fn all_memberships(
        &self,
        customer_id: &str,
        first: CustomerGroupMembershipPage,
    ) -> Result<Vec<CustomerGroupMembership>> {
        let nodes = |page: CustomerGroupMembershipPage| {
            let memberships = page.edges.into_iter().map(|edge| edge.node).collect();
            (memberships, page.page_info)
        };
        let what = "customer group memberships";
        read_pages(
            what,
            MAX_CUSTOMER_GROUPS,
            Some(nodes(first)),
            |after| async {
                match self.membership_page(customer_id, after).await? {
                    Some(page) => Ok(nodes(page)),
                    // Deleted between two pages: what was read is all there is.
                    None => Ok((Vec::new(), no_next_page())),
                }
            },
        )
        .await
    }

    /// The customer a lookup found, with every membership: those of the page the lookup
    /// selected, and those of the pages after it.
    /// `None` when the lookup found none.
    pub(crate) async fn with_memberships(
        &self,
        found: Option<(Customer, CustomerGroupMembershipPage)>,
    ) -> Result<Option<Customer>> {
        let Some((mut customer, first)) = found else {
            return Ok(None);
        };
        let memberships = self.all_memberships(&customer.id, first).await?;
        customer.customer_groups = Some(memberships);
        Ok(Some(customer))
    }

    /// Makes the customer with Plain's id a member of exactly `groups`: reads its memberships,
    /// adds it to the groups it is not in (`addCustomerToCustomerGroups`, 25 a call), then
    /// removes it from the others (`removeCustomerFromCustomerGroups`, by group id, 25 a call),
    /// and returns what changed. When the customer is already a member of exactly these groups,
    /// nothing is sent after the read.
    ///
    /// Safe to call again, and to retry: a removal Plain answers
    /// `customer_group_membership_not_found` (a retry after an attempt that did reach Plain, or
    /// another writer that removed the membership first) counts as done, and adding a
    /// membership the customer has is skipped by Plain. Adding comes first, so the customer is
    /// never without the new groups while the old ones go. A customer Plain does not have is
    /// [`Error::InvalidInput`], and nothing changes; an unknown group is Plain's
    /// `MutationError` ([`Error::MutationRejected`], `customer_group_not_found`): the calls
    /// before it stay done, and calling again with the group fixed finishes the job.
    ///
    /// A group is named by any identifier ([`CustomerGroupIdentifier::key`], `id` or
    /// `external_id`); naming one group twice is naming it once.
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use plain_client::testing::LocalServer;
    /// use plain_client::{CustomerGroupIdentifier, CustomerIdentifier, EmailAddress, OnCreate, UpsertCustomerInput};
    ///
    /// let server = LocalServer::builder()
    ///     .customer_group("free", "Free plan")
    ///     .customer_group("pro", "Pro plan")
    ///     .start()
    ///     .await?;
    /// let client = server.client()?;
    /// let email = "donald@example.com";
    /// let input = UpsertCustomerInput::new(
    ///     CustomerIdentifier::email(email),
    ///     OnCreate::new("Donald Duck", EmailAddress::unverified(email))
    ///         .customer_groups([CustomerGroupIdentifier::key("free")]),
    /// );
    /// let customer = client.upsert_customer(input).await?.customer;
    ///
    /// // Donald moves from the free plan to the pro plan.
    /// let pro = [CustomerGroupIdentifier::key("pro")];
    /// let changes = client.set_customer_groups(&customer.id, pro.clone()).await?;
    /// assert_eq!(changes.added[0].customer_group.key, "pro");
    /// assert_eq!(changes.removed[0].key, "free");
    ///
    /// // Again, as after a retry: nothing left to change.
    /// assert!(client.set_customer_groups(&customer.id, pro).await?.is_empty());
    /// let found = client.customer_by_id(&customer.id).await?.unwrap();
    /// let groups = found.customer_groups.unwrap();
    /// assert_eq!(groups.len(), 1);
    /// assert_eq!(groups[0].customer_group.key, "pro");
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// ```
    pub async fn set_customer_groups(
        &self,
        customer_id: impl Into<String>,
        groups: impl IntoIterator<Item = CustomerGroupIdentifier>,
    ) -> Result<GroupChanges> {
        let customer_id = customer_id.into();
        let mut wanted: Vec<CustomerGroupIdentifier> = Vec::new();
        for group in groups {
            if !wanted.contains(&group) {
                wanted.push(group);
            }
        }
        let current = self
            .customer_group_memberships(customer_id.clone())
            .await?
            .ok_or_else(|| not_found(&customer_id))?;
        let missing: Vec<CustomerGroupIdentifier> = wanted
            .iter()
            .filter(|w| !current.iter().any(|m| names(w, &m.customer_group)))
            .cloned()
            .collect();
        let extra: Vec<CustomerGroup> = current
            .into_iter()
            .map(|m| m.customer_group)
            .filter(|group| !wanted.iter().any(|w| names(w, group)))
            .collect();
        let mut changes = GroupChanges::default();
        for chunk in missing.chunks(GROUPS_PER_CALL) {
            let added = self
                .add_customer_to_customer_groups(customer_id.clone(), chunk.to_vec())
                .await?;
            changes.added.extend(added);
        }
        for chunk in extra.chunks(GROUPS_PER_CALL) {
            let ids = chunk
                .iter()
                .map(|group| CustomerGroupIdentifier::id(group.id.clone()));
            match self
                .remove_customer_from_customer_groups(customer_id.clone(), ids)
                .await
            {
                Ok(()) => {}
                Err(e) if is_membership_not_found(&e) => {}
                Err(e) => return Err(e),
            }
            changes.removed.extend_from_slice(chunk);
        }
        Ok(changes)
    }
}

/// Whether an error is Plain's refusal to remove memberships the customer no longer has.
fn is_membership_not_found(error: &Error) -> bool {
    error
        .last_cause()
        .mutation_error()
        .is_some_and(|e| e.code == MEMBERSHIP_NOT_FOUND)
}

/// The error for a customer that Plain does not have.
fn not_found(customer_id: &str) -> Error {
    Error::InvalidInput {
        message: format!(
            "Plain has no customer with the id {customer_id:?}: no group membership was changed"
        ),
    }
}

/// The `pageInfo` of a last page.
fn no_next_page() -> crate::operations::PageInfo {
    crate::operations::PageInfo {
        has_next_page: false,
        end_cursor: None,
    }
}
