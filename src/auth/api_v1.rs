//! The `/api/v1` endpoints about the caller itself, so integrators can check a key: who it
//! belongs to and whether it holds a scope. Task endpoints join `/api/v1` in their modules.

use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{Principal, Role, Scope};
use crate::{
    error::{AppError, Problem},
    http::{AppJson, AppPath},
    state::AppState,
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(whoami))
        .routes(routes!(check_scope))
}

/// The caller as `/api/v1` sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrincipalOut {
    /// The user (the key's owner for an API key).
    pub user_id: Uuid,
    /// The user's role.
    pub role: Role,
    /// The API key used, if any.
    pub api_key_id: Option<Uuid>,
    /// The scopes held (all of them for a signed-in user).
    pub scopes: Vec<Scope>,
}

/// A granted scope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeCheckOut {
    /// The scope asked about.
    pub scope: Scope,
    /// Always true (a missing scope is a 403).
    pub granted: bool,
}

/// Who the API key or token belongs to, and its scopes.
#[utoipa::path(get, path = "/api/v1/me", tag = "api-v1",
    security(("api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = PrincipalOut),
        (status = 401, description = "Missing, invalid, revoked or expired credential", body = Problem),
        (status = 429, description = "The key's rate limit is exhausted", body = Problem),
    ))]
async fn whoami(principal: Principal) -> AppJson<PrincipalOut> {
    AppJson(PrincipalOut {
        user_id: principal.user_id,
        role: principal.role,
        api_key_id: principal.api_key_id,
        scopes: principal.scopes.to_vec(),
    })
}

/// Whether the caller holds a scope: 200 if so, 403 `INSUFFICIENT_SCOPE` if not.
#[utoipa::path(get, path = "/api/v1/scopes/{scope}", tag = "api-v1",
    security(("api_key" = []), ("bearer" = [])),
    params(("scope" = Scope, Path, description = "A scope from the catalogue, e.g. `tasks:read`")),
    responses(
        (status = 200, description = "The scope is held", body = ScopeCheckOut),
        (status = 400, description = "Not a scope of the catalogue", body = Problem),
        (status = 401, description = "Missing, invalid, revoked or expired credential", body = Problem),
        (status = 403, description = "The key lacks the scope", body = Problem),
        (status = 429, description = "The key's rate limit is exhausted", body = Problem),
    ))]
async fn check_scope(
    principal: Principal,
    AppPath(scope): AppPath<Scope>,
) -> Result<AppJson<ScopeCheckOut>, AppError> {
    principal.require_scope(scope)?;
    Ok(AppJson(ScopeCheckOut {
        scope,
        granted: true,
    }))
}
