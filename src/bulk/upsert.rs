//! One upsert as a bulk run sends it: through the state, when the state admitted it.

use super::Done;
use crate::client::PlainClient;
use crate::error::Result;
use crate::input::UpsertCustomerInput;
#[cfg(feature = "state")]
use crate::state::{Admission, StateStore};

/// What the state gave an upsert: its admission (`None` without a state).
#[cfg(feature = "state")]
pub(super) type UpsertTicket = Option<(StateStore, Admission)>;
/// What the state gave an upsert: nothing, without the `state` feature.
#[cfg(not(feature = "state"))]
pub(super) type UpsertTicket = ();

/// One upsert, through the state when it has a ticket from it.
#[cfg_attr(not(feature = "state"), allow(clippy::let_unit_value))]
pub(super) async fn upsert_one(
    client: &PlainClient,
    input: &UpsertCustomerInput,
    ticket: UpsertTicket,
) -> Result<Done> {
    #[cfg(feature = "state")]
    if let Some((state, admission)) = ticket {
        return upsert_admitted(client, &state, input, admission).await;
    }
    let _ = ticket;
    client.upsert_customer_ref(input).await.map(Done::Upserted)
}

/// An upsert the state admitted: sent after its turn, if it was told to wait, and Plain's
/// answer recorded.
#[cfg(feature = "state")]
async fn upsert_admitted(
    client: &PlainClient,
    state: &StateStore,
    input: &UpsertCustomerInput,
    mut admission: Admission,
) -> Result<Done> {
    loop {
        match admission {
            Admission::Unchanged { customer_id } => return Ok(Done::Unchanged { customer_id }),
            Admission::Wait(turn) => {
                let ready = turn.ready().await;
                admission = state.admit_turn(input, ready);
            }
            Admission::Send(admitted) => {
                // Recorded only once Plain confirmed it; otherwise dropping `admitted` lets
                // the next input for the customer go.
                let upserted = client.upsert_customer_ref(input).await?;
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
