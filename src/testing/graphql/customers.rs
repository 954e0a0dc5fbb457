//! The root field `customers`: its arguments read before anything runs, and its page answered
//! with exactly the selected fields.

use serde_json::Value;

use super::output::Out;
use super::resolvers::Object;
use super::selection::{Context, Field};
use crate::testing::customer_list::{CustomerPage, CustomersArgs};
use crate::testing::failure::RequestFailure;
use crate::testing::store::records::StoredCustomer;
use crate::testing::store::Store;

/// The arguments of `Query.customers`.
const ARGUMENTS: [&str; 6] = ["filters", "sortBy", "first", "after", "last", "before"];

impl Context<'_> {
    /// The arguments of a `customers` field of the type `root`, coerced and checked: a bad one
    /// refuses the request (400 `BAD_USER_INPUT`) before anything runs.
    pub(super) fn customers_args(
        &self,
        root: &str,
        field: &Field,
    ) -> Result<CustomersArgs, RequestFailure> {
        let mut given = Vec::with_capacity(ARGUMENTS.len());
        for name in ARGUMENTS {
            given.push((name, self.argument(root, field, name)?));
        }
        CustomersArgs::read(|name| {
            given
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(Value::Null, |(_, value)| value.clone())
        })
        .map_err(RequestFailure::bad_input)
    }

    /// The page of customers the arguments ask for, as the merged selections of `fields` ask
    /// for it.
    pub(super) fn customers(&self, store: &Store, args: &CustomersArgs, fields: &[&Field]) -> Out {
        let page = args.page(store);
        self.object("CustomerConnection", fields, |name, sub| match name {
            "edges" => Out::List(
                page.edges
                    .iter()
                    .map(|(cursor, customer)| self.customer_edge(store, cursor, customer, sub))
                    .collect(),
            ),
            "pageInfo" => self.customer_page_info(&page, sub),
            "totalCount" => Out::Raw(page.total.into()),
            _ => Out::Null,
        })
    }

    fn customer_edge(
        &self,
        store: &Store,
        cursor: &str,
        customer: &StoredCustomer,
        fields: &[&Field],
    ) -> Out {
        self.object("CustomerEdge", fields, |name, sub| match name {
            "cursor" => Out::Str(cursor.to_owned()),
            "node" => self.complete(store, Object::Customer(customer), sub),
            _ => Out::Null,
        })
    }

    fn customer_page_info(&self, page: &CustomerPage<'_>, fields: &[&Field]) -> Out {
        let (start, end) = page.ends();
        let cursor = |c: Option<&str>| c.map_or(Out::Null, |c| Out::Str(c.to_owned()));
        self.object("PageInfo", fields, |name, _| match name {
            "hasNextPage" => Out::Bool(page.has_next),
            "hasPreviousPage" => Out::Bool(page.has_previous),
            "startCursor" => cursor(start),
            "endCursor" => cursor(end),
            _ => Out::Null,
        })
    }

    /// An object of the type `type_name`: each field the merged selections of `fields` select,
    /// under its response key, valued by `value(name, its fields)`; `__typename` is answered
    /// here.
    fn object(
        &self,
        type_name: &str,
        fields: &[&Field],
        mut value: impl FnMut(&str, &[&Field]) -> Out,
    ) -> Out {
        let sets = fields.iter().map(|field| &field.selection_set);
        let mut out = Vec::new();
        for (key, sub_fields) in self.collect_all(type_name, sets) {
            let value = match sub_fields[0].name.as_str() {
                "__typename" => Out::Str(type_name.to_owned()),
                name => value(name, &sub_fields),
            };
            out.push((key, value));
        }
        Out::Object(out)
    }
}
