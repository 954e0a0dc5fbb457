//! One module per Plain operation: its generated types under Plain's names, any hand-written
//! input, its [`PlainClient`](crate::PlainClient) method, and its body and decode helpers.
//!
//! Every operation is sent by the client's one generic path
//! ([`PlainClient::execute`](crate::PlainClient::execute) for operations of your own): the
//! client knows none of them. The types several operations share (a [`Customer`], a
//! [`MutationError`]) are one Rust type each, whichever operation returned them.

pub mod add_customer_to_customer_groups;
pub mod customer_by_email;
pub mod customer_by_external_id;
pub mod customer_by_id;
pub mod customer_group_memberships;
pub mod customer_groups;
pub mod customers;
pub mod delete_customer;
pub mod import_customers;
pub mod my_workspace;
pub mod remove_customer_from_customer_groups;
pub mod upsert_customer;

pub use crate::generated::shared::{
    Customer, CustomerEmail, CustomerGroup, CustomerGroupMembership, CustomerStatus, MutationError,
    MutationErrorType, MutationFieldErrorType, PageInfo,
};
pub use crate::timestamp::Timestamp;

pub use crate::generated::shared::MutationFieldError;

/// `Ok(())` for an output that has no `MutationError`, else
/// [`Error::MutationRejected`](crate::Error::MutationRejected).
fn unless_rejected(
    error: Option<MutationError>,
    meta: &crate::response::ResponseMeta,
) -> crate::Result<()> {
    match error {
        Some(error) => Err(crate::Error::rejected(error, meta.request_id.clone())),
        None => Ok(()),
    }
}
