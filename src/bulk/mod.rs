//! Many records through one engine: bounded concurrency, the stops, the state, one outcome per
//! record taken.
//!
//! [`PlainClient::bulk`] starts a [`Bulk`] run; its options come first, builder style, then
//! the job: [`Bulk::upsert`] or [`Bulk::delete`] (each with a `_stream` twin for records that
//! arrive as a stream). The run is a [`BulkRun`], a stream of [`BulkOutcome`]s, one per record
//! it took, in the order they end. `plain sync-customers` and `plain delete-customers` run
//! through the same engine, so a library user gets what the command does:
//!
//! - **Bounded concurrency.** At most [`Bulk::concurrency`] requests at once (8 unless set);
//!   records are taken from the input only as a slot frees up (with [`Bulk::import`], up to
//!   25 gather in the batch that takes the next slot), so memory is bounded by the
//!   concurrency, not by the number of records. Each request runs in its own task with the
//!   client's retry policy and shared rate-limit pacing.
//! - **Stops.** The run stops taking records ([`BulkRun::stop`] says why) on a [`Cancel`]; when
//!   Plain refuses the API key or a permission (401 or 403: every record would fail the same
//!   way); and when Plain looks unavailable for longer than [`Bulk::outage_limit`] (see
//!   below). Requests in flight still finish, and are reported. A record is taken only when it
//!   can be sent at once, and records never taken are never reported, so a caller knows
//!   exactly what was not attempted.
//! - **Outages.** When 8 of the last 10 records failed with server errors or broken
//!   connections (after their retries), the run pauses, 1 s doubling up to 60 s, then sends one
//!   record: its success resumes the run, its failure pauses again. The run stops once the
//!   pauses would add up to more than the outage limit (15 minutes unless set).
//! - **The state** (feature `state`, [`Bulk::state`]): an upsert the state says Plain already
//!   has is not sent ([`Done::Unchanged`]); upserts of one customer go in input order, one at a
//!   time; Plain's answers are recorded, and an outcome that depends on the state comes only
//!   once the state committed it, so whatever a caller wrote for an outcome, the state holds
//!   it. Deletions are checked against the state and written ahead.
//!
//! ```no_run
//! # async fn run(client: plain_client::PlainClient, inputs: Vec<plain_client::UpsertCustomerInput>) {
//! use plain_client::bulk::Done;
//!
//! let mut run = client.bulk().concurrency(8).upsert(inputs);
//! while let Some(outcome) = run.next().await {
//!     // Without a tag of your own, an upsert's tag is the input's identifier.
//!     match outcome.result {
//!         Ok(Done::Upserted(upserted)) => println!("{:?}: {}", outcome.tag, upserted.result),
//!         Ok(other) => println!("{:?}: {other:?}", outcome.tag),
//!         Err(error) => eprintln!("{:?}: {error}", outcome.tag),
//!     }
//! }
//! if let Some(stop) = run.stop() {
//!     eprintln!("stopped early: {stop}");
//! }
//! # }
//! ```
//!
//! Each outcome gives its record back ([`BulkOutcome::record`]), so a caller that writes
//! failed records somewhere keeps no copy. A record may also carry a tag of the caller's,
//! given back with its outcome: pass `(tag, input)` pairs (a row id, a line number).

mod breaker;
mod engine;
mod import;
mod run;
mod upsert;
mod work;

use std::fmt;
use std::time::Duration;

use futures_util::stream::{self, BoxStream, Stream, StreamExt};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::client::PlainClient;
use crate::error::Result;
use crate::input::{CustomerIdentifier, UpsertCustomerInput};
use crate::operations::upsert_customer::{UpsertResult, UpsertedCustomer};
#[cfg(feature = "state")]
use crate::state::{DeletionRefused, MissingList, StateStore};

pub use import::import_form;
pub use run::BulkRun;
use work::Job;

/// The concurrency of a run unless [`Bulk::concurrency`] says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// How long a run waits out an outage in all unless [`Bulk::outage_limit`] says otherwise.
pub const DEFAULT_OUTAGE_LIMIT: Duration = Duration::from_secs(900);

