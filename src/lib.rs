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
//! - [`operations`]: one module per Plain operation, each with its generated types under
//!   Plain's names ([`Customer`], [`UpsertResult`], [`MutationError`], ...), its
//!   [`PlainClient`] method and its helpers; generated from `graphql/` by `build.rs` into the
//!   private `generated` module;
//! - written here: the input types ([`input`]), the client and its one sending path
//!   ([`client`], with [`PlainClient::execute`] for operations of your own), the error
//!   ([`error`]), the decoding of answers ([`response`]), retries and pacing ([`retry`]) and
//!   bulk upserts ([`bulk`]).
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bulk;
pub mod client;
mod deadline;
mod document;
pub mod error;
mod generated;
pub mod input;
pub mod operations;
mod redact;
pub mod response;
pub mod retry;
mod rng;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod time;

pub use bulk::{BulkOutcome, Cancel};
pub use client::{ClientStats, PlainClient, PlainClientBuilder, DEFAULT_ENDPOINT};
pub use error::{Error, RequestError, Result, TransportErrorKind};
pub use input::{
    ClearableUpdate, CustomerGroupIdentifier, CustomerGroupsInput, CustomerIdentifier,
    EmailAddress, OnCreate, OnUpdate, TenantIdentifier, Update, UpsertCustomerInput,
};
pub use operations::add_customer_to_customer_groups::{CustomerGroup, CustomerGroupMembership};
pub use operations::upsert_customer::{
    decode_upsert_customer, upsert_customer_body, upsert_customer_request, UpsertCustomerVariables,
    UpsertResult, UpsertedCustomer,
};
pub use operations::{
    Customer, CustomerEmail, CustomerStatus, MutationError, MutationErrorType, MutationFieldError,
    MutationFieldErrorType, Timestamp,
};
pub use response::ResponseMeta;
pub use retry::{Idempotency, RateLimitBudget, RetryPolicy};

/// The graphql_client crate the generated code is built on, for [`graphql_client::QueryBody`].
pub use graphql_client;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "testing"))]
pub struct ReadmeDoctests;
