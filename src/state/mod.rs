//! Remembering what Plain confirmed, so that a re-sync sends only what changed.
//!
//! A [`StateStore`] is a SQLite file holding one entry per customer: Plain's id for it, the
//! identifiers Plain reported for it (email address and external id), a digest of the input
//! last confirmed by Plain, the result and when. A customer Plain confirmed only in a batch
//! (`importCustomers`, which answers counts and names no customer) is held by its external id
//! without an id, until an answer or a look-up names it. An input finds its customer's entry by
//! whichever identifier it names the customer by, so a customer synced by email and later by
//! external id is still one entry. Before an upsert, the input's digest is compared with
//! the entry's: an unchanged input needs no request. After Plain's answer, the answer is
//! recorded. Nothing is recorded before the answer, and only
//! an answer this crate understands is recorded (see [`Done::NotRecorded`](crate::bulk::Done::NotRecorded)), so the state
//! never claims more than Plain confirmed.
//!
//! A state belongs to one workspace: [`StateStore::bind`] asks Plain which workspace the
//! client's key reaches, records it the first time, and refuses another one afterwards. Until
//! it is bound, a store skips nothing.
//!
//! A bulk run given the state ([`Bulk::state`](crate::bulk::Bulk::state)) does all of this for
//! its inputs; the `plain sync-customers --state FILE` command runs the same engine on the same
//! store.
//!
//! ```no_run
//! # async fn run(client: plain_client::PlainClient, inputs: Vec<plain_client::UpsertCustomerInput>) -> Result<(), Box<dyn std::error::Error>> {
//! use plain_client::bulk::Done;
//! use plain_client::state::StateStore;
//!
//! let state = StateStore::open("customers.state")?;
//! state.bind(&client).await?; // the workspace the key reaches, or an error if another one
//! let mut run = client.bulk().state(&state).upsert(inputs);
//! while let Some(outcome) = run.next().await {
//!     match outcome.result {
//!         Ok(Done::Unchanged { customer_id }) => println!("{:?}: unchanged, {customer_id:?}", outcome.tag),
//!         Ok(Done::Upserted(upserted)) => println!("{:?}: {}", outcome.tag, upserted.result),
//!         Ok(other) => println!("{:?}: {other:?}", outcome.tag),
//!         Err(error) => eprintln!("{:?}: {error}", outcome.tag),
//!     }
//! }
//! state.commit()?; // and learn of any failure to record
//! # Ok(()) }
//! ```
//!
//! # What the file holds, and what survives a crash
//!
//! One row per customer, with Plain's id for it (none for a customer confirmed only in a
//! batch, which has an external id instead), its email address (trimmed and lowercased, as
//! Plain compares them) and external id, each unique where present. Confirmations are written in
//! transactions of up to [`COMMIT_EVERY`] records (and when [`StateStore::commit`] is called,
//! or the last handle is dropped), in SQLite's write-ahead log. A process killed at any moment
//! leaves a consistent file: it holds every record whose transaction was committed, and a
//! re-run sends the rest again. Upserts are idempotent, so a record sent twice is harmless.
//! Files of earlier formats are migrated when opened. Format 2 is kept as it is; of format 1
//! (one row per identifier), each customer becomes one entry, and one that had two sends its
//! next input once more.
//!
//! # Deleting what the input no longer has
//!
//! [`StateStore::for_each_missing`] lists the customers no input named since
//! [`StateStore::track_seen`], under a numbered [`MissingList`]. An input that names a customer
//! later takes it off every list written before. [`StateStore::prepare_deletion`] allows a
//! deletion only of a customer a list still names, and writes ahead, durably, that it is no
//! longer synced before the deletion is sent: a crash at any point never leaves a deleted
//! customer recorded as synced. A listed customer held without an id is checked by its
//! identifier ([`StateStore::check_missing`]); its id, once asked of Plain, is recorded with
//! [`StateStore::learn_customer_id`], and it is deleted by that id like any other.
//!
//! # One process at a time
//!
//! The file is opened in SQLite's exclusive locking mode and held until the last handle is
//! dropped: a second process (or a second [`StateStore::open`]) on the same file gets
//! [`StateError::Locked`], and nothing is written. A file that is not a state file of this
//! format (another database, another program's file, a newer format) is refused and left as it
//! is.