/// Stops a bulk run from taking more records. Cheap to clone; all clones are one handle.
///
/// A cancel takes effect at once, even while the run is waiting for its next record (a queue
/// or a pipe that has nothing yet).
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    token: CancellationToken,
}

impl Cancel {
    /// A handle that has not been used.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the intake: no record is taken after this; requests in flight finish.
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

/// Why a run stopped taking records before the end of its input: see [`BulkRun::stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stop {
    /// [`Cancel::cancel`] was called, or the run's outcomes were dropped.
    Cancelled,
    /// Plain refused the API key or a permission (HTTP 401 or 403): every record would fail
    /// the same way.
    Unauthorized,
    /// Plain looked unavailable for longer than the outage limit.
    Outage,
    /// The state could no longer record Plain's answers.
    StateFailed,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::Cancelled => "the run was cancelled",
            Stop::Unauthorized => "Plain refused the API key, so every record would fail",
            Stop::Outage => "Plain looked unavailable for longer than the outage limit",
            Stop::StateFailed => "the state could no longer record Plain's answers",
        })
    }
}

/// What became of a record (Plain's failures are the `Err` of [`BulkOutcome::result`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Done {
    /// The upsert was sent, and this is Plain's answer (recorded, with a state).
    Upserted(UpsertedCustomer),
    /// The state says Plain already has this very input: nothing was sent.
    Unchanged {
        /// Plain's id for the customer, as recorded: `None` when Plain confirmed it in a
        /// batch, which names no customer.
        customer_id: Option<String>,
    },
    /// The upsert was sent and Plain answered, but the answer is not one the state records: a
    /// result this version does not know, or a customer that does not match the input's
    /// identifier. The next run sends it again.
    NotRecorded {
        /// Plain's answer, as it came.
        upserted: UpsertedCustomer,
        /// Why it was not recorded.
        reason: String,
    },
    /// Plain confirmed the record (the outcome inside), and the state could not commit it:
    /// the next run sends it again. [`crate::state::StateStore::commit`] says why.
    Unrecorded(Box<Done>),
    /// Plain confirmed the record in a batch ([`Bulk::import`]): its counts add up to the
    /// batch and nothing was skipped. Plain names no customer in a batch's answer, so there
    /// is no customer id (with a state, the record is kept without one until an answer names
    /// it).
    Imported {
        /// Plain's request id of the batch's answer.
        request_id: Option<String>,
    },
    /// Plain deleted the customer.
    Deleted {
        /// Plain's id for the customer.
        customer_id: String,
    },
    /// Plain no longer had the customer (`not_found`): as good as deleted.
    NotFound {
        /// Plain's id for the customer.
        customer_id: String,
    },
    /// A dry run ([`Bulk::dry_run`]): the deletion is allowed, and was not sent.
    WouldDelete {
        /// Plain's id for the customer.
        customer_id: String,
    },
    /// The state did not allow the deletion; nothing was sent.
    #[cfg(feature = "state")]
    #[cfg_attr(docsrs, doc(cfg(feature = "state")))]
    Refused(DeletionRefused),
}

impl Done {
    /// The result as `plain sync-customers` writes it: Plain's (`CREATED`, ...), or
    /// `UNCHANGED`, `IMPORTED`, `DELETED`, `NOT_FOUND`, `WOULD_DELETE`, `REFUSED`.
    pub fn as_str(&self) -> &str {
        match self {
            Done::Upserted(upserted) | Done::NotRecorded { upserted, .. } => {
                upserted.result.as_str()
            }
            Done::Unchanged { .. } => "UNCHANGED",
            Done::Imported { .. } => "IMPORTED",
            Done::Unrecorded(done) => done.as_str(),
            Done::Deleted { .. } => "DELETED",
            Done::NotFound { .. } => "NOT_FOUND",
            Done::WouldDelete { .. } => "WOULD_DELETE",
            #[cfg(feature = "state")]
            Done::Refused(_) => "REFUSED",
        }
    }

