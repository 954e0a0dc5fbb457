//! Why a state file could not be used.

use std::path::{Path, PathBuf};

use super::FORMAT_VERSION;

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
    pub(super) fn storage(path: &Path, source: rusqlite::Error) -> Self {
        StateError::Storage {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    }
}
