//! What a new reduction of Plain's schema changes in the vendored one, and how each change
//! affects the operations: the report of `plain-schema update` and `check`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use graphql_parser::schema as s;

use super::reduce::{reduce_with, usage, Operation};
use crate::schema_check::{self, FieldDef, Kind, Schema, TypeDef};

/// How a change to the vendored schema affects the operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// An operation no longer validates: the build fails with the quoted message.
    Breaking,
    /// The operations still validate, but the generated code or what Plain accepts changes.
    Review,
    /// Nothing the operations rely on changes.
    Safe,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Severity::Breaking => "BREAKING",
            Severity::Review => "REVIEW",
            Severity::Safe => "SAFE",
        })
    }
}

/// What part of the schema a change concerns, to check it on its own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Type(String),
    Field(String, String),
}

/// One difference between the previous vendored schema and the new one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// How it affects the operations.
    pub severity: Severity,
    /// What changed, such as `field Customer.fullName`.
    pub subject: String,
    /// How it changed, such as `removed`.
    pub what: String,
    /// Why it is breaking (the operations' validation messages) or needs review.
    pub notes: Vec<String>,
}

/// What `update` found: the changes, how the operations fare, and the deprecated fields they use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The changes, most severe first, then by subject.
    pub changes: Vec<Change>,
    /// Each operation file with its validation error against the new schema, if any.
    pub operations: Vec<(String, Option<String>)>,
    /// The fields the operations use that Plain marks deprecated (`Type.field`), with the reason.
    pub deprecated: BTreeMap<String, String>,
    /// Whether the vendored file's text differs although its content does not (order, format).
    pub text_differs_only: bool,
}

impl Report {
    /// How many changes have the given severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.changes
            .iter()
            .filter(|c| c.severity == severity)
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            writeln!(f, "changes: none")?;
        } else {
            writeln!(
                f,
                "changes: {} ({} breaking, {} to review, {} safe)",
                self.changes.len(),
                self.count(Severity::Breaking),
                self.count(Severity::Review),
                self.count(Severity::Safe)
            )?;
        }
        for change in &self.changes {
            writeln!(
                f,
                "{:<8} {}: {}",
                change.severity, change.subject, change.what
            )?;
            for note in &change.notes {
                writeln!(f, "         {note}")?;
            }
        }
        if self.text_differs_only {
            writeln!(
                f,
                "the file's text differs from what `update` writes (order or formatting only)"
            )?;
        }
        writeln!(f, "\noperations against the new schema:")?;
        for (name, error) in &self.operations {
            match error {
                None => writeln!(f, "  {name}: ok")?,
                Some(message) => writeln!(f, "  {name}: {message}")?,
            }
        }
        writeln!(f, "\ndeprecated fields the operations use:")?;
        if self.deprecated.is_empty() {
            writeln!(f, "  none")?;
        }
        for (field, reason) in &self.deprecated {
            writeln!(f, "  {field}: {reason}")?;
        }
        Ok(())
    }
}

/// The result of reducing a new full schema against the previous vendored one.
#[derive(Debug, Clone)]
pub struct Update {
    /// The new text of the vendored schema file.
    pub schema: String,
    /// What changed, and what it does to the operations.
    pub report: Report,
}

impl Update {
    /// Whether the previous vendored file already is what `update` writes.
    pub fn is_current(&self, previous: &str) -> bool {
        self.schema == previous
    }
}