mod admission;
mod binding;
mod deletion;
mod error;
mod schema;
mod storage;
mod turns;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::input::CustomerIdentifier;
use crate::UpsertedCustomer;
use storage::{Key, Row, Storage};
use turns::Turns;

pub(crate) use admission::Admission;
pub use binding::Binding;
pub use deletion::{DeletionRefused, MissingList, PendingDeletion};
pub use error::StateError;

/// The format of the files this version reads and writes ([`StateError::NewerFormat`] for
/// newer ones; formats 1 and 2 are migrated).
pub const FORMAT_VERSION: u32 = 3;

/// Confirmations are committed at least every this many records (a bulk run commits as often,
/// and hands over the outcomes of what each commit holds). After a crash, at most this many
/// answers more than those in flight are sent again.
pub const COMMIT_EVERY: usize = 64;

/// ... and at least this often while confirmations arrive.
pub const COMMIT_AFTER: Duration = Duration::from_millis(50);

/// A customer as the state remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// How to name it: its email address if the state knows one, else its external id, else
    /// its id.
    pub identifier: CustomerIdentifier,
    /// Plain's id for the customer: `None` for one Plain confirmed only in a batch
    /// (`importCustomers` names no customer), which the state holds by its external id.
    pub customer_id: Option<String>,
    /// Its email address as Plain last reported it (trimmed and lowercased).
    pub email: Option<String>,
    /// Its external id as Plain last reported it.
    pub external_id: Option<String>,
    /// What Plain answered the last time (`CREATED`, `UPDATED` or `NOOP`).
    pub result: String,
    /// When Plain's answer was recorded.
    pub synced_at: SystemTime,
    /// The number of the first missing list that named it since an input last did.
    pub missing_since: Option<u64>,
    /// Whether a deletion of it was written ahead and not yet confirmed.
    pub deleting: bool,
}

struct Inner {
    storage: Storage,
    turns: Turns,
    /// The first failure to record, kept until [`StateStore::commit`] reports it.
    failure: Option<StateError>,
    /// Whether every input is sent, unchanged or not ([`StateStore::resend_all`]).
    resend: bool,
    /// Whether recording ever failed: from then on nothing is skipped or recorded.
    broken: bool,
    /// Whether the workspace the client reaches is the one the file was built against.
    bound: bool,
    /// Whether only [`StateStore::flush`] and [`StateStore::commit`] commit.
    deferred: bool,
    /// The file's own id.
    state_id: String,
    /// Where inputs are serialized for their digest.
    buffer: Vec<u8>,
}

impl Inner {
    fn fail(&mut self, failure: StateError) {
        self.broken = true;
        self.failure.get_or_insert(failure);
    }

    fn fail_with(&mut self, error: rusqlite::Error) {
        let failure = self.storage.error(error);
        self.fail(failure);
    }

    fn commit_if_due(&mut self) {
        let due = self.storage.uncommitted >= COMMIT_EVERY
            || (self.storage.uncommitted > 0 && self.storage.open_for() >= COMMIT_AFTER);
        if !self.deferred && due {
            if let Err(failure) = self.storage.commit() {
                self.fail(failure);
            }
        }
    }

