//! `plain upsert-customer`: one or more inputs, sent in order.

use std::path::PathBuf;

use plain_client::{Error, PlainClient, UpsertCustomerInput};

use super::{client, print_json, read_input, runtime, start_local, Endpoint, Failure};

/// What `plain upsert-customer` was asked to do.
#[derive(Debug, clap::Args)]
pub struct UpsertOptions {
    /// The input JSON file, or - for standard input.
    #[arg(long, short, value_name = "FILE|-", default_value = "-")]
    pub input: PathBuf,
    /// The most input read, in bytes; a longer input is refused and nothing is sent.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = MAX_INPUT_BYTES,
        value_parser = clap::value_parser!(u64).range(1..=1 << 32)
    )]
    pub max_input_bytes: u64,
    /// Print the request body that would be sent, and send nothing (no key needed).
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

/// The default of `upsert-customer --max-input-bytes`: 16 MiB.
const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Reads one or more inputs, one JSON object after the other.
fn parse_inputs(text: &str) -> Result<Vec<UpsertCustomerInput>, Failure> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
    let mut inputs = Vec::new();
    let mut start = 0;
    while let Some(next) = stream.next() {
        let number = inputs.len() + 1;
        let prefix = |message: String| {
            if number == 1 {
                message
            } else {
                format!("input {number}: {message}")
            }
        };
        if let Err(e) = next {
            return Err(Failure::Plain(Error::InvalidInput {
                message: prefix(super::text::message(&e.to_string())),
            }));
        }
        let end = stream.byte_offset();
        let input = UpsertCustomerInput::from_json(&text[start..end]).map_err(|e| match e {
            // The message may quote the input: escaped and capped.
            Error::InvalidInput { message } => Failure::Plain(Error::InvalidInput {
                message: prefix(super::text::message(&message)),
            }),
            other => Failure::Plain(other),
        })?;
        inputs.push(input);
        start = end;
    }
    if inputs.is_empty() {
        return Err(Failure::Plain(Error::InvalidInput {
            message: "the input is empty: give an UpsertCustomerInput as JSON".to_owned(),
        }));
    }
    Ok(inputs)
}

async fn upsert_all(client: &PlainClient, inputs: Vec<UpsertCustomerInput>) -> Result<(), Failure> {
    for input in inputs {
        let upserted = client.upsert_customer(input).await?;
        print_json(&upserted)?;
    }
    Ok(())
}

/// Runs `plain upsert-customer`.
pub fn run(options: UpsertOptions) -> Result<(), Failure> {
    let inputs = parse_inputs(&read_input(&options.input, options.max_input_bytes)?)?;
    if options.dry_run {
        for input in inputs {
            // Nothing is sent in a dry run: a failure to print is a plain input/output error.
            print_json(&plain_client::upsert_customer_request(input)).map_err(|e| match e {
                Failure::Output(message) => Failure::Io(message),
                other => other,
            })?;
        }
        return Ok(());
    }
    let runtime = runtime()?;
    if options.endpoint.local {
        runtime.block_on(async {
            let server = start_local(&options.endpoint.customer_groups).await?;
            upsert_all(&server.client()?, inputs).await
        })?;
        return Ok(());
    }
    let client = client(
        options.endpoint.api_url,
        plain_client::RetryPolicy::default(),
    )?;
    runtime.block_on(upsert_all(&client, inputs))?;
    Ok(())
}
