//! A typed client for [Plain](https://www.plain.com)'s Core GraphQL API, generated from
//! Plain's schema, starting with `upsertCustomer`.
//!
//! ```no_run
//! use plain_client::{CustomerIdentifier, EmailAddress, OnCreate, OnUpdate, PlainClient, UpsertCustomerInput};
//!
//! # async fn run() -> Result<(), plain_client::Error> {
//! let client = PlainClient::from_env()?; // PLAIN_API_KEY
//! let input = UpsertCustomerInput::new(
//!     CustomerIdentifier::email("donald@example.com"),
//!     OnCreate::new("Donald Duck", EmailAddress::unverified("donald@example.com")).short_name("Donald"),
//! )
//! .on_update(OnUpdate::new().full_name("Donald Duck"));
//! let upserted = client.upsert_customer(input).await?;
//! println!("{:?} {}", upserted.result, upserted.customer.id);
//! # Ok(())
//! # }
//! ```
//!
//! Where things come from:
//! - generated from `graphql/` by `build.rs` (the private `generated` module): the response types
//!   ([`Customer`], [`UpsertResult`], [`MutationError`], ...), re-exported here under Plain's
//!   names;
//! - written here: the input types ([`input`]), the client ([`client`]), the error
//!   ([`error`]) and the decoding of answers ([`response`]).
#![deny(missing_docs)]

pub mod bulk;
pub mod client;
mod deadline;
mod document;
pub mod error;
mod generated;
pub mod input;
mod redact;
pub mod response;
pub mod retry;
mod rng;
#[cfg(feature = "testing")]
#[path = "server/mod.rs"]
pub mod testing;
mod time;

use serde::Serialize;

pub use bulk::{BulkOutcome, Cancel};
pub use client::{ClientStats, PlainClient, PlainClientBuilder, DEFAULT_ENDPOINT};
pub use error::{Error, RequestError, Result, TransportErrorKind};
pub use input::{
    ClearableUpdate, CustomerGroupIdentifier, CustomerIdentifier, EmailAddress, OnCreate, OnUpdate,
    TenantIdentifier, Update, UpsertCustomerInput,
};
pub use response::ResponseMeta;
pub use retry::{Idempotency, RateLimitBudget, RetryPolicy};

pub use generated::upsert_customer::{
    CustomerStatus, MutationErrorType, MutationFieldErrorType, Timestamp, UpsertResult,
};

/// The graphql_client crate the generated code is built on, for [`graphql_client::QueryBody`].
pub use graphql_client;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "testing"))]
pub struct ReadmeDoctests;

/// A customer as `upsertCustomer` returns it.
pub type Customer = generated::upsert_customer::UpsertCustomerUpsertCustomerCustomer;

/// A customer's email address as Plain returns it, with when it was verified.
pub type CustomerEmail = generated::upsert_customer::UpsertCustomerUpsertCustomerCustomerEmail;

/// Plain's `MutationError`: why a mutation was refused.
pub type MutationError = generated::upsert_customer::UpsertCustomerUpsertCustomerError;

/// One field's part of a [`MutationError`].
pub type MutationFieldError = generated::upsert_customer::UpsertCustomerUpsertCustomerErrorFields;

/// The variables of the `upsertCustomer` request.
pub type UpsertCustomerVariables = generated::upsert_customer::Variables;

/// What a successful upsert returns: what happened and the customer as it now is.
///
/// Serializes as `{"result": "CREATED", "customer": {...}}` with Plain's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UpsertedCustomer {
    /// `CREATED`, `UPDATED` or `NOOP` (or a value Plain adds later).
    pub result: UpsertResult,
    /// The customer after the upsert.
    pub customer: Customer,
}

/// The exact request body [`PlainClient::upsert_customer`] sends for `input`: `query`,
/// `variables` and `operationName`. Serialize it to snapshot your own requests without a
/// network.
pub fn upsert_customer_request(
    input: UpsertCustomerInput,
) -> graphql_client::QueryBody<UpsertCustomerVariables> {
    client::request_body(input)
}

/// The exact bytes [`PlainClient::upsert_customer`] sends for `input`: those of serializing
/// [`upsert_customer_request`] with `serde_json`, built as the client builds them (the
/// operation's document escaped once per process, not per request).
pub fn upsert_customer_body(input: UpsertCustomerInput) -> Result<Vec<u8>> {
    client::encode::<generated::UpsertCustomer>(&client::request_body(input))
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
    let data = response::decode::<generated::upsert_customer::ResponseData>(status, meta, body)?;
    upserted(data.upsert_customer, meta)
}

/// Unwraps the `upsertCustomer` output into a customer or an error.
fn upserted(
    output: generated::upsert_customer::UpsertCustomerUpsertCustomer,
    meta: &ResponseMeta,
) -> Result<UpsertedCustomer> {
    if let Some(mut error) = output.error {
        // Plain's words, kept as one line of bounded length.
        let clean = |text: &mut String| *text = redact::clean(text, redact::MAX_TEXT_CHARS);
        clean(&mut error.message);
        clean(&mut error.code);
        error.fields.truncate(redact::MAX_FIELD_ERRORS);
        for field in &mut error.fields {
            clean(&mut field.field);
            clean(&mut field.message);
        }
        return Err(Error::MutationRejected {
            error,
            request_id: meta.request_id.clone(),
        });
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
