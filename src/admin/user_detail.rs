//! `GET /admin/users/{id}`: one account with its recent sessions and API keys (never a
//! secret or a hash), deleted accounts included until they are purged.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::AccountStatus;
use crate::{
    auth::{Admin, RequireRole, Role},
    error::{AppError, Problem},
    http::{AppJson, AppPath},
    state::AppState,
    users::UserStatus,
};

/// Most sessions and most keys shown (the newest).
const MAX_LISTED: i64 = 100;

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(admin_get_user))
}

/// A session of the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSessionOut {
    /// Session id.
    pub id: Uuid,
    /// The browser or client that signed in.
    pub user_agent: Option<String>,
    /// The network it signed in from (as stored: a /24 or /48).
    pub ip: Option<String>,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it was last refreshed.
    pub last_used_at: DateTime<Utc>,
    /// When it ends at the latest.
    pub absolute_expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
}

/// An API key of the account, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminApiKeyOut {
    /// Key id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The public prefix that identifies it.
    pub prefix: String,
    /// Scopes it holds.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An account as the admin console shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserDetail {
    /// The user id.
    pub id: Uuid,
    /// Sign-in email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Status.
    pub status: AccountStatus,
    /// Why an admin last changed the status.
    pub status_reason: Option<String>,
    /// Whether the account must choose a new password.
    pub force_password_reset: bool,
    /// Preferred time zone.
    pub timezone: Option<String>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Last sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
    /// When it was deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// When the deleted account is purged.
    pub purge_after: Option<DateTime<Utc>>,
    /// Tasks owned.
    pub task_count: i64,
    /// The newest sessions (at most 100).
    pub sessions: Vec<AdminSessionOut>,
    /// The newest API keys (at most 100).
    pub api_keys: Vec<AdminApiKeyOut>,
}

/// Loads the detail of an account, `None` when there is no such row.
pub async fn load(db: &PgPool, id: Uuid) -> Result<Option<AdminUserDetail>, AppError> {
    let Some(user) = sqlx::query!(
        r#"SELECT id, email::text AS "email!", name, role, status, status_reason,
                  force_password_reset, timezone, created_at, updated_at, last_login_at,
                  deleted_at, purge_after,
                  (SELECT count(*) FROM tasks t WHERE t.owner_id = u.id) AS "task_count!"
           FROM users u WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let sessions = sqlx::query_as!(
        AdminSessionOut,
        r#"SELECT id, user_agent, host(ip) AS ip, created_at, last_used_at, absolute_expires_at,
                  revoked_at, revoked_reason
           FROM sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2"#,
        id,
        MAX_LISTED
    )
    .fetch_all(db)
    .await?;
    let api_keys = sqlx::query_as!(
        AdminApiKeyOut,
        "SELECT id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at
         FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
        id,
        MAX_LISTED
    )
    .fetch_all(db)
    .await?;
    Ok(Some(AdminUserDetail {
        id: user.id,
        email: user.email,
        name: user.name,
        role: Role::from_db(&user.role)?,
        status: UserStatus::from_db(&user.status)?.into(),
        status_reason: user.status_reason,
        force_password_reset: user.force_password_reset,
        timezone: user.timezone,
        created_at: user.created_at,
        updated_at: user.updated_at,
        last_login_at: user.last_login_at,
        deleted_at: user.deleted_at,
        purge_after: user.purge_after,
        task_count: user.task_count,
        sessions,
        api_keys,
    }))
}

/// An account with its sessions and API keys (admins).
#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The account", body = AdminUserDetail),
        (status = 400, description = "Malformed id", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such account", body = Problem),
    ))]
async fn admin_get_user(
    axum::extract::State(db): axum::extract::State<PgPool>,
    _admin: RequireRole<Admin>,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<AdminUserDetail>, AppError> {
    load(&db, id)
        .await?
        .map(AppJson)
        .ok_or_else(|| AppError::not_found("user"))
}
