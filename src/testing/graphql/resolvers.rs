//! The objects the server answers with, and the value of each of their fields: the
//! mutations' outputs and errors, the workspace, customers, customer groups and memberships,
//! and an import's counts.

use std::time::{SystemTime, UNIX_EPOCH};

use super::output::Out;
use crate::testing::events::GROUP_COLOR;
use crate::testing::store::records::{
    ImportCounts, LocalWorkspace, Membership, Outcome, StoredCustomer, StoredCustomerGroup,
};
use crate::testing::store::rejection::Rejection;

pub(super) type UpsertResult = Result<(Outcome, StoredCustomer), Rejection>;

pub(super) type MembershipResult = Result<Vec<Membership>, Rejection>;

pub(super) type ImportResult = Result<ImportCounts, Rejection>;

/// What a selection is made on.
#[derive(Clone, Copy)]
pub(super) enum Object<'a> {
    Upserted(&'a UpsertResult),
    Deleted(Option<&'a Rejection>),
    AddedToGroups(&'a MembershipResult),
    RemovedFromGroups(Option<&'a Rejection>),
    Imported(&'a ImportResult),
    ImportCounts(&'a ImportCounts),
    Workspace(&'a LocalWorkspace),
    Customer(&'a StoredCustomer),
    Email(&'a StoredCustomer),
    Group(&'a StoredCustomerGroup),
    Membership(&'a Membership),
    /// Who made a group or a membership: the API key's machine user.
    Actor,
    DateTime(SystemTime),
    MutationError(&'a Rejection),
    FieldError(&'a (String, String, &'static str)),
}

impl Object<'_> {
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Object::Upserted(_) => "UpsertCustomerOutput",
            Object::Deleted(_) => "DeleteCustomerOutput",
            Object::AddedToGroups(_) => "AddCustomerToCustomerGroupsOutput",
            Object::RemovedFromGroups(_) => "RemoveCustomerFromCustomerGroupsOutput",
            Object::Imported(_) => "ImportCustomersOutput",
            Object::ImportCounts(_) => "ImportResult",
            Object::Workspace(_) => "Workspace",
            Object::Customer(_) => "Customer",
            Object::Email(_) => "EmailAddress",
            Object::Group(_) => "CustomerGroup",
            Object::Membership(_) => "CustomerGroupMembership",
            Object::Actor => "MachineUserActor",
            Object::DateTime(_) => "DateTime",
            Object::MutationError(_) => "MutationError",
            Object::FieldError(_) => "MutationFieldError",
        }
    }
}

/// The id of the machine user the server says made its groups and memberships.
const MACHINE_USER_ID: &str = "mu_local";

/// A field's value before its sub-selection is applied.
pub(super) enum Resolved<'a> {
    Leaf(Out),
    Object(Object<'a>),
    List(Vec<Object<'a>>),
}

fn text(s: &str) -> Resolved<'static> {
    Resolved::Leaf(Out::Str(s.to_owned()))
}

fn count(n: u32) -> Resolved<'static> {
    Resolved::Leaf(Out::Raw(n.into()))
}

fn optional_text(s: &Option<String>) -> Resolved<'static> {
    Resolved::Leaf(s.as_ref().map_or(Out::Null, |s| Out::Str(s.clone())))
}

pub(super) fn resolve<'a>(object: Object<'a>, field: &str) -> Resolved<'a> {
    match (object, field) {
        (_, "__typename") => text(object.type_name()),
        (Object::Upserted(Ok((outcome, _))), "result") => text(outcome.as_str()),
        (Object::Upserted(Ok((_, customer))), "customer") => {
            Resolved::Object(Object::Customer(customer))
        }
        (Object::Upserted(Err(rejection)), "error")
        | (Object::AddedToGroups(Err(rejection)), "error")
        | (Object::Deleted(Some(rejection)), "error")
        | (Object::RemovedFromGroups(Some(rejection)), "error")
        | (Object::Imported(Err(rejection)), "error") => {
            Resolved::Object(Object::MutationError(rejection))
        }
        (Object::Imported(Ok(counts)), "result") => Resolved::Object(Object::ImportCounts(counts)),
        (Object::ImportCounts(c), "added") => count(c.added),
        (Object::ImportCounts(c), "updated") => count(c.updated),
        (Object::ImportCounts(c), "skipped") => count(c.skipped),
        (Object::AddedToGroups(Ok(memberships)), "customerGroupMemberships") => {
            Resolved::List(memberships.iter().map(Object::Membership).collect())
        }
        (Object::Workspace(w), "id") => text(&w.id),
        (Object::Workspace(w), "name") => text(&w.name),
        (Object::Customer(c), "id") => text(&c.id),
        (Object::Customer(c), "externalId") => optional_text(&c.external_id),
        (Object::Customer(c), "fullName") => text(&c.full_name),
        (Object::Customer(c), "shortName") => optional_text(&c.short_name),
        (Object::Customer(c), "email") => Resolved::Object(Object::Email(c)),
        (Object::Customer(c), "createdAt") => Resolved::Object(Object::DateTime(c.created_at)),
        (Object::Customer(c), "updatedAt") => Resolved::Object(Object::DateTime(c.updated_at)),
        (Object::Customer(_), "status") => text("IDLE"),
        (Object::Email(c), "email") => text(&c.email),
        (Object::Email(c), "isVerified") => Resolved::Leaf(Out::Bool(c.email_verified)),
        (Object::Email(c), "verifiedAt") => match c.email_verified_at {
            Some(at) => Resolved::Object(Object::DateTime(at)),
            None => Resolved::Leaf(Out::Null),
        },
        (Object::Group(g), "id") => text(&g.id),
        (Object::Group(g), "key") => text(&g.key),
        (Object::Group(g), "name") => text(&g.name),
        (Object::Group(g), "externalId") => optional_text(&g.external_id),
        (Object::Group(_), "color") => text(GROUP_COLOR),
        (Object::Group(_) | Object::Membership(_), "createdBy" | "updatedBy") => {
            Resolved::Object(Object::Actor)
        }
        (Object::Actor, "machineUserId") => text(MACHINE_USER_ID),
        (Object::Group(g), "createdAt") => Resolved::Object(Object::DateTime(g.created_at)),
        (Object::Group(g), "updatedAt") => Resolved::Object(Object::DateTime(g.updated_at)),
        (Object::Membership(m), "customerId") => text(&m.customer_id),
        (Object::Membership(m), "customerGroup") => Resolved::Object(Object::Group(&m.group)),
        // A membership does not change once made.
        (Object::Membership(m), "createdAt" | "updatedAt") => {
            Resolved::Object(Object::DateTime(m.created_at))
        }
        (Object::DateTime(at), "iso8601") => text(&crate::time::format_rfc3339(at)),
        (Object::DateTime(at), "unixTimestamp") => {
            let millis = at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            text(&millis.to_string())
        }
        (Object::MutationError(r), "message") => text(&r.message),
        (Object::MutationError(r), "type") => text(r.kind),
        (Object::MutationError(r), "code") => text(r.code),
        (Object::MutationError(r), "fields") => {
            Resolved::List(r.fields.iter().map(Object::FieldError).collect())
        }
        (Object::FieldError(f), "field") => text(&f.0),
        (Object::FieldError(f), "message") => text(&f.1),
        (Object::FieldError(f), "type") => text(f.2),
        // The rest: a mutation's other half (no `error` when it succeeded, no result when it
        // was refused), and fields a fuller schema has that the server does not model.
        _ => Resolved::Leaf(Out::Null),
    }
}
