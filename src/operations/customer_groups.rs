//! `customerGroups`: every customer group of the workspace, page by page.
//!
//! [`CustomerGroups::build_query`](graphql_client::GraphQLQuery::build_query) gives the exact
//! request body of one page, and [`decode`](crate::response::decode) with [`ResponseData`]
//! reads an answer as the client does.

use std::future::Future;

use crate::client::PlainClient;
use crate::error::{Error, Result};
use crate::operations::{CustomerGroup, PageInfo};
use crate::retry::Idempotency;

pub use crate::generated::customer_groups::{ResponseData, Variables};
pub use crate::generated::CustomerGroups;

/// The most groups [`PlainClient::customer_groups`] reads: 100 pages of Plain's largest page.
pub const MAX_CUSTOMER_GROUPS: usize = 10_000;

/// The page size the client asks for when it follows a connection: Plain's largest.
pub(crate) const PAGE_SIZE: i64 = 100;

impl PlainClient {
    /// Every customer group of the workspace, in Plain's order, read 100 a page; each page is
    /// a query of its own, retried on every failure that can succeed later.
    ///
    /// Reads at most [`MAX_CUSTOMER_GROUPS`] groups: a workspace with more is
    /// [`Error::TooMany`], never a part of them. Groups made or removed while the pages are read
    /// may be missed or seen twice, as with any paged read.
    pub async fn customer_groups(&self) -> Result<Vec<CustomerGroup>> {
        read_pages(
            "customer groups",
            MAX_CUSTOMER_GROUPS,
            None,
            |after| async move {
                let variables = Variables {
                    first: Some(PAGE_SIZE),
                    after,
                };
                let data = self
                    .execute_with::<CustomerGroups>(variables, Idempotency::Idempotent)
                    .await?;
                let connection = data.customer_groups;
                let nodes = connection.edges.into_iter().map(|edge| edge.node);
                Ok((nodes.collect(), connection.page_info))
            },
        )
        .await
    }
}

/// Reads a connection from its first page on: `page(after)` reads the page after the cursor
/// (`None`: the first), until a page says there is no next one. `first`, when given, is the
/// first page already read. More than `limit` nodes is
/// [`Error::TooMany`]; a page that says there is a next one without a cursor to it, or with
/// no node, is an [`Error::Decode`] (reading on would never end).
pub(crate) async fn read_pages<T, F, Fut>(
    what: &'static str,
    limit: usize,
    first: Option<(Vec<T>, PageInfo)>,
    mut page: F,
) -> Result<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, PageInfo)>>,
{
    let mut all = Vec::new();
    let mut after = None;
    let mut read = first;
    loop {
        let (nodes, info) = match read.take() {
            Some(read) => read,
            None => page(after.take()).await?,
        };
        let empty = nodes.is_empty();
        all.extend(nodes);
        if all.len() > limit {
            return Err(Error::TooMany { what, limit });
        }
        if !info.has_next_page {
            return Ok(all);
        }
        match info.end_cursor {
            Some(cursor) if !empty => after = Some(cursor),
            _ => {
                return Err(Error::Decode {
                    status: 200,
                    reason: format!(
                        "a page of {what} says there is a next page, and gives {}",
                        if empty { "no node" } else { "no cursor to it" }
                    ),
                    excerpt: String::new(),
                    request_id: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(has_next_page: bool, end_cursor: Option<&str>) -> PageInfo {
        serde_json::from_value(
            serde_json::json!({"hasNextPage": has_next_page, "endCursor": end_cursor}),
        )
        .unwrap()
    }

    /// Pages of two numbers each, `pages` of them, the cursor of each page its number.
    async fn read(pages: usize, limit: usize) -> (Result<Vec<usize>>, Vec<Option<String>>) {
        let mut asked = Vec::new();
        let result = read_pages("numbers", limit, None, |after: Option<String>| {
            asked.push(after.clone());
            let at: usize = after.map_or(0, |a| a.parse().unwrap());
            let next = at + 1;
            async move {
                let nodes = vec![2 * at, 2 * at + 1];
                let more = next < pages;
                Ok((nodes, info(more, Some(&next.to_string()))))
            }
        })
        .await;
        (result, asked)
    }

    #[tokio::test]
    async fn pages_are_followed_by_their_end_cursors() {
        let (result, asked) = read(3, 6).await;
        assert_eq!(result.unwrap(), [0, 1, 2, 3, 4, 5]);
        assert_eq!(asked, [None, Some("1".into()), Some("2".into())]);
    }

    #[tokio::test]
    async fn more_than_the_limit_is_an_error_and_reading_stops() {
        let (result, asked) = read(10, 5).await;
        assert!(matches!(
            result,
            Err(Error::TooMany {
                what: "numbers",
                limit: 5
            })
        ));
        assert_eq!(asked.len(), 3);
    }
}