    /// Finds the customers `names` may name, notes them as named, and returns the keys to
    /// take turns on (the names and the customers' ids, or external ids for those without)
    /// and the customer the first name finds.
    fn look_up(&mut self, names: &[Key]) -> (Vec<Key>, Option<Row>) {
        let mut keys = names.to_vec();
        let mut found: Vec<Row> = Vec::new();
        let mut identified = None;
        for (at, name) in names.iter().enumerate() {
            let row = match found.iter().find(|row| name.names(row)) {
                Some(row) => Some(row.clone()),
                None if self.broken => None,
                None => match self.storage.find(name) {
                    Ok(Some(row)) => {
                        if let Err(e) = self.storage.named(&row) {
                            self.fail_with(e);
                        }
                        let key = row.key();
                        if !keys.contains(&key) {
                            keys.push(key);
                        }
                        found.push(row.clone());
                        Some(row)
                    }
                    Ok(None) => None,
                    Err(e) => {
                        self.fail_with(e);
                        None
                    }
                },
            };
            if at == 0 {
                identified = row;
            }
        }
        (keys, identified)
    }

    fn record(&mut self, digest: &[u8; 16], upserted: &UpsertedCustomer) {
        if self.broken {
            return;
        }
        let customer = &upserted.customer;
        let email = customer.email.email.trim().to_lowercase();
        let written = self.storage.record(
            &customer.id,
            Some(email.as_str()).filter(|e| !e.is_empty()),
            customer.external_id.as_deref(),
            digest,
            upserted.result.as_str(),
        );
        match written {
            Ok(()) => self.commit_if_due(),
            Err(e) => self.fail_with(e),
        }
    }

    /// Records that Plain confirmed, in a batch, the input of `digest` for the customer with
    /// `external_id`: see [`Storage::record_imported`].
    fn record_imported(&mut self, digest: &[u8; 16], external_id: &str, kept_email: Option<&str>) {
        if self.broken {
            return;
        }
        match self
            .storage
            .record_imported(external_id, kept_email, digest)
        {
            Ok(()) => self.commit_if_due(),
            Err(e) => self.fail_with(e),
        }
    }
}

/// The state of a sync: what Plain last confirmed for each customer. Cheap to clone; all
/// clones are one handle on one file, held open (and locked) until the last is dropped.
///
/// See the [module docs](self) for what it holds and what survives a crash.
#[derive(Clone)]
pub struct StateStore {
    inner: Arc<Mutex<Inner>>,
}

impl fmt::Debug for StateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.lock().storage.path)
            .finish_non_exhaustive()
    }
}

