//! The schema lifecycle: `plain-schema update` and `check`, and the reduction and change report
//! behind them (`src/codegen/reduce.rs`, `src/codegen/changes.rs`).
//!
//! - Reducing Plain's full schema (or the hand-made stand-in in `tests/fixtures/schemas/`)
//!   writes the committed `graphql/schema.graphql` byte for byte.
//! - Each kind of change is classified: breaking ones quote the message the build fails with.
//! - A new operation file extends the vendored schema, and gets its own generated module.
//! - The maintainers' build (feature `maintainer`) leaves out, with a warning, an operation
//!   that the vendored schema cannot serve yet, so that `plain-schema update` can be built.
//! - Adding an operation as the README says (file, `update`, build) works, in a copy of the
//!   crate.
//! - `check` exits 0 when the vendored file is current, 1 with the report when it is stale.
//!
//! Only the tests of the committed file read `graphql/schema.graphql` (CI also runs the suite
//! with Plain's full schema in its place); the others start from the reduction of the
//! hand-made full schema.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use graphql_parser::schema as s;
use plain_client::codegen::changes::{self, Change, Report, Severity};
use plain_client::codegen::{self, reduce};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn graphql_dir() -> PathBuf {
    root().join("graphql")
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/schemas").join(name)
}

/// The vendored schema the committed operations need, reduced from the hand-made full schema.
fn vendored() -> String {
    let full = fs::read_to_string(fixture("full.graphql")).unwrap();
    reduce::reduce(&full, &operations(&graphql_dir())).unwrap()
}

/// The committed `graphql/schema.graphql`, unless something else stands in its place.
fn committed() -> Option<String> {
    let text = fs::read_to_string(graphql_dir().join("schema.graphql")).unwrap();
    if text.starts_with(reduce::HEADER) {
        Some(text)
    } else {
        eprintln!("graphql/schema.graphql is not a vendored schema: nothing to compare with");
        None
    }
}

/// The full schemas to reduce: the hand-made one, and Plain's when it is here.
fn full_schemas() -> Vec<PathBuf> {
    let mut schemas = vec![fixture("full.graphql")];
    schemas.extend(common::shared_plain("schema.graphql"));
    schemas
}

fn operations(dir: &Path) -> Vec<reduce::Operation> {
    codegen::operation_files(dir)
        .unwrap()
        .into_iter()
        .map(|path| reduce::Operation {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            text: fs::read_to_string(&path).unwrap(),
        })
        .collect()
}

