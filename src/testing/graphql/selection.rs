//! What a request selects: the fields of a selection set by response key, fragments spread
//! in and `@skip`/`@include` applied, and the arguments of a field, checked against their
//! types, paging arguments included.

use std::collections::{BTreeMap, HashMap};

use graphql_parser::query as q;
use serde_json::{Map, Value};

use super::variables::{coerce, id_text, literal};
use crate::schema_check::Schema;
use crate::testing::connections::{PageArgs, CONNECTION_FIELDS};
use crate::testing::failure::RequestFailure;

pub(super) struct Context<'a> {
    pub(super) schema: &'a Schema,
    pub(super) fragments: BTreeMap<&'a str, &'a q::FragmentDefinition<'static, String>>,
    pub(super) variables: Map<String, Value>,
}

pub(super) type Field = q::Field<'static, String>;

/// Fields by response key, in the order the keys first appear, each key found through an
/// index: a lookup per field, never a scan of the keys so far (which made thousands of
/// aliases cost quadratic time).
#[derive(Default)]
struct Collected<'s> {
    fields: Vec<(String, Vec<&'s Field>)>,
    index: HashMap<&'s str, usize>,
}

impl<'s> Collected<'s> {
    fn push(&mut self, field: &'s Field) {
        let key = field.alias.as_deref().unwrap_or(&field.name);
        match self.index.get(key) {
            Some(&at) => self.fields[at].1.push(field),
            None => {
                self.index.insert(key, self.fields.len());
                self.fields.push((key.to_owned(), vec![field]));
            }
        }
    }
}

impl<'a> Context<'a> {
    /// The argument `name` of `field` (a field of the type `parent`) as JSON, checked
    /// against its type.
    pub(super) fn argument(
        &self,
        parent: &str,
        field: &Field,
        name: &str,
    ) -> Result<Value, RequestFailure> {
        let value = self.given_argument(field, name);
        let def = self
            .schema
            .types
            .get(parent)
            .and_then(|t| t.fields.iter().find(|f| f.name == field.name))
            .and_then(|f| f.args.iter().find(|a| a.name == name))
            .ok_or_else(|| RequestFailure::bad_input(format!("Unknown argument \"{name}\".")))?;
        coerce(self.schema, &def.ty, value, name).map_err(RequestFailure::bad_input)
    }

    /// A string or `ID` argument as text.
    pub(super) fn text_argument(
        &self,
        parent: &str,
        field: &Field,
        name: &str,
    ) -> Result<String, RequestFailure> {
        Ok(id_text(&self.argument(parent, field, name)?))
    }

    /// The value of an argument as given (a literal, or a variable's coerced value), `null`
    /// when absent. For arguments the schema check has already typed.
    fn given_argument(&self, field: &Field, name: &str) -> Value {
        field
            .arguments
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| literal(v, &self.variables))
            .unwrap_or(Value::Null)
    }

    /// Whether `@skip`/`@include` keep a selection.
    fn included(&self, directives: &[q::Directive<'static, String>]) -> bool {
        directives.iter().all(|d| {
            let condition = d
                .arguments
                .iter()
                .find(|(n, _)| n == "if")
                .map(|(_, v)| literal(v, &self.variables));
            match (d.name.as_str(), condition) {
                ("skip", Some(Value::Bool(skip))) => !skip,
                ("include", Some(Value::Bool(include))) => include,
                _ => true,
            }
        })
    }

    /// GraphQL's CollectFields: the fields of a selection set by response key, in order,
    /// with fragments on `type_name` spread in.
    pub(super) fn collect<'s>(
        &self,
        type_name: &str,
        set: &'s q::SelectionSet<'static, String>,
    ) -> Vec<(String, Vec<&'s Field>)>
    where
        'a: 's,
    {
        self.collect_all(type_name, [set])
    }

    /// [`Context::collect`] over several selection sets, as if they were one (the merged
    /// sub-selections of fields that share a response key).
    pub(super) fn collect_all<'s>(
        &self,
        type_name: &str,
        sets: impl IntoIterator<Item = &'s q::SelectionSet<'static, String>>,
    ) -> Vec<(String, Vec<&'s Field>)>
    where
        'a: 's,
    {
        let mut collected = Collected::default();
        for set in sets {
            self.collect_into(type_name, set, &mut collected);
        }
        collected.fields
    }

    fn collect_into<'s>(
        &self,
        type_name: &str,
        set: &'s q::SelectionSet<'static, String>,
        out: &mut Collected<'s>,
    ) where
        'a: 's,
    {
        for selection in &set.items {
            match selection {
                q::Selection::Field(field) => {
                    if self.included(&field.directives) {
                        out.push(field);
                    }
                }
                q::Selection::FragmentSpread(spread) => {
                    let Some(fragment) = self.fragments.get(spread.fragment_name.as_str()) else {
                        continue;
                    };
                    let q::TypeCondition::On(on) = &fragment.type_condition;
                    if on == type_name && self.included(&spread.directives) {
                        self.collect_into(type_name, &fragment.selection_set, out);
                    }
                }
                q::Selection::InlineFragment(inline) => {
                    let applies = match &inline.type_condition {
                        Some(q::TypeCondition::On(on)) => on == type_name,
                        None => true,
                    };
                    if applies && self.included(&inline.directives) {
                        self.collect_into(type_name, &inline.selection_set, out);
                    }
                }
            }
        }
    }

    /// The strings of `filters.<name>` on a connection field, `None` when it filters nothing.
    pub(super) fn string_filter(&self, field: &Field, name: &str) -> Option<Vec<String>> {
        let filters = self.given_argument(field, "filters");
        let list = filters.get(name)?.as_array()?;
        Some(
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        )
    }

    /// The paging arguments of a connection field.
    pub(super) fn page_args(&self, field: &Field) -> Result<PageArgs, String> {
        PageArgs::read(&field.name, |name| self.given_argument(field, name))
    }

    /// Checks the paging arguments of every connection a selection reaches, so that a bad one
    /// refuses the request before anything runs, as Plain refuses a bad argument.
    pub(super) fn check_pages(
        &self,
        set: &q::SelectionSet<'static, String>,
        spread: &mut Vec<String>,
    ) -> Result<(), RequestFailure> {
        for selection in &set.items {
            match selection {
                q::Selection::Field(field) => {
                    if CONNECTION_FIELDS.contains(&field.name.as_str()) {
                        self.page_args(field).map_err(RequestFailure::bad_input)?;
                    }
                    self.check_pages(&field.selection_set, spread)?;
                }
                q::Selection::FragmentSpread(s) => {
                    if spread.contains(&s.fragment_name) {
                        continue;
                    }
                    spread.push(s.fragment_name.clone());
                    if let Some(fragment) = self.fragments.get(s.fragment_name.as_str()) {
                        self.check_pages(&fragment.selection_set, spread)?;
                    }
                }
                q::Selection::InlineFragment(inline) => {
                    self.check_pages(&inline.selection_set, spread)?;
                }
            }
        }
        Ok(())
    }
}
