//! Code generation for the operations in `graphql/`, and the maintainers' schema tools.
//!
//! The library compiles this module with the feature `maintainer` only, hidden from the docs,
//! for the `plain-schema` command and the schema tests. `build.rs`, which cannot depend on its
//! own crate, includes it by path. Everything that decides what the generated Rust looks like
//! lives in [`options`], so the build and the tests cannot drift apart.

// `build.rs` includes this module too: without the feature, as for every crate that depends on
// this one, it leaves out what only `plain-schema` and the tests use.
#[cfg(feature = "maintainer")]
pub mod changes;
pub mod docs;
#[cfg(feature = "maintainer")]
pub mod reduce;
pub mod shape;
pub mod webhook_schema;
pub mod webhook_types;

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use graphql_client_codegen::deprecation::DeprecationStrategy;
use graphql_client_codegen::normalization::Normalization;
use graphql_client_codegen::{CodegenMode, GraphQLClientCodegenOptions};

use crate::schema_check;

/// The vendored schema's file name inside the `graphql/` folder.
pub const SCHEMA_FILE: &str = "schema.graphql";

/// Input types written by hand in `src/input.rs` and used in place of the generated ones.
///
/// graphql_client's `skip_serializing_none` switches `skip_serializing_if` on or off for every
/// optional input field at once. Plain's `onUpdate` needs both at the same time: an absent
/// wrapper means "keep", while `{"value": null}` inside an `OptionalStringInput` means "clear".
/// The hand-written types serialize exactly the JSON Plain documents, so generated variables
/// use them instead (graphql_client's `custom_variable_types`).
pub const HAND_WRITTEN_INPUTS: &[(&str, &str)] = &[
    ("UpsertCustomerInput", "crate::input::UpsertCustomerInput"),
    // Generated, a group identifier would send `null` for the two kinds it is not.
    (
        "AddCustomerToCustomerGroupsInput",
        "crate::input::CustomerGroupsInput",
    ),
    (
        "RemoveCustomerFromCustomerGroupsInput",
        "crate::input::CustomerGroupsInput",
    ),
    // Generated, a company identifier would send `null` for the kind it is not, and every
    // filter not given would be sent as `null`.
    (
        "CustomersFilter",
        "crate::operations::customers::CustomersFilter",
    ),
    // Generated, an imported customer would send `null` for each optional field not set.
    ("ImportCustomersInput", "crate::input::ImportCustomersInput"),
];

/// Fields written by hand into generated answer types: `(type, field)`, the field as Rust
/// source. Each goes into the type of that name in the shared module (see [`shape::share`]),
/// and may only name shared types.
///
/// `Customer.customer_groups`: the customer lookups select the customer's memberships beside
/// the `Customer` fragment, not in it, so that `upsertCustomer`, which shares the fragment,
/// sends the same request as before; the lookups' methods move them into this field. It is
/// never read from an answer, and is `None` where the operation did not select the memberships.
pub const HAND_WRITTEN_FIELDS: &[(&str, &str)] = &[(
    "Customer",
    "#[doc = \" The customer's customer group memberships, in the order it joined the groups: \
     all of them from the customer lookups (`customer_by_id`, `customer_by_email`, \
     `customer_by_external_id`), `None` from operations that do not select them \
     (`upsert_customer`). Serialized as `customerGroupMemberships`, a list, when present.\"]
     #[serde(skip_deserializing, rename = \"customerGroupMemberships\", \
     skip_serializing_if = \"Option::is_none\")]
     pub customer_groups: Option<Vec<CustomerGroupMembership>>",
)];

/// Answer types written by hand and used in place of the generated ones: `(Plain type, field
/// the Rust type reads, Rust type)`. Every fragment on the Plain type becomes another name for
/// the Rust type, and an operation with such a fragment must select the field.
///
/// `DateTime`: [`Timestamp`](crate::Timestamp) keeps Plain's `iso8601` text exactly and reads
/// the instant from it; generated, it would be a struct holding a `String`.
pub const HAND_WRITTEN_ANSWERS: &[(&str, &str, &str)] =
    &[("DateTime", "iso8601", "crate::timestamp::Timestamp")];

