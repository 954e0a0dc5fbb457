//! The batched import ([`Bulk::import`](super::Bulk::import)): which upserts `importCustomers`
//! can carry, and how a batch is sent, checked, and fallen back from.

use std::sync::Arc;

use super::breaker::is_outage;
use super::upsert::{upsert_one, UpsertTicket};
use super::Done;
use crate::client::PlainClient;
use crate::error::{Error, Result};
use crate::input::{ClearableUpdate, CustomerIdentifier, ImportCustomer, Update};
use crate::input::{UpsertCustomerInput, MAX_IMPORT_CUSTOMERS};

/// The most records a batch carries: what `importCustomers` takes.
pub(super) const BATCH: usize = MAX_IMPORT_CUSTOMERS;

/// What `importCustomers` would send for `input`, when it asks for exactly what the upsert
/// asks for; `None` when only `upsertCustomer` can say it. The rule:
///
/// - the identifier is an external id (`onCreate`'s external id, if any, is the same);
/// - the email address is unverified (an import carries no verification);
/// - no customer groups and no tenants;
/// - the update sets the same values as the create: the same full name and the same email
///   address; the same short name, or none on both sides (the update then keeps it); the
///   external id kept or set to the same.
pub fn import_form(input: &UpsertCustomerInput) -> Option<ImportCustomer> {
    let external_id = qualifying_id(input)?;
    let create = &input.on_create;
    let mut form = ImportCustomer::new(external_id.clone(), create.full_name.clone())
        .email(create.email.email.clone());
    if let Some(short) = &create.short_name {
        form = form.short_name(short.clone());
    }
    Some(form)
}

/// The external id of a record that qualifies for a batch (see [`import_form`]), without
/// building its form.
pub(super) fn qualifying_id(input: &UpsertCustomerInput) -> Option<&String> {
    let CustomerIdentifier::ExternalId(external_id) = &input.identifier else {
        return None;
    };
    let create = &input.on_create;
    let update = &input.on_update;
    let same_id = create
        .external_id
        .as_ref()
        .is_none_or(|id| id == external_id);
    let no_lists = create
        .customer_group_identifiers
        .as_ref()
        .is_none_or(Vec::is_empty)
        && create.tenant_identifiers.as_ref().is_none_or(Vec::is_empty);
    let same_update = matches!(&update.full_name, Update::Set(name) if *name == create.full_name)
        && matches!(&update.email, Update::Set(email) if *email == create.email)
        && match (&create.short_name, &update.short_name) {
            (Some(short), ClearableUpdate::Set(set)) => short == set,
            (None, ClearableUpdate::Keep) => true,
            _ => false,
        }
        && match &update.external_id {
            ClearableUpdate::Keep => true,
            ClearableUpdate::Set(set) => set == external_id,
            ClearableUpdate::Clear => false,
        };
    (same_id && no_lists && same_update && !create.email.is_verified).then_some(external_id)
}

/// The proof that a record qualifies for a batch.
pub(crate) struct Qualified(());

/// Whether `input` goes in a batch.
pub(super) fn qualify(input: &UpsertCustomerInput) -> Option<Qualified> {
    qualifying_id(input).map(|_| Qualified(()))
}

/// What a batch came to: one result per record, in the batch's order, and how it went.
#[derive(Default)]
pub(crate) struct BatchAnswer {
    pub(super) results: Vec<Result<Done>>,
    /// The requests it took: the batch's own, and one per record fallen back.
    pub(super) requests: u64,
    /// The batch request's own failure, as the breaker hears it: `None` when Plain answered.
    pub(super) failure: Option<BatchFailure>,
}

/// How a batch request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchFailure {
    /// Plain or the way to it looked down.
    Outage,
    /// Anything else.
    Other,
}

/// Sends `records` (each qualifying, see [`import_form`]) as one `importCustomers` request.
///
/// Plain's counts are never trusted blindly: when they do not add up to the batch's size,
/// when anything was skipped (the answer does not say which), or when the batch fails with a
/// `MutationError` or another failure of its own, each record is sent again, one by one,
/// through `upsertCustomer`, which is idempotent. A failure that every request would share
/// (the key, the rate limit, an outage, after the client's retries) fails each record.
pub(super) async fn send_batch(
    records: Arc<Vec<UpsertCustomerInput>>,
    tickets: Vec<UpsertTicket>,
    client: PlainClient,
) -> BatchAnswer {
    let forms: Vec<ImportCustomer> = records.iter().filter_map(import_form).collect();
    let size = records.len();
    let imported = if forms.len() == size {
        client.import_customers(forms).await
    } else {
        Err(Error::InvalidInput {
            message: "a record of the batch does not qualify for importCustomers".to_owned(),
        })
    };
    let failure = match &imported {
        Ok(_) => None,
        Err(error) if is_outage(error) => Some(BatchFailure::Outage),
        Err(_) => Some(BatchFailure::Other),
    };
    match imported {
        Ok(imported) if imported.skipped == 0 && imported.total() == size as u64 => BatchAnswer {
            results: tickets
                .into_iter()
                .map(|ticket| Ok(confirmed(ticket, imported.request_id.clone())))
                .collect(),
            requests: 1,
            failure,
        },
        Err(error) => match shared_failure(&error, size) {
            Some(errors) => BatchAnswer {
                results: errors.into_iter().map(Err).collect(),
                requests: 1,
                failure,
            },
            None => fall_back(&records, tickets, &client, failure).await,
        },
        Ok(_) => fall_back(&records, tickets, &client, failure).await,
    }
}

