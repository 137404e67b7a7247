//! What the rest of the server needs of Notion: [`NotionAccess`] for the NOTION_SYNC action
//! (the API base URL and the owner's stored connection), and [`NotionState`], the part of
//! the application state the `/notion/*` routes use.

use std::sync::Arc;

use reqwest::Url;
use sqlx::PgPool;
use uuid::Uuid;

use super::connection;
use crate::{
    auth::context::AuthContext,
    config::Settings,
    secrets::{SecretValue, vault::Vault},
};

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

    /// The access token of the owner's Notion connection, if they connected Notion.
    pub async fn token_for_owner(&self, owner_id: Uuid) -> Result<Option<SecretValue>, String> {
        let Some((db, vault)) = &self.store else {
            return Ok(None);
        };
        connection::access_token(db, vault, owner_id)
            .await
            .map_err(|err| format!("cannot load the Notion connection: {err}"))
    }
}

/// What the `/notion/*` routes use.
#[derive(Clone)]
pub struct NotionState {
    /// The database pool (connections and OAuth states).
    pub db: PgPool,
    /// Validated settings (the API URL and the OAuth client).
    pub settings: Arc<Settings>,
    /// Seals and opens stored access tokens.
    pub vault: Arc<Vault>,
    /// The SSRF-guarded client calls to Notion go through.
    pub http: reqwest::Client,
    /// Signs the OAuth state cookie.
    pub auth: Arc<AuthContext>,
}
