//! Facts about the client taken from the connection and headers: IP and user agent.
//!
//! The IP is the one `http::client_ip` resolved (behind `TRUSTED_PROXIES`), else the TCP peer.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};

use crate::http::client_ip::ClientIp;

/// Longest user agent kept; the rest is cut off.
const MAX_USER_AGENT: usize = 512;

/// The client's address (the TCP peer) and user agent.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    /// The client address: behind a trusted proxy the one it forwarded, otherwise the TCP
    /// peer (when the server was started with connect info).
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header, trimmed to 512 characters.
    pub user_agent: Option<String>,
}

impl ClientMeta {
    /// Reads the meta of a request.
    pub fn from_parts(parts: &Parts) -> Self {
        let ip = match parts.extensions.get::<ClientIp>() {
            Some(ClientIp(ip)) => Some(*ip),
            None => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_canonical()),
        };
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        ClientMeta { ip, user_agent }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientMeta::from_parts(parts))
    }
}
