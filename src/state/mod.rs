//! Remembering what Plain confirmed, so that a re-sync sends only what changed.
//!
//! A [`StateStore`] is a SQLite file holding one entry per customer: Plain's id for it, the
//! identifiers Plain reported for it (email address and external id), a digest of the input
//! last confirmed by Plain, the result and when. An input finds its customer's entry by
//! whichever identifier it names the customer by, so a customer synced by email and later by
//! external id is still one entry. Before an upsert, [`StateStore::admit`] compares the
//! input's digest with the entry's: an unchanged input needs no request. After Plain's
//! answer, [`Admitted::confirm`] records it. Nothing is recorded before the answer, and only
//! an answer this crate understands is recorded (see [`Synced::NotRecorded`]), so the state
//! never claims more than Plain confirmed.
//!
//! A state belongs to one workspace: [`StateStore::bind`] asks Plain which workspace the
//! client's key reaches, records it the first time, and refuses another one afterwards. Until
//! it is bound, a store skips nothing.
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
//! state.bind(&client).await?; // the workspace the key reaches, or an error if another one
//! let cancel = plain_client::Cancel::new();
//! let mut outcomes = client.upsert_changed_customers(futures_util::stream::iter(inputs), 8, cancel, &state);
//! while let Some(outcome) = outcomes.next().await {
//!     match outcome.result {
//!         Ok(Synced::Unchanged { customer_id }) => println!("{}: unchanged, {customer_id}", outcome.index),
//!         Ok(Synced::Upserted(upserted)) => println!("{}: {}", outcome.index, upserted.result),
//!         Ok(other) => println!("{}: {other:?}", outcome.index),
//!         Err(error) => eprintln!("{}: {error}", outcome.index),
//!     }
//! }
//! state.commit()?; // and learn of any failure to record
//! # Ok(()) }
//! ```
//!
//! # What the file holds, and what survives a crash
//!
//! One row per customer, keyed by Plain's id, with its email address (trimmed and lowercased,
//! as Plain compares them) and external id each unique. Confirmations are written in
//! transactions of up to [`COMMIT_EVERY`] records (and when [`StateStore::commit`] is called,
//! or the last handle is dropped), in SQLite's write-ahead log. A process killed at any moment
//! leaves a consistent file: it holds every record whose transaction was committed, and a
//! re-run sends the rest again. Upserts are idempotent, so a record sent twice is harmless.
//! Files of format 1 (one row per identifier) are migrated when opened: each customer becomes
//! one entry, and one that had two sends its next input once more.
//!
//! # Deleting what the input no longer has
//!
//! [`StateStore::for_each_missing`] lists the customers no input named since
//! [`StateStore::track_seen`], under a numbered [`MissingList`]. An input that names a customer
//! later takes it off every list written before. [`StateStore::prepare_deletion`] allows a
//! deletion only of a customer a list still names, and writes ahead, durably, that it is no
//! longer synced before the deletion is sent: a crash at any point never leaves a deleted
//! customer recorded as synced.
//!
//! # One process at a time
//!
//! The file is opened in SQLite's exclusive locking mode and held until the last handle is
//! dropped: a second process (or a second [`StateStore::open`]) on the same file gets
//! [`StateError::Locked`], and nothing is written. A file that is not a state file of this
//! format (another database, another program's file, a newer format) is refused and left as it
//! is.

mod storage;
mod turns;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;

use crate::input::{ClearableUpdate, CustomerIdentifier, Update, UpsertCustomerInput};
use crate::{PlainClient, UpsertResult, UpsertedCustomer};
use storage::{Key, Row, Storage};
use turns::Turns;

/// The format of the files this version reads and writes ([`StateError::NewerFormat`] for
/// newer ones; format 1 is migrated).
pub const FORMAT_VERSION: u32 = 2;