    /// Plain's id for the customer, when the outcome knows it.
    pub fn customer_id(&self) -> Option<&str> {
        match self {
            Done::Upserted(upserted) | Done::NotRecorded { upserted, .. } => {
                Some(&upserted.customer.id)
            }
            Done::Unchanged { customer_id } => customer_id.as_deref(),
            Done::Deleted { customer_id }
            | Done::NotFound { customer_id }
            | Done::WouldDelete { customer_id } => Some(customer_id),
            Done::Unrecorded(done) => done.customer_id(),
            Done::Imported { .. } => None,
            #[cfg(feature = "state")]
            Done::Refused(_) => None,
        }
    }

    /// Plain's result, for an upsert Plain answered.
    pub fn upsert_result(&self) -> Option<&UpsertResult> {
        match self {
            Done::Upserted(upserted) | Done::NotRecorded { upserted, .. } => Some(&upserted.result),
            Done::Unrecorded(done) => done.upsert_result(),
            _ => None,
        }
    }
}

/// The outcome of one record of a bulk run.
#[derive(Debug)]
#[non_exhaustive]
pub struct BulkOutcome<T, R = UpsertCustomerInput> {
    /// The record's position in the input, from 0.
    pub index: u64,
    /// The caller's tag for the record (an upsert's identifier, a deletion's customer id,
    /// unless the record came as a `(tag, record)` pair).
    pub tag: T,
    /// The record itself, given back as it was taken: an [`UpsertCustomerInput`] or a
    /// [`Deletion`]. A caller that writes failed records somewhere keeps no copy of its own.
    pub record: R,
    /// What became of it, or Plain's failure, after retries.
    pub result: Result<Done>,
}

/// A customer to delete: see [`Bulk::delete`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deletion {
    /// Plain's id for the customer.
    pub customer_id: String,
    /// The identifier it was synced by: with a state, the deletion is allowed only while it
    /// still leads to the same customer.
    pub identifier: Option<CustomerIdentifier>,
    /// The missing list that named it (`sync-customers --missing`): with a state, the
    /// deletion is allowed only while the state still says it is missing since that list.
    #[cfg(feature = "state")]
    #[cfg_attr(docsrs, doc(cfg(feature = "state")))]
    pub list: Option<MissingList>,
}

impl Deletion {
    /// The customer with Plain's id `customer_id`.
    pub fn new(customer_id: impl Into<String>) -> Self {
        Self {
            customer_id: customer_id.into(),
            identifier: None,
            #[cfg(feature = "state")]
            list: None,
        }
    }

    /// The identifier it was synced by.
    #[must_use]
    pub fn identifier(mut self, identifier: CustomerIdentifier) -> Self {
        self.identifier = Some(identifier);
        self
    }

    /// The missing list that named it.
    #[cfg(feature = "state")]
    #[cfg_attr(docsrs, doc(cfg(feature = "state")))]
    #[must_use]
    pub fn list(mut self, list: MissingList) -> Self {
        self.list = Some(list);
        self
    }
}

/// A record of a bulk run and the tag its outcome carries: the record alone (tagged with its
/// identifier or customer id), or a `(tag, record)` pair.
pub trait Tagged<R> {
    /// What the outcome carries back.
    type Tag: Send + 'static;
    /// The tag and the record.
    fn split(self) -> (Self::Tag, R);
}

impl Tagged<UpsertCustomerInput> for UpsertCustomerInput {
    type Tag = CustomerIdentifier;
    fn split(self) -> (CustomerIdentifier, UpsertCustomerInput) {
        (self.identifier.clone(), self)
    }
}

impl<T: Send + 'static> Tagged<UpsertCustomerInput> for (T, UpsertCustomerInput) {
    type Tag = T;
    fn split(self) -> (T, UpsertCustomerInput) {
        self
    }
}

impl Tagged<Deletion> for Deletion {
    type Tag = String;
    fn split(self) -> (String, Deletion) {
        (self.customer_id.clone(), self)
    }
}

impl<T: Send + 'static> Tagged<Deletion> for (T, Deletion) {
    type Tag = T;
    fn split(self) -> (T, Deletion) {
        self
    }
}

/// A bulk run's options, before its job: see the [module](self).
#[derive(Debug, Clone)]
#[must_use = "a bulk run does nothing until its job is given"]
pub struct Bulk {
    client: PlainClient,
    concurrency: usize,
    cancel: Cancel,
    outage_limit: Duration,
    dry_run: bool,
    import: bool,
    #[cfg(feature = "state")]
    state: Option<StateStore>,
}

