//! Bringing your own operation: a Plain operation this crate does not ship, sent through
//! `PlainClient::execute` with the client's key, pacing, timeouts, retries and typed errors.
//!
//! In your crate you would derive the operation from Plain's schema:
//!
//! ```text
//! #[derive(graphql_client::GraphQLQuery)]
//! #[graphql(schema_path = "plain-schema.graphql", query_path = "renameCustomer.graphql")]
//! struct RenameCustomer;
//! ```
//!
//! Here the derive's output is written out, so that the example builds without the derive.
//! It runs against a local Plain-compatible server, or against Plain when `PLAIN_API_KEY` is
//! set:
//!
//! ```sh
//! cargo run --example own_operation --features testing
//! ```

use graphql_client::{GraphQLQuery, QueryBody};
use plain_client::testing::LocalServer;
use plain_client::{Idempotency, PlainClient};
use serde::{Deserialize, Serialize};

/// `upsertCustomer` with a selection of its own: only the id and the name back.
struct RenameCustomer;

#[derive(Serialize)]
struct Variables {
    email: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct ResponseData {
    #[serde(rename = "upsertCustomer")]
    upsert_customer: Output,
}

#[derive(Debug, Deserialize)]
struct Output {
    result: Option<String>,
    customer: Option<Renamed>,
    error: Option<Problem>,
}

#[derive(Debug, Deserialize)]
struct Renamed {
    id: String,
    #[serde(rename = "fullName")]
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct Problem {
    message: String,
}

const DOCUMENT: &str = "mutation renameCustomer($email: String!, $name: String!) {
  upsertCustomer(input: {
    identifier: {emailAddress: $email}
    onCreate: {fullName: $name, email: {email: $email, isVerified: false}}
    onUpdate: {fullName: {value: $name}}
  }) {
    result
    customer { id fullName }
    error { message }
  }
}";

impl GraphQLQuery for RenameCustomer {
    type Variables = Variables;
    type ResponseData = ResponseData;

    fn build_query(variables: Variables) -> QueryBody<Variables> {
        QueryBody {
            variables,
            query: DOCUMENT,
            operation_name: "renameCustomer",
        }
    }
}

/// Renames (or creates) the customer with this email address; prints and returns the result.
pub async fn rename(
    client: &PlainClient,
    email: &str,
    name: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let variables = Variables {
        email: email.to_owned(),
        name: name.to_owned(),
    };
    // An upsert is idempotent, so it may be retried like one: say so. A mutation sent with
    // plain `execute` is retried only when it surely never reached Plain.
    let data = client
        .execute_with::<RenameCustomer>(variables, Idempotency::Idempotent)
        .await?
        .upsert_customer;
    if let Some(problem) = data.error {
        return Err(problem.message.into());
    }
    let result = data.result.unwrap_or_default();
    if let Some(customer) = data.customer {
        println!("{result} {} {}", customer.id, customer.full_name);
    }
    Ok(result)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let local;
    let client = if std::env::var_os("PLAIN_API_KEY").is_some() {
        PlainClient::from_env()?
    } else {
        local = LocalServer::start().await?;
        local.client()?
    };
    rename(&client, "scrooge@example.com", "Scrooge McDuck").await?;
    rename(&client, "scrooge@example.com", "Uncle Scrooge").await?;
    Ok(())
}
