//! `customers`: every customer of the workspace, as a stream read page by page.
//!
//! [`PlainClient::customers`] starts a [`CustomersQuery`]: the filters
//! ([`CustomersFilter`]), the order ([`CustomersSort`]) and the cursor to start after, then
//! [`CustomersQuery::stream`] reads it as a [`CustomerStream`].
//! [`Customers::build_query`](graphql_client::GraphQLQuery::build_query) gives the exact
//! request body of one page, and [`decode`](crate::response::decode) with [`ResponseData`]
//! reads an answer as the client does.

mod filter;
mod stream;

use crate::client::PlainClient;
use crate::error::Error;

pub use crate::generated::customers::{
    CustomersSort, CustomersSortField, ResponseData, SortDirection, Variables,
};
pub use crate::generated::Customers;
pub use filter::{CompanyIdentifier, CustomersFilter};
pub use stream::CustomerStream;

/// What [`PlainClient::customers`] lists: which customers, in which order, from where. Read it
/// with [`CustomersQuery::stream`].
#[derive(Debug, Clone)]
#[must_use = "a query sends nothing until it is streamed"]
pub struct CustomersQuery {
    client: PlainClient,
    filters: Option<CustomersFilter>,
    sort_by: Option<CustomersSort>,
    after: Option<String>,
}

impl PlainClient {
    /// The workspace's customers, in Plain's order (or the one [`CustomersQuery::sort_by`]
    /// asks for), read 100 a page while the caller goes through them: see [`CustomerStream`].
    ///
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use plain_client::operations::customers::CustomersFilter;
    /// use plain_client::testing::LocalServer;
    /// use plain_client::{CustomerIdentifier, EmailAddress, OnCreate, UpsertCustomerInput};
    ///
    /// let server = LocalServer::start().await?;
    /// let client = server.client()?;
    /// for name in ["donald", "daisy"] {
    ///     let email = format!("{name}@example.com");
    ///     let create = OnCreate::new(name, EmailAddress::unverified(email.clone()));
    ///     client.upsert_customer(UpsertCustomerInput::new(CustomerIdentifier::email(email), create)).await?;
    /// }
    ///
    /// let mut customers = client.customers().filter(CustomersFilter::new()).stream();
    /// let first = customers.next().await.unwrap()?;
    /// assert_eq!(first.full_name, "donald");
    /// // Where to start again, after Donald: keep it, and resume with `.after(cursor)`.
    /// let cursor = customers.cursor().unwrap().to_owned();
    ///
    /// let mut rest = client.customers().after(cursor).stream();
    /// assert_eq!(rest.next().await.unwrap()?.full_name, "daisy");
    /// assert!(rest.next().await.is_none());
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// ```
    pub fn customers(&self) -> CustomersQuery {
        CustomersQuery {
            client: self.clone(),
            filters: None,
            sort_by: None,
            after: None,
        }
    }
}

impl CustomersQuery {
    /// Only the customers that pass `filter`.
    pub fn filter(mut self, filter: CustomersFilter) -> Self {
        self.filters = Some(filter);
        self
    }

    /// In this order rather than Plain's, such as
    /// `CustomersSort { field: CustomersSortField::FullName, direction: SortDirection::Asc }`.
    pub fn sort_by(mut self, sort: CustomersSort) -> Self {
        self.sort_by = Some(sort);
        self
    }

    /// Start right after the customer with this cursor ([`CustomerStream::cursor`] of an
    /// earlier stream, with the same filter and order), instead of at the first customer.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    /// Reads the customers, page by page; nothing is sent until the stream is first polled.
    /// An empty cursor given to [`after`](Self::after) is the stream's one item,
    /// [`Error::InvalidInput`].
    pub fn stream(self) -> CustomerStream {
        let refused = match &self.after {
            Some(cursor) if cursor.trim().is_empty() => Some(Error::InvalidInput {
                message: "the cursor to start after is empty: give a cursor a page of customers \
                          answered (CustomerStream::cursor), or none to start at the first \
                          customer"
                    .to_owned(),
            }),
            _ => None,
        };
        CustomerStream::new(
            self.client,
            Variables {
                filters: self.filters,
                sort_by: self.sort_by,
                first: Some(super::customer_groups::PAGE_SIZE),
                after: None,
            },
            self.after,
            refused,
        )
    }
}
