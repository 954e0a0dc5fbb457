//! The single place where the code generated from `graphql/` is brought in.
//!
//! `build.rs` writes one module per operation file into `OUT_DIR/operations.rs`, every public
//! item, field and variant with a doc line (`codegen::docs`; the build fails on one without).
//! The library re-exports the types its public API needs under Plain's names (see `lib.rs`);
//! the rest stays here.

#[allow(clippy::all, clippy::pedantic, non_camel_case_types, unused_imports)]
mod operations {
    include!(concat!(env!("OUT_DIR"), "/operations.rs"));
}

pub use operations::*;

/// The webhook event types, generated from `graphql/webhook-schema.json` into
/// `OUT_DIR/webhooks.rs`; `webhooks::events` re-exports them.
#[cfg(feature = "webhooks")]
#[allow(clippy::all, clippy::pedantic)]
pub mod webhook_events {
    include!(concat!(env!("OUT_DIR"), "/webhooks.rs"));
}