/// The batch's failure for each of its `size` records, when every request would share it;
/// `None` when it is the batch's own.
fn shared_failure(error: &Error, size: usize) -> Option<Vec<Error>> {
    if !error.is_retryable() && !error.is_auth_failure() {
        return None;
    }
    (0..size).map(|_| error.shared_copy()).collect()
}

/// Each record sent again through `upsertCustomer`, one by one.
async fn fall_back(
    records: &[UpsertCustomerInput],
    tickets: Vec<UpsertTicket>,
    client: &PlainClient,
    failure: Option<BatchFailure>,
) -> BatchAnswer {
    let mut results = Vec::with_capacity(records.len());
    for (record, ticket) in records.iter().zip(tickets) {
        results.push(upsert_one(client, record, ticket).await);
    }
    BatchAnswer {
        requests: 1 + records.len() as u64,
        results,
        failure,
    }
}

/// A record the batch's counts confirmed: recorded in the state without a customer id.
#[cfg_attr(not(feature = "state"), allow(clippy::needless_pass_by_value))]
fn confirmed(ticket: UpsertTicket, request_id: Option<String>) -> Done {
    let done = Done::Imported { request_id };
    #[cfg(feature = "state")]
    if let Some((_, crate::state::Admission::Send(admitted))) = ticket {
        if admitted.confirm_imported().is_err() {
            return Done::Unrecorded(Box::new(done));
        }
    }
    #[cfg(not(feature = "state"))]
    let () = ticket;
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{EmailAddress, OnCreate, OnUpdate};

    fn qualifying() -> UpsertCustomerInput {
        let email = EmailAddress::unverified("ada@example.com");
        UpsertCustomerInput::new(
            CustomerIdentifier::external_id("crm-1"),
            OnCreate::new("Ada Lovelace", email.clone()).external_id("crm-1"),
        )
        .on_update(OnUpdate::new().full_name("Ada Lovelace").email(email))
    }

    #[test]
    fn a_record_the_import_can_say_exactly_qualifies() {
        let form = import_form(&qualifying()).unwrap();
        assert_eq!(
            serde_json::to_value(&form).unwrap(),
            serde_json::json!({
                "externalId": "crm-1",
                "fullName": "Ada Lovelace",
                "email": "ada@example.com",
                "tenants": []
            })
        );
    }

    #[test]
    fn anything_the_import_cannot_say_does_not_qualify() {
        let mut by_email = qualifying();
        by_email.identifier = CustomerIdentifier::email("ada@example.com");
        let mut verified = qualifying();
        verified.on_create.email.is_verified = true;
        let mut other_id = qualifying();
        other_id.on_create.external_id = Some("crm-2".to_owned());
        let mut grouped = qualifying();
        grouped.on_create.customer_group_identifiers =
            Some(vec![crate::input::CustomerGroupIdentifier::key("vip")]);
        let mut keeps_name = qualifying();
        keeps_name.on_update.full_name = crate::input::Update::Keep;
        let mut other_name = qualifying();
        other_name.on_update.full_name = crate::input::Update::Set("Ada".to_owned());
        let mut keeps_email = qualifying();
        keeps_email.on_update.email = crate::input::Update::Keep;
        let mut short_on_create_only = qualifying();
        short_on_create_only.on_create.short_name = Some("Ada".to_owned());
        let mut clears_short = qualifying();
        clears_short.on_update.short_name = ClearableUpdate::Clear;
        let mut clears_id = qualifying();
        clears_id.on_update.external_id = ClearableUpdate::Clear;
        for (what, input) in [
            ("by email", by_email),
            ("verified", verified),
            ("another external id", other_id),
            ("groups", grouped),
            ("update keeps the name", keeps_name),
            ("update sets another name", other_name),
            ("update keeps the email", keeps_email),
            ("short name on create only", short_on_create_only),
            ("update clears the short name", clears_short),
            ("update clears the external id", clears_id),
        ] {
            assert!(import_form(&input).is_none(), "{what} qualified");
        }
        let mut short_both = qualifying();
        short_both.on_create.short_name = Some("Ada".to_owned());
        short_both.on_update.short_name = ClearableUpdate::Set("Ada".to_owned());
        assert_eq!(
            import_form(&short_both).unwrap().short_name.as_deref(),
            Some("Ada")
        );
    }
}
