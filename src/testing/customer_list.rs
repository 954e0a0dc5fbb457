//! The `customers` connection: which customers pass Plain's `CustomersFilter`, in which order,
//! and the page the paging arguments ask for.
//!
//! Customers come in the order they were created (by `createdAt`, then id), or by full name
//! (`sortBy: {field: FULL_NAME, ...}`, ties in the order of creation). A cursor names the
//! customer it was given for by its place in that order, not by a position: a customer created
//! or deleted meanwhile moves no other cursor, so a client that resumes after a cursor misses
//! no customer and sees none twice, and customers created since come after it.

use std::cmp::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::connections::{opaque, reveal, PageArgs};
use super::store::records::StoredCustomer;
use super::store::Store;

/// The field, which also names its cursors.
const FIELD: &str = "customers";

/// The arguments of one `customers` field, checked.
#[derive(Debug, Clone)]
pub struct CustomersArgs {
    filter: Filter,
    order: Order,
    counts: PageArgs,
    after: Option<Key>,
    before: Option<Key>,
}

/// Plain's `CustomersFilter`, as the local server applies it: a customer passes when it
/// passes every filter given.
#[derive(Debug, Clone, Default)]
struct Filter {
    /// No customer is marked as spam here: `true` lets none through.
    spam: Option<bool>,
    group_ids: Option<Vec<String>>,
    group_keys: Option<Vec<String>>,
    /// The server keeps no companies and no tenants: a list of either lets none through.
    companies_or_tenants: bool,
    updated_from: Option<SystemTime>,
    updated_until: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Created,
    Name { descending: bool },
}

/// A customer's place in an order: what its cursor holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    /// The full name, in the order by name.
    name: Option<String>,
    created: u128,
    id: String,
}

/// A place in an order, borrowed: the full name (in the order by name), when the customer was
/// created, its id.
type Place<'a> = (Option<&'a str>, u128, &'a str);

impl Key {
    fn place(&self) -> Place<'_> {
        (self.name.as_deref(), self.created, &self.id)
    }
}

/// One page of customers, with each customer's cursor.
#[derive(Debug)]
pub struct CustomerPage<'s> {
    pub edges: Vec<(String, &'s StoredCustomer)>,
    pub has_next: bool,
    pub has_previous: bool,
    /// How many customers pass the filter.
    pub total: usize,
}

impl CustomerPage<'_> {
    /// The cursor of the first edge and of the last (`None` on an empty page).
    pub fn ends(&self) -> (Option<&str>, Option<&str>) {
        let first = self.edges.first().map(|(c, _)| c.as_str());
        (first, self.edges.last().map(|(c, _)| c.as_str()))
    }
}

fn created(customer: &StoredCustomer) -> u128 {
    customer
        .created_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// The strings of a list argument (IDs may have been given as numbers), `None` when absent.
fn strings(value: &Value) -> Option<Vec<String>> {
    let items = value.as_array()?;
    Some(
        items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect(),
    )
}

fn time(value: &Value, name: &str) -> Result<Option<SystemTime>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => crate::time::parse_rfc3339_utc(text)
            .map(Some)
            .ok_or_else(|| {
                format!(
                "`filters.updatedAt.{name}` of {FIELD} must be an ISO 8601 time in UTC such as \
                 2024-10-28T18:30:00Z, got {text:?}"
            )
            }),
        other => Err(format!(
            "`filters.updatedAt.{name}` of {FIELD} is not a string: {other}"
        )),
    }
}

impl Filter {
    fn read(filters: &Value) -> Result<Self, String> {
        let updated = &filters["updatedAt"];
        let given = |name: &str| !filters[name].is_null();
        Ok(Self {
            spam: filters["isMarkedAsSpam"].as_bool(),
            group_ids: strings(&filters["customerGroupIds"]),
            group_keys: strings(&filters["customerGroupKeys"]),
            companies_or_tenants: given("companyIdentifiers") || given("tenantIdentifiers"),
            updated_from: time(&updated["after"], "after")?,
            updated_until: time(&updated["before"], "before")?,
        })
    }

    /// The customers that pass, in the store's order.
    fn apply<'s>(&self, store: &'s Store) -> Vec<&'s StoredCustomer> {
        if self.spam == Some(true) || self.companies_or_tenants {
            return Vec::new();
        }
        // Keys name groups the server may not have: those match no customer.
        let keyed: Option<Vec<&str>> = self.group_keys.as_ref().map(|keys| {
            store
                .customer_groups()
                .iter()
                .filter(|g| keys.contains(&g.key))
                .map(|g| g.id.as_str())
                .collect()
        });
        let in_any = |customer: &StoredCustomer, groups: &[&str]| {
            customer
                .customer_group_ids
                .iter()
                .any(|id| groups.contains(&id.as_str()))
        };
        let ids: Option<Vec<&str>> = self
            .group_ids
            .as_ref()
            .map(|ids| ids.iter().map(String::as_str).collect());
        store
            .customers()
            .iter()
            .filter(|c| ids.as_ref().is_none_or(|ids| in_any(c, ids)))
            .filter(|c| keyed.as_ref().is_none_or(|ids| in_any(c, ids)))
            .filter(|c| self.updated_from.is_none_or(|from| c.updated_at >= from))
            .filter(|c| self.updated_until.is_none_or(|until| c.updated_at < until))
            .collect()
    }
}

