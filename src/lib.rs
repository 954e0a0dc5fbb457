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
//! # Features
//!
//! | feature | what it adds |
//! | --- | --- |
//! | (always) | the library: [`PlainClient`], the operations, retries and pacing, bulk upserts |
//! | `rustls` (default) | TLS through rustls with the aws-lc-rs crypto provider |
//! | `rustls-ring` | TLS through rustls with the ring crypto provider |
//! | `native-tls` | TLS through the platform's library (OpenSSL on Linux, which needs its headers to build) |
//! | `state` | `state::StateStore`: a SQLite file of what Plain confirmed, so a re-sync sends only what changed |
//! | `webhooks` | `webhooks::Webhook`: verifying Plain's signed webhook deliveries, typed events from Plain's webhook schema |
//! | `testing` | `testing::LocalServer`, a local Plain-compatible server for your tests |
//! | `cli` | the `plain` command line (`upsert-customer`, `sync-customers`, `delete-customers`, `export-customers`, `serve`, `webhooks verify`) |
//! | `maintainer` | the `plain-schema` command that keeps the vendored schema in step |
//!
//! One TLS feature is needed; without any the crate does not build. With several, `native-tls`
//! is used, else `rustls-ring`, else `rustls`: a backend chosen on purpose wins over the
//! default, so `features = ["rustls-ring"]` works with or without `default-features = false`
//! (without it, aws-lc-rs is still compiled, but not used). With `rustls-ring`, building a
//! client makes ring the process's default rustls crypto provider, unless the application
//! installed one first. A client given its own `reqwest::Client`
//! ([`PlainClientBuilder::http_client`]) uses that client's TLS.
//!
//! # Retries, rate limits and bounds
//!
//! Failures that can succeed later (429; 500, 502, 503, 504; connection failures and
//! timeouts; Plain's `INTERNAL_SERVER_ERROR`) are retried by the [`RetryPolicy`]: 5 attempts,
//! waits from 250 ms doubling to 60 s with full jitter, 5 minutes per request at most. A
//! query, and `upsertCustomer`, are retried on all of them; another mutation only when it
//! surely never reached Plain ([`Idempotency`]). The client paces itself by Plain's
//! `x-ratelimit-*` headers, shared by every clone and task; a hold is a wait of the policy, so
//! no header can stall a request longer. A request dropped at any await point gives its
//! share of the budget back. An answer is read up to 4 MiB
//! ([`PlainClientBuilder::max_response_bytes`]); timeouts are 10 s to connect and 30 s a
//! request.
//!
//! # Errors
//!
//! One [`Error`], `#[non_exhaustive]`: [`Error::MutationRejected`] carries Plain's
//! [`MutationError`] (message, type, code, field errors); the others say whether the request
//! can succeed later ([`Error::is_retryable`]) and keep Plain's request id
//! ([`Error::request_id`]). Text from an answer is one line, of bounded length, and never
//! holds the API key.
//!
//! # Bulk upserts, and sending only what changed
//!
//! [`PlainClient::bulk`] runs many records through one engine (the one `plain sync-customers`
//! and `plain delete-customers` run on): bounded concurrency, the stops (a [`Cancel`], a key
//! Plain refuses, a long outage), one outcome per record. With the `state` feature,
//! `state::StateStore` remembers in a SQLite file what Plain confirmed for each customer, and a
//! run given it ([`Bulk::state`]) sends only the inputs that changed since: a nightly sync of a
//! million customers then costs requests in proportion to the changes, and resumes where it was
//! killed.
//!
//! # Your own operations
//!
//! Any operation derived with graphql_client goes through the same path with
//! [`PlainClient::execute`] (or [`PlainClient::execute_with`]); `examples/own_operation.rs`
//! shows one whole.
//!
//! # Testing
//!
//! With the `testing` feature, `testing::LocalServer` answers as Plain does (the customer
//! family, customer groups, the rate limit, scripted faults) on 127.0.0.1:
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use plain_client::testing::LocalServer;
//! use plain_client::{CustomerIdentifier, EmailAddress, OnCreate, UpsertCustomerInput, UpsertResult};
//!
//! let server = LocalServer::start().await?;
//! let client = server.client()?;
//! let input = UpsertCustomerInput::new(
//!     CustomerIdentifier::email("daisy@example.com"),
//!     OnCreate::new("Daisy Duck", EmailAddress::unverified("daisy@example.com")),
//! );
//! assert_eq!(client.upsert_customer(input).await?.result, UpsertResult::Created);
//! assert!(client.customer_by_email("DAISY@example.com").await?.is_some());
//! # Ok(())
//! # }
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
//! ```
//!
//! To pin the exact request your code sends, snapshot [`upsert_customer_request`] (or an
//! operation's `build_query`) with its `query` redacted, so that a later version of this crate
//! that selects more does not break your snapshot; the README shows it with insta.
//!
//! Where things come from:
//! - [`operations`]: one module per Plain operation, each with its generated types under
//!   Plain's names ([`Customer`], [`UpsertResult`], [`MutationError`], ...), its
//!   [`PlainClient`] method and its helpers; generated from `graphql/` by `build.rs` into the
//!   private `generated` module, each type, field and variant with its doc line from
//!   `graphql/docs.txt`;
//! - written here: the input types ([`input`]), Plain's date-times ([`Timestamp`], which keeps
//!   Plain's text and reads the instant from it), the client and its one sending path
//!   ([`client`], with [`PlainClient::execute`] for operations of your own), the error
//!   ([`error`]), the decoding of answers ([`response`]), retries and pacing ([`retry`]),
//!   bulk upserts ([`bulk`]) and the state of a sync (`state`, feature `state`);
//! - webhooks (`webhooks`, feature `webhooks`): verification written here, the event types
//!   generated from `graphql/webhook-schema.json` by `build.rs` into the private `generated`
//!   module.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Rustdoc lists a type's methods module by module, in the order the modules are declared:
// `PlainClient`'s constructors and settings (`client`), then the operations, then bulk runs.
pub mod client;
pub mod operations;