/// Confirmations are committed at least every this many records (unless
/// [`StateStore::defer_commits`], when the caller commits as often: `plain sync-customers`
/// does, and writes the results lines of what each commit holds). After a crash, at most
/// this many answers more than those in flight are sent again.
pub const COMMIT_EVERY: usize = 64;

/// ... and at least this often while confirmations arrive.
pub const COMMIT_AFTER: Duration = Duration::from_millis(50);

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
    /// The file was built against another workspace than the one the API key reaches.
    #[error(
        "the state file {} was built against {recorded}, and the API key reaches {reached}: \
         what it holds says nothing of this workspace's customers. Give another state file, \
         or reset this one to start afresh (plain: --reset-state; every record is sent once \
         more)",
        .path.display()
    )]
    OtherWorkspace {
        /// The file.
        path: PathBuf,
        /// The workspace the file was built against.
        recorded: String,
        /// The workspace the key reaches.
        reached: String,
    },
}

impl StateError {
    fn storage(path: &Path, source: rusqlite::Error) -> Self {
        StateError::Storage {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    }
}

/// A customer as the state remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// How to name it: its email address if the state knows one, else its external id, else
    /// its id.
    pub identifier: CustomerIdentifier,
    /// Plain's id for the customer.
    pub customer_id: String,
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

/// A list of the customers the input no longer has: see [`StateStore::for_each_missing`].
/// Each line of the `--missing` file carries it, and a deletion names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingList {
    /// The state file's own id, made when the file was.
    pub state_id: String,
    /// The list's number: each list gets the next one.
    pub number: u64,
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
    /// The input was sent, and this is Plain's answer, recorded.
    Upserted(UpsertedCustomer),
    /// The input was sent and Plain answered, but the answer is not one the state records:
    /// a result this version does not know, or a customer that does not match the input's
    /// identifier. Nothing was recorded; the input is sent again next time.
    NotRecorded {
        /// Plain's answer, as it came.
        upserted: UpsertedCustomer,
        /// Why it was not recorded.
        reason: String,
    },
}

/// Why Plain's answer was not recorded: see [`Synced::NotRecorded`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Unrecorded {
    /// What did not fit.
    pub reason: String,
}

/// What a state file is bound to: the workspace an API key reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Binding {
    /// The workspace's id, as Plain reports it (`myWorkspace`); `None` when the key may not
    /// read it.
    pub workspace_id: Option<String>,
    /// The endpoint the key was used at.
    pub endpoint: String,
    /// A one-way fingerprint of the key ([`PlainClient::key_fingerprint`]): never the key.
    pub key_fingerprint: String,
}

impl Binding {
    /// The binding of `client`: asks Plain for the workspace its key reaches. A key that may
    /// not read it (or a server that does not serve it) leaves the workspace id out.
    ///
    /// # Errors
    ///
    /// An error that is neither a refusal of the question nor an answer without a workspace:
    /// an API key Plain does not accept, Plain unavailable, a request that ran out of retries.
    pub async fn of(client: &PlainClient) -> crate::Result<Self> {
        let workspace_id = match client.my_workspace().await {
            Ok(workspace) => workspace.map(|w| w.id),
            Err(error) => match error.last_cause() {
                crate::Error::Forbidden { .. } | crate::Error::Request { .. } => None,
                _ => return Err(error),
            },
        };
        Ok(Self {
            workspace_id,
            endpoint: client.endpoint().to_owned(),
            key_fingerprint: client.key_fingerprint(),
        })
    }

    fn describe(&self) -> String {
        match &self.workspace_id {
            Some(id) => format!("workspace {id}"),
            None => format!(
                "the workspace of the API key with fingerprint {} at {}",
                self.key_fingerprint, self.endpoint
            ),
        }
    }

