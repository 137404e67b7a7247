//! `/auth/*`: register, login, refresh, logout, change password, me.

use std::sync::Arc;

use axum::{
    Extension,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use super::{
    AuthContext, AuthState, CurrentUser, Role, events, events::SecurityEventKind,
    ip_limit::IpRateLimited, lockout, password, request::ClientMeta, sessions, verification,
};
use crate::{
    api_keys,
    audit::AuditEventId,
    config::Settings,
    error::{AppError, ErrorCode, Problem},
    http::{AppJson, ValidJson, extract::optional_json},
    security::{SecurityState, login as security_login},
    state::AppState,
    users::{self, UserOut, UserStatus},
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(change_password))
        .routes(routes!(me))
}

/// `POST /auth/register` body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct RegisterIn {
    /// The sign-in email.
    #[validate(email, length(max = 254))]
    #[schema(example = "ada@example.com", max_length = 254, format = Email)]
    pub email: String,
    /// 8–128 characters, any Unicode; the most common passwords are refused.
    #[schema(
        example = "correct horse battery staple",
        min_length = 8,
        max_length = 128
    )]
    pub password: String,
    /// Display name.
    #[validate(length(min = 1, max = 100))]
    #[schema(example = "Ada Lovelace", min_length = 1, max_length = 100)]
    pub name: String,
}

/// `POST /auth/login` body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct LoginIn {
    /// The sign-in email.
    #[validate(length(min = 1, max = 254))]
    #[schema(min_length = 1, max_length = 254)]
    pub email: String,
    /// The password.
    #[validate(length(min = 1, max = 128))]
    #[schema(min_length = 1, max_length = 128)]
    pub password: String,
}

/// `POST /auth/refresh` body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct RefreshIn {
    /// The refresh token from the last login or refresh.
    #[validate(length(min = 1, max = 512))]
    #[schema(min_length = 1, max_length = 512)]
    pub refresh_token: String,
}

/// `POST /auth/logout` body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LogoutIn {
    /// End every session of the account, not just this one.
    #[serde(default)]
    pub all: bool,
}

/// `POST /auth/change-password` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordIn {
    /// The password in use now.
    pub current_password: String,
    /// The new password (same rules as at registration).
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
    /// Keep your API keys working. By default (`false`) every active API key is revoked
    /// along with your other sessions, since whoever knew the old password may have made one.
    #[serde(default)]
    pub keep_api_keys: bool,
}

/// The answer to a password change: new tokens for this session, and what was revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChangedOut {
    /// New tokens for the session that changed the password (the old ones stop working).
    #[serde(flatten)]
    pub tokens: AuthOut,
    /// How many other sessions were signed out.
    #[schema(example = 2)]
    pub revoked_sessions: u64,
    /// The API keys that were revoked (empty with `keep_api_keys`).
    pub revoked_api_keys: Vec<api_keys::RevokedKeyOut>,
}

/// Tokens and the user they are for.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthOut {
    /// The signed-in user.
    pub user: UserOut,
    /// A JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Opaque; exchange it at `POST /auth/refresh`. Each one works once.
    pub refresh_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
}

/// The sign-in answer for a new session.
pub(super) fn auth_out(
    auth: &AuthContext,
    user: UserOut,
    session_id: Uuid,
    token_version: i32,
    refresh_token: String,
) -> Result<AuthOut, AppError> {
    let access_token = auth
        .jwt
        .issue(user.id, user.role, session_id, token_version)?;
    Ok(AuthOut {
        user,
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: auth.jwt.ttl_seconds(),
    })
}

fn invalid_credentials() -> AppError {
    AppError::new(
        ErrorCode::InvalidCredentials,
        "the email or password is wrong",
    )
}

/// Create an account and sign in, or, with email verification on, start a registration
/// that `POST /auth/verify-email` completes.
///
/// With `REGISTRATION_EMAIL_VERIFICATION` on, every acceptable request answers the same 202,
/// whether or not the email has an account; the mailbox receives either a verification token
/// or a notice that the address is taken. With it off, the account is created at once and a
/// taken email is a 409.
#[utoipa::path(post, path = "/auth/register", tag = "auth",
    request_body = RegisterIn,
    responses(
        (status = 201, description = "Account created and signed in (verification off)", body = AuthOut),
        (status = 202, description = "Verification email sent (verification on)", body = verification::RegistrationAccepted),
        (status = 409, description = "The email cannot be used (verification off)", body = Problem),
        (status = 422, description = "Invalid field (e.g. a common password)", body = Problem),
        (status = 429, description = "Too many requests from this address", body = Problem),
    ))]
