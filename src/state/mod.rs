//! Remembering what Plain confirmed, so that a re-sync sends only what changed.
//!
//! A [`StateStore`] is a SQLite file holding, per customer identifier, a digest of the input
//! last confirmed by Plain, the customer id Plain returned, the result and when. Before an
//! upsert, [`StateStore::admit`] compares the input's digest with the stored one: an unchanged
//! input needs no request. After Plain's answer, [`Admitted::confirm`] records it. Nothing is
//! recorded before the answer, so the state never claims more than Plain confirmed.
//!
//! [`PlainClient::upsert_changed_customers`](crate::PlainClient::upsert_changed_customers) does
//! all of this for a stream of inputs; the `plain sync-customers --state FILE` command uses the
//! same store.
//!
//! ```no_run
//! # async fn run(client: plain_client::PlainClient, inputs: Vec<plain_client::UpsertCustomerInput>) -> Result<(), Box<dyn std::error::Error>> {
//! use futures_util::StreamExt;
//! use plain_client::state::{StateStore, Synced};
//!
//! let state = StateStore::open("customers.state")?;
//! let cancel = plain_client::Cancel::new();
//! let mut outcomes = client.upsert_changed_customers(futures_util::stream::iter(inputs), 8, cancel, &state);
//! while let Some(outcome) = outcomes.next().await {
//!     match outcome.result {
//!         Ok(Synced::Unchanged { customer_id }) => println!("{}: unchanged, {customer_id}", outcome.index),
//!         Ok(Synced::Upserted(upserted)) => println!("{}: {}", outcome.index, upserted.result),
//!         Ok(_) => {}
//!         Err(error) => eprintln!("{}: {error}", outcome.index),
//!     }
//! }
//! state.commit()?; // and learn of any failure to record
//! # Ok(()) }
//! ```
//!
//! # What the file holds, and what survives a crash
//!
//! One table, `customers`, keyed by the identifier's kind (`emailAddress`, `externalId` or
//! `customerId`) and value, email addresses trimmed and lowercased as Plain compares them.
//! Confirmations are written in transactions of up to [`COMMIT_EVERY`] records (and when
//! [`StateStore::commit`] is called, or the last handle is dropped), in SQLite's write-ahead
//! log. A process killed at any moment leaves a consistent file: it holds every record whose
//! transaction was committed, and a re-run sends the rest again. Upserts are idempotent, so a
//! record sent twice is harmless.
//!
//! # One process at a time
//!
//! The file is opened in SQLite's exclusive locking mode and held until the last handle is
//! dropped: a second process (or a second [`StateStore::open`]) on the same file gets
//! [`StateError::Locked`], and nothing is written. A file that is not a state file of this
//! format (another database, another program's file, a newer format) is refused and left as it
//! is.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use tokio::sync::oneshot;

use crate::input::{CustomerIdentifier, UpsertCustomerInput};
use crate::UpsertedCustomer;

/// The format of the files this version reads and writes ([`StateError::NewerFormat`] for
/// others).
pub const FORMAT_VERSION: u32 = 1;

/// Marks a SQLite file as a state file (`PRAGMA application_id`): "PlnS".
const APPLICATION_ID: i32 = 0x506c_6e53;

/// Confirmations are committed at least every this many records.
pub const COMMIT_EVERY: usize = 256;

/// ... and at least this often while confirmations arrive.
const COMMIT_AFTER: Duration = Duration::from_secs(1);

/// Pages SQLite caches: 16 MiB, which keeps a million-customer file's lookups fast and the
/// memory bounded.
const CACHE_KIB: i64 = 16 * 1024;

