//! `deleteCustomer`: delete a customer by Plain's id.
//!
//! [`DeleteCustomer::build_query`](graphql_client::GraphQLQuery::build_query) with
//! [`Variables`] and [`DeleteCustomerInput`] gives the exact request body.

use crate::client::PlainClient;
use crate::error::Result;
use crate::retry::Idempotency;

pub use crate::generated::delete_customer::{DeleteCustomerInput, ResponseData, Variables};
pub use crate::generated::DeleteCustomer;

impl PlainClient {
    /// Deletes the customer with Plain's id (`c_...`). Its email address and external id are
    /// free again afterwards.
    ///
    /// Plain's `MutationError` (an unknown id, say) is [`Error::MutationRejected`](crate::Error::MutationRejected). Deleting is
    /// idempotent, so failures that can succeed later are retried; a retry after an attempt
    /// that did reach Plain may answer that the customer is not found.
    pub async fn delete_customer(&self, customer_id: impl Into<String>) -> Result<()> {
        let variables = Variables {
            input: DeleteCustomerInput {
                customer_id: customer_id.into(),
            },
        };
        let body = <DeleteCustomer as graphql_client::GraphQLQuery>::build_query(variables);
        let bytes = crate::client::sending::encode_body(&body)?;
        self.send(
            bytes,
            body.operation_name,
            Idempotency::Idempotent,
            |data: ResponseData, meta| super::unless_rejected(data.delete_customer.error, meta),
        )
        .await
    }
}
