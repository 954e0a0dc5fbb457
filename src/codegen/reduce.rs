//! Reduces Plain's full schema to the part the operations use; `changes.rs` reports what a
//! new reduction changes. It works on text only.
//!
//! The reduced schema keeps, in the order of Plain's schema and without descriptions:
//! - of object and interface types (the roots included), only the selected fields, each with
//!   its arguments as declared;
//! - input types whole: every input type reachable from the operations' variables and from
//!   the arguments of the selected fields;
//! - the enums, custom scalars and unions those need, whole;
//! - of directives, only `@deprecated` on fields, arguments and enum values.

use std::collections::{BTreeMap, BTreeSet};

use graphql_parser::query as q;
use graphql_parser::schema as s;

use crate::schema_check::{self, Kind, Schema};

/// The first lines of the vendored schema file.
pub const HEADER: &str =
    "# The part of Plain's Core GraphQL schema that the operations in this folder use.\n\
                          # Checked against Plain's full schema by tests/schema.rs.\n\n";

/// An operation file: its name (used in messages) and its text.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The file name, such as `upsertCustomer.graphql`.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// What the operations use of a schema.
#[derive(Debug, Default)]
pub(super) struct Usage {
    /// The selected fields of each object or interface type.
    pub(super) fields: BTreeMap<String, BTreeSet<String>>,
    /// Types the operations name directly: roots, fragment conditions, variable types, and the
    /// types and argument types of the selected fields.
    types: BTreeSet<String>,
}

/// Walks an operation and records what it uses of `schema`, passing over the fields the schema
/// lacks, so that the rest can still be reduced when a selected field is gone.
struct Walker<'a> {
    schema: &'a Schema,
    fragments: BTreeMap<String, &'a q::FragmentDefinition<'static, String>>,
    visited: BTreeSet<String>,
    usage: &'a mut Usage,
}

impl Walker<'_> {
    fn selection_set(&mut self, parent: &str, set: &q::SelectionSet<'static, String>) {
        for selection in &set.items {
            match selection {
                q::Selection::Field(f) => self.field(parent, f),
                q::Selection::FragmentSpread(spread) => {
                    let Some(fragment) = self.fragments.get(&spread.fragment_name).copied() else {
                        continue;
                    };
                    if self.visited.insert(spread.fragment_name.clone()) {
                        let q::TypeCondition::On(on) = &fragment.type_condition;
                        self.condition(on, &fragment.selection_set);
                    }
                }
                q::Selection::InlineFragment(inline) => match &inline.type_condition {
                    Some(q::TypeCondition::On(on)) => self.condition(on, &inline.selection_set),
                    None => self.selection_set(parent, &inline.selection_set),
                },
            }
        }
    }

    fn condition(&mut self, on: &str, set: &q::SelectionSet<'static, String>) {
        if self.schema.types.contains_key(on) {
            self.usage.types.insert(on.to_owned());
            self.selection_set(on, set);
        }
    }

    fn field(&mut self, parent: &str, f: &q::Field<'static, String>) {
        let schema = self.schema;
        let parent_def = schema.types.get(parent);
        let Some(def) = parent_def.and_then(|t| t.fields.iter().find(|d| d.name == f.name)) else {
            return;
        };
        self.usage
            .fields
            .entry(parent.to_owned())
            .or_default()
            .insert(f.name.clone());
        for arg in &def.args {
            self.usage
                .types
                .insert(schema_check::named_type(&arg.ty).to_owned());
        }
        let ty = schema_check::named_type(&def.ty);
        if schema.types.contains_key(ty) {
            self.usage.types.insert(ty.to_owned());
            self.selection_set(ty, &f.selection_set);
        }
    }
}

/// Records what `operation` uses of `schema`.
fn walk(schema: &Schema, operation: &Operation, usage: &mut Usage) -> Result<(), String> {
    let document = q::parse_query::<String>(&operation.text)
        .map_err(|e| format!("{}: the operation does not parse: {e}", operation.name))?
        .into_static();
    let no_variables = Vec::new();
    let mut roots = Vec::new();
    let mut fragments = BTreeMap::new();
    for definition in &document.definitions {
        match definition {
            q::Definition::Fragment(f) => {
                fragments.insert(f.name.clone(), f);
            }
            q::Definition::Operation(q::OperationDefinition::Query(o)) => {
                roots.push((&schema.query, &o.variable_definitions, &o.selection_set));
            }
            q::Definition::Operation(q::OperationDefinition::Mutation(o)) => {
                roots.push((&schema.mutation, &o.variable_definitions, &o.selection_set));
            }
            q::Definition::Operation(q::OperationDefinition::Subscription(o)) => {
                roots.push((
                    &schema.subscription,
                    &o.variable_definitions,
                    &o.selection_set,
                ));
            }
            q::Definition::Operation(q::OperationDefinition::SelectionSet(set)) => {
                roots.push((&schema.query, &no_variables, set));
            }
        }
    }
    let mut walker = Walker {
        schema,
        fragments,
        visited: BTreeSet::new(),
        usage,
    };
    for (root, variables, set) in roots {
        for variable in variables {
            let ty = schema_check::named_type(&variable.var_type);
            if schema.types.contains_key(ty) {
                walker.usage.types.insert(ty.to_owned());
            }
        }
        if schema.types.contains_key(root) {
            walker.usage.types.insert(root.clone());
            walker.selection_set(root, set);
        }
    }
    Ok(())
}