/// Why a state file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Another process (or another handle in this one) has the file open.
    #[error(
        "the state file {} is in use by another process: one sync at a time per state file; \
         wait for the other to finish, or give another file",
        .path.display()
    )]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a state file: another program's database, or not a database.
    #[error(
        "{} is not a plain state file ({why}); it was left as it is: give another path",
        .path.display()
    )]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        why: String,
    },
    /// The file was written in a format this version does not know.
    #[error(
        "the state file {} has format {found}, and this version of plain-client reads format \
         {FORMAT_VERSION}: use the version that wrote it, or a newer one",
        .path.display()
    )]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// Its format.
        found: u32,
    },
    /// The file is a damaged SQLite database.
    #[error(
        "the state file {} is damaged ({source}); it was left as it is: move it away, and sync \
         with a new state file (every record is sent once more)",
        .path.display()
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading or writing the file failed (a full disk, a damaged file...).
    #[error("the state file {}: {source}", .path.display())]
    Storage {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A customer as the state remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The identifier it was upserted by (an email address as Plain compares it: trimmed and
    /// lowercased).
    pub identifier: CustomerIdentifier,
    /// Plain's id for the customer.
    pub customer_id: String,
    /// What Plain answered the last time (`CREATED`, `UPDATED` or `NOOP`).
    pub result: String,
    /// When Plain's answer was recorded.
    pub synced_at: SystemTime,
}

/// What an upsert through the state came to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synced {
    /// The input is the one Plain last confirmed: no request was sent.
    Unchanged {
        /// Plain's id for the customer, as recorded.
        customer_id: String,
    },
    /// The input was sent, and this is Plain's answer.
    Upserted(UpsertedCustomer),
}

/// The identifier as the state keys it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    kind: &'static str,
    value: String,
}

impl Key {
    fn of(identifier: &CustomerIdentifier) -> Self {
        match identifier {
            CustomerIdentifier::EmailAddress(email) => Self {
                kind: "emailAddress",
                value: email.trim().to_lowercase(),
            },
            CustomerIdentifier::ExternalId(id) => Self {
                kind: "externalId",
                value: id.clone(),
            },
            CustomerIdentifier::CustomerId(id) => Self {
                kind: "customerId",
                value: id.clone(),
            },
        }
    }

    fn identifier(kind: &str, value: String) -> Option<CustomerIdentifier> {
        match kind {
            "emailAddress" => Some(CustomerIdentifier::EmailAddress(value)),
            "externalId" => Some(CustomerIdentifier::ExternalId(value)),
            "customerId" => Some(CustomerIdentifier::CustomerId(value)),
            _ => None,
        }
    }
}

