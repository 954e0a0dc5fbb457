//! Values completed against their selections: an object's selected fields, and one page of
//! a connection (the customer groups, a customer's memberships) with its edges and
//! `pageInfo`.

use super::output::Out;
use super::resolvers::{resolve, Object, Resolved};
use super::selection::{Context, Field};
use crate::testing::connections::{cursor, Page};
use crate::testing::store::records::Membership;
use crate::testing::store::Store;

/// The types of one connection the server pages.
pub(super) struct Connection {
    /// The field, which also names its cursors.
    field: &'static str,
    connection: &'static str,
    edge: &'static str,
}

pub(super) const GROUPS: Connection = Connection {
    field: "customerGroups",
    connection: "CustomerGroupConnection",
    edge: "CustomerGroupEdge",
};

const MEMBERSHIPS: Connection = Connection {
    field: "customerGroupMemberships",
    connection: "CustomerGroupMembershipConnection",
    edge: "CustomerGroupMembershipEdge",
};

/// Whether a filter on external ids (`None`: no filter) keeps an item with this one.
pub(super) fn keeps(wanted: &Option<Vec<String>>, external_id: &Option<String>) -> bool {
    match wanted {
        None => true,
        Some(wanted) => external_id.as_ref().is_some_and(|id| wanted.contains(id)),
    }
}

impl Context<'_> {
    /// Applies the merged sub-selections of `fields` to `object`.
    pub(super) fn complete(&self, store: &Store, object: Object<'_>, fields: &[&Field]) -> Out {
        let type_name = object.type_name();
        let mut out = Vec::new();
        let sets = fields.iter().map(|field| &field.selection_set);
        for (key, sub_fields) in self.collect_all(type_name, sets) {
            let value = match (object, sub_fields[0].name.as_str()) {
                (Object::Customer(customer), "customerGroupMemberships") => {
                    let wanted = self.string_filter(sub_fields[0], "customerGroupExternalIds");
                    let memberships: Vec<Membership> = store
                        .memberships(customer)
                        .into_iter()
                        .filter(|m| keeps(&wanted, &m.group.external_id))
                        .collect();
                    let nodes: Vec<Object<'_>> =
                        memberships.iter().map(Object::Membership).collect();
                    self.connection(store, &MEMBERSHIPS, &nodes, &sub_fields)
                }
                (_, name) => match resolve(object, name) {
                    Resolved::Leaf(value) => value,
                    Resolved::Object(inner) => self.complete(store, inner, &sub_fields),
                    Resolved::List(items) => Out::List(
                        items
                            .into_iter()
                            .map(|inner| self.complete(store, inner, &sub_fields))
                            .collect(),
                    ),
                },
            };
            out.push((key, value));
        }
        Out::Object(out)
    }

    /// One page of a connection over `nodes`, as the merged selections of `fields` ask for.
    pub(super) fn connection(
        &self,
        store: &Store,
        kind: &Connection,
        nodes: &[Object<'_>],
        fields: &[&Field],
    ) -> Out {
        // Checked before anything ran (`check_pages`).
        let page = self
            .page_args(fields[0])
            .unwrap_or_default()
            .page(nodes.len());
        let sets = fields.iter().map(|field| &field.selection_set);
        let mut out = Vec::new();
        for (key, sub_fields) in self.collect_all(kind.connection, sets) {
            let value = match sub_fields[0].name.as_str() {
                "__typename" => Out::Str(kind.connection.to_owned()),
                "edges" => Out::List(
                    (page.start..page.end)
                        .map(|at| self.edge(store, kind, at, nodes[at], &sub_fields))
                        .collect(),
                ),
                "pageInfo" => self.page_info(kind, &page, &sub_fields),
                _ => Out::Null,
            };
            out.push((key, value));
        }
        Out::Object(out)
    }

    fn edge(
        &self,
        store: &Store,
        kind: &Connection,
        at: usize,
        node: Object<'_>,
        fields: &[&Field],
    ) -> Out {
        let sets = fields.iter().map(|field| &field.selection_set);
        let mut out = Vec::new();
        for (key, sub_fields) in self.collect_all(kind.edge, sets) {
            let value = match sub_fields[0].name.as_str() {
                "__typename" => Out::Str(kind.edge.to_owned()),
                "cursor" => Out::Str(cursor(kind.field, at)),
                "node" => self.complete(store, node, &sub_fields),
                _ => Out::Null,
            };
            out.push((key, value));
        }
        Out::Object(out)
    }

    fn page_info(&self, kind: &Connection, page: &Page, fields: &[&Field]) -> Out {
        let edge_cursor = |at: usize| Out::Str(cursor(kind.field, at));
        let empty = page.start == page.end;
        let sets = fields.iter().map(|field| &field.selection_set);
        let mut out = Vec::new();
        for (key, sub_fields) in self.collect_all("PageInfo", sets) {
            let value = match sub_fields[0].name.as_str() {
                "__typename" => Out::Str("PageInfo".to_owned()),
                "hasNextPage" => Out::Bool(page.has_next),
                "hasPreviousPage" => Out::Bool(page.has_previous),
                "startCursor" if !empty => edge_cursor(page.start),
                "endCursor" if !empty => edge_cursor(page.end - 1),
                _ => Out::Null,
            };
            out.push((key, value));
        }
        Out::Object(out)
    }
}