/// The types to keep: what the operations name, plus every type an input type, a union or a
/// kept argument needs, transitively.
fn closure(schema: &Schema, usage: &Usage) -> BTreeSet<String> {
    let mut keep = BTreeSet::new();
    let mut pending: Vec<String> = usage.types.iter().cloned().collect();
    while let Some(name) = pending.pop() {
        let Some(def) = schema.types.get(&name) else {
            continue;
        };
        if !keep.insert(name) {
            continue;
        }
        match def.kind {
            Kind::InputObject => pending.extend(
                def.fields
                    .iter()
                    .map(|f| schema_check::named_type(&f.ty).to_owned()),
            ),
            Kind::Union => pending.extend(def.possible.iter().cloned()),
            _ => {}
        }
    }
    keep
}

/// Only the `@deprecated` directives, which the generated code and the report use.
fn deprecated_only(directives: &mut Vec<s::Directive<'static, String>>) {
    directives.retain(|d| d.name == "deprecated");
}

fn strip_input_value(value: &mut s::InputValue<'static, String>) {
    value.description = None;
    deprecated_only(&mut value.directives);
}

fn strip_fields(fields: &mut Vec<s::Field<'static, String>>, selected: Option<&BTreeSet<String>>) {
    fields.retain(|f| selected.is_some_and(|names| names.contains(&f.name)));
    for field in fields {
        field.description = None;
        deprecated_only(&mut field.directives);
        field.arguments.iter_mut().for_each(strip_input_value);
    }
}

/// The reduced form of one definition of the full schema, or `None` when it is not needed.
fn reduce_definition(
    definition: s::Definition<'static, String>,
    usage: &Usage,
    keep: &BTreeSet<String>,
) -> Option<s::Definition<'static, String>> {
    use s::TypeDefinition as T;
    let kept = |name: &String| keep.contains(name);
    let definition = match definition {
        s::Definition::SchemaDefinition(mut roots) => {
            roots.directives.clear();
            roots.query = roots.query.filter(kept);
            roots.mutation = roots.mutation.filter(kept);
            roots.subscription = roots.subscription.filter(kept);
            s::Definition::SchemaDefinition(roots)
        }
        s::Definition::TypeDefinition(t) => {
            let t = match t {
                T::Scalar(mut t) if kept(&t.name) => {
                    t.description = None;
                    t.directives.clear();
                    T::Scalar(t)
                }
                T::Object(mut t) if kept(&t.name) => {
                    t.description = None;
                    t.directives.clear();
                    t.implements_interfaces.retain(kept);
                    strip_fields(&mut t.fields, usage.fields.get(&t.name));
                    T::Object(t)
                }
                T::Interface(mut t) if kept(&t.name) => {
                    t.description = None;
                    t.directives.clear();
                    t.implements_interfaces.retain(kept);
                    strip_fields(&mut t.fields, usage.fields.get(&t.name));
                    T::Interface(t)
                }
                T::Union(mut t) if kept(&t.name) => {
                    t.description = None;
                    t.directives.clear();
                    T::Union(t)
                }
                T::Enum(mut t) if kept(&t.name) => {
                    t.description = None;
                    t.directives.clear();
                    for value in &mut t.values {
                        value.description = None;
                        deprecated_only(&mut value.directives);
                    }
                    T::Enum(t)
                }
                T::InputObject(mut t) if kept(&t.name) => {
                    t.description = None;
                    t.directives.clear();
                    t.fields.iter_mut().for_each(strip_input_value);
                    T::InputObject(t)
                }
                _ => return None,
            };
            s::Definition::TypeDefinition(t)
        }
        s::Definition::TypeExtension(_) | s::Definition::DirectiveDefinition(_) => return None,
    };
    Some(definition)
}

/// Reduces the full schema `full` to what `operations` use: the text of the vendored file.
///
/// A field an operation selects but the schema lacks is passed over, so that what still exists
/// is reduced; checking the operations reports the missing field.
pub fn reduce(full: &str, operations: &[Operation]) -> Result<String, String> {
    let schema = schema_check::parse_schema(full)?;
    reduce_with(full, &schema, &usage(&schema, operations)?)
}

pub(super) fn usage(schema: &Schema, operations: &[Operation]) -> Result<Usage, String> {
    let mut usage = Usage::default();
    for operation in operations {
        walk(schema, operation, &mut usage)?;
    }
    Ok(usage)
}

pub(super) fn reduce_with(full: &str, schema: &Schema, usage: &Usage) -> Result<String, String> {
    let keep = closure(schema, usage);
    let document = s::parse_schema::<String>(full)
        .map_err(|e| format!("the schema does not parse: {e}"))?
        .into_static();
    let definitions = document
        .definitions
        .into_iter()
        .filter_map(|d| reduce_definition(d, usage, &keep))
        .collect();
    Ok(format!("{HEADER}{}", s::Document { definitions }))
}
