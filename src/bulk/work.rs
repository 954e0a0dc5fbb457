//! What each job does with one record: how it is taken (against the state, in input order)
//! and how it is sent.

use std::future::Future;
use std::sync::Arc;

use std::convert::Infallible;

use super::import::{qualify, send_batch, BatchAnswer, Qualified};
use super::upsert::{upsert_one, UpsertTicket};
use super::{Deletion, Done};
use crate::client::PlainClient;
use crate::error::Result;
use crate::input::UpsertCustomerInput;
#[cfg(feature = "state")]
use crate::state::{Admission, PendingDeletion, StateStore};
use crate::task::joined;

/// A kind of record a run takes: how it is taken (against the state, in input order) and how
/// it is sent. The record comes back with its outcome, so a caller keeps no copy of it.
pub(crate) trait Job: Clone + Send + Sync + 'static {
    /// What the state gave a record about to be sent.
    type Ticket: Send + 'static;
    /// The proof that a record goes in a batch (never, for a job that does not batch).
    type Batched: Send + 'static;

    /// Takes a record: called in input order, which is what orders records of one customer.
    fn intake(self, checks: &Checks) -> Intake<Self>;

    /// Sends the record with what its intake gave it.
    fn send(
        record: Arc<Self>,
        ticket: Self::Ticket,
        client: PlainClient,
    ) -> impl Future<Output = Result<Done>> + Send + 'static;

    /// Sends a batch of records that each came as [`Intake::Batch`].
    fn send_batch(
        records: Arc<Vec<Self>>,
        members: Vec<(Self::Ticket, Self::Batched)>,
        client: PlainClient,
    ) -> impl Future<Output = BatchAnswer> + Send + 'static;

    /// Whether the record must wait for an earlier one of the same customer.
    fn waits(ticket: &Self::Ticket) -> bool;

    /// Whether two records of a batch name the same customer: a batch carries each once.
    fn same_customer(&self, other: &Self) -> bool;
}

/// How a record is taken.
#[expect(
    clippy::large_enum_variant,
    reason = "an intake is matched at once: boxing it would cost an allocation a record"
)]
pub(crate) enum Intake<R: Job> {
    /// Decided without a request. `commit`: the outcome comes once the state committed.
    Now { record: R, done: Done, commit: bool },
    /// To send when a slot and the breaker allow.
    Send(R, R::Ticket),
    /// To send in a batch ([`super::Bulk::import`]).
    Batch(R, R::Ticket, R::Batched),
}

/// What a run's records are checked against.
pub(crate) struct Checks {
    #[cfg(feature = "state")]
    pub(super) state: Option<StateStore>,
    pub(super) dry_run: bool,
    pub(super) import: bool,
}

/// Sends a record in a task of its own: dropping the run does not cut a request off midway.
/// The record is shared with the task, and given back whole once the task has ended.
pub(super) async fn spawned<R: Job>(
    record: R,
    ticket: R::Ticket,
    client: &PlainClient,
) -> (R, Result<Done>) {
    let record = Arc::new(record);
    // Boxed first, so that spawning moves a pointer, not the whole request's state.
    let task = tokio::spawn(Box::pin(R::send(record.clone(), ticket, client.clone())));
    let result = joined(task).await;
    // The task's future, and its share of the record, is dropped before its handle is ready;
    // a copy is made only if it ever were not.
    let record = Arc::try_unwrap(record).unwrap_or_else(|shared| R::clone(&shared));
    (record, result)
}

impl Job for UpsertCustomerInput {
    type Ticket = UpsertTicket;
    type Batched = Qualified;