    /// Whether `self` (recorded) and `now` are the same workspace: by the workspace id where
    /// both have one (a key may be replaced), else by the endpoint and the key.
    fn same_as(&self, now: &Binding) -> bool {
        match (&self.workspace_id, &now.workspace_id) {
            (Some(recorded), Some(reached)) => recorded == reached,
            _ => self.endpoint == now.endpoint && self.key_fingerprint == now.key_fingerprint,
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

/// Every identifier an input may name its customer by: the identifier it is upserted by,
/// then `onCreate`'s email address and external id, without repeats.
fn names(input: &UpsertCustomerInput) -> Vec<Key> {
    let mut names = vec![Key::of(&input.identifier)];
    let mut add = |key: Key| {
        if !names.contains(&key) {
            names.push(key);
        }
    };
    add(Key::email(&input.on_create.email.email));
    if let Some(external_id) = &input.on_create.external_id {
        add(Key::External(external_id.clone()));
    }
    names
}

/// What Plain's answer must show to be recorded for an input.
#[derive(Debug)]
struct Expected {
    identifier: Key,
    create_email: String,
    create_external_id: Option<String>,
    update_email: Option<String>,
    update_external_id: ClearableUpdate<String>,
}

impl Expected {
    fn of(input: &UpsertCustomerInput) -> Self {
        Self {
            identifier: Key::of(&input.identifier),
            create_email: input.on_create.email.email.trim().to_lowercase(),
            create_external_id: input.on_create.external_id.clone(),
            update_email: match &input.on_update.email {
                Update::Set(email) => Some(email.email.trim().to_lowercase()),
                Update::Keep => None,
            },
            update_external_id: input.on_update.external_id.clone(),
        }
    }

    /// Why `upserted` is not an answer to record for the input, if it is not.
    fn refuse(&self, upserted: &UpsertedCustomer) -> Option<String> {
        let created = match upserted.result {
            UpsertResult::Created => true,
            UpsertResult::Updated | UpsertResult::Noop => false,
            _ => {
                return Some(format!(
                    "Plain answered result {}, which this version does not know",
                    upserted.result.as_str()
                ))
            }
        };
        let customer = &upserted.customer;
        let email = customer.email.email.trim().to_lowercase();
        let external_id = customer.external_id.as_deref();
        let matches = match &self.identifier {
            Key::Id(id) => !created && customer.id == *id,
            Key::Email(wanted) => {
                email == *wanted
                    || (created && email == self.create_email)
                    || (!created && self.update_email.as_deref() == Some(email.as_str()))
            }
            Key::External(wanted) => {
                external_id == Some(wanted.as_str())
                    || (created && external_id == self.create_external_id.as_deref())
                    || (!created
                        && match &self.update_external_id {
                            ClearableUpdate::Set(value) => external_id == Some(value.as_str()),
                            ClearableUpdate::Clear => external_id.is_none(),
                            ClearableUpdate::Keep => false,
                        })
            }
        };
        (!matches).then(|| {
            format!(
                "Plain answered {} with customer {} ({}), which does not match the input's \
                 identifier",
                upserted.result.as_str(),
                customer.id,
                email
            )
        })
    }
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
    /// take turns on (the names and the customers' ids) and the customer the first name
    /// finds.
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
                        keys.push(Key::Id(row.customer_id.clone()));
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
    /// An earlier input that may name the same customer is in flight: wait for it, then call
    /// [`StateStore::admit_turn`] (the later input wins, as in the input's order).
    Wait(Turn),
}

/// Waits for earlier inputs that may name the same customer: see [`Admission::Wait`].
pub struct Turn {
    receiver: oneshot::Receiver<()>,
    ticket: Ticket,
}

/// An input's place in the turns, given back when it is dropped.
struct Ticket {
    store: StateStore,
    number: u64,
    keys: Vec<Key>,
    names: Vec<Key>,
    live: bool,
}

impl Ticket {
    /// The same place, moved on to the next step (this one no longer gives it back).
    fn pass(&mut self) -> Ticket {
        self.live = false;
        Ticket {
            store: self.store.clone(),
            number: self.number,
            keys: std::mem::take(&mut self.keys),
            names: std::mem::take(&mut self.names),
            live: true,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.live {
            self.store.lock().turns.leave(self.number, &self.keys);
        }
    }
}

impl fmt::Debug for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turn").finish_non_exhaustive()
    }
}

impl Turn {
    /// Completes when this input's turn has come. Then call [`StateStore::admit_turn`].
    pub async fn ready(mut self) -> TurnReady {
        // The sender goes only when the turn is given or the store's turns are dropped,
        // which this turn's ticket prevents.
        let _ = (&mut self.receiver).await;
        TurnReady {
            ticket: self.ticket.pass(),
        }
    }
}

/// An input whose turn has come: see [`StateStore::admit_turn`]. Dropped unused, it passes
/// the turn on.
pub struct TurnReady {
    ticket: Ticket,
}

impl fmt::Debug for TurnReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnReady").finish_non_exhaustive()
    }
}