/// Reduces the new full schema `full` for `operations` and reports its differences with the
/// previous vendored file `previous` (empty when there is none).
pub fn update(full: &str, previous: &str, operations: &[Operation]) -> Result<Update, String> {
    let full_schema =
        schema_check::parse_schema(full).map_err(|e| format!("Plain's schema: {e}"))?;
    let usage = usage(&full_schema, operations)?;
    let text = reduce_with(full, &full_schema, &usage)?;
    let old = parse_previous(previous)?;
    let new = schema_check::parse_schema(&text)?;
    let check = |schema: &Schema, operation: &Operation| {
        schema_check::check_operation(schema, &operation.text).err()
    };
    let operation_errors: Vec<Option<String>> =
        operations.iter().map(|op| check(&new, op)).collect();
    // Every change is checked on its own, applied to the previous schema (plus the types only
    // the new one has), for the operations that the previous schema served and the new one
    // does not.
    let mut base = old.clone();
    for (name, def) in &new.types {
        base.types
            .entry(name.clone())
            .or_insert_with(|| def.clone());
    }
    let broken: Vec<&Operation> = operations
        .iter()
        .zip(&operation_errors)
        .filter(|(op, error)| error.is_some() && check(&base, op).is_none())
        .map(|(op, _)| op)
        .collect();
    let mut changes: Vec<Change> = diff(&old, &new, &full_schema)
        .into_iter()
        .map(|found| {
            let errors: Vec<String> = match &found.scope {
                Some(scope) if !broken.is_empty() => {
                    let alone = apply(&base, &new, scope);
                    let quote = |op: &&Operation| {
                        check(&alone, op).map(|message| format!("{}: {message}", op.name))
                    };
                    broken.iter().filter_map(quote).collect()
                }
                _ => Vec::new(),
            };
            let (severity, notes) = if errors.is_empty() {
                (found.otherwise, found.why.into_iter().collect())
            } else {
                (Severity::Breaking, errors)
            };
            Change {
                severity,
                subject: found.subject,
                what: found.what,
                notes,
            }
        })
        .collect();
    changes.sort();
    let mut deprecated = BTreeMap::new();
    for (type_name, fields) in &usage.fields {
        let defs = full_schema
            .types
            .get(type_name)
            .map(|t| t.fields.as_slice());
        for def in defs.unwrap_or_default() {
            if let (true, Some(reason)) = (fields.contains(&def.name), &def.deprecated) {
                deprecated.insert(format!("{type_name}.{}", def.name), reason.clone());
            }
        }
    }
    let report = Report {
        text_differs_only: changes.is_empty() && text != previous,
        changes,
        operations: operations
            .iter()
            .map(|op| op.name.clone())
            .zip(operation_errors)
            .collect(),
        deprecated,
    };
    Ok(Update {
        schema: text,
        report,
    })
}

/// The previous vendored schema; one without definitions (or no file) is empty.
fn parse_previous(text: &str) -> Result<Schema, String> {
    let blank = text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'));
    // Declaring a built-in scalar again leaves a schema of the built-in scalars only.
    let text = if blank { "scalar String" } else { text };
    schema_check::parse_schema(text).map_err(|e| format!("the vendored schema: {e}"))
}

/// `base` with the part `scope` names taken from `new` (or removed, where `new` lacks it).
fn apply(base: &Schema, new: &Schema, scope: &Scope) -> Schema {
    let mut schema = base.clone();
    match scope {
        Scope::Type(name) => match new.types.get(name) {
            Some(def) => {
                schema.types.insert(name.clone(), def.clone());
            }
            None => {
                schema.types.remove(name);
            }
        },
        Scope::Field(type_name, field) => {
            let Some(def) = schema.types.get_mut(type_name) else {
                return schema;
            };
            let theirs = new
                .types
                .get(type_name)
                .and_then(|t| t.fields.iter().find(|f| &f.name == field));
            let index = def.fields.iter().position(|f| &f.name == field);
            match (index, theirs) {
                (Some(i), Some(theirs)) => def.fields[i] = theirs.clone(),
                (Some(i), None) => {
                    def.fields.remove(i);
                }
                (None, Some(theirs)) => def.fields.push(theirs.clone()),
                (None, None) => {}
            }
        }
    }
    schema
}

/// A difference found by [`diff`], before it is classified.
struct Found {
    /// What to apply on its own to see whether it breaks an operation; `None` for a type the
    /// operations no longer need (its removal follows from another change).
    scope: Option<Scope>,
    subject: String,
    what: String,
    /// Its severity when it breaks no operation.
    otherwise: Severity,
    /// Why it has that severity, where that is worth saying.
    why: Option<String>,
}

fn found(scope: Option<Scope>, subject: String, what: impl Into<String>) -> Found {
    Found {
        scope,
        subject,
        what: what.into(),
        otherwise: Severity::Safe,
        why: None,
    }
}

impl Found {
    fn review(mut self, why: &str) -> Found {
        self.otherwise = Severity::Review;
        self.why = Some(why.to_owned());
        self
    }

