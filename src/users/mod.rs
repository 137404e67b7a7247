//! Profiles and user management: `/users` (list for admins, read, update, soft delete).
//! A user sees and changes only their own account; anyone else's is a 404.

pub mod manage;
pub mod model;

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

pub use model::{
    LoginAccount, UserOut, UserRow, UserStatus, find_for_login, get, insert, password_hash,
    set_password,
};

use crate::{
    auth::{Admin, AuthContext, ClientMeta, CurrentUser, RequireRole, Role},
    config::Settings,
    error::{AppError, Problem},
    http::{AppJson, AppPath, AppQuery, ValidJson},
    state::AppState,
};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user, update_user, delete_user))
}

/// `GET /users` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
    /// Only this role.
    pub role: Option<Role>,
    /// Only this status (deleted accounts are listed only when asked for).
    pub status: Option<UserStatus>,
    /// Emails containing this text (case-insensitive).
    pub email: Option<String>,
}

/// One page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// The users, oldest first.
    pub items: Vec<UserOut>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<Uuid>,
}

/// `PATCH /users/{id}` body. Fields not listed (`role`, `id`, `email`, …) are ignored.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UserPatch {
    /// Display name.
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// IANA time zone such as `Europe/Paris`; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub timezone: Option<Option<String>>,
    /// `active`, `disabled` or `locked`; admins only.
    pub status: Option<UserStatus>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// List users (admins), with filters and cursor pagination.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])),
    params(UserFilter),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "Invalid query parameter", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "Invalid limit", body = Problem),
    ))]
async fn list_users(
    State(db): State<PgPool>,
    _admin: RequireRole<Admin>,
    AppQuery(filter): AppQuery<UserFilter>,
) -> Result<AppJson<UserPage>, AppError> {
    let limit = crate::http::cursor::page_size(filter.limit)?;
    let pattern = filter.email.as_deref().map(crate::db::contains_pattern);
    let rows = sqlx::query_as!(
        UserRow,
        r#"SELECT id, email::text AS "email!", name, role, status, timezone, created_at, updated_at
           FROM users
           WHERE ($1::uuid IS NULL OR id > $1)
             AND ($2::text IS NULL OR role = $2)
             AND (status = $3 OR ($3 IS NULL AND status <> 'deleted'))
             AND ($4::text IS NULL OR email::text ILIKE $4)
           ORDER BY id
           LIMIT $5"#,
        filter.cursor,
        filter.role.map(Role::as_str),
        filter.status.map(UserStatus::as_str),
        pattern,
        limit + 1,
    )
    .fetch_all(&db)
    .await?;
    let mut items = rows
        .into_iter()
        .map(UserOut::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|u| u.id)
    } else {
        None
    };
    Ok(AppJson(UserPage { items, next_cursor }))
}

/// Whether `caller` may see `id` at all (else 404).
fn may_see(caller: CurrentUser, id: Uuid) -> bool {
    caller.id == id || caller.role.is_admin()
}

/// A user: yourself, or anyone for admins.
#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such user visible to you", body = Problem),
    ))]
async fn get_user(
    State(db): State<PgPool>,
    caller: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<UserOut>, AppError> {
    if !may_see(caller, id) {
        return Err(AppError::not_found("user"));
    }
    model::get(&db, id)
        .await?
        .map(AppJson)
        .ok_or_else(|| AppError::not_found("user"))
}

/// Update a profile (name, time zone); admins can also enable or disable accounts.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = UserPatch,
    responses(
        (status = 200, description = "The updated user", body = UserOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Changing status needs an admin (a SUPER_ADMIN for admins)", body = Problem),
        (status = 404, description = "No such user visible to you", body = Problem),
        (status = 409, description = "Would disable the last SUPER_ADMIN", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
    ))]
async fn update_user(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(auth): State<Arc<AuthContext>>,
    caller: CurrentUser,
    client: ClientMeta,
    AppPath(id): AppPath<Uuid>,
    ValidJson(patch): ValidJson<UserPatch>,
) -> Result<AppJson<UserOut>, AppError> {
    if !may_see(caller, id) {
        return Err(AppError::not_found("user"));
    }
    if patch.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(AppError::invalid_field("name", "must not be blank"));
    }
    if let Some(Some(zone)) = &patch.timezone
        && zone.parse::<chrono_tz::Tz>().is_err()
    {
        return Err(AppError::invalid_field(
            "timezone",
            "must be an IANA time zone such as Europe/Paris",
        ));
    }
    let mut tx = db.begin().await?;
    let target = manage::lock_user(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    if caller.id != id && !manage::may_manage(caller.role, target.role, None) {
        return Err(AppError::forbidden("only a SUPER_ADMIN manages admins"));
    }
    if let Some(status) = patch.status {
        if !manage::may_manage(caller.role, target.role, None) {
            return Err(AppError::forbidden(
                "only admins change an account's status",
            ));
        }
        if status == UserStatus::Deleted {
            return Err(AppError::invalid_field(
                "status",
                "must be active, disabled or locked (delete with DELETE /users/{id})",
            ));
        }
        if caller.id == id && status != UserStatus::Active {
            return Err(AppError::invalid_field(
                "status",
                "you cannot disable yourself",
            ));
        }
        manage::set_status(
            &mut tx,
            caller,
            &target,
            status,
            &client,
            settings.fairness.max_queued_per_owner,
        )
        .await?;
    }
    sqlx::query!(
        "UPDATE users SET name = COALESCE($2, name),
           timezone = CASE WHEN $3 THEN $4 ELSE timezone END,
           updated_at = now()
         WHERE id = $1",
        id,
        patch.name.as_deref().map(str::trim),
        patch.timezone.is_some(),
        patch.timezone.flatten(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if patch.status.is_some() {
        // Other instances drop it when the change's notice arrives; this one does not wait.
        auth.access.forget_user(id).await;
    }
    model::get(&db, id)
        .await?
        .map(AppJson)
        .ok_or_else(|| AppError::not_found("user"))
}

/// Delete an account (yours, or as an admin anyone's): sessions and API keys are revoked.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Deleting an admin needs a SUPER_ADMIN", body = Problem),
        (status = 404, description = "No such user visible to you", body = Problem),
        (status = 409, description = "Would delete the last SUPER_ADMIN", body = Problem),
    ))]
async fn delete_user(
    State(db): State<PgPool>,
    State(auth): State<Arc<AuthContext>>,
    caller: CurrentUser,
    client: ClientMeta,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, AppError> {
    if !may_see(caller, id) {
        return Err(AppError::not_found("user"));
    }
    let mut tx = db.begin().await?;
    let target = manage::lock_user(&mut tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    if caller.id != id && !manage::may_manage(caller.role, target.role, None) {
        return Err(AppError::forbidden("only a SUPER_ADMIN deletes admins"));
    }
    manage::delete(&mut tx, caller, &target, &client).await?;
    tx.commit().await?;
    auth.access.forget_user(id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(crate::db::contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let absent: UserPatch = serde_json::from_str("{}").expect("parse");
        assert_eq!(absent.timezone, None);
        let cleared: UserPatch = serde_json::from_str(r#"{"timezone": null}"#).expect("parse");
        assert_eq!(cleared.timezone, Some(None));
        let ignored: UserPatch =
            serde_json::from_str(r#"{"role": "SUPER_ADMIN", "id": "x"}"#).expect("parse");
        assert!(ignored.name.is_none() && ignored.status.is_none());
    }
}
