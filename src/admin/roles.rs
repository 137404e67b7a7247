//! Role administration: `POST /admin/roles/{user_id}` and `DELETE /admin/roles/{user_id}/{role}`.
//! Admins may call them; only a SUPER_ADMIN grants or removes ADMIN or SUPER_ADMIN, and the
//! last SUPER_ADMIN cannot be demoted.

use std::sync::Arc;

use axum::extract::State;
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::{Admin, AuthContext, ClientMeta, RequireRole, Role},
    error::{AppError, Problem},
    http::{AppJson, AppPath},
    state::AppState,
    users::{self, UserOut, manage},
};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(grant_role))
        .routes(routes!(remove_role))
}

/// `POST /admin/roles/{user_id}` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleIn {
    /// The role to give.
    pub role: Role,
}

async fn change_role(
    db: &PgPool,
    auth: &AuthContext,
    admin: RequireRole<Admin>,
    client: &ClientMeta,
    user_id: Uuid,
    new_role: impl FnOnce(&UserOut) -> Result<Role, AppError>,
) -> Result<UserOut, AppError> {
    let actor = admin.user();
    let mut tx = db.begin().await?;
    let target = manage::lock_user(&mut tx, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    let role = new_role(&target)?;
    if !manage::may_manage(actor.role, target.role, Some(role)) {
        return Err(AppError::forbidden(
            "only a SUPER_ADMIN grants or removes ADMIN and SUPER_ADMIN",
        ));
    }
    if role != target.role {
        manage::set_role(&mut tx, actor, &target, role, client).await?;
    }
    tx.commit().await?;
    // Other instances drop it when the change's notice arrives; this one does not wait.
    auth.access.forget_user(user_id).await;
    users::get(db, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))
}

/// Give a user a role.
#[utoipa::path(post, path = "/admin/roles/{user_id}", tag = "admin", security(("bearer" = [])),
    params(("user_id" = Uuid, Path, description = "User id")),
    request_body = RoleIn,
    responses(
        (status = 200, description = "The user with the new role", body = UserOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin, or an admin role without being SUPER_ADMIN", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "Would demote the last SUPER_ADMIN", body = Problem),
        (status = 422, description = "Unknown role", body = Problem),
    ))]
async fn grant_role(
    State(db): State<PgPool>,
    State(auth): State<Arc<AuthContext>>,
    admin: RequireRole<Admin>,
    client: ClientMeta,
    AppPath(user_id): AppPath<Uuid>,
    AppJson(body): AppJson<RoleIn>,
) -> Result<AppJson<UserOut>, AppError> {
    let user = change_role(&db, &auth, admin, &client, user_id, |_| Ok(body.role)).await?;
    Ok(AppJson(user))
}

/// Take a role away from a user (they become USER).
#[utoipa::path(delete, path = "/admin/roles/{user_id}/{role}", tag = "admin", security(("bearer" = [])),
    params(
        ("user_id" = Uuid, Path, description = "User id"),
        ("role" = Role, Path, description = "The role to remove (ADMIN or SUPER_ADMIN)"),
    ),
    responses(
        (status = 200, description = "The user without the role", body = UserOut),
        (status = 400, description = "Unknown role", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin, or an admin role without being SUPER_ADMIN", body = Problem),
        (status = 404, description = "No such user holding that role", body = Problem),
        (status = 409, description = "Would demote the last SUPER_ADMIN", body = Problem),
        (status = 422, description = "USER cannot be removed", body = Problem),
    ))]
async fn remove_role(
    State(db): State<PgPool>,
    State(auth): State<Arc<AuthContext>>,
    admin: RequireRole<Admin>,
    client: ClientMeta,
    AppPath((user_id, role)): AppPath<(Uuid, Role)>,
) -> Result<AppJson<UserOut>, AppError> {
    if role == Role::User {
        return Err(AppError::invalid_field(
            "role",
            "every account has the USER role; remove ADMIN or SUPER_ADMIN",
        ));
    }
    let user = change_role(&db, &auth, admin, &client, user_id, |target| {
        if target.role == role {
            Ok(Role::User)
        } else {
            Err(AppError::not_found("role assignment"))
        }
    })
    .await?;
    Ok(AppJson(user))
}