impl Order {
    fn read(sort_by: &Value) -> Result<Self, String> {
        if sort_by.is_null() {
            return Ok(Order::Created);
        }
        let descending = match sort_by["direction"].as_str() {
            Some("ASC") => false,
            Some("DESC") => true,
            other => {
                return Err(format!(
                    "`sortBy.direction` of {FIELD} must be ASC or DESC, got {other:?}"
                ))
            }
        };
        match sort_by["field"].as_str() {
            Some("FULL_NAME") => Ok(Order::Name { descending }),
            other => Err(format!(
                "the local server sorts {FIELD} by FULL_NAME only, not {other:?}"
            )),
        }
    }

    /// A customer's place in this order, borrowed.
    fn place_of(self, customer: &StoredCustomer) -> Place<'_> {
        let name = matches!(self, Order::Name { .. }).then_some(customer.full_name.as_str());
        (name, created(customer), customer.id.as_str())
    }

    /// How two places compare in this order.
    fn compare(self, a: Place<'_>, b: Place<'_>) -> Ordering {
        match self {
            Order::Name { descending: true } => b.cmp(&a),
            _ => a.cmp(&b),
        }
    }

    /// How a customer compares with the place a cursor names.
    fn against(self, customer: &StoredCustomer, key: &Key) -> Ordering {
        self.compare(self.place_of(customer), key.place())
    }

    /// Puts customers in this order. The store holds them in the order of creation, which
    /// only a clock set back can have broken.
    fn sort(self, customers: &mut [&StoredCustomer]) {
        let compare = |a: &&StoredCustomer, b: &&StoredCustomer| {
            self.compare(self.place_of(a), self.place_of(b))
        };
        if !customers.is_sorted_by(|a, b| compare(a, b) != Ordering::Greater) {
            customers.sort_by(compare);
        }
    }

    fn cursor(self, customer: &StoredCustomer) -> String {
        let (id, at) = (&customer.id, created(customer));
        match self {
            Order::Created => opaque(&format!("{FIELD}:created:{at}:{id}")),
            Order::Name { .. } => opaque(&format!("{FIELD}:name:{at}:{id}:{}", customer.full_name)),
        }
    }

    /// The place a cursor of this order names.
    fn place(self, name: &str, cursor: &Value) -> Result<Option<Key>, String> {
        let text = match cursor {
            Value::Null => return Ok(None),
            Value::String(text) => text,
            other => return Err(format!("`{name}` of {FIELD} is not a cursor: {other}")),
        };
        let not_ours = || format!("`{name}` of {FIELD} is not a cursor {FIELD} answered: {text:?}");
        let revealed = reveal(text).ok_or_else(not_ours)?;
        let rest = revealed
            .strip_prefix(FIELD)
            .and_then(|r| r.strip_prefix(':'));
        let (kind, rest) = rest.and_then(|r| r.split_once(':')).ok_or_else(not_ours)?;
        let (at, rest) = rest.split_once(':').ok_or_else(not_ours)?;
        let created = at.parse().map_err(|_| not_ours())?;
        let (id, name) = match (kind, self) {
            ("created", Order::Created) => (rest, None),
            ("name", Order::Name { .. }) => {
                let (id, name) = rest.split_once(':').ok_or_else(not_ours)?;
                (id, Some(name.to_owned()))
            }
            ("created" | "name", _) => {
                return Err(format!(
                    "`{name}` of {FIELD} is a cursor of another order: hand a cursor back with \
                     the sortBy it came with"
                ))
            }
            _ => return Err(not_ours()),
        };
        Ok(Some(Key {
            name,
            created,
            id: id.to_owned(),
        }))
    }
}

impl CustomersArgs {
    /// Reads and checks the arguments of the `customers` field, each given by `argument`
    /// (`null` when absent). The message says what is wrong.
    pub fn read(argument: impl Fn(&str) -> Value) -> Result<Self, String> {
        let order = Order::read(&argument("sortBy"))?;
        let counts = PageArgs::read(FIELD, |name| match name {
            "first" | "last" => argument(name),
            _ => Value::Null,
        })?;
        Ok(Self {
            filter: Filter::read(&argument("filters"))?,
            order,
            counts,
            after: order.place("after", &argument("after"))?,
            before: order.place("before", &argument("before"))?,
        })
    }

    /// The page these arguments ask for.
    pub fn page<'s>(&self, store: &'s Store) -> CustomerPage<'s> {
        let mut customers = self.filter.apply(store);
        self.order.sort(&mut customers);
        let order = self.order;
        let start = self.after.as_ref().map_or(0, |key| {
            customers.partition_point(|c| order.against(c, key) != Ordering::Greater)
        });
        let end = self
            .before
            .as_ref()
            .map(|key| customers.partition_point(|c| order.against(c, key) == Ordering::Less));
        let page = self
            .counts
            .clone()
            .between(start.checked_sub(1), end)
            .page(customers.len());
        CustomerPage {
            edges: customers[page.start..page.end]
                .iter()
                .map(|c| (order.cursor(c), *c))
                .collect(),
            has_next: page.has_next,
            has_previous: page.has_previous,
            total: customers.len(),
        }
    }
}
