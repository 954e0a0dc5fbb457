//! What a state file is bound to: the workspace an API key reaches.

use super::storage::Storage;
use super::{StateError, StateStore};
use crate::PlainClient;

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

impl StateStore {
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
}
