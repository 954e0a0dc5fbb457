//! What each job does with one record: how it is taken (against the state, in input order)
//! and how it is sent.

use tokio::task::JoinHandle;

use super::{Deletion, Done};
use crate::client::PlainClient;
use crate::error::{Error, Result};
use crate::input::UpsertCustomerInput;
#[cfg(feature = "state")]
use crate::state::{Admission, PendingDeletion, StateStore};

/// A record of a run: the job it is for.
pub(crate) enum Work {
    Upsert(UpsertCustomerInput),
    Delete(Deletion),
}

/// How a record is taken.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every record is sent: boxing them would cost an allocation each"
)]
pub(super) enum Intake {
    /// Decided without a request. `commit`: the outcome comes once the state committed.
    Now { done: Done, commit: bool },
    /// To send when a slot and the breaker allow.
    Send(Sending),
}

/// A record about to be sent, with what the state gave it.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every record is an upsert: boxing them would cost an allocation each"
)]
pub(super) enum Sending {
    Upsert {
        input: UpsertCustomerInput,
        #[cfg(feature = "state")]
        admission: Option<(StateStore, Admission)>,
    },
    Delete {
        customer_id: String,
        #[cfg(feature = "state")]
        pending: Option<PendingDeletion>,
    },
}

/// What a run's records are checked against.
pub(super) struct Checks {
    #[cfg(feature = "state")]
    pub(super) state: Option<StateStore>,
    pub(super) dry_run: bool,
}

impl Work {
    /// Takes a record: called in input order, which is what orders records of one customer.
    pub(super) fn intake(self, checks: &Checks) -> Intake {
        match self {
            Work::Upsert(input) => {
                #[cfg(feature = "state")]
                if let Some(state) = &checks.state {
                    return match state.admit(&input) {
                        Admission::Unchanged { customer_id } => Intake::Now {
                            done: Done::Unchanged { customer_id },
                            commit: true,
                        },
                        admission => Intake::Send(Sending::Upsert {
                            input,
                            admission: Some((state.clone(), admission)),
                        }),
                    };
                }
                Intake::Send(Sending::Upsert {
                    input,
                    #[cfg(feature = "state")]
                    admission: None,
                })
            }
            Work::Delete(deletion) => deletion.intake(checks),
        }
    }
}

impl Deletion {
    fn intake(self, checks: &Checks) -> Intake {
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
                        done: Done::Refused(refused),
                        commit: false,
                    }
                }
            }
        }
        if checks.dry_run {
            return Intake::Now {
                done: Done::WouldDelete {
                    customer_id: self.customer_id,
                },
                commit: false,
            };
        }
        Intake::Send(Sending::Delete {
            customer_id: self.customer_id,
            #[cfg(feature = "state")]
            pending,
        })
    }
}

impl Sending {
    /// The request, in a task of its own: dropping the run does not cut a request off midway.
    pub(super) fn spawn(self, client: &PlainClient) -> JoinHandle<Result<Done>> {
        let client = client.clone();
        // Boxed first, so that spawning moves a pointer, not the whole request's state.
        match self {
            Sending::Upsert {
                input,
                #[cfg(feature = "state")]
                admission,
            } => tokio::spawn(Box::pin(async move {
                #[cfg(feature = "state")]
                if let Some((state, admission)) = admission {
                    return upsert_admitted(&client, &state, input, admission).await;
                }
                client.upsert_customer(input).await.map(Done::Upserted)
            })),
            Sending::Delete {
                customer_id,
                #[cfg(feature = "state")]
                pending,
            } => tokio::spawn(Box::pin(async move {
                let done = match client.delete_customer(customer_id.clone()).await {
                    Ok(()) => Done::Deleted { customer_id },
                    Err(error) => match error.mutation_error() {
                        Some(rejected) if rejected.code == "not_found" => {
                            Done::NotFound { customer_id }
                        }
                        // With a state, the customer stays marked as no longer synced, and
                        // still missing: the deletion can be tried again.
                        _ => return Err(error),
                    },
                };
                #[cfg(feature = "state")]
                if let Some(pending) = pending {
                    pending.finish();
                }
                Ok(done)
            })),
        }
    }
}

/// An upsert the state admitted: sent after its turn, if it was told to wait, and Plain's
/// answer recorded.
#[cfg(feature = "state")]
async fn upsert_admitted(
    client: &PlainClient,
    state: &StateStore,
    input: UpsertCustomerInput,
    mut admission: Admission,
) -> Result<Done> {
    loop {
        match admission {
            Admission::Unchanged { customer_id } => return Ok(Done::Unchanged { customer_id }),
            Admission::Wait(turn) => {
                let ready = turn.ready().await;
                admission = state.admit_turn(&input, ready);
            }
            Admission::Send(admitted) => {
                // Recorded only once Plain confirmed it; otherwise dropping `admitted` lets
                // the next input for the customer go.
                let upserted = client.upsert_customer(input).await?;
                return Ok(match admitted.confirm(&upserted) {
                    Ok(()) => Done::Upserted(upserted),
                    Err(unrecorded) => Done::NotRecorded {
                        upserted,
                        reason: unrecorded.reason,
                    },
                });
            }
        }
    }
}

/// Whether a failure says Plain or the way to it is down: a retryable failure that is not
/// the rate limit (which the client paces by itself).
pub(super) fn is_outage(error: &Error) -> bool {
    error.is_retryable() && !error.is_rate_limited()
}
