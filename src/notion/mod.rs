//! The Notion integration: the REST client ([`api`]), users' OAuth connections
//! ([`connection`]), the `/notion/*` routes ([`routes`]), and [`NotionAccess`], what the
//! NOTION_SYNC action needs from the server (the API base URL and the owner's connection).

pub mod api;
pub mod connection;
pub mod routes;

use std::sync::Arc;

use reqwest::Url;
use sqlx::PgPool;
use uuid::Uuid;

pub use api::{NOTION_VERSION, NotionApi, NotionError};
pub use routes::router;

use crate::{
    secrets::{SecretValue, Vault},
    tasks,
};

/// The Notion API's default base URL.
pub const DEFAULT_API_URL: &str = "https://api.notion.com";

/// What workers need to run NOTION_SYNC: where the API is and how to find a task owner's
/// stored connection.
#[derive(Debug, Clone)]
pub struct NotionAccess {
    /// `NOTION_API_URL`.
    pub api_url: Url,
    store: Option<(PgPool, Arc<Vault>)>,
}

impl NotionAccess {
    /// Access to the API at `api_url` without stored connections (tasks must name a token).
    pub fn new(api_url: Url) -> Self {
        NotionAccess {
            api_url,
            store: None,
        }
    }

    /// Access for an application: its `NOTION_API_URL`, and the database and vault that hold
    /// owners' connections.
    pub fn with_connections(api_url: Url, db: PgPool, vault: Arc<Vault>) -> Self {
        NotionAccess {
            api_url,
            store: Some((db, vault)),
        }
    }

    /// The access token of the connection of the task's owner, if they connected Notion.
    pub async fn token_for_task(&self, task_id: Uuid) -> Result<Option<SecretValue>, String> {
        let Some((db, vault)) = &self.store else {
            return Ok(None);
        };
        let failed =
            |err: &dyn std::fmt::Display| format!("cannot load the Notion connection: {err}");
        let mut conn = db.acquire().await.map_err(|e| failed(&e))?;
        let Some(task) = tasks::db::load_task(&mut conn, task_id)
            .await
            .map_err(|e| failed(&e))?
        else {
            return Ok(None);
        };
        drop(conn);
        connection::access_token(db, vault, task.owner_id)
            .await
            .map_err(|e| failed(&e))
    }
}