/// The digest of an input: 128 bits of XXH3 over its JSON, as sent. `buffer` is reused.
fn digest(input: &UpsertCustomerInput, buffer: &mut Vec<u8>) -> [u8; 16] {
    buffer.clear();
    // Serializing these types cannot fail: no maps with non-string keys, no custom errors.
    let _ = serde_json::to_writer(&mut *buffer, input);
    xxhash_rust::xxh3::xxh3_128(buffer).to_le_bytes()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Waiters for a key that has an upsert in flight, in the order they were admitted.
type Waiters = VecDeque<oneshot::Sender<()>>;

struct Inner {
    connection: Connection,
    path: PathBuf,
    /// Confirmations written since the last commit, in the open transaction.
    uncommitted: usize,
    since: Instant,
    /// Keys with an upsert in flight, and who waits for them.
    in_flight: HashMap<Key, Waiters>,
    /// Whether keys seen are noted, for [`StateStore::for_each_missing`].
    tracking: bool,
    /// The first failure to record, kept until [`StateStore::commit`] reports it.
    failure: Option<StateError>,
    /// Whether every input is sent, unchanged or not ([`StateStore::resend_all`]).
    resend: bool,
    /// Whether recording ever failed: from then on nothing is skipped or recorded.
    broken: bool,
    /// Where inputs are serialized for their digest.
    buffer: Vec<u8>,
}

impl Inner {
    fn storage(&self, source: rusqlite::Error) -> StateError {
        StateError::Storage {
            path: self.path.clone(),
            source: Box::new(source),
        }
    }

    fn fail(&mut self, failure: StateError) {
        self.broken = true;
        self.failure.get_or_insert(failure);
    }

    fn begin(&mut self) -> rusqlite::Result<()> {
        if self.connection.is_autocommit() {
            self.connection.execute_batch("BEGIN")?;
            self.since = Instant::now();
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StateError> {
        if !self.connection.is_autocommit() {
            self.connection
                .execute_batch("COMMIT")
                .map_err(|e| self.storage(e))?;
        }
        self.uncommitted = 0;
        Ok(())
    }

    fn stored_digest(&mut self, key: &Key) -> rusqlite::Result<Option<(Vec<u8>, String)>> {
        self.connection
            .prepare_cached(
                "SELECT digest, customer_id FROM customers WHERE kind = ?1 AND value = ?2",
            )?
            .query_row(params![key.kind, key.value], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
    }

    fn note_seen(&mut self, key: &Key) -> rusqlite::Result<()> {
        if self.tracking {
            self.begin()?;
            self.connection
                .prepare_cached("INSERT OR IGNORE INTO temp.seen (kind, value) VALUES (?1, ?2)")?
                .execute(params![key.kind, key.value])?;
        }
        Ok(())
    }

    /// Whether `digest` is what the state holds for `key`: the stored customer id if so.
    fn unchanged(&mut self, key: &Key, digest: &[u8; 16]) -> Option<String> {
        if self.broken || self.resend {
            // What the file holds may be behind, or is not trusted: send everything.
            return None;
        }
        // Lookups share the open transaction: one for many, not one each.
        match self.begin().and_then(|()| self.stored_digest(key)) {
            Ok(Some((stored, customer_id))) if stored == digest => Some(customer_id),
            Ok(_) => None,
            Err(e) => {
                let failure = self.storage(e);
                self.fail(failure);
                None
            }
        }
    }

    fn record(&mut self, key: &Key, digest: &[u8; 16], upserted: &UpsertedCustomer) {
        if self.broken {
            return;
        }
        let written = self.begin().and_then(|()| {
            self.connection
                .prepare_cached(
                    "INSERT OR REPLACE INTO customers \
                     (kind, value, digest, customer_id, result, synced_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    key.kind,
                    key.value,
                    &digest[..],
                    upserted.customer.id,
                    upserted.result.as_str(),
                    unix_now(),
                ])
        });
        let outcome = match written {
            Ok(_) => {
                self.uncommitted += 1;
                if self.uncommitted >= COMMIT_EVERY || self.since.elapsed() >= COMMIT_AFTER {
                    self.commit()
                } else {
                    Ok(())
                }
            }
            Err(e) => Err(self.storage(e)),
        };
        if let Err(failure) = outcome {
            self.fail(failure);
        }
    }

    /// The upsert of `key` is over: the next waiter (in admission order) may go.
    fn release(&mut self, key: &Key) {
        let Some(waiters) = self.in_flight.get_mut(key) else {
            return;
        };
        while let Some(next) = waiters.pop_front() {
            if next.send(()).is_ok() {
                // The key stays in flight: it is the waiter's now.
                return;
            }
        }
        self.in_flight.remove(key);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.commit();
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
            .field("path", &self.lock().path)
            .finish_non_exhaustive()
    }
}

/// How an input stands against the state: see [`StateStore::admit`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Admission {
    /// Plain confirmed this very input last time: send nothing.
    Unchanged {
        /// Plain's id for the customer, as recorded.
        customer_id: String,
    },
    /// The input is new or changed: send it, then [`Admitted::confirm`] Plain's answer.
    Send(Admitted),
    /// An earlier input for the same customer is in flight: wait for it, then call
    /// [`StateStore::admit`] again (the later input wins, as in the input's order).
    Wait(Turn),
}

/// Waits for an earlier upsert of the same customer to finish: see [`Admission::Wait`].
pub struct Turn {
    receiver: oneshot::Receiver<()>,
    store: StateStore,
    key: Key,
    over: bool,
}

impl fmt::Debug for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turn").finish_non_exhaustive()
    }
}

