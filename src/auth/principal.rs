//! Who is calling: [`CurrentUser`], a user signed in with an access token, and
//! [`Principal`], a user or an API key with what it may do.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    role::Role,
    scope::{Scope, ScopeSet},
};
use crate::error::AppError;

/// A user signed in with an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentUser {
    /// The user id.
    pub id: Uuid,
    /// The role as stored now (not as when the token was issued).
    pub role: Role,
    /// The session the token belongs to.
    pub session_id: Uuid,
}

/// Who is calling an endpoint that accepts users and API keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user (the key's owner for an API key).
    pub user_id: Uuid,
    /// The user's role.
    pub role: Role,
    /// The API key, when the caller used one.
    pub api_key_id: Option<Uuid>,
    /// What the caller may do: everything for a user, the key's scopes for a key.
    pub scopes: ScopeSet,
    /// When the credential stops being valid: the access token's `exp`, or the key's
    /// `expires_at` (`None` for a key without one). Long-lived connections end then.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Principal {
    /// 403 `INSUFFICIENT_SCOPE` unless the caller holds `scope`.
    pub fn require_scope(&self, scope: Scope) -> Result<(), AppError> {
        self.scopes.require(scope)
    }
}
