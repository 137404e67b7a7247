//! Account changes with security consequences, shared by the users and admin routes:
//! role changes, disabling and deleting, each ending the account's tokens, and the rule
//! that the last active SUPER_ADMIN stays.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{UserOut, UserRow, UserStatus};
use crate::{
    api_keys,
    auth::{ClientMeta, CurrentUser, Role, events, events::SecurityEventKind, sessions},
    error::AppError,
    realtime, scheduler,
};

/// 409 when `target` is the only active SUPER_ADMIN. Locks the super admins' rows so two
/// concurrent demotions cannot both pass.
pub async fn ensure_not_last_super_admin(
    conn: &mut PgConnection,
    target: Uuid,
) -> Result<(), AppError> {
    let super_admins = sqlx::query_scalar!(
        "SELECT id FROM users
         WHERE role = 'SUPER_ADMIN' AND status = 'active' AND deleted_at IS NULL
         FOR UPDATE",
    )
    .fetch_all(&mut *conn)
    .await?;
    if super_admins == [target] {
        return Err(AppError::conflict(
            "this is the last SUPER_ADMIN; grant the role to someone else first",
        ));
    }
    Ok(())
}

/// Whether `actor` may manage an account holding `target_role` (and give it `new_role`):
/// only a SUPER_ADMIN touches admins.
pub fn may_manage(actor: Role, target_role: Role, new_role: Option<Role>) -> bool {
    let touches_admins = target_role.is_admin() || new_role.is_some_and(Role::is_admin);
    actor.is_admin() && (!touches_admins || actor == Role::SuperAdmin)
}

/// Locks and reads a live user.
pub async fn lock_user(conn: &mut PgConnection, id: Uuid) -> Result<Option<UserOut>, AppError> {
    let row = sqlx::query_as!(
        UserRow,
        r#"SELECT id, email::text AS "email!", name, role, status, timezone, created_at, updated_at
           FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(UserOut::try_from).transpose()
}

/// Ends every token of a user: bumps the token version, revokes sessions, drops cached keys.
pub async fn end_tokens(conn: &mut PgConnection, id: Uuid, reason: &str) -> Result<(), AppError> {
    super::model::bump_token_version(&mut *conn, id).await?;
    sessions::revoke_all(&mut *conn, id, None, reason).await?;
    api_keys::notify_user_changed(&mut *conn, id).await?;
    realtime::notify_user_changed(&mut *conn, id).await?;
    Ok(())
}

/// Gives `target` the role `role` (the caller checked `may_manage`).
pub async fn set_role(
    conn: &mut PgConnection,
    actor: CurrentUser,
    target: &UserOut,
    role: Role,
    client: &ClientMeta,
) -> Result<(), AppError> {
    if target.role == Role::SuperAdmin && role != Role::SuperAdmin {
        ensure_not_last_super_admin(conn, target.id).await?;
    }
    sqlx::query!(
        "UPDATE users SET role = $2, updated_at = now() WHERE id = $1",
        target.id,
        role.as_str()
    )
    .execute(&mut *conn)
    .await?;
    // A role change ends the tokens that carry the old role.
    super::model::bump_token_version(&mut *conn, target.id).await?;
    api_keys::notify_user_changed(&mut *conn, target.id).await?;
    realtime::notify_user_changed(&mut *conn, target.id).await?;
    events::record(
        &mut *conn,
        SecurityEventKind::RoleChanged,
        Some(target.id),
        client,
        serde_json::json!({ "from": target.role, "to": role, "by": actor.id }),
    )
    .await
}

/// Enables or disables an account; disabling ends its tokens. Enabling catches its tasks up
/// within `max_queued_per_owner`.
pub async fn set_status(
    conn: &mut PgConnection,
    actor: CurrentUser,
    target: &UserOut,
    status: UserStatus,
    client: &ClientMeta,
    max_queued_per_owner: usize,
) -> Result<(), AppError> {
    if status == target.status {
        return Ok(());
    }
    let blocked = matches!(status, UserStatus::Disabled | UserStatus::Locked);
    if blocked && target.role == Role::SuperAdmin {
        ensure_not_last_super_admin(conn, target.id).await?;
    }
    sqlx::query!(
        "UPDATE users SET status = $2, updated_at = now() WHERE id = $1",
        target.id,
        status.as_str()
    )
    .execute(&mut *conn)
    .await?;
    // The account's work follows its status in the same transaction.
    if status == UserStatus::Active {
        scheduler::owners::reactivate(&mut *conn, target.id, max_queued_per_owner).await?;
    } else {
        scheduler::owners::deactivate(&mut *conn, target.id).await?;
    }
    if blocked {
        let reason = if status == UserStatus::Locked {
            "account_locked"
        } else {
            "account_disabled"
        };
        end_tokens(conn, target.id, reason).await?;
    } else {
        api_keys::notify_user_changed(&mut *conn, target.id).await?;
    }
    events::record(
        &mut *conn,
        SecurityEventKind::StatusChanged,
        Some(target.id),
        client,
        serde_json::json!({ "from": target.status, "to": status, "by": actor.id }),
    )
    .await
}

/// Soft-deletes an account: it can no longer sign in, its sessions and keys are revoked,
/// and its email becomes free.
pub async fn delete(
    conn: &mut PgConnection,
    actor: CurrentUser,
    target: &UserOut,
    client: &ClientMeta,
) -> Result<(), AppError> {
    if target.role == Role::SuperAdmin {
        ensure_not_last_super_admin(conn, target.id).await?;
    }
    sqlx::query!(
        "UPDATE users SET status = 'deleted', deleted_at = now(), updated_at = now()
         WHERE id = $1",
        target.id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE api_keys SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        target.id
    )
    .execute(&mut *conn)
    .await?;
    scheduler::owners::deactivate(&mut *conn, target.id).await?;
    end_tokens(conn, target.id, "account_deleted").await?;
    events::record(
        &mut *conn,
        SecurityEventKind::UserDeleted,
        Some(target.id),
        client,
        serde_json::json!({ "by": actor.id }),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_super_admins_touch_admins() {
        use Role::*;
        assert!(may_manage(Admin, User, None));
        assert!(may_manage(Admin, User, Some(User)));
        assert!(!may_manage(Admin, User, Some(Admin)));
        assert!(!may_manage(Admin, Admin, None));
        assert!(!may_manage(User, User, Some(User)));
        assert!(may_manage(SuperAdmin, Admin, Some(SuperAdmin)));
        assert!(may_manage(SuperAdmin, SuperAdmin, Some(User)));
    }
}
