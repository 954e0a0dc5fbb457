//! `upsertCustomer`: create a customer, or update the one that matches the identifier.

use std::sync::OnceLock;

use graphql_client::{GraphQLQuery, QueryBody};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::client::sending::{encode, encode_parts, escape, Operation};
use crate::client::PlainClient;
use crate::error::{Error, Result};
use crate::generated::upsert_customer::{self as generated, ResponseData};
use crate::generated::UpsertCustomer;
use crate::input::UpsertCustomerInput;
use crate::response::{decode, ResponseMeta};
use crate::retry::Idempotency;

pub use crate::generated::upsert_customer::UpsertResult;
use crate::operations::Customer;

/// The variables of the `upsertCustomer` request.
pub type UpsertCustomerVariables = generated::Variables;

/// What a successful upsert returns: what happened and the customer as it now is.
///
/// Serializes as `{"result": "CREATED", "customer": {...}}` with Plain's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UpsertedCustomer {
    /// `CREATED`, `UPDATED` or `NOOP` (or [`UpsertResult::Unknown`] for a value Plain adds
    /// later).
    pub result: UpsertResult,
    /// The customer after the upsert.
    pub customer: Customer,
}

impl Operation for UpsertCustomer {
    const QUERY: &'static str = generated::QUERY;

    fn escaped_query() -> &'static RawValue {
        static QUERY: OnceLock<Box<RawValue>> = OnceLock::new();
        QUERY.get_or_init(|| escape(generated::QUERY))
    }
}

impl PlainClient {
    /// Creates the customer, or updates the one that matches the identifier.
    ///
    /// Plain's `MutationError` comes back as [`Error::MutationRejected`]; an answer with
    /// neither a customer nor an error is an [`Error::Decode`]. Failures that can succeed later
    /// are retried by the client's [`RetryPolicy`](crate::RetryPolicy): `upsertCustomer` is
    /// idempotent.
    pub async fn upsert_customer(&self, input: UpsertCustomerInput) -> Result<UpsertedCustomer> {
        self.upsert_customer_ref(&input).await
    }

    /// [`PlainClient::upsert_customer`] for an input the caller keeps: the bulk engine gives
    /// each input back with its outcome.
    pub(crate) async fn upsert_customer_ref(
        &self,
        input: &UpsertCustomerInput,
    ) -> Result<UpsertedCustomer> {
        let bytes = encode_parts::<UpsertCustomer, _>(
            &BorrowedVariables { input },
            generated::QUERY,
            generated::OPERATION_NAME,
        )?;
        self.send(
            bytes,
            generated::OPERATION_NAME,
            Idempotency::Idempotent,
            |data: ResponseData, meta| upserted(data, meta),
        )
        .await
    }
}

/// [`UpsertCustomerVariables`] around a borrowed input: the same fields, so the same bytes.
#[derive(Serialize)]
struct BorrowedVariables<'a> {
    input: &'a UpsertCustomerInput,
}

/// The exact request body [`PlainClient::upsert_customer`] sends for `input`: `query`,
/// `variables` and `operationName`. Serialize it to snapshot your own requests without a
/// network.
pub fn upsert_customer_request(input: UpsertCustomerInput) -> QueryBody<UpsertCustomerVariables> {
    UpsertCustomer::build_query(generated::Variables { input })
}

/// The exact bytes [`PlainClient::upsert_customer`] sends for `input`: those of serializing
/// [`upsert_customer_request`] with `serde_json`, built as the client builds them (the
/// operation's document escaped once per process, not per request).
pub fn upsert_customer_body(input: UpsertCustomerInput) -> Result<Vec<u8>> {
    encode::<UpsertCustomer>(&upsert_customer_request(input))
}

/// Decodes an answer to the `upsertCustomer` request exactly as [`PlainClient::upsert_customer`]
/// does: status first, then Plain's `errors`, then the mutation's own `error`.
///
/// Useful to test how your code handles Plain's answers without a server.
pub fn decode_upsert_customer(
    status: u16,
    meta: &ResponseMeta,
    body: &[u8],
) -> Result<UpsertedCustomer> {
    upserted(decode::<ResponseData>(status, meta, body)?, meta)
}

/// Unwraps the `upsertCustomer` output into a customer or an error.
fn upserted(data: ResponseData, meta: &ResponseMeta) -> Result<UpsertedCustomer> {
    let output = data.upsert_customer;
    if let Some(error) = output.error {
        return Err(Error::rejected(error, meta.request_id.clone()));
    }
    match (output.result, output.customer) {
        (Some(result), Some(customer)) => Ok(UpsertedCustomer { result, customer }),
        (result, customer) => Err(Error::Decode {
            status: 200,
            reason: format!(
                "`upsertCustomer` returned {} and {}, and no error",
                if result.is_some() {
                    "a result"
                } else {
                    "no result"
                },
                if customer.is_some() {
                    "a customer"
                } else {
                    "no customer"
                },
            ),
            excerpt: String::new(),
            request_id: meta.request_id.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::input::{CustomerIdentifier, EmailAddress, OnCreate, OnUpdate};

    fn input(name: &str, email: &str) -> UpsertCustomerInput {
        UpsertCustomerInput::new(
            CustomerIdentifier::email(email),
            OnCreate::new(name, EmailAddress::unverified(email)).short_name(name),
        )
        .on_update(OnUpdate::new().full_name(name))
    }

    proptest! {
        #[test]
        fn the_sent_bytes_are_those_of_the_query_body(name in any::<String>(), email in any::<String>()) {
            let body = upsert_customer_request(input(&name, &email));
            let sent = encode::<UpsertCustomer>(&body).unwrap();
            prop_assert_eq!(&sent[..], &serde_json::to_vec(&body).unwrap()[..]);
        }
    }

    #[test]
    fn a_body_around_another_document_sends_that_document() {
        let mut body = upsert_customer_request(input("Ada \"Lovelace\"\n", "ada@example.com"));
        body.query = "mutation other {\n  \"quoted\" \\ \u{1}\n}";
        let sent = encode::<UpsertCustomer>(&body).unwrap();
        assert_eq!(&sent[..], &serde_json::to_vec(&body).unwrap()[..]);
        let sent: serde_json::Value = serde_json::from_slice(&sent).unwrap();
        assert_eq!(sent["query"], body.query);
    }
}
