//! Bringing your own operation: a Plain operation this crate does not wrap, derived with
//! graphql_client and sent through `PlainClient::execute` with the client's key, pacing,
//! timeouts, retries and typed errors.
//!
//! In your own crate, add the derive's crate beside this one (`Cargo.toml`):
//!
//! ```toml
//! [dependencies]
//! plain-client = "0.1"
//! graphql_client = { version = "0.16", features = ["graphql_query_derive"] }
//! serde = { version = "1", features = ["derive"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! save Plain's schema (`https://core-api.uk.plain.com/graphql/v1/schema.graphql`) beside it,
//! and derive the operation as below, with `schema_path` naming that file. This example uses
//! the crate's own part of the schema (`graphql/schema.graphql`), which has what
//! `upsertCustomer` needs. It runs against a local Plain-compatible server, or against Plain
//! when `PLAIN_API_KEY` is set:
//!
//! ```sh
//! cargo run --example own_operation --features testing
//! ```

use graphql_client::GraphQLQuery;
use plain_client::{Error, Idempotency, PlainClient};

/// The derive's rules:
/// - the struct is named after the operation: `normalization = "rust"` lets `RenameCustomer`
///   name `mutation renameCustomer` (without it, the names must be equal);
/// - `skip_serializing_none` leaves absent optional inputs out of the request, as Plain's
///   "exactly one of" inputs (an identifier is an email address, an external id or a customer
///   id) need: without it, every `None` is sent as an explicit `null`;
/// - `response_derives` adds `Serialize`, so that Plain's `MutationError` can become
///   [`Error::MutationRejected`] with [`Error::from_mutation_error`].
#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/schema.graphql",
    query_path = "examples/renameCustomer.graphql",
    normalization = "rust",
    skip_serializing_none,
    response_derives = "Debug, Serialize",
    variables_derives = "Debug"
)]
pub struct RenameCustomer;

use rename_customer::{
    EmailAddressInput, StringInput, UpsertCustomerIdentifierInput, UpsertCustomerInput,
    UpsertCustomerOnCreateInput, UpsertCustomerOnUpdateInput, UpsertResult,
};

/// Renames (or creates) the customer with this email address; prints and returns Plain's
/// result.
pub async fn rename(
    client: &PlainClient,
    email: &str,
    name: &str,
) -> Result<Option<UpsertResult>, Error> {
    let input = UpsertCustomerInput {
        identifier: UpsertCustomerIdentifierInput {
            email_address: Some(email.to_owned()),
            external_id: None,
            customer_id: None,
        },
        on_create: UpsertCustomerOnCreateInput {
            full_name: name.to_owned(),
            email: EmailAddressInput {
                email: email.to_owned(),
                is_verified: false,
            },
            external_id: None,
            short_name: None,
            customer_group_identifiers: None,
            tenant_identifiers: None,
        },
        on_update: UpsertCustomerOnUpdateInput {
            full_name: Some(StringInput {
                value: name.to_owned(),
            }),
            external_id: None,
            short_name: None,
            email: None,
        },
    };
    // An upsert is idempotent, so it may be retried like one: say so. A mutation sent with
    // plain `execute` is retried only when it surely never reached Plain.
    let output = client
        .execute_with::<RenameCustomer>(
            rename_customer::Variables { input },
            Idempotency::Idempotent,
        )
        .await?
        .upsert_customer;
    // Plain's refusal, as the crate's own operations report it.
    Error::check_mutation(output.error.as_ref())?;
    if let Some(customer) = &output.customer {
        println!("{:?} {} {}", output.result, customer.id, customer.full_name);
    }
    Ok(output.result)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let local;
    let client = if std::env::var_os("PLAIN_API_KEY").is_some() {
        PlainClient::from_env()?
    } else {
        local = plain_client::testing::LocalServer::start().await?;
        local.client()?
    };
    rename(&client, "scrooge@example.com", "Scrooge McDuck").await?;
    rename(&client, "scrooge@example.com", "Uncle Scrooge").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use plain_client::testing::LocalServer;

    #[tokio::test]
    async fn creates_then_renames_and_leaves_absent_inputs_out() {
        let server = LocalServer::start().await.unwrap();
        let client = server.client().unwrap();
        let first = rename(&client, "scrooge@example.com", "Scrooge McDuck").await;
        let second = rename(&client, "scrooge@example.com", "Uncle Scrooge").await;
        assert!(
            matches!(first, Ok(Some(UpsertResult::Created))),
            "{first:?}"
        );
        assert!(
            matches!(second, Ok(Some(UpsertResult::Updated))),
            "{second:?}"
        );
        assert_eq!(server.customers()[0].full_name, "Uncle Scrooge");
        let sent = &server.requests()[0].body;
        assert_eq!(sent["operationName"], "renameCustomer");
        // Absent inputs are left out, not sent as null.
        let identifier = &sent["variables"]["input"]["identifier"];
        assert_eq!(
            identifier,
            &serde_json::json!({"emailAddress": "scrooge@example.com"})
        );
        assert!(!sent.to_string().contains("null"), "{sent}");
    }

    #[tokio::test]
    async fn plains_refusal_is_the_crates_mutation_rejected() {
        let server = LocalServer::start().await.unwrap();
        let client = server.client().unwrap();
        // Plain refuses a blank name.
        let error = rename(&client, "blank@example.com", " ").await.unwrap_err();
        let Error::MutationRejected { error: refused, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(refused.code, "input_validation");
        assert_eq!(error.mutation_error().unwrap().code, "input_validation");
    }
}
