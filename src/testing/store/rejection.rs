//! The `MutationError`s the store answers with, as Plain words them.

/// A `MutationError` as Plain returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub message: String,
    pub kind: &'static str,
    pub code: &'static str,
    pub fields: Vec<(String, String, &'static str)>,
}

impl Rejection {
    pub(super) fn email_taken() -> Self {
        Self::validation(
            "customer_already_exists_with_email",
            "A customer with this email already exists.",
            "email",
            "VALIDATION",
            "Email is already in use",
        )
    }

    pub(super) fn external_id_taken() -> Self {
        Self::validation(
            "customer_already_exists_with_external_id",
            "A customer with this external id already exists.",
            "externalId",
            "VALIDATION",
            "External id is already in use",
        )
    }

    /// Plain's answer for a customer id that matches no customer.
    pub(super) fn customer_not_found(id: &str) -> Self {
        Self {
            message: format!("Customer with id {id} not found"),
            kind: "VALIDATION",
            code: "not_found",
            fields: vec![(
                "customerId".into(),
                "Customer not found".into(),
                "NOT_FOUND",
            )],
        }
    }

    /// Group identifiers that match no group: one field error for each.
    pub(super) fn customer_groups_not_found(missing: &[String]) -> Self {
        Self::none_match(
            "customer_group_not_found",
            "customer group",
            GROUPS_FIELD,
            missing,
        )
    }

    /// Tenant identifiers that match no tenant: one field error for each.
    pub(super) fn tenants_not_found(missing: &[String]) -> Self {
        Self::none_match("tenant_not_found", "tenant", "tenantIdentifiers", missing)
    }

    /// Identifiers in `field` that match no `what`: one field error for each.
    fn none_match(code: &'static str, what: &str, field: &str, missing: &[String]) -> Self {
        Self {
            message: format!("No {what} matches {}.", missing.join(", ")),
            kind: "VALIDATION",
            code,
            fields: missing
                .iter()
                .map(|m| (field.to_owned(), format!("No {what} with {m}"), "NOT_FOUND"))
                .collect(),
        }
    }

    pub(super) fn validation(
        code: &'static str,
        message: &str,
        field: &str,
        field_type: &'static str,
        field_message: &str,
    ) -> Self {
        Self {
            message: message.to_owned(),
            kind: "VALIDATION",
            code,
            fields: vec![(field.to_owned(), field_message.to_owned(), field_type)],
        }
    }
}

/// The input field that names customer groups, in field errors.
pub(super) const GROUPS_FIELD: &str = "customerGroupIdentifiers";
