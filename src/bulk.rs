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
        intake(inputs, cancel)
            .map(move |(index, input)| {
                let client = client.clone();
                // A task per request: dropping the stream does not cut a request off midway.
                // Boxed first, so that spawning moves a pointer, not the whole request's state.
                let task =
                    tokio::spawn(Box::pin(async move { client.upsert_customer(input).await }));
                async move {
                    BulkOutcome {
                        index,
                        result: joined(task).await,
                    }
                }
            })
            .buffer_unordered(concurrency.max(1))
    }
}

/// The outcome of one input of [`PlainClient::upsert_changed_customers`].
#[cfg(feature = "state")]
#[cfg_attr(docsrs, doc(cfg(feature = "state")))]
#[derive(Debug)]
#[non_exhaustive]
pub struct SyncOutcome {
    /// The input's position in what was given, from 0.
    pub index: usize,
    /// Unchanged (nothing sent), or what Plain answered, after retries.
    pub result: Result<crate::state::Synced>,
}

#[cfg(feature = "state")]
#[cfg_attr(docsrs, doc(cfg(feature = "state")))]
impl PlainClient {
    /// Like [`PlainClient::upsert_customers_stream`], sending only the inputs that differ from
    /// what `state` says Plain last confirmed, and recording Plain's answers in it. See
    /// [`crate::state`] for an example, and for what survives a crash.
    ///
    /// Inputs for one customer are sent in the order given, one at a time: when the same
    /// identifier comes twice, the later input is what Plain and the state end with.
    ///
    /// Bind the state to the client's workspace first ([`StateStore::bind`]): an unbound
    /// state skips nothing. An answer the state does not record comes as
    /// [`Synced::NotRecorded`](crate::state::Synced::NotRecorded).
    ///
    /// The state commits as it goes and when the stream ends; call [`StateStore::commit`]
    /// afterwards to learn whether every answer was recorded.
    ///
    /// [`StateStore::commit`]: crate::state::StateStore::commit
    /// [`StateStore::bind`]: crate::state::StateStore::bind
    pub fn upsert_changed_customers<S>(
        &self,
        inputs: S,
        concurrency: usize,
        cancel: Cancel,
        state: &crate::state::StateStore,
    ) -> impl Stream<Item = SyncOutcome> + Send + Unpin + 'static
    where
        S: Stream<Item = UpsertCustomerInput> + Send + 'static,
    {
        let client = self.clone();
        let state = state.clone();
        let end = state.clone();
        // Boxed, so that the stream of outcomes is `Unpin`, as `upsert_customers`' is.
        Box::pin(
            intake(inputs, cancel)
                .map(move |(index, input)| {
                    // Admitted here, in input order: that is what orders inputs for one customer.
                    let admission = state.admit(&input);
                    let (client, state) = (client.clone(), state.clone());
                    let task = tokio::spawn(Box::pin(async move {
                        client.upsert_admitted(&state, input, admission).await
                    }));
                    async move {
                        SyncOutcome {
                            index,
                            result: joined(task).await,
                        }
                    }
                })
                .buffer_unordered(concurrency.max(1))
                .chain(
                    stream::once(async move { end.flush() })
                        .filter_map(|_| std::future::ready(None)),
                ),
        )
    }

    /// Upserts one input if it differs from what `state` says Plain last confirmed, and
    /// records Plain's answer. Waits while an earlier upsert of the same customer through
    /// `state` is in flight.
    pub async fn upsert_customer_if_changed(
        &self,
        input: UpsertCustomerInput,
        state: &crate::state::StateStore,
    ) -> Result<crate::state::Synced> {
        let admission = state.admit(&input);
        let synced = self.upsert_admitted(state, input, admission).await;
        state.flush();
        synced
    }

    /// Upserts an input [`StateStore::admit`] admitted (after its turn, if it was told to
    /// wait), and records Plain's answer: the step [`PlainClient::upsert_changed_customers`]
    /// takes for each input, for a loop of your own that admits inputs in order.
    ///
    /// [`StateStore::admit`]: crate::state::StateStore::admit
    pub async fn upsert_admitted(
        &self,
        state: &crate::state::StateStore,
        input: UpsertCustomerInput,
        mut admission: crate::state::Admission,
    ) -> Result<crate::state::Synced> {
        use crate::state::{Admission, Synced};
        loop {
            match admission {
                Admission::Unchanged { customer_id } => {
                    return Ok(Synced::Unchanged { customer_id })
                }
                Admission::Wait(turn) => {
                    let ready = turn.ready().await;
                    admission = state.admit_turn(&input, ready);
                }
                Admission::Send(admitted) => {
                    let result = self.upsert_customer(input).await;
                    // Recorded only once Plain confirmed it; otherwise dropping `admitted`
                    // lets the next input for the customer go.
                    let upserted = result?;
                    return Ok(match admitted.confirm(&upserted) {
                        Ok(()) => Synced::Upserted(upserted),
                        Err(unrecorded) => Synced::NotRecorded {
                            upserted,
                            reason: unrecorded.reason,
                        },
                    });
                }
            }
        }
    }
}

/// The inputs a bulk upsert takes, numbered from 0, until `cancel`.
fn intake<S>(
    inputs: S,
    cancel: Cancel,
) -> impl Stream<Item = (usize, UpsertCustomerInput)> + Send + 'static
where
    S: Stream<Item = UpsertCustomerInput> + Send + 'static,
{
    // An input that arrives together with the cancel is not taken either.
    let taken = cancel.clone();
    // Boxed, so that the stream of outcomes is `Unpin` whatever the inputs are.
    Box::pin(inputs)
        .take_until(Box::pin(cancel.cancelled()))
        .take_while(move |_| std::future::ready(!taken.is_cancelled()))
        .enumerate()
}

/// A request's task, when it ends: its panic goes on, a cancel is [`crate::Error::Interrupted`].
async fn joined<T>(task: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
    match task.await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(crate::Error::Interrupted),
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
