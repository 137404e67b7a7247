//! Process-wide auth machinery kept in the application state: JWT keys, rate limiters, the
//! API-key and access caches, and the server's signing secret for values it hands out and must
//! recognise.

use std::{net::IpAddr, sync::Arc};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::{access_cache::AccessCache, rate_limit::KeyedLimiter, tokens::JwtKeys};
use crate::{
    api_keys::cache::KeyCache,
    config::Settings,
    email::{Mailer, mailer_from_settings},
    error::AppError,
};

/// What the caller extractors need, as a sub-state of the application's state: the pool,
/// the auth machinery, and the tracker that background writes (API-key use) run on.
#[derive(Clone)]
pub struct AuthState {
    /// The database pool.
    pub db: PgPool,
    /// JWT keys, rate limiters and the API-key cache.
    pub auth: Arc<AuthContext>,
    /// Background tasks to wait for on shutdown.
    pub tasks: TaskTracker,
}

/// Built once at start.
pub struct AuthContext {
    /// Access-token signing and verification.
    pub jwt: JwtKeys,
    /// Register/login/refresh/change-password requests per client IP (an IPv6 /64).
    pub ip_limiter: KeyedLimiter<IpAddr>,
    /// Password-change attempts per account, with the same quota as `ip_limiter`.
    pub password_change_limiter: KeyedLimiter<Uuid>,
    /// `/api/v1` requests per API key.
    pub api_key_limiter: KeyedLimiter<Uuid>,
    /// Recently used API keys, invalidated across instances by `NOTIFY`.
    pub api_keys: KeyCache,
    /// Recently seen sessions and users, which access tokens are checked against;
    /// invalidated across instances by `NOTIFY`.
    pub access: AccessCache,
    /// Account mail (registration verification); `None` without `SMTP_URL`.
    pub mailer: Option<Mailer>,
    /// Registration mails per recipient address, so nobody floods a mailbox through
    /// `/auth/register`.
    pub registration_mail_limiter: KeyedLimiter<String>,
    /// The resolved `JWT_SECRET`, also the key of [`AuthContext::mac`].
    signing_secret: Arc<[u8]>,
}

impl AuthContext {
    /// An HMAC-SHA256 keyed with the server's signing secret, for values the server hands out
    /// and must later recognise (callers add their own domain-separation prefix).
    pub fn mac(&self) -> Result<Hmac<Sha256>, AppError> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.signing_secret)
            .map_err(|err| AppError::internal(anyhow::anyhow!("HMAC key: {err}")))
    }

    /// Forgets the idle keys of every limiter here (see [`KeyedLimiter::forget_idle_keys`]).
    pub fn forget_idle_keys(&self) {
        self.ip_limiter.forget_idle_keys();
        self.password_change_limiter.forget_idle_keys();
        self.api_key_limiter.forget_idle_keys();
        self.registration_mail_limiter.forget_idle_keys();
    }

    /// Builds it from the settings and the resolved JWT secret.
    pub fn new(settings: &Settings, jwt_secret: &str) -> anyhow::Result<Self> {
        let auth = &settings.auth;
        if !auth.registration_email_verification {
            tracing::warn!(
                "REGISTRATION_EMAIL_VERIFICATION is off: POST /auth/register answers 409 for an \
                 email that has an account, which tells whether an address is registered; \
                 configure SMTP_URL to verify emails instead"
            );
        }
        Ok(AuthContext {
            jwt: JwtKeys::new(jwt_secret, auth),
            ip_limiter: KeyedLimiter::new(
                auth.auth_rate_limit_per_minute,
                auth.auth_rate_limit_burst,
            ),
            password_change_limiter: KeyedLimiter::new(
                auth.auth_rate_limit_per_minute,
                auth.auth_rate_limit_burst,
            ),
            api_key_limiter: KeyedLimiter::new(
                auth.api_key_rate_limit_per_minute,
                auth.api_key_rate_limit_burst,
            ),
            api_keys: KeyCache::new(),
            access: AccessCache::new(),
            mailer: mailer_from_settings(settings)?,
            registration_mail_limiter: KeyedLimiter::per_hour(6, 3),
            signing_secret: Arc::from(jwt_secret.as_bytes()),
        })
    }
}
