//! Revoking every active key of one user at once (a password change does it by default),
//! announced to every instance exactly like a single revoke, so the keys stop working
//! everywhere at once.

use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::verify;
use crate::{auth::context::AuthContext, error::AppError};

/// A key that was revoked along with its owner's others.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevokedKeyOut {
    /// The key id.
    pub id: Uuid,
    /// Its label.
    pub name: String,
    /// The key's public start, to recognise it.
    #[schema(example = "nck_3fX9aQ2mLp0Z")]
    pub prefix: String,
}

/// Revokes every active key of `user_id` in the caller's transaction and queues one
/// `NOTIFY` per key (delivered on commit). After the commit, call [`forget_locally`].
pub async fn revoke_all_of_user(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> Result<Vec<RevokedKeyOut>, AppError> {
    let mut revoked = sqlx::query_as!(
        RevokedKeyOut,
        "UPDATE api_keys SET revoked_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL
         RETURNING id, name, prefix",
        user_id
    )
    .fetch_all(&mut *conn)
    .await?;
    revoked.sort_by_key(|key| key.id);
    for key in &revoked {
        verify::notify_changed(&mut *conn, &key.prefix).await?;
    }
    Ok(revoked)
}

/// Drops the revoked keys from this instance's cache without waiting for its own
/// notification.
pub async fn forget_locally(auth: &AuthContext, revoked: &[RevokedKeyOut]) {
    for key in revoked {
        auth.api_keys.invalidate(&key.prefix).await;
    }
}