    fn safe(mut self, why: &str) -> Found {
        self.why = Some(why.to_owned());
        self
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Scalar => "scalar",
        Kind::Object => "object",
        Kind::Interface => "interface",
        Kind::Union => "union",
        Kind::Enum => "enum",
        Kind::InputObject => "input",
    }
}

fn deprecation_change(old: &Option<String>, new: &Option<String>) -> Option<String> {
    match (old, new) {
        (None, Some(reason)) => Some(format!("deprecated ({reason})")),
        (Some(_), None) => Some("no longer deprecated".to_owned()),
        (Some(a), Some(b)) if a != b => Some(format!("deprecation reason {a:?} -> {b:?}")),
        _ => None,
    }
}

fn is_required(def: &FieldDef) -> bool {
    matches!(def.ty, s::Type::NonNullType(_)) && def.default.is_none()
}

fn render_default(default: &Option<String>) -> &str {
    default.as_deref().unwrap_or("none")
}

/// The types of the fields of a vendored schema's object and interface types: what answers
/// carry. A vendored object type keeps only the fields the operations select, so these are the
/// types the operations receive; the others (of arguments and input fields) they only send.
fn received_types(vendored: &Schema) -> BTreeSet<String> {
    vendored
        .types
        .values()
        .filter(|t| matches!(t.kind, Kind::Object | Kind::Interface))
        .flat_map(|t| &t.fields)
        .map(|f| schema_check::named_type(&f.ty).to_owned())
        .collect()
}

/// The differences between two vendored schemas; `full` is Plain's new full schema, to tell
/// what Plain removed from what the operations no longer use.
fn diff(old: &Schema, new: &Schema, full: &Schema) -> Vec<Found> {
    let mut out = Vec::new();
    let received = received_types(new);
    let names: BTreeSet<&String> = old.types.keys().chain(new.types.keys()).collect();
    for name in names {
        let scope = Some(Scope::Type(name.clone()));
        let subject = format!("type {name}");
        match (old.types.get(name), new.types.get(name)) {
            (Some(_), None) if full.types.contains_key(name) => {
                out.push(found(None, subject, "no longer used"));
            }
            (Some(_), None) => out.push(found(scope, subject, "removed")),
            (None, Some(def)) => {
                out.push(found(
                    scope,
                    subject,
                    format!("added ({})", kind_name(def.kind)),
                ));
            }
            (Some(a), Some(b)) if a.kind != b.kind => out.push(
                found(
                    scope,
                    subject,
                    format!("{} -> {}", kind_name(a.kind), kind_name(b.kind)),
                )
                .review("the generated code changes"),
            ),
            (Some(a), Some(b)) => diff_type(name, a, b, full, &received, &mut out),
            (None, None) => {}
        }
    }
    out
}

