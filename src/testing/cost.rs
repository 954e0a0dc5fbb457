//! What a query may cost the local server, checked before the work that grows faster than
//! the query's text: validation and execution walk a fragment once per spread, so twenty
//! fragments, each spreading the one before twice, stand for a million fields.
//!
//! The check walks the document as validation will, fragments spread in, and stops at the
//! first limit passed: past one pass over the definitions, it takes at most
//! [`MAX_SELECTIONS`] steps, never more than the work it guards.

use std::collections::HashMap;

use graphql_parser::query as q;

use super::failure::RequestFailure;
use super::limits::{MAX_ALIASES, MAX_DEPTH, MAX_QUERY_BYTES, MAX_SELECTIONS};

type Document = q::Document<'static, String>;
type SelectionSet = q::SelectionSet<'static, String>;

const CODE: &str = "GRAPHQL_VALIDATION_FAILED";

fn refused(message: String) -> RequestFailure {
    RequestFailure {
        status: 400,
        code: CODE,
        message,
    }
}

/// Refuses a query text longer than [`MAX_QUERY_BYTES`], before it is parsed.
pub fn check_text(query: &str) -> Result<(), RequestFailure> {
    if query.len() <= MAX_QUERY_BYTES {
        return Ok(());
    }
    Err(refused(format!(
        "The query is {} bytes long, past the local server's query size limit of \
         {MAX_QUERY_BYTES} bytes",
        query.len()
    )))
}

/// Refuses a document past [`MAX_ALIASES`], [`MAX_DEPTH`] or [`MAX_SELECTIONS`], counted
/// over all its operations with fragments spread in.
pub fn check(document: &Document) -> Result<(), RequestFailure> {
    // The last definition of a name, as validation and execution take it.
    let fragments = document
        .definitions
        .iter()
        .filter_map(|definition| match definition {
            q::Definition::Fragment(f) => Some((f.name.as_str(), f)),
            q::Definition::Operation(_) => None,
        })
        .collect();
    let mut walk = Walk {
        fragments,
        selections: 0,
        aliases: 0,
        spreading: Vec::new(),
    };
    for definition in &document.definitions {
        if let q::Definition::Operation(operation) = definition {
            walk.set(selection_set(operation), 1)?;
        }
    }
    Ok(())
}

fn selection_set<'d>(operation: &'d q::OperationDefinition<'static, String>) -> &'d SelectionSet {
    match operation {
        q::OperationDefinition::SelectionSet(set) => set,
        q::OperationDefinition::Query(o) => &o.selection_set,
        q::OperationDefinition::Mutation(o) => &o.selection_set,
        q::OperationDefinition::Subscription(o) => &o.selection_set,
    }
}

struct Walk<'d> {
    fragments: HashMap<&'d str, &'d q::FragmentDefinition<'static, String>>,
    selections: usize,
    aliases: usize,
    /// The fragments being spread, outermost first: one spread again inside itself is a
    /// cycle, left for validation to name (the walk to it is within [`MAX_DEPTH`]).
    spreading: Vec<&'d str>,
}

impl<'d> Walk<'d> {
    /// Counts the selections of `set`, which sit at nesting level `level`.
    fn set(&mut self, set: &'d SelectionSet, level: usize) -> Result<(), RequestFailure> {
        if set.items.is_empty() {
            return Ok(());
        }
        if level > MAX_DEPTH {
            return Err(refused(format!(
                "The query nests selections more than {MAX_DEPTH} levels deep, past the \
                 local server's depth limit of {MAX_DEPTH} (fields with sub-selections, \
                 fragment spreads and inline fragments each open a level)"
            )));
        }
        for selection in &set.items {
            self.selections += 1;
            if self.selections > MAX_SELECTIONS {
                return Err(refused(format!(
                    "The query has more than {MAX_SELECTIONS} selections, past the local \
                     server's selection limit of {MAX_SELECTIONS} (fields, fragment spreads \
                     and inline fragments, a fragment's selections counted each time it is \
                     spread)"
                )));
            }
            match selection {
                q::Selection::Field(field) => {
                    if field.alias.is_some() {
                        self.aliases += 1;
                        if self.aliases > MAX_ALIASES {
                            return Err(refused(format!(
                                "The query has more than {MAX_ALIASES} aliases, past the local \
                                 server's alias limit of {MAX_ALIASES}"
                            )));
                        }
                    }
                    self.set(&field.selection_set, level + 1)?;
                }
                q::Selection::InlineFragment(inline) => {
                    self.set(&inline.selection_set, level + 1)?;
                }
                q::Selection::FragmentSpread(spread) => {
                    let name = spread.fragment_name.as_str();
                    if self.spreading.contains(&name) {
                        continue;
                    }
                    let Some(fragment) = self.fragments.get(name).copied() else {
                        continue;
                    };
                    self.spreading.push(name);
                    self.set(&fragment.selection_set, level + 1)?;
                    self.spreading.pop();
                }
            }
        }
        Ok(())
    }
}
