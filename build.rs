//! Generates the typed operations from `graphql/` into `OUT_DIR/operations.rs`.
//! Reads only committed files, never the network.

#[path = "src/codegen/mod.rs"]
mod codegen;

fn main() {
    codegen::build_script_main();
}
