//! Sessions: one per login, each the family of its rotating refresh tokens. Creating,
//! rotating (with reuse detection) and revoking them, and the `/sessions` routes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    AuthContext, CurrentUser, Role, events,
    events::SecurityEventKind,
    request::ClientMeta,
    tokens::{new_refresh_token, token_hash},
    user_agent,
};
use crate::{
    config::AuthSettings,
    error::{AppError, Problem},
    http::{AppJson, AppPath},
    state::AppState,
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
}

fn interval(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::days(30))
}

/// Starts a session for a user; returns its id and first refresh token.
pub async fn create(
    conn: &mut PgConnection,
    user_id: Uuid,
    client: &ClientMeta,
    settings: &AuthSettings,
) -> Result<(Uuid, String), AppError> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    let refresh = new_refresh_token();
    sqlx::query!(
        "INSERT INTO sessions (id, user_id, user_agent, ip, idle_expires_at, absolute_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        user_id,
        client.user_agent.as_deref(),
        client.ip.map(events::ip_network),
        now + interval(settings.session_idle_ttl),
        now + interval(settings.session_absolute_ttl),
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)",
        token_hash(&refresh),
        id
    )
    .execute(&mut *conn)
    .await?;
    // Every sign-in starts a session here: the admin console shows the last one.
    sqlx::query!(
        "UPDATE users SET last_login_at = $2 WHERE id = $1",
        user_id,
        now
    )
    .execute(&mut *conn)
    .await?;
    Ok((id, refresh))
}

/// The outcome of presenting a refresh token.
pub struct Rotated {
    /// The user.
    pub user_id: Uuid,
    /// Their current role.
    pub role: Role,
    /// Their current token version.
    pub token_version: i32,
    /// The session.
    pub session_id: Uuid,
    /// The replacement refresh token.
    pub refresh_token: String,
}

fn invalid_refresh() -> AppError {
    AppError::unauthorized("the refresh token is invalid or expired")
}

/// Exchanges a refresh token for a new one. A token that was already rotated revokes its
/// whole session and records a security event.
pub async fn rotate(
    db: &PgPool,
    auth: &AuthContext,
    presented: &str,
    client: &ClientMeta,
    settings: &AuthSettings,
) -> Result<Rotated, AppError> {
    let hash = token_hash(presented);
    let mut tx = db.begin().await?;
    // Row locks serialise two uses of one token: the second sees it rotated.
    let Some(row) = sqlx::query!(
        r#"SELECT rt.rotated_at, s.id AS session_id, s.user_id, s.revoked_at,
                  (s.idle_expires_at > now() AND s.absolute_expires_at > now()) AS "live!",
                  u.role, u.status, u.token_version
           FROM refresh_tokens rt
           JOIN sessions s ON s.id = rt.session_id
           JOIN users u ON u.id = s.user_id
           WHERE rt.token_hash = $1
           FOR UPDATE OF rt, s"#,
        hash
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Err(invalid_refresh());
    };
    if row.rotated_at.is_some() {
        if row.revoked_at.is_none() {
            revoke(&mut *tx, row.session_id, "refresh_token_reused").await?;
        }
        events::record(
            &mut *tx,
            SecurityEventKind::RefreshTokenReused,
            Some(row.user_id),
            client,
            serde_json::json!({ "session_id": row.session_id }),
        )
        .await?;
        tx.commit().await?;
        auth.access.forget_session(row.session_id).await;
        tracing::warn!(user_id = %row.user_id, session_id = %row.session_id,
            "a rotated refresh token was presented again: session revoked");
        return Err(invalid_refresh());
    }
    if row.revoked_at.is_some() || !row.live || row.status != "active" {
        return Err(invalid_refresh());
    }
    let refresh = new_refresh_token();
    sqlx::query!(
        "UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1",
        hash
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)",
        token_hash(&refresh),
        row.session_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE sessions SET last_used_at = now(),
           idle_expires_at = LEAST(now() + $2::interval, absolute_expires_at),
           ip = COALESCE($3, ip)
         WHERE id = $1",
        row.session_id,
        sqlx::postgres::types::PgInterval::try_from(settings.session_idle_ttl)
            .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?,
        client.ip.map(events::ip_network),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Rotated {
        user_id: row.user_id,
        role: Role::from_db(&row.role)?,
        token_version: row.token_version,
        session_id: row.session_id,
        refresh_token: refresh,
    })
}