impl Turn {
    /// Completes when this input's turn has come. Then call [`StateStore::admit_turn`].
    pub async fn ready(mut self) -> TurnReady {
        // The sender goes only with the store, which this turn holds: the wait ends with the
        // turn given.
        let _ = (&mut self.receiver).await;
        self.over = true;
        TurnReady {
            store: self.store.clone(),
            key: self.key.clone(),
            armed: true,
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        // Given the turn and dropped before taking it: the next in line may go.
        if !self.over && self.receiver.try_recv().is_ok() {
            self.store.lock().release(&self.key);
        }
    }
}

/// An input whose turn has come: see [`StateStore::admit_turn`]. Dropped unused, it passes
/// the turn on.
pub struct TurnReady {
    store: StateStore,
    key: Key,
    armed: bool,
}

impl fmt::Debug for TurnReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnReady").finish_non_exhaustive()
    }
}

impl Drop for TurnReady {
    fn drop(&mut self) {
        if self.armed {
            self.store.lock().release(&self.key);
        }
    }
}

/// An input about to be sent. Its customer stays "in flight" (later inputs for it wait)
/// until this is confirmed or dropped.
pub struct Admitted {
    store: StateStore,
    key: Key,
    digest: [u8; 16],
}

impl fmt::Debug for Admitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admitted")
            .field("kind", &self.key.kind)
            .finish_non_exhaustive()
    }
}

impl Admitted {
    /// Records Plain's answer for the input. A failure to write is kept, and reported by
    /// [`StateStore::commit`]; from then on nothing is skipped.
    pub fn confirm(self, upserted: &UpsertedCustomer) {
        let store = self.store.clone();
        let mut inner = store.lock();
        inner.record(&self.key, &self.digest, upserted);
        // Dropping `self` releases the key; the lock is released first.
        drop(inner);
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.store.lock().release(&self.key);
    }
}

