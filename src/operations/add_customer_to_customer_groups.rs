//! `addCustomerToCustomerGroups`: make a customer a member of customer groups.
//!
//! `upsertCustomer` sets a new customer's groups (`onCreate`) but cannot change an existing
//! customer's: this and
//! [`remove_customer_from_customer_groups`](crate::operations::remove_customer_from_customer_groups)
//! keep them in step.

use crate::client::PlainClient;
use crate::error::Result;
use crate::input::{CustomerGroupIdentifier, CustomerGroupsInput};
use crate::retry::Idempotency;

pub use crate::generated::add_customer_to_customer_groups::{ResponseData, Variables};
pub use crate::generated::AddCustomerToCustomerGroups;
pub use crate::operations::{CustomerGroup, CustomerGroupMembership};

impl PlainClient {
    /// Adds the customer with Plain's id to each of `groups` (at most 25 at once), and
    /// returns the memberships this call made: Plain skips a group the customer is already
    /// in, so adding twice leaves one membership and the second call returns none. An unknown
    /// customer or group is Plain's `MutationError` ([`Error::MutationRejected`](crate::Error::MutationRejected)), and
    /// nothing is added. Retried like the upsert.
    pub async fn add_customer_to_customer_groups(
        &self,
        customer_id: impl Into<String>,
        groups: impl IntoIterator<Item = CustomerGroupIdentifier>,
    ) -> Result<Vec<CustomerGroupMembership>> {
        let input = CustomerGroupsInput::new(customer_id, groups);
        let body =
            <AddCustomerToCustomerGroups as graphql_client::GraphQLQuery>::build_query(Variables {
                input,
            });
        let bytes = crate::client::sending::encode_body(&body)?;
        self.send(
            bytes,
            body.operation_name,
            Idempotency::Idempotent,
            |data: ResponseData, meta| {
                let output = data.add_customer_to_customer_groups;
                super::unless_rejected(output.error, meta)?;
                Ok(output.customer_group_memberships.unwrap_or_default())
            },
        )
        .await
    }
}
