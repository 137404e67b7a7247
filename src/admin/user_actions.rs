//! What an admin does to an account: `PATCH /admin/users/{id}` (status with a reason, forced
//! password reset), `DELETE /admin/users/{id}` (soft delete and a scheduled purge) and
//! `POST /admin/users/{id}/sessions/revoke`. Only a SUPER_ADMIN acts on another admin; no
//! one disables, locks or deletes themselves, nor the last SUPER_ADMIN. Every change ends
//! the account's tokens in its transaction, and the database's notice drops them from every
//! instance's access cache (this instance drops them itself right after the commit).

use std::sync::Arc;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{
    model::{AccountStatus, ensure_may_act},
    user_detail::{self, AdminUserDetail},
};
use crate::{
    auth::{Admin, AuthContext, ClientMeta, RequireRole, sessions},
    config::Settings,
    error::{AppError, Problem},
    http::{AppJson, AppPath, ValidJson},
    state::AppState,
    users::{UserStatus, manage},
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_update_user, admin_delete_user))
        .routes(routes!(revoke_sessions))
}

/// `PATCH /admin/users/{id}` body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUserPatch {
    /// `ACTIVE`, `DISABLED` or `LOCKED` (delete with `DELETE /admin/users/{id}`).
    pub status: Option<AccountStatus>,
    /// Why; required with `status`, 1–500 characters.
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub reason: Option<String>,
    /// `true` ends every session and makes the account choose a new password; `false`
    /// lifts the requirement.
    pub force_password_reset: Option<bool>,
}

/// What `POST /admin/users/{id}/sessions/revoke` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsRevoked {
    /// Sessions that were live and are now revoked.
    pub revoked: u64,
}

/// Change an account's status or force a password reset (admins).
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = AdminUserPatch,
    responses(
        (status = 200, description = "The account after the change", body = AdminUserDetail),
        (status = 400, description = "Malformed id or body", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin, or the account is an admin and you are not a SUPER_ADMIN", body = Problem),
        (status = 404, description = "No such live account", body = Problem),
        (status = 409, description = "Would disable or lock the last SUPER_ADMIN", body = Problem),
        (status = 415, description = "Not JSON", body = Problem),
        (status = 422, description = "Invalid field: a missing reason, DELETED, nothing to change, or your own account", body = Problem),
    ))]
async fn admin_update_user(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(auth): State<Arc<AuthContext>>,
    admin: RequireRole<Admin>,
    client: ClientMeta,
    AppPath(id): AppPath<Uuid>,
    ValidJson(patch): ValidJson<AdminUserPatch>,
) -> Result<AppJson<AdminUserDetail>, AppError> {
    let actor = admin.user();
    if patch.status.is_none() && patch.force_password_reset.is_none() {
        return Err(AppError::invalid_field(
            "status",
            "give `status` (with a `reason`) or `force_password_reset`",
        ));
    }
    let reason = patch.reason.as_deref().map(str::trim);
    if let Some(status) = patch.status {
        if status == AccountStatus::Deleted {
            return Err(AppError::invalid_field(
                "status",
                "must be ACTIVE, DISABLED or LOCKED (delete with DELETE /admin/users/{id})",
            ));
        }
        if reason.is_none_or(str::is_empty) {
            return Err(AppError::invalid_field(
                "reason",
                "a status change needs a reason",
            ));
        }
        if actor.id == id && status != AccountStatus::Active {
            return Err(AppError::invalid_field(
                "status",
                "you cannot disable or lock your own account",
            ));
        }
    }
    let mut tx = db.begin().await?;
    let target = manage::lock_user(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    ensure_may_act(actor, target.role)?;
    if let Some(status) = patch.status {
        manage::set_status(
            &mut tx,
            actor,
            &target,
            UserStatus::from(status),
            &client,
            settings.fairness.max_queued_per_owner,
        )
        .await?;
        sqlx::query!(
            "UPDATE users SET status_reason = $2 WHERE id = $1",
            id,
            reason
        )
        .execute(&mut *tx)
        .await?;
    }
    if let Some(force) = patch.force_password_reset {
        sqlx::query!(
            "UPDATE users SET force_password_reset = $2, updated_at = now() WHERE id = $1",
            id,
            force
        )
        .execute(&mut *tx)
        .await?;
        if force {
            manage::end_tokens(&mut tx, id, "password_reset_forced").await?;
        }
    }
    tx.commit().await?;
    // Other instances drop it when the change's notice arrives; this one does not wait.
    auth.access.forget_user(id).await;
    user_detail::load(&db, id)
        .await?
        .map(AppJson)
        .ok_or_else(|| AppError::not_found("user"))
}

/// Soft-delete an account and schedule its purge (admins).
#[utoipa::path(delete, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Deleted; `purge_after` says when it is purged", body = AdminUserDetail),
        (status = 400, description = "Malformed id", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin, or the account is an admin and you are not a SUPER_ADMIN", body = Problem),
        (status = 404, description = "No such live account", body = Problem),
        (status = 409, description = "Your own account, or the last SUPER_ADMIN", body = Problem),
    ))]
async fn admin_delete_user(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(auth): State<Arc<AuthContext>>,
    admin: RequireRole<Admin>,
    client: ClientMeta,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<AdminUserDetail>, AppError> {
    let actor = admin.user();
    if actor.id == id {
        return Err(AppError::conflict(
            "you cannot delete your own account from the admin console",
        ));
    }
    let mut tx = db.begin().await?;
    let target = manage::lock_user(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    ensure_may_act(actor, target.role)?;
    manage::delete(&mut tx, actor, &target, &client).await?;
    sqlx::query!(
        "UPDATE users SET purge_after = now() + make_interval(days => $2) WHERE id = $1",
        id,
        settings.account_purge_grace_days as i32
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    auth.access.forget_user(id).await;
    user_detail::load(&db, id)
        .await?
        .map(AppJson)
        .ok_or_else(|| AppError::not_found("user"))
}

/// End every session of an account (admins): its access and refresh tokens stop working.
#[utoipa::path(post, path = "/admin/users/{id}/sessions/revoke", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "How many sessions were revoked", body = SessionsRevoked),
        (status = 400, description = "Malformed id", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin, or the account is an admin and you are not a SUPER_ADMIN", body = Problem),
        (status = 404, description = "No such live account", body = Problem),
    ))]
async fn revoke_sessions(
    State(db): State<PgPool>,
    State(auth): State<Arc<AuthContext>>,
    admin: RequireRole<Admin>,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<SessionsRevoked>, AppError> {
    let mut tx = db.begin().await?;
    let target = manage::lock_user(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    ensure_may_act(admin.user(), target.role)?;
    let revoked = sessions::revoke_all(&mut *tx, id, None, "revoked_by_admin").await?;
    tx.commit().await?;
    auth.access.forget_user(id).await;
    Ok(AppJson(SessionsRevoked { revoked }))
}