impl StateStore {
    /// Opens the state file, creating it if it does not exist, and holds it until the last
    /// clone is dropped.
    ///
    /// # Errors
    ///
    /// [`StateError::Locked`] when another process has it open, [`StateError::Foreign`] for a
    /// file that is not a state file, [`StateError::NewerFormat`] for a format this version
    /// does not read, [`StateError::Storage`] when it cannot be read or created. In none of
    /// these cases is the file changed.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StateError> {
        let path = path.as_ref().to_path_buf();
        let storage = |source: rusqlite::Error| match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StateError::Locked { path: path.clone() }
            }
            Some(ErrorCode::NotADatabase) => StateError::Foreign {
                path: path.clone(),
                why: "not a SQLite database".to_owned(),
            },
            Some(ErrorCode::DatabaseCorrupt) => StateError::Damaged {
                path: path.clone(),
                source: Box::new(source),
            },
            _ => StateError::Storage {
                path: path.clone(),
                source: Box::new(source),
            },
        };
        if path.is_dir() {
            return Err(StateError::Foreign {
                path,
                why: "a directory".to_owned(),
            });
        }
        let connection = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(storage)?;
        connection.busy_timeout(Duration::ZERO).map_err(storage)?;
        // The lock is taken by the first statement and kept: no other process reads or
        // writes the file while this one has it.
        connection
            .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE")
            .map_err(storage)?;
        let application_id: i32 = connection
            .query_row("PRAGMA application_id", [], |row| row.get(0))
            .map_err(storage)?;
        let version: u32 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(storage)?;
        let tables: i64 = connection
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(storage)?;
        match (application_id, version) {
            (APPLICATION_ID, FORMAT_VERSION) => {}
            (APPLICATION_ID, found) if found > FORMAT_VERSION => {
                return Err(StateError::NewerFormat { path, found });
            }
            (0, 0) if tables == 0 => {
                connection
                    .execute_batch(&format!(
                        "CREATE TABLE customers (
                             kind TEXT NOT NULL,
                             value TEXT NOT NULL,
                             digest BLOB NOT NULL,
                             customer_id TEXT NOT NULL,
                             result TEXT NOT NULL,
                             synced_at INTEGER NOT NULL,
                             PRIMARY KEY (kind, value)
                         ) WITHOUT ROWID;
                         PRAGMA application_id = {APPLICATION_ID};
                         PRAGMA user_version = {FORMAT_VERSION};"
                    ))
                    .map_err(storage)?;
            }
            (APPLICATION_ID, found) => {
                return Err(StateError::Foreign {
                    path,
                    why: format!("a state file of unknown format {found}"),
                });
            }
            _ => {
                return Err(StateError::Foreign {
                    path,
                    why: "a SQLite database of another program".to_owned(),
                });
            }
        }
        connection.execute_batch("COMMIT").map_err(storage)?;
        // Only now is the file known to be ours to change.
        connection
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA cache_size = -{CACHE_KIB};
                 PRAGMA temp_store = FILE;"
            ))
            .map_err(storage)?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                connection,
                path,
                uncommitted: 0,
                since: Instant::now(),
                in_flight: HashMap::new(),
                tracking: false,
                failure: None,
                resend: false,
                broken: false,
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
        self.lock().path.clone()
    }

    /// Compares an input with what Plain last confirmed for its customer.
    ///
    /// Inputs for one customer are taken in the order they are admitted: while one is in
    /// flight, a later one gets [`Admission::Wait`].
    pub fn admit(&self, input: &UpsertCustomerInput) -> Admission {
        let key = Key::of(&input.identifier);
        let mut inner = self.lock();
        if let Err(e) = inner.note_seen(&key) {
            let failure = inner.storage(e);
            inner.fail(failure);
        }
        let busy = if inner.in_flight.is_empty() {
            None
        } else {
            inner.in_flight.get_mut(&key)
        };
        if let Some(waiters) = busy {
            let (sender, receiver) = oneshot::channel();
            waiters.push_back(sender);
            return Admission::Wait(Turn {
                receiver,
                store: self.clone(),
                key,
                over: false,
            });
        }
        self.admit_now(inner, key, input)
    }

    /// [`StateStore::admit`] for an input whose [`Turn`] came: it cannot be told to wait
    /// again.
    ///
    /// `input` must be the input that was told to wait.
    pub fn admit_turn(&self, input: &UpsertCustomerInput, mut ready: TurnReady) -> Admission {
        let key = Key::of(&input.identifier);
        if key != ready.key {
            // Not the input that waited: its turn passes on, and this one queues.
            drop(ready);
            return self.admit(input);
        }
        ready.armed = false;
        let inner = self.lock();
        self.admit_now(inner, key, input)
    }

    fn admit_now(
        &self,
        mut inner: MutexGuard<'_, Inner>,
        key: Key,
        input: &UpsertCustomerInput,
    ) -> Admission {
        let digest = digest(input, &mut inner.buffer);
        if let Some(customer_id) = inner.unchanged(&key, &digest) {
            // A turn this input was given passes on: whoever waits for the key may go.
            inner.release(&key);
            return Admission::Unchanged { customer_id };
        }
        inner.in_flight.entry(key.clone()).or_default();
        drop(inner);
        Admission::Send(Admitted {
            store: self.clone(),
            key,
            digest,
        })
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
        inner.commit()
    }

    /// Commits the confirmations recorded so far, if any; a failure is kept for
    /// [`StateStore::commit`] to report.
    pub fn flush(&self) {
        let mut inner = self.lock();
        if inner.uncommitted > 0 {
            if let Err(failure) = inner.commit() {
                inner.fail(failure);
            }
        }
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

    /// From now on, notes every identifier admitted, for [`StateStore::for_each_missing`].
    /// The notes live in a temporary file, not in memory, and go when the store is dropped.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the temporary table cannot be made.
    pub fn track_seen(&self) -> Result<(), StateError> {
        let mut inner = self.lock();
        inner
            .connection
            .execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS seen (
                     kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, value)
                 ) WITHOUT ROWID",
            )
            .map_err(|e| inner.storage(e))?;
        inner.tracking = true;
        Ok(())
    }

    /// Calls `f` with every customer in the state whose identifier was not admitted since
    /// [`StateStore::track_seen`]: those the input no longer has. Stops at `f`'s first error.
    ///
    /// # Errors
    ///
    /// `f`'s error, or the store's when it cannot be read (wrapped by `into`).
    pub fn for_each_missing<E: From<StateError>>(
        &self,
        mut f: impl FnMut(Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut inner = self.lock();
        inner.commit()?;
        if !inner.tracking {
            return Ok(());
        }
        let inner = &mut *inner;
        let mut statement = inner
            .connection
            .prepare(
                "SELECT kind, value, customer_id, result, synced_at FROM customers AS c \
                 WHERE NOT EXISTS \
                 (SELECT 1 FROM temp.seen AS s WHERE s.kind = c.kind AND s.value = c.value) \
                 ORDER BY kind, value",
            )
            .map_err(|e| E::from(inner.storage(e)))?;
        let mut rows = statement.query([]).map_err(|e| E::from(inner.storage(e)))?;
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => return Ok(()),
                Err(e) => return Err(E::from(inner.storage(e))),
            };
            let read = |row: &rusqlite::Row<'_>| -> rusqlite::Result<Option<Entry>> {
                let kind: String = row.get(0)?;
                let seconds: i64 = row.get(4)?;
                Ok(Key::identifier(&kind, row.get(1)?).map(|identifier| Entry {
                    identifier,
                    customer_id: row.get(2).unwrap_or_default(),
                    result: row.get(3).unwrap_or_default(),
                    synced_at: UNIX_EPOCH + Duration::from_secs(seconds.max(0).unsigned_abs()),
                }))
            };
            match read(row) {
                Ok(Some(entry)) => f(entry)?,
                Ok(None) => {}
                Err(e) => return Err(E::from(inner.storage(e))),
            }
        }
    }

    /// What the state holds for an identifier, if anything.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the file cannot be read.
    pub fn get(&self, identifier: &CustomerIdentifier) -> Result<Option<Entry>, StateError> {
        let key = Key::of(identifier);
        let inner = self.lock();
        let found = inner
            .connection
            .prepare_cached(
                "SELECT customer_id, result, synced_at FROM customers \
                 WHERE kind = ?1 AND value = ?2",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(params![key.kind, key.value], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)?))
                    })
                    .optional()
            })
            .map_err(|e| inner.storage(e))?;
        Ok(found.and_then(|(customer_id, result, seconds)| {
            Some(Entry {
                identifier: Key::identifier(key.kind, key.value)?,
                customer_id,
                result,
                synced_at: UNIX_EPOCH + Duration::from_secs(seconds.max(0).unsigned_abs()),
            })
        }))
    }

    /// Forgets a customer (deleted in Plain, say): its next upsert is sent whatever it holds.
    /// Returns whether the state held it.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the file cannot be written.
    pub fn forget(&self, identifier: &CustomerIdentifier) -> Result<bool, StateError> {
        let key = Key::of(identifier);
        self.delete_where(
            "DELETE FROM customers WHERE kind = ?1 AND value = ?2",
            params![key.kind, key.value],
        )
    }

    /// Forgets the customer with Plain's id `customer_id`, whatever its identifier (a scan of
    /// the whole file: [`StateStore::forget`] is quicker). Returns whether the state held it.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the file cannot be written.
    pub fn forget_customer_id(&self, customer_id: &str) -> Result<bool, StateError> {
        self.delete_where(
            "DELETE FROM customers WHERE customer_id = ?1",
            params![customer_id],
        )
    }

    fn delete_where(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<bool, StateError> {
        let mut inner = self.lock();
        let deleted = inner
            .begin()
            .and_then(|()| inner.connection.prepare_cached(sql)?.execute(params))
            .map_err(|e| inner.storage(e))?;
        inner.uncommitted += 1;
        Ok(deleted > 0)
    }

    /// How many customers the state holds.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the file cannot be read.
    pub fn len(&self) -> Result<u64, StateError> {
        let inner = self.lock();
        inner
            .connection
            .query_row("SELECT count(*) FROM customers", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n.unsigned_abs())
            .map_err(|e| inner.storage(e))
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
