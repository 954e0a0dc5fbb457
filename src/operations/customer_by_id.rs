//! `customer`: a customer by Plain's id (`c_...`).
//!
//! [`CustomerById::build_query`](graphql_client::GraphQLQuery::build_query) gives the exact request
//! body, and [`decode`](crate::response::decode) with [`ResponseData`] reads an answer as
//! the client does.

use crate::client::PlainClient;
use crate::error::Result;
use crate::operations::Customer;
use crate::retry::Idempotency;

pub use crate::generated::customer_by_id::{ResponseData, Variables};
pub use crate::generated::CustomerById;

impl PlainClient {
    /// The customer with Plain's id (`c_...`), or `None` when Plain has none, with
    /// all its group memberships ([`Customer::customer_groups`]). A query: retried on every
    /// failure that can succeed later.
    pub async fn customer_by_id(&self, customer_id: impl Into<String>) -> Result<Option<Customer>> {
        let variables = Variables {
            customer_id: customer_id.into(),
        };
        let data = self
            .execute_with::<CustomerById>(variables, Idempotency::Idempotent)
            .await?;
        let found = data
            .customer
            .map(|found| (found.customer, found.customer_group_memberships));
        self.with_memberships(found).await
    }
}
