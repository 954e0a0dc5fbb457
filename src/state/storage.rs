//! The state file itself: SQLite, one row per customer, found by any of its identifiers.
//!
//! This module only reads and writes the file; what to skip, what to record and in which
//! order is decided in [`super`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::{Entry, StateError, FORMAT_VERSION};
use crate::input::CustomerIdentifier;

/// Marks a SQLite file as a state file (`PRAGMA application_id`): "PlnS".
const APPLICATION_ID: i32 = 0x506c_6e53;

/// Pages SQLite caches: 16 MiB, which keeps a million-customer file's lookups fast and the
/// memory bounded.
const CACHE_KIB: i64 = 16 * 1024;

/// One row per customer, keyed by Plain's id. `email` (as Plain compares it: trimmed and
/// lowercased) and `external_id` are what Plain last reported for it, each unique, so that
/// an input naming the customer by either finds this one row. `digest` is NULL when nothing
/// may be skipped for the customer (a deletion was written ahead, or a migrated entry whose
/// input is unknown). `missing_since` is the number of the first `--missing` list that named
/// the customer since an input last did.
const SCHEMA: &str = "
    CREATE TABLE customers (
        customer_id TEXT NOT NULL PRIMARY KEY,
        email TEXT UNIQUE,
        external_id TEXT UNIQUE,
        digest BLOB,
        result TEXT NOT NULL,
        synced_at INTEGER NOT NULL,
        missing_since INTEGER,
        deleting INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE TABLE meta (name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
";

/// Format 1 kept one row per identifier: one customer synced by email and by external id
/// was two entries. Each customer becomes one row; its input digest is kept only where it
/// had one row, so a customer that had two is sent once more.
fn migrate_from_1() -> String {
    format!(
        "ALTER TABLE customers RENAME TO customers_1;
         {SCHEMA}
         INSERT INTO customers (customer_id, email, external_id, digest, result, synced_at)
             SELECT customer_id,
                    (SELECT min(value) FROM customers_1 AS e
                      WHERE e.customer_id = c.customer_id AND e.kind = 'emailAddress'),
                    (SELECT min(value) FROM customers_1 AS x
                      WHERE x.customer_id = c.customer_id AND x.kind = 'externalId'),
                    CASE WHEN count(*) = 1 THEN max(digest) END,
                    max(result), max(synced_at)
               FROM customers_1 AS c GROUP BY customer_id;
         DROP TABLE customers_1;"
    )
}

/// A customer's row.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub customer_id: String,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub digest: Option<Vec<u8>>,
    pub result: String,
    pub synced_at: i64,
    pub missing_since: Option<i64>,
    pub deleting: bool,
}

impl Row {
    const COLUMNS: &'static str =
        "customer_id, email, external_id, digest, result, synced_at, missing_since, deleting";

    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            customer_id: row.get(0)?,
            email: row.get(1)?,
            external_id: row.get(2)?,
            digest: row.get(3)?,
            result: row.get(4)?,
            synced_at: row.get(5)?,
            missing_since: row.get(6)?,
            deleting: row.get::<_, i64>(7)? != 0,
        })
    }

    pub fn entry(self) -> Entry {
        let identifier = match (&self.email, &self.external_id) {
            (Some(email), _) => CustomerIdentifier::EmailAddress(email.clone()),
            (None, Some(id)) => CustomerIdentifier::ExternalId(id.clone()),
            (None, None) => CustomerIdentifier::CustomerId(self.customer_id.clone()),
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
            Key::Id(id) => row.customer_id == *id,
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

    /// Opens (creating, or migrating from format 1) the file, or refuses it unchanged.
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
            (APPLICATION_ID, 1) => {
                connection
                    .execute_batch(&format!("{} {stamp}", migrate_from_1()))
                    .map_err(storage)?;
            }
            (APPLICATION_ID, found) if found > FORMAT_VERSION => {
                return Err(StateError::NewerFormat { path, found });
            }
            (0, 0) if tables == 0 => {
                connection
                    .execute_batch(&format!("{SCHEMA} {stamp}"))
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
            Key::Email(v) => (
                "SELECT customer_id, email, external_id, digest, result, synced_at, \
                 missing_since, deleting FROM customers WHERE email = ?1",
                v,
            ),
            Key::External(v) => (
                "SELECT customer_id, email, external_id, digest, result, synced_at, \
                 missing_since, deleting FROM customers WHERE external_id = ?1",
                v,
            ),
            Key::Id(v) => (
                "SELECT customer_id, email, external_id, digest, result, synced_at, \
                 missing_since, deleting FROM customers WHERE customer_id = ?1",
                v,
            ),
        };
        self.begin()?;
        self.connection
            .prepare_cached(sql)?
            .query_row(params![value], Row::read)
            .optional()
    }

    /// Records Plain's answer for a customer: its identifiers as Plain reported them (taken
    /// from any other row that still had them), the input's digest and the result.
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
                    "UPDATE customers SET email = NULL WHERE email = ?1 AND customer_id <> ?2",
                )?
                .execute(params![email, customer_id])?;
        }
        if let Some(external_id) = external_id {
            self.connection
                .prepare_cached(
                    "UPDATE customers SET external_id = NULL \
                     WHERE external_id = ?1 AND customer_id <> ?2",
                )?
                .execute(params![external_id, customer_id])?;
        }
        self.connection
            .prepare_cached(
                "INSERT INTO customers \
                 (customer_id, email, external_id, digest, result, synced_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (customer_id) DO UPDATE SET \
                 email = excluded.email, external_id = excluded.external_id, \
                 digest = excluded.digest, result = excluded.result, \
                 synced_at = excluded.synced_at, missing_since = NULL, deleting = 0",
            )?
            .execute(params![
                customer_id,
                email,
                external_id,
                digest,
                result,
                unix_now()
            ])?;
        self.uncommitted += 1;
        self.note_seen(customer_id)
    }

    /// An input named the customer: it is not missing, and no missing list written before
    /// now may delete it.
    pub fn named(&mut self, row: &Row) -> rusqlite::Result<()> {
        if row.missing_since.is_some() {
            self.begin()?;
            self.connection
                .prepare_cached("UPDATE customers SET missing_since = NULL WHERE customer_id = ?1")?
                .execute(params![row.customer_id])?;
            self.uncommitted += 1;
        }
        self.note_seen(&row.customer_id)
    }

    fn note_seen(&mut self, customer_id: &str) -> rusqlite::Result<()> {
        if self.tracking {
            self.begin()?;
            self.connection
                .prepare_cached("INSERT OR IGNORE INTO temp.seen (customer_id) VALUES (?1)")?
                .execute(params![customer_id])?;
        }
        Ok(())
    }

    pub fn track_seen(&mut self) -> rusqlite::Result<()> {
        self.connection.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS seen (customer_id TEXT NOT NULL PRIMARY KEY) \
             WITHOUT ROWID",
        )?;
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
        let unseen =
            "NOT EXISTS (SELECT 1 FROM temp.seen AS s WHERE s.customer_id = c.customer_id)";
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
                "SELECT {} FROM customers AS c WHERE {unseen} ORDER BY email, external_id, customer_id",
                Row::COLUMNS
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

    /// Writes ahead that the customer is about to be deleted: nothing is skipped for it from
    /// now on. Committed before this returns.
    pub fn mark_deleting(&mut self, customer_id: &str) -> Result<(), StateError> {
        let marked = self.begin().and_then(|()| {
            self.connection
                .prepare_cached(
                    "UPDATE customers SET deleting = 1, digest = NULL WHERE customer_id = ?1",
                )?
                .execute(params![customer_id])
        });
        if let Err(e) = marked {
            return Err(self.error(e));
        }
        self.commit()
    }

    /// Removes a customer.
    pub fn forget(&mut self, customer_id: &str) -> rusqlite::Result<bool> {
        self.begin()?;
        let removed = self
            .connection
            .prepare_cached("DELETE FROM customers WHERE customer_id = ?1")?
            .execute(params![customer_id])?;
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