/// A failure of code generation, with the file it concerns. Its `Display` is the one message
/// the build prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenError {
    /// The file at fault (an operation, or the schema).
    pub file: PathBuf,
    /// What is wrong, naming the field and the type where there is one.
    pub message: String,
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

impl std::error::Error for CodegenError {}

fn error(file: &Path, message: impl Into<String>) -> CodegenError {
    CodegenError {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

/// The operation files in `dir`: every `*.graphql` file but the schema, sorted by name.
pub fn operation_files(dir: &Path) -> Result<Vec<PathBuf>, CodegenError> {
    let entries = fs::read_dir(dir).map_err(|e| error(dir, format!("cannot list: {e}")))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| error(dir, format!("cannot list: {e}")))?
            .path();
        let is_graphql = path.extension().is_some_and(|ext| ext == "graphql");
        let is_schema = path.file_name().is_some_and(|name| name == SCHEMA_FILE);
        if is_graphql && !is_schema {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<String, CodegenError> {
    fs::read_to_string(path).map_err(|e| error(path, format!("cannot read: {e}")))
}

/// The codegen options, in one place.
///
/// - Names are normalised to Rust conventions (`UpsertResult::Created`, not `CREATED`): the
///   generated types are part of the public API, and Rust users expect `UpperCamelCase`
///   variants. The wire strings are unchanged; [`shape`] rewrites every enum with an
///   `Unknown(String)` variant that keeps its text, so a value Plain adds later still parses.
/// - Deprecated fields are allowed silently. `Customer.status` is deprecated in Plain's schema
///   but Plain's own recipe selects it and Plain still returns it; `Warn` would put
///   `#[deprecated]` on the generated field and turn every use into a warning (the build must
///   be warning-free), `Deny` would refuse the operation. Deprecations are reported where a
///   maintainer looks: by the schema check in the test suite, not at every compile.
pub fn options(variable_types: &[String]) -> GraphQLClientCodegenOptions {
    let mut options = GraphQLClientCodegenOptions::new(CodegenMode::Cli);
    options.set_module_visibility(syn::parse_quote!(pub));
    options.set_normalization(Normalization::Rust);
    options.set_deprecation_strategy(DeprecationStrategy::Allow);
    options.set_response_derives("Debug, Clone, PartialEq, Eq, Serialize".to_owned());
    options.set_variables_derives("Debug, Clone, PartialEq, Eq".to_owned());
    options.set_custom_variable_types(variable_types.to_vec());
    options
}

/// The `custom_variable_types` list for one operation: graphql_client takes it by variable
/// position, so every input-object variable before the last hand-written one needs an entry.
fn custom_variable_types(
    file: &Path,
    operation: &schema_check::OperationInfo,
) -> Result<Vec<String>, CodegenError> {
    let entry = |type_name: &str| {
        HAND_WRITTEN_INPUTS
            .iter()
            .find(|(name, _)| *name == type_name)
            .map(|(_, path)| (*path).to_owned())
    };
    let last = operation
        .variables
        .iter()
        .rposition(|v| entry(&v.type_name).is_some());
    let Some(last) = last else {
        return Ok(Vec::new());
    };
    operation.variables[..=last]
        .iter()
        .map(|v| match entry(&v.type_name) {
            Some(path) => Ok(path),
            None if !v.is_input_object => Ok("()".to_owned()),
            None => Err(error(
                file,
                format!(
                    "variable `${}` of input type `{}` comes before a variable with a \
                     hand-written input type; declare it after them, or add a hand-written type \
                     for `{}` to HAND_WRITTEN_INPUTS",
                    v.name, v.type_name, v.type_name
                ),
            )),
        })
        .collect()
}

/// Generates the formatted Rust module for one operation file against a schema.
///
/// The operation is validated first, so that an operation that no longer fits the schema is
/// reported as one message naming the file, the field and the type, instead of a panic inside
/// graphql_client.
pub fn generate(schema_file: &Path, operation_file: &Path) -> Result<String, CodegenError> {
    let mut file = generate_file(schema_file, operation_file)?;
    shape::shape(&mut file.items);
    Ok(prettyplease::unparse(&file))
}

/// The code graphql_client generates for one operation file, timestamps made optional.
fn generate_file(schema_file: &Path, operation_file: &Path) -> Result<syn::File, CodegenError> {
    let schema_text = read(schema_file)?;
    let operation_text = read(operation_file)?;
    let schema = schema_check::parse_schema(&schema_text).map_err(|m| error(schema_file, m))?;
    let operation = schema_check::check_operation(&schema, &operation_text)
        .map_err(|m| error(operation_file, m))?;
    let variable_types = custom_variable_types(operation_file, &operation)?;
    let options = options(&variable_types);
    let tokens = graphql_client_codegen::generate_module_token_stream_from_string(
        &operation_text,
        schema_file,
        options,
    )
    .map_err(|e| error(operation_file, e.to_string()))?;
    let mut file: syn::File = syn::parse2(tokens).map_err(|e| {
        error(
            operation_file,
            format!("generated code does not parse: {e}"),
        )
    })?;
    let timestamps = operation
        .fragments
        .iter()
        .filter(|(_, on)| on.as_str() == OPTIONAL_OBJECT_TYPE)
        .map(|(name, _)| name.clone())
        .collect();
    make_optional(&mut file, timestamps);
    use_hand_written_answers(&mut file, &operation).map_err(|m| error(operation_file, m))?;
    let lines_file = operation_file
        .parent()
        .unwrap_or(Path::new("."))
        .join(docs::DOCS_FILE);
    let lines = docs::DocLines::parse(&read(&lines_file)?).map_err(|m| error(&lines_file, m))?;
    docs::document(&mut file.items, &schema, &operation, &lines, &lines_file)
        .map_err(|m| error(operation_file, m))?;
    Ok(file)
}

/// Replaces the struct of every fragment on a type of [`HAND_WRITTEN_ANSWERS`] with another
/// name for the hand-written type.
fn use_hand_written_answers(
    file: &mut syn::File,
    operation: &schema_check::OperationInfo,
) -> Result<(), String> {
    for (on, field, path) in HAND_WRITTEN_ANSWERS {
        let fragments: BTreeSet<&String> = operation
            .fragments
            .iter()
            .filter(|(_, fragment_on)| fragment_on == on)
            .map(|(name, _)| name)
            .collect();
        if fragments.is_empty() {
            continue;
        }
        if !operation
            .selected
            .contains(&((*on).to_owned(), (*field).to_owned()))
        {
            return Err(format!(
                "a fragment on `{on}` must select `{field}`: its answers are read as `{path}`"
            ));
        }
        let path: syn::Type = syn::parse_str(path).map_err(|e| format!("`{path}`: {e}"))?;
        for items in file.items.iter_mut().filter_map(shape::module_items) {
            for item in items.iter_mut() {
                if let syn::Item::Struct(structure) = item {
                    if fragments.contains(&structure.ident.to_string()) {
                        let name = &structure.ident;
                        *item = syn::parse_quote!(pub type #name = #path;);
                    }
                }
            }
        }
    }
    Ok(())
}

/// The object type whose selections are optional in answers; see `make_optional`.
pub const OPTIONAL_OBJECT_TYPE: &str = "DateTime";

/// Makes every response field typed by one of `fragments` (fragments on `DateTime`) an
/// `Option` that is `None` when the field is absent.
///
/// Plain's timestamps are metadata: an answer without one is still a good answer, and Plain's
/// own documented answers (which select fewer fields than this crate) leave them out. Without
/// this, graphql_client types a non-null `createdAt` as required, and such an answer would not
/// parse at all. Only the Rust type changes; the request is the same.
fn make_optional(file: &mut syn::File, mut fragments: BTreeSet<String>) {
    if fragments.is_empty() {
        return;
    }
    for items in file.items.iter_mut().filter_map(shape::module_items) {
        // graphql_client names each use of a fragment with an alias: `type XCreatedAt = Timestamp;`
        for item in items.iter() {
            if let syn::Item::Type(alias) = item {
                if single_ident(&alias.ty).is_some_and(|target| fragments.contains(&target)) {
                    fragments.insert(alias.ident.to_string());
                }
            }
        }
        for item in items.iter_mut() {
            let syn::Item::Struct(structure) = item else {
                continue;
            };
            for field in structure.fields.iter_mut() {
                if single_ident(&field.ty).is_some_and(|name| fragments.contains(&name)) {
                    let ty = &field.ty;
                    field.ty = syn::parse_quote!(Option<#ty>);
                    field.attrs.push(syn::parse_quote!(#[serde(default)]));
                }
            }
        }
    }
}

/// The name of a type that is a single identifier (`Timestamp`), if it is one.
fn single_ident(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => {
            path.path.get_ident().map(ToString::to_string)
        }
        _ => None,
    }
}

/// Generates the code of every operation in `dir` against `dir/schema.graphql`.
pub fn generate_all(dir: &Path) -> Result<String, CodegenError> {
    generate_all_with_schema(dir, &dir.join(SCHEMA_FILE))
}

/// Generates the code of every operation in `dir` against the given schema file.
pub fn generate_all_with_schema(dir: &Path, schema_file: &Path) -> Result<String, CodegenError> {
    generate_each(dir, schema_file, Err)
}

/// Generates the code of every operation in `dir` against `schema_file`, handing the failure of
/// an operation (not of the schema) to `on_failure`, which stops everything by returning it, or
/// leaves that operation out by returning `Ok`. The operations' modules are then shaped
/// together ([`shape`]).
fn generate_each(
    dir: &Path,
    schema_file: &Path,
    mut on_failure: impl FnMut(CodegenError) -> Result<(), CodegenError>,
) -> Result<String, CodegenError> {
    let mut all = syn::File {
        shebang: None,
        attrs: Vec::new(),
        items: Vec::new(),
    };
    for file in operation_files(dir)? {
        match generate_file(schema_file, &file) {
            Ok(code) => all.items.extend(code.items),
            Err(e) if e.file == file => on_failure(e)?,
            Err(e) => return Err(e),
        }
    }
    shape::shape(&mut all.items);
    shape::share(&mut all.items);
    shape::add_fields(&mut all.items, HAND_WRITTEN_FIELDS);
    let undocumented = docs::undocumented(&all.items);
    if !undocumented.is_empty() {
        return Err(error(
            dir,
            format!(
                "generated public items without a doc line: {}",
                undocumented.join(", ")
            ),
        ));
    }
    Ok(format!(
        "// Generated by build.rs from the files in graphql/. Do not edit.\n\n{}",
        prettyplease::unparse(&all)
    ))
}

/// What the build script generates for `dir`: the code, and its warnings.
///
/// An operation that does not fit `dir/schema.graphql` fails the build, with one message. For
/// the maintainers' build (`maintainer`), it is left out with a warning instead: a new operation
/// needs what only Plain's full schema has, and `plain-schema update`, which adds it to the
/// vendored schema, is built by this very build.
pub fn build_output(dir: &Path, maintainer: bool) -> Result<(String, Vec<String>), CodegenError> {
    let mut warnings = Vec::new();
    let code = generate_each(dir, &dir.join(SCHEMA_FILE), |e| {
        if !maintainer {
            return Err(e);
        }
        // One line: Cargo shows a warning line by line, and a parser's message can span several.
        let message = e.to_string();
        let message: Vec<&str> = message
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect();
        warnings.push(format!(
            "{}; left out of this build: run `cargo run --features maintainer --bin plain-schema \
             -- update` to bring what it uses into {}",
            message.join(" "),
            dir.join(SCHEMA_FILE).display()
        ));
        Ok(())
    })?;
    Ok((code, warnings))
}

/// The formatted Rust types of the webhook events, from the vendored webhook schema.
pub fn generate_webhooks(schema: &Path) -> Result<String, CodegenError> {
    let text = read(schema)?;
    let code = webhook_types::generate(&text).map_err(|m| error(schema, m))?;
    let file: syn::File = syn::parse_str(&code)
        .map_err(|e| error(schema, format!("generated code does not parse: {e}")))?;
    Ok(format!(
        "// Generated by build.rs from graphql/{}. Do not edit.\n\n{}",
        webhook_schema::WEBHOOK_SCHEMA_FILE,
        prettyplease::unparse(&file)
    ))
}
