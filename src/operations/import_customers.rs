//! `importCustomers`: create or update up to 25 customers in one request, each by your
//! external id, with the tenants it belongs to.
//!
//! Plain answers with counts only ([`Imported`]): how many customers it added, updated and
//! skipped, never which. [`ImportCustomers::build_query`](graphql_client::GraphQLQuery::build_query)
//! with [`Variables`] and [`ImportCustomersInput`] gives the exact request body.

use serde::Serialize;

use crate::client::PlainClient;
use crate::error::{Error, Result};
use crate::input::ImportCustomer;
use crate::response::ResponseMeta;
use crate::retry::Idempotency;

pub use crate::generated::import_customers::{ResponseData, Variables};
pub use crate::generated::ImportCustomers;
pub use crate::input::{ImportCustomersInput, ImportTenant, MAX_IMPORT_CUSTOMERS};

/// What Plain did with one batch: how many customers it added, updated and skipped, and the
/// request id of its answer.
///
/// Plain names no customer in its answer. The counts normally add up to the number of
/// customers sent ([`Imported::total`]); a sum that differs is Plain's to explain, and the
/// request id is what its support asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Imported {
    /// Customers created: no customer had their external id.
    pub added: u32,
    /// Customers that matched an existing customer by external id.
    pub updated: u32,
    /// Customers Plain did not import.
    pub skipped: u32,
    /// Plain's request id (`apigw-requestid`) of the answer, when it sent one.
    pub request_id: Option<String>,
}

impl Imported {
    /// `added + updated + skipped`: the number of customers Plain accounted for.
    pub fn total(&self) -> u64 {
        u64::from(self.added) + u64::from(self.updated) + u64::from(self.skipped)
    }
}

impl PlainClient {
    /// Imports up to [`MAX_IMPORT_CUSTOMERS`] customers in one request: each is created when
    /// no customer has its external id, and updated when one has.
    ///
    /// No customers, or more than [`MAX_IMPORT_CUSTOMERS`], is [`Error::InvalidInput`], and
    /// nothing is sent. Plain's `MutationError` is [`Error::MutationRejected`]. Plain imports
    /// by external id, so sending the same batch again changes nothing more: failures that can
    /// succeed later are retried like the upsert, a request cut off after it reached Plain
    /// included (the retry then counts as updated the customers the first attempt added).
    ///
    /// ```no_run
    /// # async fn run(client: plain_client::PlainClient) -> plain_client::Result<()> {
    /// use plain_client::{ImportCustomer, ImportTenant};
    ///
    /// let imported = client
    ///     .import_customers(vec![
    ///         ImportCustomer::new("crm-1", "Ada Lovelace").email("ada@example.com"),
    ///         ImportCustomer::new("crm-2", "Grace Hopper")
    ///             .tenant(ImportTenant::new("navy", "US Navy")),
    ///     ])
    ///     .await?;
    /// println!("{} added, {} updated, {} skipped", imported.added, imported.updated, imported.skipped);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn import_customers(&self, customers: Vec<ImportCustomer>) -> Result<Imported> {
        let input = ImportCustomersInput::new(customers)?;
        let body =
            <ImportCustomers as graphql_client::GraphQLQuery>::build_query(Variables { input });
        let bytes = crate::client::sending::encode_body(&body)?;
        self.send(
            bytes,
            body.operation_name,
            Idempotency::Idempotent,
            |data: ResponseData, meta| imported(data, meta),
        )
        .await
    }
}

/// Unwraps the `importCustomers` output into its counts or an error.
fn imported(data: ResponseData, meta: &ResponseMeta) -> Result<Imported> {
    let output = data.import_customers;
    super::unless_rejected(output.error, meta)?;
    let decode_error = |reason: String| Error::Decode {
        status: 200,
        reason,
        excerpt: String::new(),
        request_id: meta.request_id.clone(),
    };
    let Some(result) = output.result else {
        return Err(decode_error(
            "`importCustomers` returned neither a result nor an error".to_owned(),
        ));
    };
    let count = |name: &str, value: i64| {
        u32::try_from(value).map_err(|_| {
            decode_error(format!(
                "`importCustomers` returned {value} as the count `{name}`, not a count"
            ))
        })
    };
    Ok(Imported {
        added: count("added", result.added)?,
        updated: count("updated", result.updated)?,
        skipped: count("skipped", result.skipped)?,
        request_id: meta.request_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::import_customers::{
        ImportCustomersImportCustomers as Output,
        ImportCustomersImportCustomersResult as ImportResult,
    };

    fn meta() -> ResponseMeta {
        ResponseMeta {
            request_id: Some("req-1".to_owned()),
            ..ResponseMeta::default()
        }
    }

    fn data(result: Option<ImportResult>) -> ResponseData {
        ResponseData {
            import_customers: Output {
                result,
                error: None,
            },
        }
    }

    #[test]
    fn the_counts_come_with_the_request_id() {
        let result = ImportResult {
            added: 2,
            updated: 1,
            skipped: 0,
        };
        let imported = imported(data(Some(result)), &meta()).unwrap();
        assert_eq!(
            (imported.added, imported.updated, imported.skipped),
            (2, 1, 0)
        );
        assert_eq!(imported.total(), 3);
        assert_eq!(imported.request_id.as_deref(), Some("req-1"));
    }

    #[test]
    fn no_result_or_a_negative_count_is_a_decode_error() {
        let error = imported(data(None), &meta()).unwrap_err();
        assert!(matches!(error, Error::Decode { .. }), "{error}");
        assert_eq!(error.request_id(), Some("req-1"));
        let result = ImportResult {
            added: -1,
            updated: 0,
            skipped: 0,
        };
        let error = imported(data(Some(result)), &meta()).unwrap_err();
        assert!(error.to_string().contains("-1"), "{error}");
    }
}
