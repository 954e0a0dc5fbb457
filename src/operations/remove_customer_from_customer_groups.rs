//! `removeCustomerFromCustomerGroups`: end a customer's membership of customer groups.

use crate::client::PlainClient;
use crate::error::Result;
use crate::input::{CustomerGroupIdentifier, CustomerGroupsInput};
use crate::retry::Idempotency;

pub use crate::generated::remove_customer_from_customer_groups::{ResponseData, Variables};
pub use crate::generated::RemoveCustomerFromCustomerGroups;

impl PlainClient {
    /// Removes the customer with Plain's id from each of `groups` (at most 25 at once). An
    /// unknown customer or group, or groups the customer is a member of none of, is Plain's
    /// `MutationError` ([`Error::MutationRejected`](crate::Error::MutationRejected)), and nothing is removed. Retried like
    /// the upsert; a retry after an attempt that did reach Plain may answer that the customer
    /// is a member of none of the groups.
    pub async fn remove_customer_from_customer_groups(
        &self,
        customer_id: impl Into<String>,
        groups: impl IntoIterator<Item = CustomerGroupIdentifier>,
    ) -> Result<()> {
        let input = CustomerGroupsInput::new(customer_id, groups);
        let body = <RemoveCustomerFromCustomerGroups as graphql_client::GraphQLQuery>::build_query(
            Variables { input },
        );
        let bytes = crate::client::sending::encode_body(&body)?;
        self.send(
            bytes,
            body.operation_name,
            Idempotency::Idempotent,
            |data: ResponseData, meta| {
                super::unless_rejected(data.remove_customer_from_customer_groups.error, meta)
            },
        )
        .await
    }
}