    fn intake(self, checks: &Checks) -> Intake<Self> {
        let batched = if checks.import { qualify(&self) } else { None };
        #[cfg(feature = "state")]
        if let Some(state) = &checks.state {
            return match (state.admit(&self), batched) {
                (Admission::Unchanged { customer_id }, _) => Intake::Now {
                    record: self,
                    done: Done::Unchanged { customer_id },
                    commit: true,
                },
                (admission @ Admission::Send(_), Some(batched)) => {
                    Intake::Batch(self, Some((state.clone(), admission)), batched)
                }
                (admission, _) => Intake::Send(self, Some((state.clone(), admission))),
            };
        }
        #[cfg(feature = "state")]
        let ticket = None;
        #[cfg(not(feature = "state"))]
        let ticket = ();
        match batched {
            Some(batched) => Intake::Batch(self, ticket, batched),
            None => Intake::Send(self, ticket),
        }
    }

    async fn send(input: Arc<Self>, ticket: UpsertTicket, client: PlainClient) -> Result<Done> {
        upsert_one(&client, &input, ticket).await
    }

    async fn send_batch(
        records: Arc<Vec<Self>>,
        members: Vec<(UpsertTicket, Qualified)>,
        client: PlainClient,
    ) -> BatchAnswer {
        let tickets = members.into_iter().map(|(ticket, _)| ticket).collect();
        send_batch(records, tickets, client).await
    }

    fn waits(ticket: &UpsertTicket) -> bool {
        #[cfg(feature = "state")]
        return matches!(ticket, Some((_, Admission::Wait(_))));
        #[cfg(not(feature = "state"))]
        {
            let () = ticket;
            false
        }
    }

    fn same_customer(&self, other: &Self) -> bool {
        self.identifier == other.identifier
    }
}

/// A deletion written ahead in the state (`None` without one).
#[cfg(feature = "state")]
type DeleteTicket = Option<PendingDeletion>;
#[cfg(not(feature = "state"))]
type DeleteTicket = ();

impl Job for Deletion {
    type Ticket = DeleteTicket;
    type Batched = Infallible;

    fn intake(self, checks: &Checks) -> Intake<Self> {
        #[cfg(feature = "state")]
        let mut pending = None;
        #[cfg(feature = "state")]
        if let Some(state) = &checks.state {
            let (id, identifier, list) = (
                self.customer_id.as_str(),
                self.identifier.as_ref(),
                self.list.as_ref(),
            );
            let checked = if checks.dry_run {
                state.check_deletion(id, identifier, list).map(|()| None)
            } else {
                state.prepare_deletion(id, identifier, list).map(Some)
            };
            match checked {
                Ok(allowed) => pending = allowed,
                Err(refused) => {
                    return Intake::Now {
                        record: self,
                        done: Done::Refused(refused),
                        commit: false,
                    }
                }
            }
        }
        if checks.dry_run {
            let customer_id = self.customer_id.clone();
            return Intake::Now {
                record: self,
                done: Done::WouldDelete { customer_id },
                commit: false,
            };
        }
        #[cfg(feature = "state")]
        return Intake::Send(self, pending);
        #[cfg(not(feature = "state"))]
        Intake::Send(self, ())
    }

    async fn send(deletion: Arc<Self>, ticket: DeleteTicket, client: PlainClient) -> Result<Done> {
        let customer_id = deletion.customer_id.clone();
        drop(deletion);
        let done = match client.delete_customer(customer_id.clone()).await {
            Ok(()) => Done::Deleted { customer_id },
            Err(error) => match error.mutation_error() {
                Some(rejected) if rejected.code == "not_found" => Done::NotFound { customer_id },
                // With a state, the customer stays marked as no longer synced, and
                // still missing: the deletion can be tried again.
                _ => return Err(error),
            },
        };
        #[cfg(feature = "state")]
        if let Some(pending) = ticket {
            pending.finish();
        }
        #[cfg(not(feature = "state"))]
        let () = ticket;
        Ok(done)
    }

    async fn send_batch(
        _: Arc<Vec<Self>>,
        members: Vec<(DeleteTicket, Infallible)>,
        _: PlainClient,
    ) -> BatchAnswer {
        match members.into_iter().next() {
            Some((_, never)) => match never {},
            None => BatchAnswer::default(),
        }
    }

    fn waits(_: &DeleteTicket) -> bool {
        false
    }

    fn same_customer(&self, other: &Self) -> bool {
        self.customer_id == other.customer_id
    }
}
