//! Process-wide auth machinery kept in `AppState`: JWT keys, rate limiters and the API-key
//! cache.

use std::net::IpAddr;

use uuid::Uuid;

use super::{rate_limit::KeyedLimiter, tokens::JwtKeys};
use crate::{api_keys::KeyCache, config::Settings};

/// Built once at start.
pub struct AuthContext {
    /// Access-token signing and verification.
    pub jwt: JwtKeys,
    /// Register/login/refresh requests per client IP.
    pub ip_limiter: KeyedLimiter<IpAddr>,
    /// `/api/v1` requests per API key.
    pub api_key_limiter: KeyedLimiter<Uuid>,
    /// Recently used API keys, invalidated across instances by `NOTIFY`.
    pub api_keys: KeyCache,
}

impl AuthContext {
    /// Builds it from the settings and the resolved JWT secret.
    pub fn new(settings: &Settings, jwt_secret: &str) -> Self {
        let auth = &settings.auth;
        AuthContext {
            jwt: JwtKeys::new(jwt_secret, auth),
            ip_limiter: KeyedLimiter::new(
                auth.auth_rate_limit_per_minute,
                auth.auth_rate_limit_burst,
            ),
            api_key_limiter: KeyedLimiter::new(
                auth.api_key_rate_limit_per_minute,
                auth.api_key_rate_limit_burst,
            ),
            api_keys: KeyCache::new(),
        }
    }
}
