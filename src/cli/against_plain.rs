//! `--missing FILE --against-plain`: the customers Plain has that the input does not name,
//! read from Plain's own list of customers rather than from the state file.
//!
//! Every identifier the input names (the one it upserts by, and `onCreate`'s email address and
//! external id) is remembered as a 64-bit hash while the input is read: 8 bytes a name, about
//! 50 MB for a million records of three names, whatever their length. Then Plain's customers
//! are read, 100 a page, and a customer none of whose identifiers (id, email address, external
//! id) the input named is listed. A hash shared by two different names can only hide a
//! customer from the list, never add one to it.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use plain_client::{Customer, CustomerIdentifier, PlainClient, UpsertCustomerInput};
use serde::Serialize;

use super::summary::Summary;

/// The identifiers an input named, hashed.
#[derive(Default)]
pub(super) struct Named(HashSet<u64>);

/// The hash of an identifier of one kind, as Plain compares them: an email address trimmed and
/// lowercased, the others as they are.
fn key(kind: u8, text: &str) -> u64 {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.push(kind);
    if kind == b'e' {
        bytes.extend(text.trim().to_lowercase().bytes());
    } else {
        bytes.extend(text.bytes());
    }
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

fn identifier_key(identifier: &CustomerIdentifier) -> u64 {
    match identifier {
        CustomerIdentifier::EmailAddress(email) => key(b'e', email),
        CustomerIdentifier::ExternalId(id) => key(b'x', id),
        CustomerIdentifier::CustomerId(id) => key(b'c', id),
    }
}

impl Named {
    /// Remembers every identifier an input names.
    pub(super) fn add(&mut self, input: &UpsertCustomerInput) {
        self.0.insert(identifier_key(&input.identifier));
        self.0.insert(key(b'e', &input.on_create.email.email));
        if let Some(id) = &input.on_create.external_id {
            self.0.insert(key(b'x', id));
        }
    }

    /// Whether the input named the customer by any of its identifiers.
    fn names(&self, customer: &Customer) -> bool {
        self.0.contains(&key(b'c', &customer.id))
            || self.0.contains(&key(b'e', &customer.email.email))
            || customer
                .external_id
                .as_ref()
                .is_some_and(|id| self.0.contains(&key(b'x', id)))
    }
}

/// A line of the --missing file read from Plain: a customer Plain has and the input does not.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlainLine<'a> {
    identifier: CustomerIdentifier,
    customer_id: &'a str,
    full_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    source: &'static str,
}

/// Writes the customers Plain has that the input did not name, under the same rule as the
/// state's list: only when the input was read whole and every record in it was named. The
/// file is replaced at once when complete.
pub(super) async fn write_missing_from_plain(
    client: &PlainClient,
    named: &Named,
    path: &Path,
    summary: &Summary,
) -> Result<u64, String> {
    super::missing::check_read_whole(summary)?;
    let partial = super::missing::partial_path(path);
    let result = async {
        let file = File::create(&partial)
            .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let mut listed = 0u64;
        let mut customers = client.customers().stream();
        while let Some(customer) = customers.next().await {
            let customer =
                customer.map_err(|e| format!("cannot read Plain's list of customers: {e}"))?;
            if named.names(&customer) {
                continue;
            }
            let line = PlainLine {
                identifier: match &customer.external_id {
                    Some(id) => CustomerIdentifier::ExternalId(id.clone()),
                    None => CustomerIdentifier::EmailAddress(customer.email.email.clone()),
                },
                customer_id: &customer.id,
                full_name: &customer.full_name,
                external_id: customer.external_id.as_deref(),
                source: "plain",
            };
            serde_json::to_writer(&mut out, &line).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(|e| e.to_string())?;
            listed += 1;
        }
        let file = out.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&partial, path).map_err(|e| e.to_string())?;
        Ok(listed)
    }
    .await;
    result.map_err(|e: String| {
        let _ = std::fs::remove_file(&partial);
        format!("cannot write {}: {e}", path.display())
    })
}