/// An input about to be sent. The customers it may name stay "in flight" (later inputs for
/// them wait) until this is confirmed or dropped.
pub struct Admitted {
    ticket: Ticket,
    digest: [u8; 16],
    expected: Expected,
}

impl fmt::Debug for Admitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admitted").finish_non_exhaustive()
    }
}

impl Admitted {
    /// Records Plain's answer for the input, if it is one to record: `CREATED`, `UPDATED` or
    /// `NOOP`, for a customer that matches the input's identifier. A failure to write is kept,
    /// and reported by [`StateStore::commit`]; from then on nothing is skipped.
    ///
    /// # Errors
    ///
    /// [`Unrecorded`] when the answer is not one to record: nothing was recorded.
    pub fn confirm(self, upserted: &UpsertedCustomer) -> Result<(), Unrecorded> {
        if let Some(reason) = self.expected.refuse(upserted) {
            return Err(Unrecorded { reason });
        }
        let store = self.ticket.store.clone();
        let mut inner = store.lock();
        if upserted.result == UpsertResult::Created && !inner.broken {
            // A customer Plain just created cannot be one the state already holds under
            // another identifier.
            match inner.storage.find(&Key::Id(upserted.customer.id.clone())) {
                Ok(Some(row)) if !self.expected.identifier.names(&row) => {
                    return Err(Unrecorded {
                        reason: format!(
                            "Plain answered CREATED with customer {}, which the state already \
                             holds under other identifiers",
                            upserted.customer.id
                        ),
                    });
                }
                Ok(_) => {}
                Err(e) => inner.fail_with(e),
            }
        }
        inner.record(&self.digest, upserted);
        // Dropping `self` gives the turn back; the lock is released first.
        drop(inner);
        Ok(())
    }
}

/// A deletion [`StateStore::prepare_deletion`] allowed: the state already says the customer
/// is no longer synced. Tell it how the deletion ended with [`PendingDeletion::finish`].
#[derive(Debug)]
pub struct PendingDeletion {
    store: StateStore,
    customer_id: String,
}

impl PendingDeletion {
    /// The customer Plain deleted, or did not have: it is forgotten. For a deletion that
    /// failed, drop this instead: the customer stays listed as missing and unsynced, so the
    /// deletion can be tried again, and a sync that names it sends it.
    pub fn finish(self) {
        let mut inner = self.store.lock();
        match inner.storage.forget(&self.customer_id) {
            Ok(_) => inner.commit_if_due(),
            Err(e) => inner.fail_with(e),
        }
    }
}