pub mod bulk;
#[cfg(feature = "maintainer")]
#[doc(hidden)]
pub mod codegen;
mod deadline;
mod document;
pub mod error;
mod generated;
pub mod input;
mod redact;
pub mod response;
pub mod retry;
mod rng;
#[cfg(any(feature = "testing", feature = "maintainer"))]
#[doc(hidden)]
pub mod schema_check;
#[cfg(feature = "state")]
#[cfg_attr(docsrs, doc(cfg(feature = "state")))]
pub mod state;
mod task;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod time;
mod timestamp;
mod tls;
#[cfg(feature = "webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhooks")))]
pub mod webhooks;

pub use bulk::{Bulk, BulkOutcome, BulkRun, Cancel, Deletion, Done};
pub use client::{ClientStats, PlainClient, PlainClientBuilder, DEFAULT_ENDPOINT};
pub use error::{Error, RequestError, Result, TransportErrorKind};
pub use input::{
    ClearableUpdate, CustomerGroupIdentifier, CustomerGroupsInput, CustomerIdentifier,
    EmailAddress, ImportCustomer, ImportTenant, OnCreate, OnUpdate, TenantIdentifier, Update,
    UpsertCustomerInput, MAX_IMPORT_CUSTOMERS,
};
pub use operations::add_customer_to_customer_groups::{CustomerGroup, CustomerGroupMembership};
pub use operations::customer_group_memberships::GroupChanges;
pub use operations::customers::{CustomerStream, CustomersFilter, CustomersQuery};
pub use operations::import_customers::Imported;
pub use operations::my_workspace::Workspace;
pub use operations::upsert_customer::{
    decode_upsert_customer, upsert_customer_body, upsert_customer_request, UpsertCustomerVariables,
    UpsertResult, UpsertedCustomer,
};
pub use operations::{
    Customer, CustomerEmail, CustomerStatus, MutationError, MutationErrorType, MutationFieldError,
    MutationFieldErrorType,
};
pub use response::ResponseMeta;
pub use retry::{Idempotency, RateLimitBudget, RetryPolicy};
pub use timestamp::{Timestamp, TimestampError};

/// The graphql_client crate the generated code is built on, for [`graphql_client::QueryBody`].
pub use graphql_client;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "testing"))]
pub struct ReadmeDoctests;
