//! The state file itself: SQLite, one row per customer, found by any of its identifiers.
//!
//! This module only reads and writes the file; what to skip, what to record and in which
//! order is decided in [`super`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::schema;
use super::{Entry, StateError, FORMAT_VERSION};
use crate::input::CustomerIdentifier;

/// Marks a SQLite file as a state file (`PRAGMA application_id`): "PlnS".
const APPLICATION_ID: i32 = 0x506c_6e53;

/// Pages SQLite caches: 16 MiB, which keeps a million-customer file's lookups fast and the
/// memory bounded.
const CACHE_KIB: i64 = 16 * 1024;

/// The columns of a row, in [`Row::read`]'s order, and the statement that reads them.
macro_rules! select {
    ($($tail:literal)?) => {
        concat!(
            "SELECT entry, customer_id, email, external_id, digest, result, synced_at, \
             missing_since, deleting FROM customers AS c",
            $(" ", $tail)?
        )
    };
}

/// A customer's row.
#[derive(Debug, Clone)]
pub(super) struct Row {
    /// The row's number: stable while the row lasts.
    pub entry: i64,
    /// `None` for a customer Plain confirmed only in a batch, which then has an external id.
    pub customer_id: Option<String>,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub digest: Option<Vec<u8>>,
    pub result: String,
    pub synced_at: i64,
    pub missing_since: Option<i64>,
    pub deleting: bool,
}

impl Row {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            entry: row.get(0)?,
            customer_id: row.get(1)?,
            email: row.get(2)?,
            external_id: row.get(3)?,
            digest: row.get(4)?,
            result: row.get(5)?,
            synced_at: row.get(6)?,
            missing_since: row.get(7)?,
            deleting: row.get::<_, i64>(8)? != 0,
        })
    }

    /// The key that names this customer alone: its id, or the external id of one without.
    pub fn key(&self) -> Key {
        match (&self.customer_id, &self.external_id) {
            (Some(id), _) => Key::Id(id.clone()),
            (None, external_id) => Key::External(external_id.clone().unwrap_or_default()),
        }
    }

    pub fn entry(self) -> Entry {
        // A row has an id or an external id (the table checks it).
        let identifier = match (&self.email, &self.external_id, &self.customer_id) {
            (Some(email), _, _) => CustomerIdentifier::EmailAddress(email.clone()),
            (None, Some(id), _) => CustomerIdentifier::ExternalId(id.clone()),
            (None, None, id) => CustomerIdentifier::CustomerId(id.clone().unwrap_or_default()),
        };
        Entry {
            identifier,
            customer_id: self.customer_id,
            email: self.email,
            external_id: self.external_id,
            result: self.result,
            synced_at: UNIX_EPOCH + Duration::from_secs(self.synced_at.max(0).unsigned_abs()),
            missing_since: self.missing_since.and_then(|n| u64::try_from(n).ok()),
            deleting: self.deleting,
        }
    }
}

/// An identifier as the state compares it: an email address trimmed and lowercased, as
/// Plain compares them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Email(String),
    External(String),
    Id(String),
}

impl Key {
    pub fn of(identifier: &CustomerIdentifier) -> Self {
        match identifier {
            CustomerIdentifier::EmailAddress(email) => Key::email(email),
            CustomerIdentifier::ExternalId(id) => Key::External(id.clone()),
            CustomerIdentifier::CustomerId(id) => Key::Id(id.clone()),
        }
    }

    pub fn email(email: &str) -> Self {
        Key::Email(email.trim().to_lowercase())
    }

    /// Whether `row` is the customer this key names.
    pub fn names(&self, row: &Row) -> bool {
        match self {
            Key::Email(email) => row.email.as_deref() == Some(email),
            Key::External(id) => row.external_id.as_deref() == Some(id),
            Key::Id(id) => row.customer_id.as_deref() == Some(id.as_str()),
        }
    }
}

