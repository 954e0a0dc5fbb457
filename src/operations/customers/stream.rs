//! [`CustomerStream`]: the customers of a [`CustomersQuery`](super::CustomersQuery), a page
//! ahead of the caller.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::stream::Stream;
use tokio::task::JoinHandle;

use super::{Customers, ResponseData, Variables};
use crate::client::PlainClient;
use crate::error::{Error, Result};
use crate::generated::customers::CustomersCustomersEdges;
use crate::operations::Customer;
use crate::retry::Idempotency;

/// The workspace's customers, read from Plain 100 a page (Plain's largest), yielded one by
/// one: a [`Stream`] of `Result<Customer>`, or [`next`](Self::next) without `StreamExt`.
///
/// - **A page ahead.** When a page arrives, the request for the next one goes out at once, on
///   a task of its own (spawned with `tokio::spawn`: poll the stream within a tokio runtime),
///   while the caller goes through this one: Plain's time to answer overlaps the caller's work
///   on the page before. A stream dropped midway stops the request under way.
/// - **Bounded memory.** Never more than one page ahead: the stream holds at most two pages,
///   200 [`Customer`]s, and while a page is read, the bytes of its answer, at most the client's
///   [`max_response_bytes`](crate::PlainClientBuilder::max_response_bytes) (4 MiB by default),
///   however many customers the workspace has.
/// - **Like any query.** Each page is a request on the client's one path
///   ([`PlainClient::execute_with`]): paced by Plain's rate limit, shared with every other
///   request of the client, and retried on every failure that can succeed later.
/// - **Resumable.** [`cursor`](Self::cursor) is the cursor of the last customer yielded:
///   kept, and given to [`CustomersQuery::after`](super::CustomersQuery::after) with the same
///   filter and order, a later stream starts right after that customer. A failure (after the
///   retries) is yielded once, and ends the stream; the cursor stays that of the last
///   customer yielded.
/// - Customers created, changed or deleted while the stream reads may be missed or seen twice,
///   as with any paged read. `Customer::customer_groups` is `None`: read a customer's groups
///   with [`PlainClient::customer_group_memberships`].
#[derive(Debug)]
#[must_use = "a stream sends nothing until it is polled"]
pub struct CustomerStream {
    client: PlainClient,
    variables: Variables,
    /// The customers of the page being read, with their cursors, in order.
    current: VecDeque<CustomersCustomersEdges>,
    next: Next,
    cursor: Option<String>,
    total_count: Option<u64>,
    pages: u64,
    /// A request for the next page was just spawned: let the runtime start it before the
    /// caller gets the page's customers.
    nudge: bool,
}

/// What comes after the page being read.
#[derive(Debug)]
enum Next {
    /// The first page, not asked for yet.
    First,
    /// The page after the cursor, asked for.
    Asked {
        after: Option<String>,
        task: JoinHandle<Result<ResponseData>>,
    },
    /// A failure to yield, then the end.
    Failed(Error),
    /// No more pages.
    End,
}

impl CustomerStream {
    pub(super) fn new(
        client: PlainClient,
        variables: Variables,
        after: Option<String>,
        refused: Option<Error>,
    ) -> Self {
        Self {
            client,
            variables,
            current: VecDeque::new(),
            next: refused.map_or(Next::First, Next::Failed),
            cursor: after,
            total_count: None,
            pages: 0,
            nudge: false,
        }
    }

    /// The next customer, `None` at the end: [`StreamExt::next`](futures_util::StreamExt::next)
    /// without the import.
    pub async fn next(&mut self) -> Option<Result<Customer>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The cursor of the last customer yielded (before the first, the cursor the stream
    /// started after, if any): give it to
    /// [`CustomersQuery::after`](super::CustomersQuery::after) to go on right after that
    /// customer. Opaque: hand it back, as it is, to a query with the same filter and order.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// How many customers pass the filter, as Plain counted them on the last page read.
    /// `None` before the first page.
    pub fn total_count(&self) -> Option<u64> {
        self.total_count
    }

    /// How many pages have been read so far (the one asked for ahead is not counted until it
    /// arrives).
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Sends the request for the page after `after`, on a task of its own.
    fn ask(&self, after: Option<String>) -> Next {
        let client = self.client.clone();
        let variables = Variables {
            after: after.clone(),
            ..self.variables.clone()
        };
        let task = tokio::spawn(Box::pin(async move {
            client
                .execute_with::<Customers>(variables, Idempotency::Idempotent)
                .await
        }));
        Next::Asked { after, task }
    }

    /// Takes in a page that answered the request for the page after `after`, and asks for the
    /// one after it, if any.
    fn arrived(&mut self, after: Option<String>, data: ResponseData) -> Result<()> {
        let connection = data.customers;
        let info = connection.page_info;
        self.pages += 1;
        self.total_count = u64::try_from(connection.total_count).ok();
        let empty = connection.edges.is_empty();
        self.current = connection.edges.into();
        if !info.has_next_page {
            self.next = Next::End;
            return Ok(());
        }
        match info.end_cursor {
            Some(end) if !empty && Some(&end) != after.as_ref() => {
                self.next = self.ask(Some(end));
                self.nudge = true;
                Ok(())
            }
            end => {
                self.next = Next::End;
                let says = match end {
                    _ if empty => "gives no customer",
                    None => "gives no cursor to it",
                    Some(_) => "ends at the cursor it started after",
                };
                Err(Error::Decode {
                    status: 200,
                    reason: format!("a page of customers says there is a next page, and {says}"),
                    excerpt: String::new(),
                    request_id: None,
                })
            }
        }
    }
}

impl Stream for CustomerStream {
    type Item = Result<Customer>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if std::mem::take(&mut this.nudge) {
                // Once, so that on a runtime of one thread the request goes out now, not when
                // the caller next waits.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if let Some(edge) = this.current.pop_front() {
                this.cursor = Some(edge.cursor);
                return Poll::Ready(Some(Ok(edge.node)));
            }
            match &mut this.next {
                Next::First => this.next = this.ask(this.cursor.clone()),
                Next::Asked { after, task } => {
                    let joined = ready!(Pin::new(task).poll(cx));
                    let after = after.take();
                    let answer = crate::task::result(joined);
                    let taken = answer.and_then(|data| this.arrived(after, data));
                    if let Err(error) = taken {
                        this.next = Next::Failed(error);
                    }
                }
                Next::Failed(_) | Next::End => {
                    return match std::mem::replace(&mut this.next, Next::End) {
                        Next::Failed(error) => Poll::Ready(Some(Err(error))),
                        _ => Poll::Ready(None),
                    };
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let here = self.current.len();
        let most = match self.next {
            Next::End => Some(here),
            Next::Failed(_) => Some(here + 1),
            Next::First | Next::Asked { .. } => None,
        };
        (here, most)
    }
}

impl Drop for CustomerStream {
    fn drop(&mut self) {
        if let Next::Asked { task, .. } = &self.next {
            task.abort();
        }
    }
}
