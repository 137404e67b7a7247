//! The three roles and their order: a higher role includes every right of a lower one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;

/// What an account may do. `ADMIN` manages users; `SUPER_ADMIN` also manages admins.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// An ordinary account.
    User,
    /// Manages users (not other admins).
    Admin,
    /// Manages everything, including who is an admin.
    SuperAdmin,
}

impl Role {
    /// The name stored in the database and sent in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "USER",
            Role::Admin => "ADMIN",
            Role::SuperAdmin => "SUPER_ADMIN",
        }
    }

    /// Parses a stored role; an unknown value is a server-side inconsistency.
    pub fn from_db(value: &str) -> Result<Self, AppError> {
        match value {
            "USER" => Ok(Role::User),
            "ADMIN" => Ok(Role::Admin),
            "SUPER_ADMIN" => Ok(Role::SuperAdmin),
            other => Err(AppError::internal(anyhow::anyhow!(
                "unknown role {other:?} in the database"
            ))),
        }
    }

    /// Whether this role has at least the rights of `minimum`.
    pub fn includes(self, minimum: Role) -> bool {
        self >= minimum
    }

    /// Whether this role manages users (admin or super admin).
    pub fn is_admin(self) -> bool {
        self.includes(Role::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn super_admin_includes_admin_includes_user() {
        assert!(Role::SuperAdmin.includes(Role::Admin));
        assert!(Role::Admin.includes(Role::User));
        assert!(!Role::User.includes(Role::Admin));
        assert!(!Role::Admin.includes(Role::SuperAdmin));
    }

    #[test]
    fn names_round_trip() {
        for role in [Role::User, Role::Admin, Role::SuperAdmin] {
            assert_eq!(Role::from_db(role.as_str()).expect("parse"), role);
            assert_eq!(serde_json::to_value(role).expect("json"), role.as_str());
        }
        assert!(Role::from_db("ROOT").is_err());
    }
}
