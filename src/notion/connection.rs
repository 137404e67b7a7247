//! Stored Notion connections (one per user, the OAuth access token sealed by the vault and
//! bound to the user) and the single-use `state` values of OAuth round trips.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::tokens::{new_refresh_token, token_hash},
    error::AppError,
    secrets::{SecretValue, Vault},
};

/// How long an authorize link works.
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);

/// A user's Notion connection, without the token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionOut {
    /// The Notion workspace.
    pub workspace_id: String,
    /// Its name.
    pub workspace_name: Option<String>,
    /// Its icon (URL or emoji).
    pub workspace_icon: Option<String>,
    /// The integration's bot user in that workspace.
    pub bot_id: String,
    /// When it was first connected.
    pub created_at: DateTime<Utc>,
    /// When the token was last replaced.
    pub updated_at: DateTime<Utc>,
}

/// What Notion's token endpoint granted.
pub struct Grant {
    /// The access token.
    pub access_token: SecretValue,
    /// The workspace.
    pub workspace_id: String,
    /// Its name.
    pub workspace_name: Option<String>,
    /// Its icon.
    pub workspace_icon: Option<String>,
    /// The bot user.
    pub bot_id: String,
}

/// The token only opens for the user it was stored for.
fn associated_data(user_id: Uuid) -> Vec<u8> {
    let mut aad = b"nocron notion connection v1\0".to_vec();
    aad.extend_from_slice(user_id.as_bytes());
    aad
}

/// Stores (or replaces) the user's connection.
pub async fn save(
    db: &PgPool,
    vault: &Vault,
    user_id: Uuid,
    grant: &Grant,
) -> Result<ConnectionOut, AppError> {
    let sealed = vault
        .seal(
            grant.access_token.expose().as_bytes(),
            &associated_data(user_id),
        )
        .map_err(AppError::internal)?;
    let row = sqlx::query_as!(
        ConnectionOut,
        "INSERT INTO notion_connections
             (user_id, workspace_id, workspace_name, workspace_icon, bot_id, access_token, key_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (user_id) DO UPDATE SET
             workspace_id = EXCLUDED.workspace_id, workspace_name = EXCLUDED.workspace_name,
             workspace_icon = EXCLUDED.workspace_icon, bot_id = EXCLUDED.bot_id,
             access_token = EXCLUDED.access_token, key_id = EXCLUDED.key_id, updated_at = now()
         RETURNING workspace_id, workspace_name, workspace_icon, bot_id, created_at, updated_at",
        user_id,
        grant.workspace_id,
        grant.workspace_name,
        grant.workspace_icon,
        grant.bot_id,
        sealed.bytes,
        sealed.key_id,
    )
    .fetch_one(db)
    .await?;
    Ok(row)
}

/// The user's connection, if any.
pub async fn get(db: &PgPool, user_id: Uuid) -> Result<Option<ConnectionOut>, AppError> {
    Ok(sqlx::query_as!(
        ConnectionOut,
        "SELECT workspace_id, workspace_name, workspace_icon, bot_id, created_at, updated_at
         FROM notion_connections WHERE user_id = $1",
        user_id
    )
    .fetch_optional(db)
    .await?)
}

/// The user's decrypted access token, if connected.
pub async fn access_token(
    db: &PgPool,
    vault: &Vault,
    user_id: Uuid,
) -> Result<Option<SecretValue>, AppError> {
    let Some(sealed) = sqlx::query_scalar!(
        "SELECT access_token FROM notion_connections WHERE user_id = $1",
        user_id
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let plain = vault
        .open(&sealed, &associated_data(user_id))
        .map_err(AppError::internal)?;
    let token = String::from_utf8(plain).map_err(AppError::internal)?;
    Ok(Some(SecretValue::new(token)))
}

/// Removes the user's connection; whether there was one.
pub async fn delete(db: &PgPool, user_id: Uuid) -> Result<bool, AppError> {
    let deleted = sqlx::query!("DELETE FROM notion_connections WHERE user_id = $1", user_id)
        .execute(db)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// A new single-use `state` for the user (256 random bits, stored as its hash). Expired
/// states are swept on the way.
pub async fn create_state(db: &PgPool, user_id: Uuid) -> Result<String, AppError> {
    let state = new_refresh_token();
    let expires_at = Utc::now() + chrono::Duration::from_std(STATE_TTL).unwrap_or_default();
    let mut tx = db.begin().await?;
    sqlx::query!("DELETE FROM notion_oauth_states WHERE expires_at < now()")
        .execute(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO notion_oauth_states (state_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        token_hash(&state),
        user_id,
        expires_at
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(state)
}

/// The user a `state` was issued to, consuming it; `None` when unknown, used or expired.
pub async fn consume_state(db: &PgPool, state: &str) -> Result<Option<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        "DELETE FROM notion_oauth_states WHERE state_hash = $1 AND expires_at > now()
         RETURNING user_id",
        token_hash(state)
    )
    .fetch_optional(db)
    .await?)
}

/// Re-seals every stored Notion token not yet under the vault's current key (part of
/// `nocron rotate-master-key`). Returns how many were re-sealed and the users whose token no
/// configured key opens (left untouched).
pub async fn rotate_all(db: &PgPool, vault: &Vault) -> Result<(u64, Vec<Uuid>), sqlx::Error> {
    let current = vault.current_key_id().to_owned();
    let rows = sqlx::query!(
        "SELECT user_id, access_token FROM notion_connections WHERE key_id <> $1",
        current
    )
    .fetch_all(db)
    .await?;
    let (mut rotated, mut failed) = (0, Vec::new());
    for row in rows {
        let aad = associated_data(row.user_id);
        let Ok(plain) = vault.open(&row.access_token, &aad) else {
            failed.push(row.user_id);
            continue;
        };
        let Ok(sealed) = vault.seal(&plain, &aad) else {
            failed.push(row.user_id);
            continue;
        };
        rotated += sqlx::query!(
            "UPDATE notion_connections SET access_token = $2, key_id = $3
             WHERE user_id = $1 AND access_token = $4",
            row.user_id,
            sealed.bytes,
            sealed.key_id,
            row.access_token,
        )
        .execute(db)
        .await?
        .rows_affected();
    }
    Ok((rotated, failed))
}
