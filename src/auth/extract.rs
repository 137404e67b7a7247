//! The caller extractors every module uses: [`CurrentUser`] (a signed-in user, JWT only),
//! [`RequireRole`] (a user with at least a role) and [`Principal`] (a user or an API key,
//! with scopes), plus [`authenticate_token`] for callers outside HTTP (the Socket.IO
//! handshake). A credential that is present but invalid is always a 401, never ignored.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderName, header, request::Parts},
};

pub use super::principal::{CurrentUser, Principal};
use super::{AuthState, actor_slot::ActorSlot};
use super::{Role, ScopeSet};
use crate::{
    api_keys::{key::looks_like_key, verify::authenticate as authenticate_api_key},
    error::AppError,
};

/// The header integrators send API keys in (`Authorization: Bearer nck_…` works too).
pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// A minimum role, for [`RequireRole`].
pub trait RoleRequirement {
    /// The least role that passes.
    const MINIMUM: Role;
}

/// Admins and super admins.
pub struct Admin;
/// Super admins only.
pub struct SuperAdmin;

impl RoleRequirement for Admin {
    const MINIMUM: Role = Role::Admin;
}

impl RoleRequirement for SuperAdmin {
    const MINIMUM: Role = Role::SuperAdmin;
}

/// A signed-in user holding at least the role `R` (else 403).
#[derive(Debug, Clone, Copy)]
pub struct RequireRole<R>(pub CurrentUser, PhantomData<R>);

impl<R> RequireRole<R> {
    /// The user.
    pub fn user(&self) -> CurrentUser {
        self.0
    }
}

/// The bearer token of a request, if any; a malformed `Authorization` header is a 401.
fn bearer(parts: &Parts) -> Result<Option<&str>, AppError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| AppError::unauthorized("the Authorization header is malformed"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(AppError::unauthorized(
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

fn www_authenticate(err: AppError) -> AppError {
    err.with_header(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    )
}

/// Authenticates an access token: signature and claims, then that its session is live and
/// the user's token version still matches (from the access cache, or one indexed query).
pub async fn authenticate_access_token(
    state: &AuthState,
    token: &str,
) -> Result<CurrentUser, AppError> {
    authenticate_access(state, token)
        .await
        .map(|(user, _)| user)
}

/// [`authenticate_access_token`], also returning the token's expiry.
async fn authenticate_access(
    state: &AuthState,
    token: &str,
) -> Result<(CurrentUser, Option<DateTime<Utc>>), AppError> {
    let claims = state.auth.jwt.verify(token)?;
    let user = state.auth.access.check(&state.db, &claims).await?;
    Ok((user, DateTime::from_timestamp(claims.exp, 0)))
}

/// Authenticates either an access token or an API key (`nck_…`), e.g. for a Socket.IO
/// handshake. Rate limits are not applied here.
pub async fn authenticate_token(state: &AuthState, token: &str) -> Result<Principal, AppError> {
    if looks_like_key(token) {
        return authenticate_api_key(state, token).await;
    }
    let (user, expires_at) = authenticate_access(state, token).await?;
    Ok(Principal {
        user_id: user.id,
        role: user.role,
        api_key_id: None,
        scopes: ScopeSet::All,
        expires_at,
    })
}

impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    AuthState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(*user);
        }
        let token = bearer(parts)?.ok_or_else(|| {
            www_authenticate(AppError::unauthorized(
                "sign in: send `Authorization: Bearer <access token>`",
            ))
        })?;
        if looks_like_key(token) {
            return Err(AppError::unauthorized(
                "API keys are accepted on /api/v1 only; sign in for this endpoint",
            ));
        }
        let user = authenticate_access_token(&AuthState::from_ref(state), token)
            .await
            .map_err(www_authenticate)?;
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        if let Some(slot) = parts.extensions.get::<ActorSlot>() {
            slot.set(user.id, None);
        }
        parts.extensions.insert(user);
        Ok(user)
    }
}

impl<R, S> FromRequestParts<S> for RequireRole<R>
where
    R: RoleRequirement + Send + Sync,
    S: Send + Sync,
    AuthState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if !user.role.includes(R::MINIMUM) {
            return Err(AppError::forbidden(format!(
                "this requires the {} role",
                R::MINIMUM.as_str()
            )));
        }
        Ok(RequireRole(user, PhantomData))
    }
}

impl<S> FromRequestParts<S> for Principal
where
    S: Send + Sync,
    AuthState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let state = &AuthState::from_ref(state);
        let key = parts
            .headers
            .get(&API_KEY_HEADER)
            .map(|v| {
                v.to_str()
                    .map_err(|_| AppError::unauthorized("the X-API-Key header is malformed"))
            })
            .transpose()?;
        let token = match key {
            Some(key) => key.trim(),
            None => bearer(parts)?.ok_or_else(|| {
                www_authenticate(AppError::unauthorized(
                    "send an API key in `X-API-Key` or a token in `Authorization: Bearer …`",
                ))
            })?,
        };
        let principal = authenticate_token(state, token).await?;
        if let Some(slot) = parts.extensions.get::<ActorSlot>() {
            slot.set(principal.user_id, principal.api_key_id);
        }
        let span = tracing::Span::current();
        span.record("user_id", tracing::field::display(principal.user_id));
        if let Some(key_id) = principal.api_key_id {
            span.record("api_key_id", tracing::field::display(key_id));
            state.auth.api_key_limiter.check_request(parts, &key_id)?;
        }
        Ok(principal)
    }
}