async fn register(
    State(state): State<AuthState>,
    State(settings): State<Arc<Settings>>,
    _limit: IpRateLimited,
    client: ClientMeta,
    ValidJson(body): ValidJson<RegisterIn>,
) -> Result<Response, AppError> {
    let email = body.email.trim().to_owned();
    if body.name.trim().is_empty() {
        return Err(AppError::invalid_field("name", "must not be blank"));
    }
    password::check_policy("password", &body.password, &email)?;
    if settings.auth.registration_email_verification {
        let address = verification::parse_address(&email)?;
        let hash = password::hash(body.password).await?;
        verification::start(&state, &settings, address, body.name.trim(), &hash).await?;
        let accepted = verification::RegistrationAccepted::sent();
        return Ok((StatusCode::ACCEPTED, AppJson(accepted)).into_response());
    }
    let hash = password::hash(body.password).await?;
    let mut tx = state.db.begin().await?;
    let user = users::insert(&mut *tx, &email, body.name.trim(), &hash, Role::User).await?;
    let (session_id, refresh) = sessions::create(&mut tx, user.id, &client, &settings.auth).await?;
    tx.commit().await?;
    let out = auth_out(&state.auth, user, session_id, 0, refresh)?;
    Ok((StatusCode::CREATED, AppJson(out)).into_response())
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginIn,
    responses(
        (status = 200, description = "Signed in", body = AuthOut),
        (status = 401, description = "Wrong email or password", body = Problem),
        (status = 403, description = "The account is disabled", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
        (status = 429, description = "Too many requests, the email is locked for a while after repeated failures, or this address is blocked (repeated failures on this account, or password spraying); see `Retry-After`", body = Problem),
    ))]
#[allow(clippy::too_many_arguments)]
async fn login(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(auth): State<Arc<AuthContext>>,
    State(security): State<SecurityState>,
    _limit: IpRateLimited,
    client: ClientMeta,
    audit_id: Option<Extension<AuditEventId>>,
    ValidJson(body): ValidJson<LoginIn>,
) -> Result<AppJson<AuthOut>, AppError> {
    let email = body.email.trim();
    let audit_id = audit_id.map(|Extension(AuditEventId(id))| id);
    if let Some(left) = lockout::locked_for(&db, email).await? {
        return Err(locked(left));
    }
    if let Some(left) = security_login::refused_for(&db, email, client.ip).await? {
        return Err(blocked(left));
    }
    let account = users::find_for_login(&db, email).await?;
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let matched = password::verify(body.password, stored).await?;
    let account = match account {
        Some(account) if matched => account,
        account => {
            let user_id = account.map(|a| a.id);
            events::record(
                &db,
                SecurityEventKind::LoginFailed,
                user_id,
                &client,
                serde_json::json!({ "email": email }),
            )
            .await?;
            if let Some(lock) = lockout::record_failure(&db, email, &settings.auth).await? {
                events::record(
                    &db,
                    SecurityEventKind::AccountLocked,
                    user_id,
                    &client,
                    serde_json::json!({ "email": email, "seconds": lock.as_secs() }),
                )
                .await?;
            }
            security_login::failed(&security, email, client.ip, audit_id).await;
            return Err(invalid_credentials());
        }
    };
    if account.status != UserStatus::Active {
        return Err(AppError::forbidden("this account is disabled"));
    }
    lockout::clear(&db, email).await?;
    let mut tx = db.begin().await?;
    let (session_id, refresh) =
        sessions::create(&mut tx, account.id, &client, &settings.auth).await?;
    let user = users::get(&mut *tx, account.id)
        .await?
        .ok_or_else(invalid_credentials)?;
    tx.commit().await?;
    security_login::succeeded(&security, account.id, email, client.ip, audit_id).await;
    Ok(AppJson(auth_out(
        &auth,
        user,
        session_id,
        account.token_version,
        refresh,
    )?))
}

/// 429 while the (account, address) pair or the address is blocked by security alerts.
fn blocked(left: std::time::Duration) -> AppError {
    let seconds = (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1);
    AppError::new(
        ErrorCode::RateLimited,
        "too many failed sign-ins from this address; try again later",
    )
    .with_header(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(seconds),
    )
}

fn locked(left: std::time::Duration) -> AppError {
    // Rounded up: a client that waits exactly this long finds the lock gone.
    let seconds = (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1);
    AppError::new(
        ErrorCode::AccountLocked,
        "too many failed sign-ins for this email; try again later",
    )
    .with_header(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(seconds),
    )
}

/// Exchange a refresh token for a new token pair (the old refresh token stops working).
#[utoipa::path(post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshIn,
    responses(
        (status = 200, description = "A new access and refresh token", body = AuthOut),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token (reuse ends the session)", body = Problem),
        (status = 429, description = "Too many requests from this address", body = Problem),
    ))]
