//! Remembering handled events in a SQLite file, so that a retry after a restart is still
//! recognised (feature `state`).

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

/// How many event ids a [`SqliteDeduplicator`] keeps by default: 1,000,000 (about 60 MB of
/// file at Plain's id length); the oldest are forgotten first.
pub const DEFAULT_MAX_IDS: u64 = 1_000_000;

/// The ids of handled events in a SQLite file: [`SqliteDeduplicator::first_time`] is true once
/// per event id, across restarts, as long as the id is among the last `max_ids` recorded.
///
/// Each call is one committed statement, so an id is remembered once `first_time` returned.
/// Record the id after the work is done, or [`forget`](SqliteDeduplicator::forget) it when the
/// work fails, so that Plain's retry does it again.
#[derive(Debug)]
pub struct SqliteDeduplicator {
    connection: Connection,
    path: PathBuf,
    max_ids: u64,
}

/// A failure of the deduplication file: it could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[error("the webhook deduplication file {}: {source}", path.display())]
pub struct DedupeStoreError {
    path: PathBuf,
    #[source]
    source: rusqlite::Error,
}

impl SqliteDeduplicator {
    /// Opens (or creates) the file at `path`, keeping [`DEFAULT_MAX_IDS`] ids.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DedupeStoreError> {
        let path = path.as_ref().to_path_buf();
        let failed = |source| DedupeStoreError {
            path: path.clone(),
            source,
        };
        let connection = Connection::open(&path).map_err(failed)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 CREATE TABLE IF NOT EXISTS plain_webhook_events (event_id TEXT NOT NULL UNIQUE);",
            )
            .map_err(failed)?;
        Ok(Self {
            connection,
            path,
            max_ids: DEFAULT_MAX_IDS,
        })
    }

    /// Keeps at most `max_ids` ids (at least 1); the oldest are forgotten first.
    pub fn max_ids(mut self, max_ids: u64) -> Self {
        self.max_ids = max_ids.max(1);
        self
    }

    fn failed(&self, source: rusqlite::Error) -> DedupeStoreError {
        DedupeStoreError {
            path: self.path.clone(),
            source,
        }
    }

    /// True the first time `event_id` is recorded, false for a repeat; records it.
    pub fn first_time(&self, event_id: &str) -> Result<bool, DedupeStoreError> {
        let inserted = self
            .connection
            .execute(
                "INSERT OR IGNORE INTO plain_webhook_events (event_id) VALUES (?1)",
                params![event_id],
            )
            .map_err(|e| self.failed(e))?;
        if inserted == 1 {
            let keep = i64::try_from(self.max_ids).unwrap_or(i64::MAX);
            self.connection
                .execute(
                    "DELETE FROM plain_webhook_events
                     WHERE rowid <= (SELECT MAX(rowid) FROM plain_webhook_events) - ?1",
                    params![keep],
                )
                .map_err(|e| self.failed(e))?;
        }
        Ok(inserted == 1)
    }

    /// Forgets `event_id`, so that a delivery whose work failed is done again on retry.
    pub fn forget(&self, event_id: &str) -> Result<(), DedupeStoreError> {
        self.connection
            .execute(
                "DELETE FROM plain_webhook_events WHERE event_id = ?1",
                params![event_id],
            )
            .map(drop)
            .map_err(|e| self.failed(e))
    }

    /// How many ids are recorded.
    pub fn count(&self) -> Result<u64, DedupeStoreError> {
        self.connection
            .query_row("SELECT COUNT(*) FROM plain_webhook_events", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| self.failed(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_survive_a_reopen_and_stay_bounded() {
        let dir = std::env::temp_dir().join(format!("plain-dedupe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.sqlite");
        let _ = std::fs::remove_file(&path);
        {
            let seen = SqliteDeduplicator::open(&path).unwrap().max_ids(3);
            assert!(seen.first_time("pEv_a").unwrap());
            assert!(!seen.first_time("pEv_a").unwrap());
            assert!(seen.first_time("pEv_b").unwrap());
        }
        let seen = SqliteDeduplicator::open(&path).unwrap().max_ids(3);
        assert!(
            !seen.first_time("pEv_a").unwrap(),
            "remembered across a reopen"
        );
        assert!(!seen.first_time("pEv_b").unwrap());
        for id in ["pEv_c", "pEv_d", "pEv_e"] {
            assert!(seen.first_time(id).unwrap());
        }
        assert_eq!(seen.count().unwrap(), 3, "the bound holds");
        assert!(
            seen.first_time("pEv_a").unwrap(),
            "the oldest was forgotten"
        );
        seen.forget("pEv_a").unwrap();
        assert!(seen.first_time("pEv_a").unwrap());
        drop(seen);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
