//! [`Caller`]: the extractor of endpoints served both to the dashboard and on `/api/v1`.
//! Under `/api/v1` it accepts a user or an API key (a [`Principal`] with its scopes); anywhere
//! else only a signed-in user, who holds every scope. Handlers state the scope they need.

use axum::{
    extract::{FromRef, FromRequestParts, OriginalUri},
    http::request::Parts,
};
use uuid::Uuid;

use super::AuthState;
use super::{CurrentUser, Principal, Scope, ScopeSet};
use crate::error::AppError;

/// The prefix of the integration API.
pub const API_V1_PREFIX: &str = "/api/v1/";

/// Who calls an endpoint mounted both for the dashboard and under `/api/v1`.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user or API key, with its scopes.
    pub principal: Principal,
    /// Whether the request came through `/api/v1`.
    pub via_api: bool,
}

impl Caller {
    /// The user whose objects the caller acts on.
    pub fn owner_id(&self) -> Uuid {
        self.principal.user_id
    }

    /// 403 `INSUFFICIENT_SCOPE` unless the caller holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        self.principal.require_scope(scope)
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    AuthState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        // Nested routers see the path without their prefix; the original keeps it.
        let via_api = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(parts.uri.path(), |uri| uri.path())
            .starts_with(API_V1_PREFIX);
        let principal = if via_api {
            Principal::from_request_parts(parts, state).await?
        } else {
            let user = CurrentUser::from_request_parts(parts, state).await?;
            Principal {
                user_id: user.id,
                role: user.role,
                api_key_id: None,
                scopes: ScopeSet::All,
                expires_at: None,
            }
        };
        Ok(Caller { principal, via_api })
    }
}
