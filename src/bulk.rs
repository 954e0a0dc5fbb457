//! Many upserts: bounded concurrency, one outcome per input, nothing lost.
//!
//! [`PlainClient::upsert_customers`] pulls inputs only as capacity frees up, so memory is
//! bounded by the concurrency, not by the number of records. Each request runs in its own task
//! with the client's retry policy and shared rate-limit pacing. A [`Cancel`] handle stops the
//! intake: requests already sent still finish (or fail) and are reported; inputs never taken
//! are never reported, so a caller knows exactly what was not attempted.

use futures_util::stream::{self, Stream, StreamExt};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::client::PlainClient;
use crate::error::Result;
use crate::input::UpsertCustomerInput;
use crate::UpsertedCustomer;

/// The outcome of one input of a bulk upsert.
#[derive(Debug)]
#[non_exhaustive]
pub struct BulkOutcome {
    /// The input's position in what was given, from 0.
    pub index: usize,
    /// What Plain answered for it, after retries.
    pub result: Result<UpsertedCustomer>,
}

/// Stops a bulk upsert from taking more inputs. Cheap to clone; all clones are one handle.
///
/// A cancel takes effect at once, even while the bulk upsert is waiting for its next input
/// (a queue or a pipe that has nothing yet).
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    token: CancellationToken,
}

impl Cancel {
    /// A handle that has not been used.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the intake: no input is taken after this; requests in flight finish.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when [`Cancel::cancel`] is called (at once if it was).
    pub fn cancelled(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }
}

impl PlainClient {
    /// Upserts every input of an iterator, at most `concurrency` at a time, yielding one
    /// [`BulkOutcome`] per input as each completes (not in input order: use `index`).
    ///
    /// ```no_run
    /// # async fn run(client: plain_client::PlainClient, inputs: Vec<plain_client::UpsertCustomerInput>) {
    /// use futures_util::StreamExt;
    ///
    /// let mut outcomes = client.upsert_customers(inputs, 8, plain_client::bulk::Cancel::new());
    /// while let Some(outcome) = outcomes.next().await {
    ///     match outcome.result {
    ///         Ok(upserted) => println!("{} {:?}", outcome.index, upserted.result),
    ///         Err(error) => eprintln!("{}: {error}", outcome.index),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn upsert_customers<I>(
        &self,
        inputs: I,
        concurrency: usize,
        cancel: Cancel,
    ) -> impl Stream<Item = BulkOutcome> + Send + 'static
    where
        I: IntoIterator<Item = UpsertCustomerInput>,
        I::IntoIter: Send + 'static,
    {
        self.upsert_customers_stream(stream::iter(inputs), concurrency, cancel)
    }

    /// Like [`PlainClient::upsert_customers`], for inputs that arrive as a stream (read from a
    /// file or a queue, say). The stream is polled only when a slot is free.
    pub fn upsert_customers_stream<S>(
        &self,
        inputs: S,
        concurrency: usize,
        cancel: Cancel,
    ) -> impl Stream<Item = BulkOutcome> + Send + 'static
    where
        S: Stream<Item = UpsertCustomerInput> + Send + 'static,
    {
        let client = self.clone();
        // An input that arrives together with the cancel is not taken either.
        let taken = cancel.clone();
        // Boxed, so that the stream of outcomes is `Unpin` whatever the inputs are.
        Box::pin(inputs)
            .take_until(Box::pin(cancel.cancelled()))
            .take_while(move |_| std::future::ready(!taken.is_cancelled()))
            .enumerate()
            .map(move |(index, input)| {
                let client = client.clone();
                // A task per request: dropping the stream does not cut a request off midway.
                // Boxed first, so that spawning moves a pointer, not the whole request's state.
                let task =
                    tokio::spawn(Box::pin(async move { client.upsert_customer(input).await }));
                async move {
                    let result = match task.await {
                        Ok(result) => result,
                        Err(join) if join.is_panic() => {
                            std::panic::resume_unwind(join.into_panic())
                        }
                        Err(_) => Err(crate::Error::Interrupted),
                    };
                    BulkOutcome { index, result }
                }
            })
            .buffer_unordered(concurrency.max(1))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_cancel_ends_an_intake_that_is_waiting_for_its_next_input() {
        let client = PlainClient::builder()
            .api_key("k")
            .endpoint("http://127.0.0.1:9/graphql/v1")
            .build()
            .unwrap();
        let cancel = Cancel::new();
        let mut outcomes =
            Box::pin(client.upsert_customers_stream(stream::pending(), 4, cancel.clone()));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            cancel.cancel();
        });
        // Only a hang reaches the limit: the input never comes.
        let next = tokio::time::timeout(Duration::from_secs(60), outcomes.next()).await;
        assert!(matches!(next, Ok(None)), "the intake did not end");
    }
}
