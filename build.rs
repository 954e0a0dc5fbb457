//! Generates the typed operations from `graphql/` (their docs from `graphql/docs.txt`) into
//! `OUT_DIR/operations.rs`, and with the feature `webhooks` the webhook event types into
//! `OUT_DIR/webhooks.rs`.
//! Reads only committed files, never the network.

// A build script cannot depend on its own crate: it includes the code generator and the schema
// check by path, and uses their generation alone (the rest serves `plain-schema`, the tests and
// the local server, through the library).
#[allow(dead_code)]
#[path = "src/codegen/mod.rs"]
mod codegen;
#[allow(dead_code)]
#[path = "src/schema_check.rs"]
mod schema_check;

use std::fs;
use std::path::{Path, PathBuf};

use codegen::{CodegenError, SCHEMA_FILE};

/// Generates, writes only on change, and tells Cargo what to watch.
fn main() {
    let dir = Path::new("graphql");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/codegen");
    println!("cargo:rerun-if-changed=src/schema_check.rs");
    println!("cargo:rerun-if-changed={}", dir.join(SCHEMA_FILE).display());
    println!(
        "cargo:rerun-if-changed={}",
        dir.join(codegen::docs::DOCS_FILE).display()
    );
    // A new operation file is picked up because the folder itself is watched too.
    println!("cargo:rerun-if-changed={}", dir.display());
    let files = codegen::operation_files(dir).unwrap_or_else(|e| fail(&e));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    // Cargo sets this for the build script when the package's `maintainer` feature is on.
    let maintainer = std::env::var_os("CARGO_FEATURE_MAINTAINER").is_some();
    let (code, warnings) = codegen::build_output(dir, maintainer).unwrap_or_else(|e| fail(&e));
    for warning in warnings {
        println!("cargo:warning={warning}");
    }
    let out_dir = std::env::var_os("OUT_DIR").map(PathBuf::from);
    let Some(out_dir) = out_dir else {
        fail(&CodegenError {
            file: PathBuf::from("build.rs"),
            message: "OUT_DIR is not set".to_owned(),
        })
    };
    write_if_changed(&out_dir.join("operations.rs"), &code);
    // Only with the `webhooks` feature: a build without it does not pay for the event types.
    if std::env::var_os("CARGO_FEATURE_WEBHOOKS").is_some() {
        let schema = dir.join(codegen::webhook_schema::WEBHOOK_SCHEMA_FILE);
        println!("cargo:rerun-if-changed={}", schema.display());
        let code = codegen::generate_webhooks(&schema).unwrap_or_else(|e| fail(&e));
        write_if_changed(&out_dir.join("webhooks.rs"), &code);
    }
}

fn write_if_changed(target: &Path, code: &str) {
    if fs::read_to_string(target).ok().as_deref() != Some(code) {
        fs::write(target, code).unwrap_or_else(|e| {
            fail(&CodegenError {
                file: target.to_path_buf(),
                message: format!("cannot write: {e}"),
            })
        });
    }
}

/// Stops the build with one readable message and no backtrace.
fn fail(e: &CodegenError) -> ! {
    eprintln!("error: {e}");
    std::process::exit(1)
}
