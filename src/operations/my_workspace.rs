//! `myWorkspace`: the workspace the API key reaches.
//!
//! An API key belongs to one workspace, and nothing in the key says which: asking Plain is
//! how a client learns it, for example to refuse a state file written for another workspace.
//!
//! [`MyWorkspace::build_query`](graphql_client::GraphQLQuery::build_query) gives the exact
//! request body, and [`decode`](crate::response::decode) with [`ResponseData`] reads an answer
//! as the client does.

use serde::Serialize;

use crate::client::PlainClient;
use crate::error::Result;
use crate::retry::Idempotency;

pub use crate::generated::my_workspace::{ResponseData, Variables};
pub use crate::generated::MyWorkspace;

/// A Plain workspace, as `myWorkspace` answers it.
///
/// Serializes as `{"id": ..., "name": ...}`, Plain's field names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct Workspace {
    /// Plain's id for the workspace (`w_...`): the same for every key of the workspace, and
    /// never another workspace's.
    pub id: String,
    /// The workspace's name, as its members see it in Plain. It can be renamed: compare
    /// workspaces by [`id`](Workspace::id).
    pub name: String,
}

impl From<crate::generated::my_workspace::MyWorkspaceMyWorkspace> for Workspace {
    fn from(workspace: crate::generated::my_workspace::MyWorkspaceMyWorkspace) -> Self {
        Self {
            id: workspace.id,
            name: workspace.name,
        }
    }
}

impl PlainClient {
    /// The workspace the API key reaches, or `None` when Plain answers without one.
    ///
    /// A key whose machine user may not read the workspace gets Plain's `FORBIDDEN` error
    /// code: [`Error::Forbidden`](crate::Error::Forbidden) (look through retries with
    /// [`Error::last_cause`](crate::Error::last_cause)). A query: retried on every failure
    /// that can succeed later.
    pub async fn my_workspace(&self) -> Result<Option<Workspace>> {
        let data = self
            .execute_with::<MyWorkspace>(Variables, Idempotency::Idempotent)
            .await?;
        Ok(data.my_workspace.map(Workspace::from))
    }
}