fn diff_type(
    name: &str,
    old: &TypeDef,
    new: &TypeDef,
    full: &Schema,
    received: &BTreeSet<String>,
    out: &mut Vec<Found>,
) {
    let input = old.kind == Kind::InputObject;
    let prefix = if input { "input field" } else { "field" };
    for field in names_of(&old.fields, &new.fields) {
        let scope = Some(Scope::Field(name.to_owned(), field.clone()));
        let subject = format!("{prefix} {name}.{field}");
        let a = old.fields.iter().find(|f| f.name == field);
        let b = new.fields.iter().find(|f| f.name == field);
        let in_full = full
            .types
            .get(name)
            .is_some_and(|t| t.fields.iter().any(|f| f.name == field));
        match (a, b) {
            (Some(_), None) if input => out.push(
                found(scope, subject, "removed")
                    .review("Plain refuses a request that still sends it"),
            ),
            (Some(_), None) if in_full => out.push(found(scope, subject, "no longer used")),
            (Some(_), None) => out.push(found(scope, subject, "removed")),
            (None, Some(b)) => {
                let added = found(scope, subject, format!("added: {}", b.ty));
                out.push(if input && is_required(b) {
                    added.review("Plain now requires it: make sure the input types send it")
                } else {
                    added
                });
            }
            (Some(a), Some(b)) => diff_field(&scope, &subject, a, b, input, out),
            (None, None) => {}
        }
    }
    for value in names_of_values(&old.values, &new.values) {
        let scope = Some(Scope::Type(name.to_owned()));
        let subject = format!("enum value {name}.{value}");
        match (old.values.contains(&value), new.values.contains(&value)) {
            (true, false) => {
                out.push(found(scope, subject, "removed").review(
                    "the generated enum loses this variant: a match on it no longer compiles",
                ))
            }
            (false, true) if received.contains(name) => {
                out.push(found(scope, subject, "added").review(
                    "the generated enum gains a variant for it: answers with this value no longer \
                     parse as `Unknown`, so code that handled it there changes behaviour",
                ))
            }
            (false, true) => out.push(found(scope, subject, "added").safe(
                "the operations only send this enum: nothing sends the new value until code \
                 chooses it",
            )),
            _ => {
                let change = deprecation_change(
                    &old.deprecated_values.get(&value).cloned(),
                    &new.deprecated_values.get(&value).cloned(),
                );
                if let Some(what) = change {
                    out.push(found(scope, subject, what));
                }
            }
        }
    }
    if old.kind == Kind::Union {
        let scope = || Some(Scope::Type(name.to_owned()));
        for member in old.possible.difference(&new.possible) {
            out.push(
                found(scope(), format!("union {name} member {member}"), "removed")
                    .review("fragments on it no longer apply"),
            );
        }
        for member in new.possible.difference(&old.possible) {
            out.push(found(
                scope(),
                format!("union {name} member {member}"),
                "added",
            ));
        }
    }
}

fn diff_field(
    scope: &Option<Scope>,
    subject: &str,
    old: &FieldDef,
    new: &FieldDef,
    input: bool,
    out: &mut Vec<Found>,
) {
    let at = |what: String| found(scope.clone(), subject.to_owned(), what);
    if old.ty != new.ty {
        let why = if input {
            "check what the input types send"
        } else {
            "the generated Rust type changes"
        };
        out.push(at(format!("type {} -> {}", old.ty, new.ty)).review(why));
    }
    if old.default != new.default {
        out.push(
            at(format!(
                "default {} -> {}",
                render_default(&old.default),
                render_default(&new.default)
            ))
            .review("what Plain does when it is left out changes"),
        );
    }
    if let Some(what) = deprecation_change(&old.deprecated, &new.deprecated) {
        out.push(at(what));
    }
    let field = subject.rsplit(' ').next().unwrap_or(subject);
    for arg in names_of(&old.args, &new.args) {
        let subject = format!("argument {field}({arg}:)");
        let at = |what: String| found(scope.clone(), subject.clone(), what);
        let a = old.args.iter().find(|f| f.name == arg);
        let b = new.args.iter().find(|f| f.name == arg);
        match (a, b) {
            (Some(_), None) => out.push(at("removed".to_owned())),
            (None, Some(b)) if is_required(b) => {
                out.push(at(format!("added: {}", b.ty)).review("Plain now requires it"))
            }
            (None, Some(b)) => out.push(at(format!("added: {}", b.ty))),
            (Some(a), Some(b)) => {
                if a.ty != b.ty {
                    out.push(
                        at(format!("type {} -> {}", a.ty, b.ty))
                            .review("check the values the operations pass"),
                    );
                }
                if a.default != b.default {
                    out.push(
                        at(format!(
                            "default {} -> {}",
                            render_default(&a.default),
                            render_default(&b.default)
                        ))
                        .review("what Plain does when it is left out changes"),
                    );
                }
                if let Some(what) = deprecation_change(&a.deprecated, &b.deprecated) {
                    out.push(at(what));
                }
            }
            (None, None) => {}
        }
    }
}

/// The names of both lists: the old order first, then what only the new one has.
fn names_of(old: &[FieldDef], new: &[FieldDef]) -> Vec<String> {
    let old: Vec<String> = old.iter().map(|f| f.name.clone()).collect();
    let new: Vec<String> = new.iter().map(|f| f.name.clone()).collect();
    names_of_values(&old, &new)
}

fn names_of_values(old: &[String], new: &[String]) -> Vec<String> {
    let mut names = old.to_vec();
    names.extend(new.iter().filter(|n| !old.contains(n)).cloned());
    names
}
