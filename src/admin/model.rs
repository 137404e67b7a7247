//! Shapes the admin routes share: an account's status as admins set it, and the rule of
//! who may act on whom.

use crate::{
    auth::{CurrentUser, Role},
    error::AppError,
    text_enum,
    users::UserStatus,
};

text_enum! {
    /// An account's status as the admin console shows and sets it.
    pub enum AccountStatus {
        /// Can sign in and use its tokens and keys.
        Active = "ACTIVE",
        /// Disabled by an admin: no sign-in, no token, no key.
        Disabled = "DISABLED",
        /// Locked by an admin (an investigation, a suspected compromise): like disabled.
        Locked = "LOCKED",
        /// Deleted; purged after the grace period.
        Deleted = "DELETED",
    }
}

impl From<UserStatus> for AccountStatus {
    fn from(status: UserStatus) -> Self {
        match status {
            UserStatus::Active => AccountStatus::Active,
            UserStatus::Disabled => AccountStatus::Disabled,
            UserStatus::Locked => AccountStatus::Locked,
            UserStatus::Deleted => AccountStatus::Deleted,
        }
    }
}

impl From<AccountStatus> for UserStatus {
    fn from(status: AccountStatus) -> Self {
        match status {
            AccountStatus::Active => UserStatus::Active,
            AccountStatus::Disabled => UserStatus::Disabled,
            AccountStatus::Locked => UserStatus::Locked,
            AccountStatus::Deleted => UserStatus::Deleted,
        }
    }
}

/// 403 unless `actor` may act on an account holding `target_role`: admins act on users, and
/// only a SUPER_ADMIN acts on another admin.
pub fn ensure_may_act(actor: CurrentUser, target_role: Role) -> Result<(), AppError> {
    if crate::users::manage::may_manage(actor.role, target_role, None) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only a SUPER_ADMIN acts on another admin",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for status in AccountStatus::ALL {
            assert_eq!(AccountStatus::from(UserStatus::from(*status)), *status);
        }
    }
}