async fn refresh(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(auth): State<Arc<AuthContext>>,
    _limit: IpRateLimited,
    client: ClientMeta,
    ValidJson(body): ValidJson<RefreshIn>,
) -> Result<AppJson<AuthOut>, AppError> {
    let rotated =
        sessions::rotate(&db, &auth, &body.refresh_token, &client, &settings.auth).await?;
    let user = users::get(&db, rotated.user_id)
        .await?
        .ok_or_else(|| AppError::unauthorized("the refresh token is invalid or expired"))?;
    Ok(AppJson(auth_out(
        &auth,
        user,
        rotated.session_id,
        rotated.token_version,
        rotated.refresh_token,
    )?))
}

/// Sign out of this session, or of every session with `{"all": true}`.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    request_body(content = Option<LogoutIn>, description = "Optional"),
    responses(
        (status = 204, description = "Signed out; the session's tokens stop working"),
        (status = 401, description = "Not signed in", body = Problem),
    ))]
async fn logout(
    State(db): State<PgPool>,
    State(auth): State<Arc<AuthContext>>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let body: LogoutIn = optional_json(&headers, &body)?;
    // Other instances drop the sessions when the notice of the change arrives; this one
    // does not wait for it.
    if body.all {
        sessions::revoke_all(&db, user.id, None, "signed_out_everywhere").await?;
        auth.access.forget_user(user.id).await;
    } else {
        sessions::revoke(&db, user.session_id, "signed_out").await?;
        auth.access.forget_session(user.session_id).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Change your password: every other session is signed out and, unless `keep_api_keys`,
/// every API key is revoked; the answer lists what was revoked.
#[utoipa::path(post, path = "/auth/change-password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordIn,
    responses(
        (status = 200, description = "Changed; new tokens for this session and what was revoked", body = PasswordChangedOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 422, description = "Wrong current password or a weak new one", body = Problem),
        (status = 429, description = "Too many attempts from this address or on this account", body = Problem),
    ))]
async fn change_password(
    State(state): State<AuthState>,
    _limit: IpRateLimited,
    user: CurrentUser,
    client: ClientMeta,
    AppJson(body): AppJson<ChangePasswordIn>,
) -> Result<AppJson<PasswordChangedOut>, AppError> {
    // Per account too: a stolen access token used from many addresses still gets one budget.
    state.auth.password_change_limiter.check(&user.id)?;
    let (stored, _) = users::password_hash(&state.db, user.id)
        .await?
        .ok_or_else(|| AppError::unauthorized("the session has ended; sign in again"))?;
    let profile = users::get(&state.db, user.id)
        .await?
        .ok_or_else(|| AppError::unauthorized("the session has ended; sign in again"))?;
    if body.current_password.chars().count() > password::MAX_LENGTH
        || !password::verify(body.current_password, Some(stored)).await?
    {
        return Err(AppError::invalid_field(
            "current_password",
            "is not your current password",
        ));
    }
    password::check_policy("new_password", &body.new_password, &profile.email)?;
    let hash = password::hash(body.new_password).await?;
    let mut tx = state.db.begin().await?;
    let version = users::set_password(&mut tx, user.id, &hash).await?;
    let revoked_sessions =
        sessions::revoke_all(&mut *tx, user.id, Some(user.session_id), "password_changed").await?;
    let revoked_api_keys = if body.keep_api_keys {
        Vec::new()
    } else {
        api_keys::revoke_all_of_user(&mut tx, user.id).await?
    };
    crate::realtime::notify_user_changed(&mut *tx, user.id).await?;
    let refresh = sessions::reissue(&mut tx, user.session_id).await?;
    events::record(
        &mut *tx,
        SecurityEventKind::PasswordChanged,
        Some(user.id),
        &client,
        serde_json::json!({
            "revoked_sessions": revoked_sessions,
            "revoked_api_keys": revoked_api_keys.len(),
        }),
    )
    .await?;
    tx.commit().await?;
    state.auth.access.forget_user(user.id).await;
    api_keys::forget_locally(&state.auth, &revoked_api_keys).await;
    let profile = users::get(&state.db, user.id)
        .await?
        .ok_or_else(|| AppError::unauthorized("the session has ended; sign in again"))?;
    Ok(AppJson(PasswordChangedOut {
        tokens: auth_out(&state.auth, profile, user.session_id, version, refresh)?,
        revoked_sessions,
        revoked_api_keys,
    }))
}

/// The signed-in user.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Your account", body = UserOut),
        (status = 401, description = "Not signed in", body = Problem),
    ))]
async fn me(State(db): State<PgPool>, user: CurrentUser) -> Result<AppJson<UserOut>, AppError> {
    users::get(&db, user.id)
        .await?
        .map(AppJson)
        .ok_or_else(|| AppError::unauthorized("the session has ended; sign in again"))
}
