//! The per-address budget of the account routes (register, login, refresh, change password).

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};

use super::{context::AuthContext, request::ClientMeta};
use crate::{error::AppError, http::client_ip};

/// Counts the request against its client's register/login/refresh/change-password budget
/// (429 when over). The client is its IPv4 address, or the /64 of its IPv6 address.
pub struct IpRateLimited;

impl<S> FromRequestParts<S> for IpRateLimited
where
    S: Send + Sync,
    Arc<AuthContext>: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        if let Some(ip) = ClientMeta::from_parts(parts).ip {
            // IPv6 clients each hold a /64: they share one bucket.
            Arc::<AuthContext>::from_ref(state)
                .ip_limiter
                .check_request(parts, &client_ip::limit_key(ip))?;
        }
        Ok(IpRateLimited)
    }
}
