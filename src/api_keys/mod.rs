//! API keys for integrators: issue (the key is shown once), list, revoke, rotate; the key
//! format, and their authentication for `/api/v1` (see [`verify`]).

pub mod cache;
pub mod key;
pub mod revoke_all;
pub mod verify;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

pub use cache::KeyCache;
pub use key::looks_like_key;
pub use revoke_all::{RevokedKeyOut, forget_locally, revoke_all_of_user};
pub use verify::{authenticate, notify_user_changed};

use crate::{
    auth::AuthContext,
    auth::{CurrentUser, Scope, tokens::token_hash},
    error::{AppError, Problem},
    http::{AppJson, AppPath, ValidJson},
    state::AppState,
};

/// Most active keys one user may hold.
pub const MAX_KEYS_PER_USER: i64 = 50;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(rotate_key))
}

/// `POST /api-keys` body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct ApiKeyIn {
    /// A label to recognise the key by.
    #[validate(length(min = 1, max = 100))]
    #[schema(example = "CI pipeline", min_length = 1, max_length = 100)]
    pub name: String,
    /// What the key may do; at least one scope of the catalogue.
    #[validate(length(min = 1, message = "must list at least one scope"))]
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// When the key stops working; never when omitted.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key as listed (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyOut {
    /// The key id.
    pub id: Uuid,
    /// Its label.
    pub name: String,
    /// The key's public start, to recognise it.
    #[schema(example = "nck_3fX9aQ2mLp0Z")]
    pub prefix: String,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new or rotated key: the only time the key is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    /// The key's details.
    #[serde(flatten)]
    pub details: ApiKeyOut,
    /// The key; store it now, it cannot be shown again.
    #[schema(example = "nck_3fX9aQ2mLp0ZkR7tYb1cVn4sWe8uIo6a9xQ2Lm")]
    pub key: String,
}

struct KeyRow {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<KeyRow> for ApiKeyOut {
    fn from(row: KeyRow) -> Self {
        ApiKeyOut {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            scopes: row.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// Create an API key; the response shows the key once.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", security(("bearer" = [])),
    request_body = ApiKeyIn,
    responses(
        (status = 201, description = "Created; `key` is shown only now", body = ApiKeyCreated),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 402, description = "Your plan's `max_api_keys` is reached (`PLAN_LIMIT_REACHED`)", body = Problem),
        (status = 409, description = "Too many active keys", body = Problem),
        (status = 422, description = "Invalid field (unknown scope, past expiry)", body = Problem),
    ))]
async fn create_key(
    State(db): State<PgPool>,
    State(policy): State<crate::billing::PlanPolicy>,
    user: CurrentUser,
    ValidJson(body): ValidJson<ApiKeyIn>,
) -> Result<(StatusCode, AppJson<ApiKeyCreated>), AppError> {
    if body.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(AppError::invalid_field(
            "expires_at",
            "must be in the future",
        ));
    }
    let scopes: BTreeSet<Scope> = body.scopes.into_iter().collect();
    let scopes: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
    let mut tx = db.begin().await?;
    // Serialises concurrent creations by the same user so the limit holds.
    sqlx::query!("SELECT id FROM users WHERE id = $1 FOR UPDATE", user.id)
        .fetch_one(&mut *tx)
        .await?;
    let active = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL"#,
        user.id
    )
    .fetch_one(&mut *tx)
    .await?;
    if active >= MAX_KEYS_PER_USER {
        return Err(AppError::conflict(format!(
            "you already have {MAX_KEYS_PER_USER} active API keys; revoke one first"
        )));
    }
    crate::billing::limits::admit_api_key(&mut tx, &policy, user.id, active).await?;
    let new = key::generate();
    let row = sqlx::query_as!(
        KeyRow,
        "INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, scopes, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, name, prefix, scopes, created_at, expires_at, last_used_at",
        Uuid::now_v7(),
        user.id,
        body.name.trim(),
        new.prefix,
        token_hash(&new.key),
        &scopes,
        body.expires_at,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        AppJson(ApiKeyCreated {
            details: row.into(),
            key: new.key,
        }),
    ))
}

/// List your active API keys (never the keys themselves).
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses(
        (status = 200, description = "Active keys, newest first", body = Vec<ApiKeyOut>),
        (status = 401, description = "Not signed in", body = Problem),
    ))]
async fn list_keys(
    State(db): State<PgPool>,
    user: CurrentUser,
) -> Result<AppJson<Vec<ApiKeyOut>>, AppError> {
    let rows = sqlx::query_as!(
        KeyRow,
        "SELECT id, name, prefix, scopes, created_at, expires_at, last_used_at
         FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL
         ORDER BY created_at DESC, id DESC",
        user.id
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(rows.into_iter().map(ApiKeyOut::from).collect()))
}

/// Revoke an API key; it stops working on every instance within a second.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such active key of yours", body = Problem),
    ))]
async fn revoke_key(
    State(db): State<PgPool>,
    State(auth): State<Arc<AuthContext>>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, AppError> {
    let mut tx = db.begin().await?;
    let prefix = sqlx::query_scalar!(
        "UPDATE api_keys SET revoked_at = now()
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING prefix",
        id,
        user.id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("API key"))?;
    verify::notify_changed(&mut *tx, &prefix).await?;
    tx.commit().await?;
    // This instance need not wait for its own notification.
    auth.api_keys.invalidate(&prefix).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace an API key's secret; the old key stops working at once.
#[utoipa::path(post, path = "/api-keys/{id}/rotate", tag = "api-keys", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 200, description = "The new key, shown only now", body = ApiKeyCreated),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such active key of yours", body = Problem),
    ))]
async fn rotate_key(
    State(db): State<PgPool>,
    State(auth): State<Arc<AuthContext>>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<ApiKeyCreated>, AppError> {
    let new = key::generate();
    let mut tx = db.begin().await?;
    let old_prefix = sqlx::query_scalar!(
        "SELECT prefix FROM api_keys WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
         FOR UPDATE",
        id,
        user.id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("API key"))?;
    let row = sqlx::query_as!(
        KeyRow,
        "UPDATE api_keys SET prefix = $2, secret_hash = $3, last_used_at = NULL
         WHERE id = $1
         RETURNING id, name, prefix, scopes, created_at, expires_at, last_used_at",
        id,
        new.prefix,
        token_hash(&new.key),
    )
    .fetch_one(&mut *tx)
    .await?;
    verify::notify_changed(&mut *tx, &old_prefix).await?;
    tx.commit().await?;
    auth.api_keys.invalidate(&old_prefix).await;
    Ok(AppJson(ApiKeyCreated {
        details: row.into(),
        key: new.key,
    }))
}
