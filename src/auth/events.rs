//! Security events: failed logins, lockouts, refresh-token reuse, role and password
//! changes, recorded with the user, client IP, user agent and time for audit and alerts.

use std::net::IpAddr;

use sqlx::{PgExecutor, types::ipnetwork::IpNetwork};
use uuid::Uuid;

use super::request::ClientMeta;
use crate::error::AppError;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityEventKind {
    /// A login with a wrong email or password.
    LoginFailed,
    /// Repeated failures locked an email for a while.
    AccountLocked,
    /// A rotated refresh token was presented again; its session was revoked.
    RefreshTokenReused,
    /// A user's role was granted or removed.
    RoleChanged,
    /// A user changed their password.
    PasswordChanged,
    /// An admin disabled or re-enabled an account.
    StatusChanged,
    /// An account was deleted.
    UserDeleted,
}

impl SecurityEventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityEventKind::LoginFailed => "login_failed",
            SecurityEventKind::AccountLocked => "account_locked",
            SecurityEventKind::RefreshTokenReused => "refresh_token_reused",
            SecurityEventKind::RoleChanged => "role_changed",
            SecurityEventKind::PasswordChanged => "password_changed",
            SecurityEventKind::StatusChanged => "status_changed",
            SecurityEventKind::UserDeleted => "user_deleted",
        }
    }
}

/// Records one event.
pub async fn record(
    db: impl PgExecutor<'_>,
    kind: SecurityEventKind,
    user_id: Option<Uuid>,
    client: &ClientMeta,
    details: serde_json::Value,
) -> Result<(), AppError> {
    let ip = client.ip.map(ip_network);
    sqlx::query!(
        "INSERT INTO security_events (id, user_id, kind, ip, user_agent, details)
         VALUES ($1, $2, $3, $4, $5, $6)",
        Uuid::now_v7(),
        user_id,
        kind.as_str(),
        ip,
        client.user_agent.as_deref(),
        details,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// An address as a single-host network, the form the `inet` column takes.
pub fn ip_network(ip: IpAddr) -> IpNetwork {
    IpNetwork::from(ip)
}
