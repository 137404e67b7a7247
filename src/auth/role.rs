//! The three roles and their order: a higher role includes every right of a lower one.

use crate::{error::AppError, text_enum};

text_enum! {
    /// What an account may do. `ADMIN` manages users; `SUPER_ADMIN` also manages admins.
    /// Roles are ordered: a later variant includes every right of an earlier one.
    #[derive(PartialOrd, Ord)]
    pub enum Role {
        /// An ordinary account.
        User = "USER",
        /// Manages users (not other admins).
        Admin = "ADMIN",
        /// Manages everything, including who is an admin.
        SuperAdmin = "SUPER_ADMIN",
    }
}

impl Role {
    /// Parses a stored role; an unknown value is a server-side inconsistency.
    pub fn from_db(value: &str) -> Result<Self, AppError> {
        value.parse().map_err(|_| {
            AppError::internal(anyhow::anyhow!("unknown role {value:?} in the database"))
        })
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
