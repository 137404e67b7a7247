//! The API-key scope catalogue and the one check every endpoint uses.
//!
//! | scope | grants |
//! | --- | --- |
//! | `tasks:read` | list and read tasks |
//! | `tasks:write` | create, change and delete tasks |
//! | `tasks:execute` | run tasks on demand |
//! | `executions:read` | read executions and their logs |
//! | `analytics:read` | read analytics and reports |
//! | `notifications:read` | list and read notifications and the unread count |
//! | `notifications:write` | mark notifications read and delete them |
//! | `secrets:use` | create or change tasks whose configuration references `{{ secrets.NAME }}` (with `tasks:write`) |
//!
//! A user signed in with a JWT holds every scope; an API key holds the ones it was created with.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{AppError, ErrorCode};

/// One permission an API key can carry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    /// List and read tasks.
    #[serde(rename = "tasks:read")]
    TasksRead,
    /// Create, change and delete tasks.
    #[serde(rename = "tasks:write")]
    TasksWrite,
    /// Run tasks on demand.
    #[serde(rename = "tasks:execute")]
    TasksExecute,
    /// Read executions and their logs.
    #[serde(rename = "executions:read")]
    ExecutionsRead,
    /// Read analytics and reports.
    #[serde(rename = "analytics:read")]
    AnalyticsRead,
    /// Create or change tasks whose configuration references secrets (`{{ secrets.NAME }}`
    /// or a script's `secrets` list); needed with `tasks:write`, so a key that may edit
    /// tasks cannot send its owner's secrets to a URL of its choosing without it.
    #[serde(rename = "secrets:use")]
    SecretsUse,
    /// List and read notifications and the unread count.
    #[serde(rename = "notifications:read")]
    NotificationsRead,
    /// Mark notifications read and delete them.
    #[serde(rename = "notifications:write")]
    NotificationsWrite,
}

impl Scope {
    /// Every scope in the catalogue.
    pub const ALL: [Scope; 8] = [
        Scope::TasksRead,
        Scope::TasksWrite,
        Scope::TasksExecute,
        Scope::ExecutionsRead,
        Scope::AnalyticsRead,
        Scope::SecretsUse,
        Scope::NotificationsRead,
        Scope::NotificationsWrite,
    ];

    /// The wire and database name, e.g. `tasks:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::TasksRead => "tasks:read",
            Scope::TasksWrite => "tasks:write",
            Scope::TasksExecute => "tasks:execute",
            Scope::ExecutionsRead => "executions:read",
            Scope::AnalyticsRead => "analytics:read",
            Scope::SecretsUse => "secrets:use",
            Scope::NotificationsRead => "notifications:read",
            Scope::NotificationsWrite => "notifications:write",
        }
    }

    /// Parses a wire or database name.
    pub fn parse(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// The scopes a caller holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeSet {
    /// A signed-in user: every scope.
    All,
    /// An API key: exactly these.
    Only(BTreeSet<Scope>),
}

impl ScopeSet {
    /// Whether `scope` is held.
    pub fn contains(&self, scope: Scope) -> bool {
        match self {
            ScopeSet::All => true,
            ScopeSet::Only(set) => set.contains(&scope),
        }
    }

    /// The held scopes as a list.
    pub fn to_vec(&self) -> Vec<Scope> {
        match self {
            ScopeSet::All => Scope::ALL.to_vec(),
            ScopeSet::Only(set) => set.iter().copied().collect(),
        }
    }

    /// 403 `INSUFFICIENT_SCOPE` unless `scope` is held.
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        if self.contains(scope) {
            Ok(())
        } else {
            Err(AppError::new(
                ErrorCode::InsufficientScope,
                format!("this API key lacks the scope {}", scope.as_str()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_catalogue() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert_eq!(serde_json::to_value(scope).expect("json"), scope.as_str());
        }
        assert_eq!(Scope::parse("tasks:delete"), None);
    }

    #[test]
    fn a_key_holds_only_its_scopes_and_a_user_holds_all() {
        let key = ScopeSet::Only([Scope::TasksRead].into());
        assert!(key.require(Scope::TasksRead).is_ok());
        let err = key.require(Scope::TasksWrite).expect_err("missing scope");
        assert_eq!(err.code(), ErrorCode::InsufficientScope);
        assert_eq!(err.code().status(), 403);
        assert!(err.detail().contains("tasks:write"));
        for scope in Scope::ALL {
            assert!(ScopeSet::All.require(scope).is_ok());
        }
    }
}