/// A fresh copy of `graphql/` in a temporary folder, unique to `name`, with [`vendored`] as
/// its schema.
fn copy_of_graphql(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plain-schema-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(graphql_dir()).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    fs::write(dir.join("schema.graphql"), vendored()).unwrap();
    dir
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn plain_schema(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_plain-schema"))
        .args(args)
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `update --from full` on `dir` and returns its report.
fn update(full: &Path, dir: &Path) -> String {
    let run = plain_schema(&[
        "update",
        "--from",
        path_str(full),
        "--graphql-dir",
        path_str(dir),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run.stdout
}

/// The update of the vendored schema by the full schema `text`, for the committed operations.
fn update_with(text: &str) -> changes::Update {
    changes::update(text, &vendored(), &operations(&graphql_dir())).unwrap()
}

/// The name a definition gives its type, if it is a type definition.
fn defined_type<'a>(definition: &'a s::Definition<'static, String>) -> Option<&'a str> {
    use s::TypeDefinition as T;
    let s::Definition::TypeDefinition(t) = definition else {
        return None;
    };
    Some(match t {
        T::Scalar(t) => &t.name,
        T::Object(t) => &t.name,
        T::Interface(t) => &t.name,
        T::Union(t) => &t.name,
        T::Enum(t) => &t.name,
        T::InputObject(t) => &t.name,
    })
}

/// The hand-made full schema with the definitions of the variant `name` in place of its own.
fn variant(name: &str) -> String {
    let parse = |path: PathBuf| {
        s::parse_schema::<String>(&fs::read_to_string(path).unwrap())
            .unwrap()
            .into_static()
    };
    let mut full = parse(fixture("full.graphql"));
    for definition in parse(fixture(name)).definitions {
        let slot = full
            .definitions
            .iter_mut()
            .find(|d| defined_type(d) == defined_type(&definition))
            .unwrap_or_else(|| panic!("{name}: no such type in full.graphql"));
        *slot = definition;
    }
    full.to_string()
}

fn fixture_update(name: &str) -> changes::Update {
    update_with(&variant(name))
}

/// The changes as `SEVERITY subject: what` lines.
fn lines(report: &Report) -> Vec<String> {
    report
        .changes
        .iter()
        .map(|c| format!("{} {}: {}", c.severity, c.subject, c.what))
        .collect()
}

/// Code generation of upsertCustomer against the schema text `schema`.
fn generate(schema: &str, name: &str) -> Result<String, codegen::CodegenError> {
    generate_with_doc_lines(schema, name, "")
}

/// Adds `lines` to the doc lines file of the `graphql/` folder `dir`.
fn add_doc_lines(dir: &Path, lines: &str) {
    let file = dir.join(codegen::docs::DOCS_FILE);
    let committed = fs::read_to_string(&file).unwrap();
    fs::write(&file, committed + lines).unwrap();
}

/// [`generate`], with `lines` added to the doc lines.
fn generate_with_doc_lines(
    schema: &str,
    name: &str,
    lines: &str,
) -> Result<String, codegen::CodegenError> {
    let dir = copy_of_graphql(name);
    fs::write(dir.join("schema.graphql"), schema).unwrap();
    add_doc_lines(&dir, lines);
    let result = codegen::generate(
        &dir.join("schema.graphql"),
        &dir.join("upsertCustomer.graphql"),
    );
    let _ = fs::remove_dir_all(&dir);
    result
}

/// The line of `Customer.fullName` in the vendored schema, where it comes first (before the same
/// line in `UpsertCustomerOnCreateInput`).
const FULL_NAME: &str = "  fullName: String!\n";

#[test]
fn update_from_plains_full_schema_writes_the_committed_file() {
    let (Some(full), Some(committed)) = (common::shared_plain("schema.graphql"), committed())
    else {
        return;
    };
    let dir = copy_of_graphql("from-plain");
    fs::remove_file(dir.join("schema.graphql")).unwrap();
    let report = update(&full, &dir);
    assert_eq!(
        fs::read_to_string(dir.join("schema.graphql")).unwrap(),
        committed
    );
    assert!(report.contains("upsertCustomer.graphql: ok"), "{report}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_hand_made_full_schema_reduces_to_the_committed_file() {
    let full = fs::read_to_string(fixture("full.graphql")).unwrap();
    let reduced = reduce::reduce(&full, &operations(&graphql_dir())).unwrap();
    if let Some(committed) = committed() {
        assert_eq!(reduced, committed);
    }
    // What the stand-in has beyond the operations' needs is gone.
    for unused in [
        "avatarUrl",
        "type Company",
        "companies",
        "@tag",
        "\"\"\"",
        "Node",
    ] {
        assert!(
            full.contains(unused) && !reduced.contains(unused),
            "{unused}"
        );
    }
}

#[test]
fn to_the_2026_03_28_schema_and_back() {
    let (Some(old), Some(current)) = (
        common::shared_plain("schema-2026-03-28.graphql"),
        common::shared_plain("schema.graphql"),
    ) else {
        return;
    };
    let dir = copy_of_graphql("and-back");
    let to_old = update(&old, &dir);
    let reduced_old = fs::read_to_string(dir.join("schema.graphql")).unwrap();
    let back = update(&current, &dir);
    // Back where it started.
    assert_eq!(
        fs::read_to_string(dir.join("schema.graphql")).unwrap(),
        vendored()
    );
    let _ = fs::remove_dir_all(&dir);
    // The report speaks of exactly the difference between the two reduced files.
    assert_eq!(to_old.contains("changes: none"), reduced_old == vendored());
    insta::assert_snapshot!("update_to_2026_03_28", to_old);
    insta::assert_snapshot!("update_back_to_current", back);
}

/// The operations that select `Customer.fullName`, and where.
const SELECTING_FULL_NAME: [(&str, &str); 5] = [
    ("customerByEmail.graphql", "14:3"),
    ("customerByExternalId.graphql", "14:3"),
    ("customerById.graphql", "14:3"),
    ("customers.graphql", "20:3"),
    ("upsertCustomer.graphql", "17:3"),
];

const MISSING_FULL_NAME: &str = "field `fullName` does not exist on type `Customer`";

#[test]
fn a_removed_selected_field_is_breaking_and_fails_code_generation() {
    let update = fixture_update("removed_selected_field.graphql");
    let report = &update.report;
    assert_eq!(
        report.changes,
        [Change {
            severity: Severity::Breaking,
            subject: "field Customer.fullName".into(),
            what: "removed".into(),
            notes: SELECTING_FULL_NAME
                .iter()
                .map(|(file, at)| format!("{file}: {at}: {MISSING_FULL_NAME}"))
                .collect(),
        }]
    );
    let failing: Vec<(String, String)> = report
        .operations
        .iter()
        .filter_map(|(file, error)| Some((file.clone(), error.clone()?)))
        .collect();
    assert_eq!(
        failing,
        SELECTING_FULL_NAME
            .iter()
            .map(|(file, at)| ((*file).to_owned(), format!("{at}: {MISSING_FULL_NAME}")))
            .collect::<Vec<_>>()
    );
    // What still exists is reduced: only the field is gone.
    assert_eq!(update.schema, vendored().replacen(FULL_NAME, "", 1));
    let error = generate(&update.schema, "removed-field").unwrap_err();
    assert!(error.file.ends_with("upsertCustomer.graphql"), "{error}");
    assert!(
        error
            .message
            .ends_with("field `fullName` does not exist on type `Customer`"),
        "{error}"
    );
}

#[test]
fn a_changed_argument_type_is_breaking_and_fails_code_generation() {
    let update = fixture_update("changed_argument_type.graphql");
    let expected = "2:3: argument `input` of field `upsertCustomer` on type `Mutation` expects \
                    `[UpsertCustomerInput!]!`, but `$input` is `UpsertCustomerInput!`";
    assert_eq!(
        update.report.changes,
        [Change {
            severity: Severity::Breaking,
            subject: "argument Mutation.upsertCustomer(input:)".into(),
            what: "type UpsertCustomerInput! -> [UpsertCustomerInput!]!".into(),
            notes: vec![format!("upsertCustomer.graphql: {expected}")],
        }]
    );
    let error = generate(&update.schema, "changed-argument").unwrap_err();
    assert_eq!(error.message, expected);
}

/// Why a new value of an enum the operations receive needs review.
const RECEIVED_ENUM_VALUE: &str = "the generated enum gains a variant for it: answers with this \
                                   value no longer parse as `Unknown`, so code that handled \
                                   it there changes behaviour";

#[test]
fn a_new_value_of_an_enum_the_operations_receive_needs_review() {
    let update = fixture_update("added_enum_value.graphql");
    assert_eq!(
        update.report.changes,
        [Change {
            severity: Severity::Review,
            subject: "enum value MutationErrorType.RATE_LIMITED".into(),
            what: "added".into(),
            notes: vec![RECEIVED_ENUM_VALUE.into()],
        }]
    );
    assert_eq!(update.report.operations[0].1, None);
    // The new value needs a doc line before the code builds: it cannot go unnoticed.
    let error = generate(&update.schema, "added-enum-value").unwrap_err();
    assert!(
        error
            .message
            .starts_with("no doc line for `MutationErrorType.RATE_LIMITED`: add one to "),
        "{error}"
    );
    let line = "MutationErrorType.RATE_LIMITED: `RATE_LIMITED`: too many requests.\n";
    let code = generate_with_doc_lines(&update.schema, "added-enum-value", line).unwrap();
    assert!(code.contains("RATE_LIMITED"), "{code}");
    assert!(
        code.contains("/// `RATE_LIMITED`: too many requests."),
        "{code}"
    );
    // Every enum an answer carries, and one that is sent as well as received.
    let edited = vendored()
        .replace("  NOOP\n}", "  NOOP\n  MERGED\n}")
        .replace("  INTERNAL\n}", "  INTERNAL\n  RATE_LIMITED\n}")
        .replace("  NOT_FOUND\n}", "  NOT_FOUND\n  TOO_LONG\n}")
        .replace("SNOOZED instead\")\n}", "SNOOZED instead\")\n  BLOCKED\n}");
    let sent_too = |schema: &str| {
        schema.replace(
            "  email: EmailAddressInput\n}",
            "  email: EmailAddressInput\n  status: CustomerStatus\n}",
        )
    };
    for (previous, full) in [
        (vendored(), edited.clone()),
        (sent_too(&vendored()), sent_too(&edited)),
    ] {
        let update = changes::update(&full, &previous, &operations(&graphql_dir())).unwrap();
        assert_eq!(
            lines(&update.report),
            [
                "REVIEW enum value CustomerStatus.BLOCKED: added",
                "REVIEW enum value MutationErrorType.RATE_LIMITED: added",
                "REVIEW enum value MutationFieldErrorType.TOO_LONG: added",
                "REVIEW enum value UpsertResult.MERGED: added",
            ]
        );
        assert!(update
            .report
            .changes
            .iter()
            .all(|c| c.notes == [RECEIVED_ENUM_VALUE]));
    }
}

#[test]
fn a_new_value_of_an_enum_the_operations_only_send_is_safe() {
    // An enum that only an input field has: no answer carries it.
    let with_language = |values: &str| {
        let schema = vendored().replace(
            "  email: EmailAddressInput\n}",
            "  email: EmailAddressInput\n  language: Language\n}",
        );
        format!("{schema}\nenum Language {{\n{values}}}\n")
    };
    let previous = with_language("  EN\n  FR\n");
    let full = with_language("  EN\n  FR\n  DE\n");
    let update = changes::update(&full, &previous, &operations(&graphql_dir())).unwrap();
    assert_eq!(
        update.report.changes,
        [Change {
            severity: Severity::Safe,
            subject: "enum value Language.DE".into(),
            what: "added".into(),
            notes: vec![
                "the operations only send this enum: nothing sends the new value until code \
                 chooses it"
                    .into()
            ],
        }]
    );
    assert_eq!(update.report.operations[0].1, None);
}

#[test]
fn a_newly_deprecated_field_is_safe_and_listed() {
    let update = fixture_update("newly_deprecated_field.graphql");
    assert_eq!(
        lines(&update.report),
        ["SAFE field Customer.shortName: deprecated (Use fullName instead)"]
    );
    let deprecated: Vec<_> = update.report.deprecated.iter().collect();
    assert_eq!(
        deprecated,
        [
            (
                &"Customer.shortName".to_owned(),
                &"Use fullName instead".to_owned()
            ),
            (
                &"Customer.status".to_owned(),
                &"Use Thread.status instead".to_owned()
            ),
        ]
    );
    generate(&update.schema, "newly-deprecated").unwrap();
}

#[test]
fn changes_that_still_validate_but_alter_the_contract_need_review() {
    let edited = vendored()
        .replacen(FULL_NAME, "  fullName: String\n", 1)
        .replace("  NOT_FOUND\n", "")
        .replace(
            "  email: EmailAddressInput\n}",
            "  email: EmailAddressInput\n  language: String!\n}",
        );
    let update = update_with(&edited);
    assert_eq!(
        lines(&update.report),
        [
            "REVIEW enum value MutationFieldErrorType.NOT_FOUND: removed",
            "REVIEW field Customer.fullName: type String! -> String",
            "REVIEW input field UpsertCustomerOnUpdateInput.language: added: String!",
        ]
    );
    assert!(update.report.operations.iter().all(|(_, e)| e.is_none()));
}

#[test]
fn a_field_no_operation_selects_any_more_is_no_longer_used() {
    let dir = copy_of_graphql("no-longer-used");
    // Every operation that selects it (through the `Customer` fragment).
    for operation in codegen::operation_files(&dir).unwrap() {
        let text = fs::read_to_string(&operation).unwrap();
        fs::write(&operation, text.replace("  shortName\n", "")).unwrap();
    }
    let update = changes::update(&vendored(), &vendored(), &operations(&dir)).unwrap();
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(
        lines(&update.report),
        ["SAFE field Customer.shortName: no longer used"]
    );
    assert!(!update
        .schema
        .contains("shortName: String\n  email: EmailAddress!"));
}

#[test]
fn a_new_operation_extends_the_vendored_schema_and_gets_its_module() {
    let query = fixture("operations/customerGroup.graphql");
    for full in full_schemas() {
        let dir = copy_of_graphql("new-operation");
        fs::copy(&query, dir.join("customerGroup.graphql")).unwrap();
        let report = update(&full, &dir);
        let schema = fs::read_to_string(dir.join("schema.graphql")).unwrap();
        assert!(
            report.starts_with(
                "changes: 1 (0 breaking, 0 to review, 1 safe)\nSAFE     field Query.customerGroup: added"
            ),
            "{report}"
        );
        assert!(report.contains("customerGroup.graphql: ok"), "{report}");
        let field = "  customerGroup(customerGroupId: ID!): CustomerGroup\n";
        assert!(schema.contains(field), "{schema}");
        // Only the field is new: the rest is the committed file.
        assert_eq!(schema.replace(field, ""), vendored());
        add_doc_lines(
            &dir,
            "Query.customerGroup: The customer group with the id asked for.\n",
        );
        let code = codegen::generate_all(&dir).unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert!(code.contains("pub mod customer_group {"), "{code}");
        assert!(code.contains("pub mod upsert_customer"), "{code}");
    }
}

#[test]
fn the_maintainers_build_leaves_out_an_operation_the_vendored_schema_cannot_serve() {
    let dir = copy_of_graphql("maintainer-build");
    let without = codegen::generate_all(&dir).unwrap();
    let operation = dir.join("customerGroup.graphql");
    fs::copy(fixture("operations/customerGroup.graphql"), &operation).unwrap();
    let message = "2:3: field `customerGroup` does not exist on type `Query`";
    // Without the `maintainer` feature, the build fails with the one message.
    let error = codegen::build_output(&dir, false).unwrap_err();
    assert_eq!(
        (error.file.as_path(), error.message.as_str()),
        (operation.as_path(), message)
    );
    // With it, the operation is left out, and a warning says why and what to run.
    let (code, warnings) = codegen::build_output(&dir, true).unwrap();
    assert_eq!(code, without);
    assert_eq!(
        warnings,
        [format!(
            "{}: {message}; left out of this build: run `cargo run --features maintainer --bin \
             plain-schema -- update` to bring what it uses into {}",
            operation.display(),
            dir.join("schema.graphql").display()
        )]
    );
    // A schema that does not parse still fails both builds.
    fs::write(dir.join("schema.graphql"), "type Customer {\n").unwrap();
    for maintainer in [false, true] {
        let error = codegen::build_output(&dir, maintainer).unwrap_err();
        assert_eq!(error.file, dir.join("schema.graphql"), "{error}");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// Copies `from` into `to`, folders included.
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            copy_tree(&path, &to.join(path.file_name().unwrap()));
        }
    } else {
        fs::copy(from, to).unwrap();
    }
}

/// Makes `dir` a fresh copy of what the package is built from (as
/// `.ci/broken-operation-check` makes it).
fn copy_crate_to(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir.join("benches")).unwrap();
    for part in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "graphql",
        "src",
        "tests",
        "examples",
        "README.md",
    ] {
        copy_tree(&root().join(part), &dir.join(part));
    }
    for entry in fs::read_dir(root().join("benches")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            fs::copy(&path, dir.join("benches").join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// The README's steps for a new operation, followed in a copy of the crate: add the operation
/// file, run `plain-schema update` from Plain's full schema, add its doc line, build.
///
/// Slow: it builds the crate twice, in a target folder of its own so as not to wait for the one
/// this test runs from. The copy lives there too, always at the same place, so that a second
/// run rebuilds only the crate, into the same files.
#[test]
fn a_new_operation_added_as_the_readme_says_builds_with_its_own_module() {
    // The README's steps start from the committed vendored schema (not from Plain's full one
    // put in its place, as CI's second run does).
    let (Some(full), Some(_)) = (common::shared_plain("schema.graphql"), committed()) else {
        return;
    };
    let target = root().join("target/add-operation");
    let copy = target.join("crate");
    copy_crate_to(&copy);
    let cargo = |args: &[&str]| {
        let output = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
            .args(args)
            .current_dir(&copy)
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_INCREMENTAL", "0")
            .output()
            .unwrap();
        Run {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    };
    // 1. The operation file: the one the README shows.
    let operation = fs::read_to_string(fixture("operations/customerGroup.graphql")).unwrap();
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let shown: String = operation.lines().map(|l| format!("   {l}\n")).collect();
    assert!(
        readme.contains(&shown),
        "the README does not show:\n{shown}"
    );
    fs::write(copy.join("graphql/customerGroup.graphql"), operation).unwrap();
    // 2. `update`: it builds although the vendored schema cannot serve the new operation yet.
    let update = cargo(&[
        "run",
        "--locked",
        "--offline",
        "--features",
        "maintainer",
        "--bin",
        "plain-schema",
        "--",
        "update",
        "--from",
        path_str(&full),
    ]);
    assert_eq!(update.code, Some(0), "{}", update.stderr);
    assert!(
        update.stderr.contains(
            "graphql/customerGroup.graphql: 2:3: field `customerGroup` does not exist on type \
             `Query`; left out of this build"
        ),
        "{}",
        update.stderr
    );
    assert!(
        update.stdout.contains("customerGroup.graphql: ok"),
        "{}",
        update.stdout
    );
    let schema = fs::read_to_string(copy.join("graphql/schema.graphql")).unwrap();
    assert!(
        schema.contains("  customerByExternalId(externalId: ID!): Customer\n  customerGroup(customerGroupId: ID!): CustomerGroup\n  customerGroups("),
        "{schema}"
    );
    // 3. The doc line of what the operation brings in: without it the build fails, naming it.
    let build = [
        "build",
        "--locked",
        "--offline",
        "--message-format=json-render-diagnostics",
    ];
    let without_doc = cargo(&build);
    assert_ne!(without_doc.code, Some(0));
    let message = "graphql/customerGroup.graphql: no doc line for `Query.customerGroup`: add one \
                   to graphql/docs.txt";
    assert!(
        readme.contains(message) && without_doc.stderr.contains(message),
        "{}",
        without_doc.stderr
    );
    let line = "Query.customerGroup: The customer group with the id asked for; `None` when the \
                workspace has none.";
    assert!(
        readme.contains(&format!("   {line}\n")),
        "the README does not show:\n{line}"
    );
    let docs = copy.join("graphql").join(codegen::docs::DOCS_FILE);
    let committed_docs = fs::read_to_string(&docs).unwrap();
    fs::write(&docs, format!("{committed_docs}{line}\n")).unwrap();
    // 4. The build, without the maintainer feature: it generates the operation's module.
    let build = cargo(&build);
    assert_eq!(build.code, Some(0), "{}", build.stderr);
    assert!(!build.stderr.contains("left out"), "{}", build.stderr);
    // Cargo names the package's build output folder in its messages.
    let package = format!("#plain-client@{}", env!("CARGO_PKG_VERSION"));
    let out_dir = build
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "build-script-executed")
        .filter(|m| {
            m["package_id"]
                .as_str()
                .is_some_and(|id| id.ends_with(&package))
        })
        .find_map(|m| m["out_dir"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("no build script output in:\n{}", build.stdout));
    let folder = out_dir.parent().unwrap();
    assert!(
        folder.starts_with(target.join("debug/build"))
            && folder
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("plain-client-")),
        "{}",
        out_dir.display()
    );
    let code = fs::read_to_string(out_dir.join("operations.rs")).unwrap();
    let _ = fs::remove_dir_all(&copy);
    assert!(code.contains("pub mod customer_group {"), "{code}");
    assert!(code.contains("pub mod upsert_customer {"), "{code}");
}

#[test]
fn check_passes_on_the_committed_file() {
    if committed().is_none() {
        return;
    }
    for full in full_schemas() {
        let run = plain_schema(&[
            "check",
            "--from",
            path_str(&full),
            "--graphql-dir",
            path_str(&graphql_dir()),
        ]);
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (Some(0), "", "")
        );
    }
}

#[test]
fn check_fails_with_the_report_on_a_stale_file() {
    let dir = copy_of_graphql("stale");
    fs::write(
        dir.join("schema.graphql"),
        vendored().replace("  verifiedAt: DateTime\n", ""),
    )
    .unwrap();
    let args = |full: &Path| {
        [
            "check".to_owned(),
            "--from".to_owned(),
            path_str(full).to_owned(),
            "--graphql-dir".to_owned(),
            path_str(&dir).to_owned(),
        ]
    };
    for full in full_schemas() {
        let run = plain_schema(&args(&full).each_ref().map(String::as_str));
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(
            run.stdout.starts_with(
                "changes: 1 (0 breaking, 0 to review, 1 safe)\n\
                 SAFE     field EmailAddress.verifiedAt: added: DateTime\n"
            ),
            "{}",
            run.stdout
        );
        assert!(
            run.stderr.contains("is not what `update` writes"),
            "{}",
            run.stderr
        );
    }
    // Same content, other formatting: still stale, and said so.
    fs::write(dir.join("schema.graphql"), format!("{}\n", vendored())).unwrap();
    let run = plain_schema(
        &args(&fixture("full.graphql"))
            .each_ref()
            .map(String::as_str),
    );
    assert_eq!(run.code, Some(1));
    assert!(run.stdout.contains("changes: none\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains("order or formatting only"),
        "{}",
        run.stdout
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn errors_are_one_line_and_usage_errors_exit_2() {
    let run = plain_schema(&["check"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let broken = std::env::temp_dir().join(format!(
        "plain-schema-broken-{}.graphql",
        std::process::id()
    ));
    fs::write(&broken, "type Customer {\n").unwrap();
    for from in [Path::new("/nonexistent/schema.graphql"), broken.as_path()] {
        let run = plain_schema(&[
            "check",
            "--from",
            path_str(from),
            "--graphql-dir",
            path_str(&graphql_dir()),
        ]);
        assert_eq!(run.code, Some(1));
        assert!(
            run.stderr.starts_with("plain-schema: error: "),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    let _ = fs::remove_file(&broken);
}

#[test]
fn the_report_of_each_hand_made_variant() {
    let variants = [
        "removed_selected_field.graphql",
        "changed_argument_type.graphql",
        "added_enum_value.graphql",
        "newly_deprecated_field.graphql",
    ];
    let reports: Vec<String> = variants
        .iter()
        .map(|name| format!("== {name}\n{}", fixture_update(name).report))
        .collect();
    insta::assert_snapshot!(reports.join("\n"));
}