/// Issues a fresh refresh token for an existing session, retiring its current one (used
/// after a password change, whose token-version bump ends the caller's access token).
pub async fn reissue(conn: &mut PgConnection, session_id: Uuid) -> Result<String, AppError> {
    let refresh = new_refresh_token();
    sqlx::query!(
        "UPDATE refresh_tokens SET rotated_at = now() WHERE session_id = $1 AND rotated_at IS NULL",
        session_id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)",
        token_hash(&refresh),
        session_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(refresh)
}

/// Revokes one session.
pub async fn revoke(
    db: impl PgExecutor<'_>,
    session_id: Uuid,
    reason: &str,
) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2
         WHERE id = $1 AND revoked_at IS NULL",
        session_id,
        reason
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Revokes every session of a user, except `keep` when given.
pub async fn revoke_all(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    keep: Option<Uuid>,
    reason: &str,
) -> Result<u64, AppError> {
    let result = sqlx::query!(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
        user_id,
        keep,
        reason
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// Deletes sessions that ended (expired, or revoked more than a day ago) with their tokens.
pub async fn delete_expired(db: &PgPool) -> Result<u64, sqlx::Error> {
    let result = sqlx::query!(
        "DELETE FROM sessions
         WHERE absolute_expires_at < now() OR idle_expires_at < now()
            OR revoked_at < now() - interval '1 day'"
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// A signed-in device.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// The session id.
    pub id: Uuid,
    /// Browser and system read from the user agent, e.g. `Firefox on Linux`.
    #[schema(example = "Firefox on Linux")]
    pub device: String,
    /// The raw user agent.
    pub user_agent: Option<String>,
    /// The client address at login or last refresh.
    #[schema(example = "203.0.113.7")]
    pub ip: Option<String>,
    /// When the session started.
    pub created_at: DateTime<Utc>,
    /// When its refresh token was last used.
    pub last_used_at: DateTime<Utc>,
    /// When it ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// Whether this is the session of the calling token.
    pub current: bool,
}

/// List your active sessions (devices).
#[utoipa::path(get, path = "/sessions", tag = "sessions", security(("bearer" = [])),
    responses(
        (status = 200, description = "Active sessions, newest first", body = Vec<SessionOut>),
        (status = 401, description = "Not signed in", body = Problem),
    ))]
async fn list_sessions(
    axum::extract::State(db): axum::extract::State<PgPool>,
    user: CurrentUser,
) -> Result<AppJson<Vec<SessionOut>>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT id, user_agent, ip, created_at, last_used_at,
                  LEAST(idle_expires_at, absolute_expires_at) AS "expires_at!"
           FROM sessions
           WHERE user_id = $1 AND revoked_at IS NULL
             AND idle_expires_at > now() AND absolute_expires_at > now()
           ORDER BY created_at DESC"#,
        user.id
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(
        rows.into_iter()
            .map(|row| SessionOut {
                id: row.id,
                device: user_agent::describe(row.user_agent.as_deref()),
                user_agent: row.user_agent,
                ip: row.ip.map(|ip| ip.ip().to_string()),
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                expires_at: row.expires_at,
                current: row.id == user.session_id,
            })
            .collect(),
    ))
}

/// End one of your sessions (sign a device out).
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "The session is ended; its tokens stop working"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such session of yours", body = Problem),
    ))]
async fn revoke_session(
    axum::extract::State(db): axum::extract::State<PgPool>,
    axum::extract::State(auth): axum::extract::State<std::sync::Arc<AuthContext>>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<axum::http::StatusCode, AppError> {
    let result = sqlx::query!(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = 'signed_out'
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        id,
        user.id
    )
    .execute(&db)
    .await?;
    if result.rows_affected() == 0 {
        return Err(AppError::not_found("session"));
    }
    auth.access.forget_session(id).await;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