impl PlainClient {
    /// A bulk run through this client: set its options, then give it its job
    /// ([`Bulk::upsert`], [`Bulk::delete`]). See [`crate::bulk`].
    pub fn bulk(&self) -> Bulk {
        Bulk {
            client: self.clone(),
            concurrency: DEFAULT_CONCURRENCY,
            cancel: Cancel::new(),
            outage_limit: DEFAULT_OUTAGE_LIMIT,
            dry_run: false,
            import: false,
            #[cfg(feature = "state")]
            state: None,
        }
    }
}

impl Bulk {
    /// At most this many requests at once (at least 1; 8 unless set).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// A handle that stops the run: see [`Cancel`]. Without one, the run takes every record
    /// (unless it stops for another reason), or until its outcomes are dropped.
    pub fn cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// Stops the run once Plain has looked unavailable for longer than this in all (15
    /// minutes unless set): see the [module](self).
    pub fn outage_limit(mut self, limit: Duration) -> Self {
        self.outage_limit = limit;
        self
    }

    /// Deletions: check each one (against the state, with one) and send nothing; each
    /// allowed deletion ends as [`Done::WouldDelete`].
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Upserts: send the records that `importCustomers` can carry exactly ([`import_form`]
    /// says which) 25 to a request, and every other record through `upsertCustomer` as
    /// usual. A batch whose counts do not add up, that skipped anything, or that failed with
    /// a `MutationError` or another failure of its own, is sent again record by record
    /// through `upsertCustomer`, so each record ends with its own result. A record confirmed
    /// by a batch ends as [`Done::Imported`].
    ///
    /// A batch is sent once it holds 25 records, or 20 ms after the input first had no record
    /// ready for it (a slow input never holds records back); it takes one slot of
    /// [`Bulk::concurrency`].
    pub fn import(mut self, import: bool) -> Self {
        self.import = import;
        self
    }

    /// Upserts only what differs from what `state` says Plain last confirmed, and records
    /// Plain's answers in it; deletions are checked against it and written ahead. Bind the
    /// state first ([`StateStore::bind`]): an unbound state skips nothing. Call
    /// [`StateStore::commit`] after the run to learn whether everything was recorded.
    #[cfg(feature = "state")]
    #[cfg_attr(docsrs, doc(cfg(feature = "state")))]
    pub fn state(mut self, state: &StateStore) -> Self {
        self.state = Some(state.clone());
        self
    }

    /// Upserts every input of an iterator: see the [module](self).
    pub fn upsert<I>(self, inputs: I) -> BulkRun<<I::Item as Tagged<UpsertCustomerInput>>::Tag>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Tagged<UpsertCustomerInput>,
    {
        self.upsert_stream(stream::iter(inputs))
    }

    /// Upserts every input of a stream (read from a file or a queue, say). The stream is
    /// polled only when the run can take a record.
    pub fn upsert_stream<S>(
        self,
        inputs: S,
    ) -> BulkRun<<S::Item as Tagged<UpsertCustomerInput>>::Tag>
    where
        S: Stream + Send + 'static,
        S::Item: Tagged<UpsertCustomerInput>,
    {
        self.start(inputs.map(Tagged::split))
    }

    /// Deletes every customer an iterator names.
    pub fn delete<I>(self, deletions: I) -> BulkRun<<I::Item as Tagged<Deletion>>::Tag, Deletion>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Tagged<Deletion>,
    {
        self.delete_stream(stream::iter(deletions))
    }

    /// Deletes every customer a stream names.
    pub fn delete_stream<S>(
        self,
        deletions: S,
    ) -> BulkRun<<S::Item as Tagged<Deletion>>::Tag, Deletion>
    where
        S: Stream + Send + 'static,
        S::Item: Tagged<Deletion>,
    {
        self.start(deletions.map(Tagged::split))
    }

    fn start<T: Send + 'static, R: Job>(
        self,
        records: impl Stream<Item = (T, R)> + Send + 'static,
    ) -> BulkRun<T, R> {
        let records: BoxStream<'static, (T, R)> = Box::pin(records);
        run::start(self, records)
    }
}
