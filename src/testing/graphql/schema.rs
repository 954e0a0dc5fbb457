//! The schema the local server validates requests against: the crate's vendored one, or one
//! given to the builder.

use std::sync::OnceLock;

use crate::schema_check::{self as validate, Schema};

/// The schema the local server speaks unless told otherwise: the crate's vendored one.
pub fn vendored_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        validate::parse_schema(include_str!("../../../graphql/schema.graphql"))
            .unwrap_or_else(|e| panic!("the vendored schema does not parse: {e}"))
    })
}

/// Parses a schema given for the server to speak, and checks that it serves this crate's
/// `upsertCustomer` as the crate sends it.
pub fn served_schema(sdl: &str) -> std::io::Result<Schema> {
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
    let schema = validate::parse_schema(sdl)
        .map_err(|e| invalid(format!("the schema given does not parse: {e}")))?;
    validate::check_operation(&schema, crate::generated::upsert_customer::QUERY).map_err(|e| {
        invalid(format!(
            "the schema given cannot serve upsertCustomer as this crate sends it: {e}"
        ))
    })?;
    Ok(schema)
}