pub(super) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The open file: one connection, one open transaction at a time.
pub(super) struct Storage {
    connection: Connection,
    pub path: PathBuf,
    /// Writes since the last commit, in the open transaction.
    pub uncommitted: usize,
    since: Instant,
    /// Whether customers named are noted, for the missing list.
    pub tracking: bool,
}

impl Storage {
    pub fn error(&self, source: rusqlite::Error) -> StateError {
        StateError::Storage {
            path: self.path.clone(),
            source: Box::new(source),
        }
    }

    /// Opens (creating, or migrating from an earlier format) the file, or refuses it
    /// unchanged.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let path = path.to_path_buf();
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
        let stamp = format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {FORMAT_VERSION};"
        );
        match (application_id, version) {
            (APPLICATION_ID, FORMAT_VERSION) => {}
            (APPLICATION_ID, found @ (1 | 2)) => {
                let migration = match found {
                    1 => schema::migrate_from_1(),
                    _ => schema::migrate_from_2(),
                };
                connection
                    .execute_batch(&format!("{migration} {stamp}"))
                    .map_err(storage)?;
            }
            (APPLICATION_ID, found) if found > FORMAT_VERSION => {
                return Err(StateError::NewerFormat { path, found });
            }
            (0, 0) if tables == 0 => {
                connection
                    .execute_batch(&format!("{} {stamp}", schema::create()))
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
            connection,
            path,
            uncommitted: 0,
            since: Instant::now(),
            tracking: false,
        })
    }

    /// Opens a transaction if none is open: lookups and writes share one.
    pub fn begin(&mut self) -> rusqlite::Result<()> {
        if self.connection.is_autocommit() {
            self.connection.execute_batch("BEGIN")?;
            self.since = Instant::now();
        }
        Ok(())
    }

    /// How long the open transaction has been open.
    pub fn open_for(&self) -> Duration {
        self.since.elapsed()
    }

    /// Commits the open transaction. When that fails, it is rolled back: the file holds
    /// exactly what the last good commit left.
    pub fn commit(&mut self) -> Result<(), StateError> {
        if !self.connection.is_autocommit() {
            if let Err(e) = self.connection.execute_batch("COMMIT") {
                let failure = self.error(e);
                if !self.connection.is_autocommit() {
                    let _ = self.connection.execute_batch("ROLLBACK");
                }
                self.uncommitted = 0;
                return Err(failure);
            }
        }
        self.uncommitted = 0;
        Ok(())
    }

    /// The customer `key` names, if the state holds it.
    pub fn find(&mut self, key: &Key) -> rusqlite::Result<Option<Row>> {
        let (sql, value) = match key {
            Key::Email(v) => (select!("WHERE email = ?1"), v),
            Key::External(v) => (select!("WHERE external_id = ?1"), v),
            Key::Id(v) => (select!("WHERE customer_id = ?1"), v),
        };
        self.begin()?;
        self.connection
            .prepare_cached(sql)?
            .query_row(params![value], Row::read)
            .optional()
    }

    /// Records Plain's answer for a customer: its identifiers as Plain reported them (taken
    /// from any other row that still had them), the input's digest and the result. A row
    /// without an id that has the external id Plain reported was this customer's: this
    /// answer replaces it.
    pub fn record(
        &mut self,
        customer_id: &str,
        email: Option<&str>,
        external_id: Option<&str>,
        digest: &[u8],
        result: &str,
    ) -> rusqlite::Result<()> {
        self.begin()?;
        if let Some(email) = email {
            self.connection
                .prepare_cached(
                    "UPDATE customers SET email = NULL WHERE email = ?1 AND customer_id IS NOT ?2",
                )?
                .execute(params![email, customer_id])?;
        }
        if let Some(external_id) = external_id {
            self.forget_unidentified(external_id)?;
            self.connection
                .prepare_cached(
                    "UPDATE customers SET external_id = NULL \
                     WHERE external_id = ?1 AND customer_id IS NOT ?2",
                )?
                .execute(params![external_id, customer_id])?;
        }
        let entry: i64 = self
            .connection
            .prepare_cached(
                "INSERT INTO customers \
                 (customer_id, email, external_id, digest, result, synced_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (customer_id) DO UPDATE SET \
                 email = excluded.email, external_id = excluded.external_id, \
                 digest = excluded.digest, result = excluded.result, \
                 synced_at = excluded.synced_at, missing_since = NULL, deleting = 0 \
                 RETURNING entry",
            )?
            .query_row(
                params![customer_id, email, external_id, digest, result, unix_now()],
                |row| row.get(0),
            )?;
        self.uncommitted += 1;
        self.note_seen(entry)
    }

    /// Records that Plain confirmed an input in a batch, which names no customer: the row of
    /// the customer with `external_id` (its id, if known, is kept), or a new row without an
    /// id. No email address is recorded; one already recorded is kept only if it is
    /// `kept_email`, and cleared otherwise, since Plain's is no longer known.
    pub fn record_imported(
        &mut self,
        external_id: &str,
        kept_email: Option<&str>,
        digest: &[u8],
    ) -> rusqlite::Result<()> {
        self.begin()?;
        let entry: i64 = self
            .connection
            .prepare_cached(
                "INSERT INTO customers (external_id, digest, result, synced_at) \
                 VALUES (?1, ?2, 'IMPORTED', ?3) \
                 ON CONFLICT (external_id) DO UPDATE SET \
                 email = CASE WHEN email = ?4 THEN email END, \
                 digest = excluded.digest, result = excluded.result, \
                 synced_at = excluded.synced_at, missing_since = NULL, deleting = 0 \
                 RETURNING entry",
            )?
            .query_row(
                params![external_id, digest, unix_now(), kept_email],
                |row| row.get(0),
            )?;
        self.uncommitted += 1;
        self.note_seen(entry)
    }

    /// Plain says the customer with `external_id` has id `customer_id`: a row without an id
    /// that has that external id gets it, unless another row has it already. Returns whether
    /// one did.
    pub fn fill_in(&mut self, external_id: &str, customer_id: &str) -> rusqlite::Result<bool> {
        self.begin()?;
        let filled = self
            .connection
            .prepare_cached(
                "UPDATE customers SET customer_id = ?2 \
                 WHERE external_id = ?1 AND customer_id IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM customers WHERE customer_id = ?2)",
            )?
            .execute(params![external_id, customer_id])?;
        self.uncommitted += filled;
        Ok(filled > 0)
    }

    /// Removes the row without an id that has `external_id`, if there is one.
    pub fn forget_unidentified(&mut self, external_id: &str) -> rusqlite::Result<bool> {
        self.begin()?;
        let removed = self
            .connection
            .prepare_cached("DELETE FROM customers WHERE external_id = ?1 AND customer_id IS NULL")?
            .execute(params![external_id])?;
        self.uncommitted += removed;
        Ok(removed > 0)
    }

    /// An input named the customer: it is not missing, and no missing list written before
    /// now may delete it.
    pub fn named(&mut self, row: &Row) -> rusqlite::Result<()> {
        if row.missing_since.is_some() {
            self.begin()?;
            self.connection
                .prepare_cached("UPDATE customers SET missing_since = NULL WHERE entry = ?1")?
                .execute(params![row.entry])?;
            self.uncommitted += 1;
        }
        self.note_seen(row.entry)
    }

    fn note_seen(&mut self, entry: i64) -> rusqlite::Result<()> {
        if self.tracking {
            self.begin()?;
            self.connection
                .prepare_cached("INSERT OR IGNORE INTO temp.seen (entry) VALUES (?1)")?
                .execute(params![entry])?;
        }
        Ok(())
    }

    pub fn track_seen(&mut self) -> rusqlite::Result<()> {
        self.connection
            .execute_batch("CREATE TEMP TABLE IF NOT EXISTS seen (entry INTEGER PRIMARY KEY)")?;
        self.tracking = true;
        Ok(())
    }

    /// Marks every customer no input named since tracking began as missing since list
    /// `list` (unless it already was, since an earlier one), and calls `f` with each.
    pub fn list_missing<E: From<StateError>>(
        &mut self,
        list: i64,
        mut f: impl FnMut(Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        let unseen = "NOT EXISTS (SELECT 1 FROM temp.seen AS s WHERE s.entry = c.entry)";
        self.begin().map_err(|e| E::from(self.error(e)))?;
        self.connection
            .execute(
                &format!(
                    "UPDATE customers AS c SET missing_since = ?1 \
                     WHERE missing_since IS NULL AND {unseen}"
                ),
                params![list],
            )
            .map_err(|e| E::from(self.error(e)))?;
        self.commit()?;
        let mut statement = self
            .connection
            .prepare(&format!(
                "{} WHERE {unseen} ORDER BY email, external_id, customer_id",
                select!()
            ))
            .map_err(|e| E::from(StateError::storage(&self.path, e)))?;
        let mut rows = statement
            .query([])
            .map_err(|e| E::from(StateError::storage(&self.path, e)))?;
        loop {
            match rows.next() {
                Ok(Some(row)) => {
                    let row =
                        Row::read(row).map_err(|e| E::from(StateError::storage(&self.path, e)))?;
                    f(row.entry())?;
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(E::from(StateError::storage(&self.path, e))),
            }
        }
    }

    /// Writes ahead that the customer of row `entry` is about to be deleted: nothing is
    /// skipped for it from now on. Committed before this returns.
    pub fn mark_deleting(&mut self, entry: i64) -> Result<(), StateError> {
        let marked = self.begin().and_then(|()| {
            self.connection
                .prepare_cached(
                    "UPDATE customers SET deleting = 1, digest = NULL WHERE entry = ?1",
                )?
                .execute(params![entry])
        });
        if let Err(e) = marked {
            return Err(self.error(e));
        }
        self.commit()
    }

    /// Removes the customer with Plain's id `customer_id`.
    pub fn forget(&mut self, customer_id: &str) -> rusqlite::Result<bool> {
        self.begin()?;
        let removed = self
            .connection
            .prepare_cached("DELETE FROM customers WHERE customer_id = ?1")?
            .execute(params![customer_id])?;
        self.uncommitted += 1;
        Ok(removed > 0)
    }

    /// Removes the customer of row `entry`.
    pub fn forget_entry(&mut self, entry: i64) -> rusqlite::Result<bool> {
        self.begin()?;
        let removed = self
            .connection
            .prepare_cached("DELETE FROM customers WHERE entry = ?1")?
            .execute(params![entry])?;
        self.uncommitted += 1;
        Ok(removed > 0)
    }

    /// Removes every customer and what the file was bound to.
    pub fn clear(&mut self) -> rusqlite::Result<()> {
        self.begin()?;
        self.connection
            .execute_batch("DELETE FROM customers; DELETE FROM meta;")?;
        self.uncommitted += 1;
        Ok(())
    }

    pub fn meta(&mut self, name: &str) -> rusqlite::Result<Option<String>> {
        self.begin()?;
        self.connection
            .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
            .query_row(params![name], |row| row.get(0))
            .optional()
    }

    pub fn set_meta(&mut self, name: &str, value: &str) -> rusqlite::Result<()> {
        self.begin()?;
        self.connection
            .prepare_cached("INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)")?
            .execute(params![name, value])?;
        self.uncommitted += 1;
        Ok(())
    }

    pub fn len(&mut self) -> rusqlite::Result<u64> {
        self.begin()?;
        self.connection
            .query_row("SELECT count(*) FROM customers", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(i64::unsigned_abs)
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        let _ = self.commit();
    }
}
