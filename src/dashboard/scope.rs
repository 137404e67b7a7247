//! Whose figures a dashboard request shows: the caller's own (`scope=user`, the default),
//! or every user's (`scope=system`, administrators only).

use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    auth::Caller,
    error::{AppError, AppResult},
    text_enum,
};

text_enum! {
    /// Whose figures: the caller's own, or every user's.
    pub enum DashboardScope {
        /// The caller's own tasks and executions.
        User = "user",
        /// Every user's (ADMIN and SUPER_ADMIN only).
        System = "system",
    }
}

/// The `scope` query parameter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScopeParams {
    /// `user` (default): your own figures; `system`: every user's (administrators only).
    pub scope: Option<DashboardScope>,
}

/// The owner the queries are limited to (`None`: everyone), or 403 when a caller who is
/// not an administrator asks for `scope=system`.
pub fn owner_filter(caller: &Caller, scope: Option<DashboardScope>) -> AppResult<Option<Uuid>> {
    match scope.unwrap_or(DashboardScope::User) {
        DashboardScope::User => Ok(Some(caller.owner_id())),
        DashboardScope::System if caller.principal.role.is_admin() => Ok(None),
        DashboardScope::System => Err(AppError::forbidden(
            "scope=system needs the ADMIN or SUPER_ADMIN role",
        )),
    }
}
