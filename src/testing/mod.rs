//! A local, in-memory server that behaves like Plain's `/graphql/v1` for customers and their
//! groups (feature `testing`).
//!
//! It parses the GraphQL document, validates it against the crate's vendored schema and
//! serves, with Plain's semantics:
//!
//! - the query `myWorkspace`: each server is a workspace of its own, with its own id
//!   ([`LocalServer::workspace_id`]), and can answer as to a key that may not read it
//!   ([`LocalServerBuilder::forbid_workspace_read`]);
//! - the queries `customer`, `customerByEmail` (any case) and `customerByExternalId`, which
//!   answer `null` when no customer matches;
//! - `upsertCustomer` (`CREATED`, `UPDATED`, `NOOP`, unique emails and external ids,
//!   `not_found` for an unknown customer id, validation errors, `onCreate`'s customer groups);
//! - `deleteCustomer`, after which the email address and external id are free again;
//! - `importCustomers`: up to 25 customers upserted by external id, with their tenants, and
//!   counted (`added`, `updated`, `skipped`); [`ImportFault`] scripts skipped customers, counts
//!   that do not add up and errors for chosen requests;
//! - `addCustomerToCustomerGroups` and `removeCustomerFromCustomerGroups`, over the customer
//!   groups given to [`LocalServerBuilder::customer_group`]. A group identifier that matches
//!   no group is a `MutationError` with the code `customer_group_not_found`, and nothing
//!   changes;
//! - the queries `customerGroups` and `customerGroup`, and every customer's
//!   `customerGroupMemberships`, paged as Plain pages (25 a page unless told, at most 100,
//!   opaque cursors, `BAD_USER_INPUT` past the bound). Groups are the color `#64748B`, made by
//!   the machine user `mu_local`.
//! - the query `customers`, paged the same way, with `totalCount`: in the order of creation
//!   (or by full name with `sortBy`), filtered by `CustomersFilter`, and with cursors that
//!   keep their place when customers are created or deleted.
//!
//! With [`LocalServerBuilder::webhook`], it delivers every change it makes to receivers as
//! Plain delivers webhooks: signed, with Plain's headers, retried with backoff, and never
//! holding up an answer.
//!
//! It answers with exactly the selected fields; other root fields and subscriptions are
//! refused as Plain refuses an invalid request (400 `GRAPHQL_VALIDATION_FAILED`). It checks
//! the API key, applies Plain's rate-limit headers and 429s, tags every answer with an
//! `apigw-requestid`, and can inject faults: scripted answers, a seeded rate of transient
//! failures, and a fixed delay. Every request is logged, the key redacted and the body cut
//! to its first [`limits::LOG_BODY_BYTES`]; a request refused for its key is logged without
//! its headers or body. What one connection, request or query may cost the server is
//! bounded: see [`limits`].
//!
//! ```
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use plain_client::testing::LocalServer;
//! use plain_client::{CustomerIdentifier, EmailAddress, OnCreate, UpsertCustomerInput, UpsertResult};
//!
//! let server = LocalServer::start().await?;
//! let client = server.client()?;
//! let input = UpsertCustomerInput::new(
//!     CustomerIdentifier::email("donald@example.com"),
//!     OnCreate::new("Donald Duck", EmailAddress::unverified("donald@example.com")),
//! );
//! assert_eq!(client.upsert_customer(input.clone()).await?.result, UpsertResult::Created);
//! assert_eq!(client.upsert_customer(input).await?.result, UpsertResult::Noop);
//! assert_eq!(server.customers().len(), 1);
//! assert_eq!(server.requests().len(), 2);
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run()).unwrap();
//! ```

mod builder;
mod connections;
mod cost;
mod customer_list;
mod deliveries;
mod events;
mod failure;
mod graphql;
mod http;
mod import_faults;
pub mod limits;
mod rate_limit;
mod request_log;
mod scripted;
mod server;
mod service;
mod state;
mod store;

pub use builder::LocalServerBuilder;
pub use deliveries::{DeliveryAttempt, WebhookStats};
pub use import_faults::{ImportFault, ImportFaultError};
pub use rate_limit::{format_timestamp, parse_timestamp};
pub use request_log::LoggedRequest;
pub use scripted::ScriptedAnswer;
pub use server::LocalServer;
pub use service::GRAPHQL_PATH;
pub use state::ServerStats;
pub use store::records::{CustomerGroupSpec, StoredCustomer, StoredCustomerGroup, StoredTenant};
