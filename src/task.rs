//! A request's task, when it ends: its panic goes on, a cancelled task is
//! [`Error::Interrupted`]. The bulk engine and the customers stream both run requests as tasks.

use tokio::task::JoinError;

use crate::error::{Error, Result};

/// What a request's task came to.
pub(crate) fn result<T>(joined: std::result::Result<Result<T>, JoinError>) -> Result<T> {
    match joined {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(Error::Interrupted),
    }
}

/// Waits for a request's task: see [`result`].
pub(crate) async fn joined<T>(task: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
    result(task.await)
}