/// Why [`StateStore::prepare_deletion`] refused a deletion. Nothing was sent or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeletionRefused {
    /// The deletion names no missing list.
    #[error(
        "the line names no missing list: give a file sync-customers --missing wrote with this \
         state"
    )]
    NoList,
    /// The list was written from another state file.
    #[error(
        "the list was written from another state file ({listed}, and this one is {this}): \
         give the state file the list came from"
    )]
    OtherState {
        /// The state id the list names.
        listed: String,
        /// This state's id.
        this: String,
    },
    /// The state does not hold the customer.
    #[error(
        "the state does not hold customer {customer_id} (an earlier run deleted and forgot it, \
         or it was never synced with this state)"
    )]
    NotInState {
        /// Plain's id for the customer.
        customer_id: String,
    },
    /// The line's identifier and customer id name different customers in the state.
    #[error(
        "the line names customer {customer_id} and identifier {identifier}, which the state \
         knows as {}",
        .state_says.as_deref().unwrap_or("no customer")
    )]
    Disagrees {
        /// The line's customer id.
        customer_id: String,
        /// The line's identifier.
        identifier: String,
        /// The customer the identifier leads to in the state, if any.
        state_says: Option<String>,
    },
    /// An input named the customer after the list was written: it is not missing.
    #[error(
        "customer {customer_id} was synced again after list {list} was written: it is not \
         missing, and is not deleted"
    )]
    NotMissing {
        /// Plain's id for the customer.
        customer_id: String,
        /// The list's number.
        list: u64,
    },
    /// The state file could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
}

impl StateStore {
    /// Opens the state file, creating it if it does not exist (or migrating a file of
    /// format 1), and holds it until the last clone is dropped.
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

    /// Binds the state to the workspace `client`'s key reaches, the first time, and checks it
    /// every time after: until this succeeds, the store skips nothing.
    ///
    /// # Errors
    ///
    /// [`StateError::OtherWorkspace`] (inside [`crate::Error::State`]) when the file was built
    /// against another workspace; nothing is skipped or recorded then. The errors of
    /// [`Binding::of`].
    pub async fn bind(&self, client: &PlainClient) -> crate::Result<Binding> {
        let now = Binding::of(client).await?;
        self.bind_to(&now)?;
        Ok(now)
    }