impl StateStore {
    /// Opens the state file, creating it if it does not exist (or migrating a file of an
    /// earlier format), and holds it until the last clone is dropped.
    ///
    /// # Errors
    ///
    /// [`StateError::Locked`] when another process has it open, [`StateError::Foreign`] for a
    /// file that is not a state file, [`StateError::NewerFormat`] for a format this version
    /// does not read, [`StateError::Damaged`] or [`StateError::Storage`] when it cannot be
    /// read or created. In none of these cases is the file changed.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StateError> {
        let mut storage = Storage::open(path.as_ref())?;
        let state_id = match storage.meta("state_id") {
            Ok(Some(id)) => id,
            Ok(None) => {
                let id = new_state_id(path.as_ref());
                storage
                    .set_meta("state_id", &id)
                    .map_err(|e| storage.error(e))?;
                storage.commit()?;
                id
            }
            Err(e) => return Err(storage.error(e)),
        };
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                storage,
                turns: Turns::default(),
                failure: None,
                resend: false,
                broken: false,
                bound: false,
                deferred: false,
                state_id,
                buffer: Vec::with_capacity(1024),
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves nothing half-written that SQLite would not
        // roll back: the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.lock().storage.path.clone()
    }

    /// The file's own id, made when the file was: the missing lists it writes carry it.
    pub fn state_id(&self) -> String {
        self.lock().state_id.clone()
    }

    /// Commits the confirmations recorded so far, and reports the first failure to record
    /// one since the store was opened.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when a confirmation could not be written (the upsert itself
    /// succeeded; the next run sends it again).
    pub fn commit(&self) -> Result<(), StateError> {
        let mut inner = self.lock();
        if let Some(failure) = inner.failure.take() {
            return Err(failure);
        }
        inner.storage.commit()
    }

    /// Commits what was recorded so far, if anything; a failure is kept for
    /// [`StateStore::commit`] to report, and the file then holds exactly what the last good
    /// commit left. Returns whether everything recorded so far is committed.
    pub(crate) fn flush(&self) -> bool {
        let mut inner = self.lock();
        if inner.storage.uncommitted > 0 {
            if let Err(failure) = inner.storage.commit() {
                inner.fail(failure);
            }
        }
        !inner.broken
    }

    /// From now on, confirmations are committed only by [`StateStore::flush`] and
    /// [`StateStore::commit`] (and when the last handle is dropped), never on their own: for
    /// a caller that writes its own log of what was recorded, and must know exactly what the
    /// file holds when a commit fails.
    pub(crate) fn defer_commits(&self) {
        self.lock().deferred = true;
    }

    /// From now on, sends every input, unchanged or not, and records Plain's answers: for
    /// when customers were changed in Plain by hand, and the state no longer says what Plain
    /// holds.
    pub fn resend_all(&self) {
        self.lock().resend = true;
    }

    /// Whether recording failed since the store was opened (then nothing more is skipped or
    /// recorded); [`StateStore::commit`] says why.
    pub fn failed(&self) -> bool {
        self.lock().broken
    }

    /// From now on, notes every customer an input names, for
    /// [`StateStore::for_each_missing`]. The notes live in a temporary file, not in memory,
    /// and go when the store is dropped.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the temporary table cannot be made.
    pub fn track_seen(&self) -> Result<(), StateError> {
        let mut inner = self.lock();
        inner
            .storage
            .track_seen()
            .map_err(|e| inner.storage.error(e))
    }

    /// What the state holds for the customer an identifier leads to, if anything.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the file cannot be read.
    pub fn get(&self, identifier: &CustomerIdentifier) -> Result<Option<Entry>, StateError> {
        let mut inner = self.lock();
        let found = inner.storage.find(&Key::of(identifier));
        found
            .map(|row| row.map(Row::entry))
            .map_err(|e| inner.storage.error(e))
    }

    /// Forgets the customer an identifier leads to (deleted in Plain, say): its next upsert
    /// is sent whatever it holds. Returns whether the state held it.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the file cannot be written.
    pub fn forget(&self, identifier: &CustomerIdentifier) -> Result<bool, StateError> {
        let mut inner = self.lock();
        let forgotten = match inner.storage.find(&Key::of(identifier)) {
            Ok(Some(row)) => inner.storage.forget_entry(row.entry),
            Ok(None) => Ok(false),
            Err(e) => Err(e),
        };
        let forgotten = forgotten.map_err(|e| inner.storage.error(e))?;
        inner.commit_if_due();
        Ok(forgotten)
    }

    /// Forgets the customer with Plain's id `customer_id`. Returns whether the state held
    /// it (one it holds without an id is forgotten by [`StateStore::forget`], by its
    /// external id).
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the file cannot be written.
    pub fn forget_customer_id(&self, customer_id: &str) -> Result<bool, StateError> {
        let mut inner = self.lock();
        let forgotten = inner.storage.forget(customer_id);
        let forgotten = forgotten.map_err(|e| inner.storage.error(e))?;
        inner.commit_if_due();
        Ok(forgotten)
    }

    /// How many customers the state holds.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the file cannot be read.
    pub fn len(&self) -> Result<u64, StateError> {
        let mut inner = self.lock();
        let len = inner.storage.len();
        len.map_err(|e| inner.storage.error(e))
    }

    /// Whether the state holds no customer.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the file cannot be read.
    pub fn is_empty(&self) -> Result<bool, StateError> {
        Ok(self.len()? == 0)
    }
}

/// A new state file's id: not a secret, only different from every other file's.
fn new_state_id(path: &Path) -> String {
    let nanos = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{nanos}:{}:{}", std::process::id(), path.display());
    format!("st_{:032x}", xxhash_rust::xxh3::xxh3_128(seed.as_bytes()))
}
