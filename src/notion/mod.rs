//! The Notion integration: the REST client ([`api`]), users' OAuth connections
//! ([`connection`]), the `/notion/*` routes ([`routes`]), each account's webhook endpoint
//! ([`webhook_endpoint`]) and what Notion posts to it ([`webhook_receive`]), and
//! [`NotionAccess`], what the NOTION_SYNC action needs from the server (the API base URL and
//! the owner's connection).

pub mod access;
pub mod api;
pub mod connection;
pub mod routes;
pub mod webhook_endpoint;
pub mod webhook_receive;

pub use access::{NotionAccess, NotionState};
pub use api::{NOTION_VERSION, NotionApi, NotionError};

/// The Notion API's default base URL.
pub const DEFAULT_API_URL: &str = "https://api.notion.com";