    /// [`StateStore::bind`] with a binding already known.
    ///
    /// # Errors
    ///
    /// [`StateError::OtherWorkspace`] when the file was built against another workspace.
    pub fn bind_to(&self, now: &Binding) -> Result<(), StateError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let read = |storage: &mut Storage, name| storage.meta(name);
        let recorded = (|| -> rusqlite::Result<Option<Binding>> {
            let Some(endpoint) = read(&mut inner.storage, "endpoint")? else {
                return Ok(None);
            };
            Ok(Some(Binding {
                workspace_id: read(&mut inner.storage, "workspace_id")?,
                endpoint,
                key_fingerprint: read(&mut inner.storage, "key_fingerprint")?.unwrap_or_default(),
            }))
        })()
        .map_err(|e| inner.storage.error(e))?;
        if let Some(recorded) = &recorded {
            if !recorded.same_as(now) {
                return Err(StateError::OtherWorkspace {
                    path: inner.storage.path.clone(),
                    recorded: recorded.describe(),
                    reached: now.describe(),
                });
            }
        }
        // Recorded, or brought up to date: a workspace id learnt, a key replaced.
        let mut write = || -> rusqlite::Result<()> {
            inner.storage.set_meta("endpoint", &now.endpoint)?;
            inner
                .storage
                .set_meta("key_fingerprint", &now.key_fingerprint)?;
            if let Some(id) = now
                .workspace_id
                .as_ref()
                .or(recorded.as_ref().and_then(|r| r.workspace_id.as_ref()))
            {
                inner.storage.set_meta("workspace_id", id)?;
            }
            Ok(())
        };
        write().map_err(|e| inner.storage.error(e))?;
        inner.storage.commit()?;
        inner.bound = true;
        Ok(())
    }

    /// Forgets every customer and the workspace the file was bound to: the next sync sends
    /// every record, and binds the file again.
    ///
    /// # Errors
    ///
    /// [`StateError::Storage`] when the file cannot be written.
    pub fn reset(&self) -> Result<(), StateError> {
        let mut inner = self.lock();
        let state_id = inner.state_id.clone();
        let cleared = inner
            .storage
            .clear()
            .and_then(|()| inner.storage.set_meta("state_id", &state_id));
        cleared.map_err(|e| inner.storage.error(e))?;
        inner.bound = false;
        inner.storage.commit()
    }

    /// Compares an input with what Plain last confirmed for its customer.
    ///
    /// Inputs that may name the same customer (by their identifier, `onCreate`'s email
    /// address or external id, or the customer those lead to in the state) are taken in the
    /// order they are admitted: while one is in flight, a later one gets [`Admission::Wait`].
    pub fn admit(&self, input: &UpsertCustomerInput) -> Admission {
        let names = names(input);
        let mut inner = self.lock();
        let (keys, identified) = inner.look_up(&names);
        let (number, go) = inner.turns.enter(&keys);
        if !go {
            let receiver = inner.turns.wait(number, keys.clone());
            drop(inner);
            return Admission::Wait(Turn {
                receiver,
                ticket: Ticket {
                    store: self.clone(),
                    number,
                    keys,
                    names,
                    live: true,
                },
            });
        }
        drop(inner);
        let ticket = Ticket {
            store: self.clone(),
            number,
            keys,
            names,
            live: true,
        };
        self.decide(ticket, identified, input)
    }

    /// [`StateStore::admit`] for an input whose [`Turn`] came: it cannot be told to wait
    /// again.
    ///
    /// `input` must be the input that was told to wait.
    pub fn admit_turn(&self, input: &UpsertCustomerInput, mut ready: TurnReady) -> Admission {
        if names(input) != ready.ticket.names {
            // Not the input that waited: its turn passes on, and this one queues.
            drop(ready);
            return self.admit(input);
        }
        let ticket = ready.ticket.pass();
        let identified = {
            let mut inner = self.lock();
            match inner.storage.find(&ticket.names[0]) {
                Ok(row) => row,
                Err(e) => {
                    inner.fail_with(e);
                    None
                }
            }
        };
        self.decide(ticket, identified, input)
    }

    fn decide(
        &self,
        ticket: Ticket,
        identified: Option<Row>,
        input: &UpsertCustomerInput,
    ) -> Admission {
        let (digest, unchanged) = {
            let mut inner = self.lock();
            let inner = &mut *inner;
            let digest = digest(input, &mut inner.buffer);
            let skip = inner.bound && !inner.resend && !inner.broken;
            let unchanged = identified
                .filter(|row| skip && !row.deleting && row.digest.as_deref() == Some(&digest[..]));
            (digest, unchanged)
        };
        match unchanged {
            // The ticket is dropped: the next in line may go.
            Some(row) => Admission::Unchanged {
                customer_id: row.customer_id,
            },
            None => Admission::Send(Admitted {
                ticket,
                digest,
                expected: Expected::of(input),
            }),
        }
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
    pub fn flush(&self) -> bool {
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
    pub fn defer_commits(&self) {
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

    /// Writes a new missing list: every customer in the state that no input named since
    /// [`StateStore::track_seen`] is marked as missing since this list (unless an earlier
    /// list already marks it), and `f` is called with each. Returns the list, or `None` when
    /// nothing was tracked. Stops at `f`'s first error.
    ///
    /// # Errors
    ///
    /// `f`'s error, or the store's when it cannot be read or written (wrapped by `into`).
    pub fn for_each_missing<E: From<StateError>>(
        &self,
        mut f: impl FnMut(&MissingList, Entry) -> Result<(), E>,
    ) -> Result<Option<MissingList>, E> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.storage.commit()?;
        if !inner.storage.tracking {
            return Ok(None);
        }
        let number = (|| -> rusqlite::Result<u64> {
            let last: u64 = inner
                .storage
                .meta("missing_lists")?
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            inner
                .storage
                .set_meta("missing_lists", &(last + 1).to_string())?;
            Ok(last + 1)
        })()
        .map_err(|e| E::from(inner.storage.error(e)))?;
        let list = MissingList {
            state_id: inner.state_id.clone(),
            number,
        };
        let marked = i64::try_from(number).unwrap_or(i64::MAX);
        inner
            .storage
            .list_missing(marked, |entry| f(&list, entry))?;
        Ok(Some(list))
    }

    /// Whether the state allows deleting a customer a missing list named: it still says the
    /// customer is missing since that list (or an earlier one), and `identifier`, when given,
    /// leads to the same customer. Writes nothing.
    ///
    /// # Errors
    ///
    /// [`DeletionRefused`] says why the customer must not be deleted.
    pub fn check_deletion(
        &self,
        customer_id: &str,
        identifier: Option<&CustomerIdentifier>,
        list: Option<&MissingList>,
    ) -> Result<(), DeletionRefused> {
        let mut inner = self.lock();
        check_deletion(&mut inner, customer_id, identifier, list)
    }

    /// Allows the deletion of a customer as [`StateStore::check_deletion`] does, and writes
    /// ahead, committed before this returns, that it is no longer synced: from now on no
    /// input for it is skipped, whatever happens to the deletion.
    ///
    /// # Errors
    ///
    /// [`DeletionRefused`] says why the customer must not be deleted; nothing was written.
    pub fn prepare_deletion(
        &self,
        customer_id: &str,
        identifier: Option<&CustomerIdentifier>,
        list: Option<&MissingList>,
    ) -> Result<PendingDeletion, DeletionRefused> {
        let mut inner = self.lock();
        check_deletion(&mut inner, customer_id, identifier, list)?;
        inner.storage.mark_deleting(customer_id)?;
        Ok(PendingDeletion {
            store: self.clone(),
            customer_id: customer_id.to_owned(),
        })
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
        let found = self.get(identifier)?;
        match found {
            Some(entry) => self.forget_customer_id(&entry.customer_id),
            None => Ok(false),
        }
    }

    /// Forgets the customer with Plain's id `customer_id`. Returns whether the state held
    /// it.
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

fn check_deletion(
    inner: &mut Inner,
    customer_id: &str,
    identifier: Option<&CustomerIdentifier>,
    list: Option<&MissingList>,
) -> Result<(), DeletionRefused> {
    let list = list.ok_or(DeletionRefused::NoList)?;
    if list.state_id != inner.state_id {
        return Err(DeletionRefused::OtherState {
            listed: list.state_id.clone(),
            this: inner.state_id.clone(),
        });
    }
    let find = |storage: &mut Storage, key: &Key| storage.find(key).map_err(|e| storage.error(e));
    let Some(row) = find(&mut inner.storage, &Key::Id(customer_id.to_owned()))? else {
        return Err(DeletionRefused::NotInState {
            customer_id: customer_id.to_owned(),
        });
    };
    if let Some(identifier) = identifier {
        let key = Key::of(identifier);
        if !key.names(&row) {
            let other = find(&mut inner.storage, &key)?;
            return Err(DeletionRefused::Disagrees {
                customer_id: customer_id.to_owned(),
                identifier: describe(identifier),
                state_says: other.map(|row| row.customer_id),
            });
        }
    }
    let listed = i64::try_from(list.number).unwrap_or(i64::MAX);
    if row.missing_since.is_none_or(|since| since > listed) {
        return Err(DeletionRefused::NotMissing {
            customer_id: customer_id.to_owned(),
            list: list.number,
        });
    }
    Ok(())
}

/// A new state file's id: not a secret, only different from every other file's.
fn new_state_id(path: &Path) -> String {
    let nanos = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{nanos}:{}:{}", std::process::id(), path.display());
    format!("st_{:032x}", xxhash_rust::xxh3::xxh3_128(seed.as_bytes()))
}

/// An identifier as a person reads it: `emailAddress a@example.com`.
fn describe(identifier: &CustomerIdentifier) -> String {
    match identifier {
        CustomerIdentifier::EmailAddress(v) => format!("emailAddress {v}"),
        CustomerIdentifier::ExternalId(v) => format!("externalId {v}"),
        CustomerIdentifier::CustomerId(v) => format!("customerId {v}"),
    }
}
