//! The purge of deleted accounts: a system job removes each account an admin deleted once its
//! `purge_after` has passed, with everything that cascades from it (tasks, executions,
//! sessions, keys, notifications). The audit trail keeps its own copy of who did what.

use sqlx::PgPool;

use crate::system_jobs::{JobContext, SystemJob};

/// Most accounts removed in one run (the next run takes the rest).
const BATCH: i64 = 500;

/// The system jobs of the admin console: the account purge, and the removal of instances
/// silent for a day.
pub fn system_jobs() -> Vec<SystemJob> {
    vec![SystemJob::new(
        "account-purge",
        "0 17 * * * *",
        |state: JobContext| async move {
            let purged = purge_due(&state.db).await?;
            let instances = super::instances::forget_silent(&state.db).await?;
            if purged > 0 || instances > 0 {
                tracing::info!(
                    purged,
                    instances,
                    "purged deleted accounts and silent instances"
                );
            }
            Ok(())
        },
    )]
}

/// Removes the deleted accounts whose purge time has passed; returns how many.
pub async fn purge_due(db: &PgPool) -> Result<u64, sqlx::Error> {
    let result = sqlx::query!(
        "DELETE FROM users WHERE id IN (
             SELECT id FROM users
             WHERE deleted_at IS NOT NULL AND purge_after <= now()
             ORDER BY purge_after LIMIT $1
             FOR UPDATE SKIP LOCKED)",
        BATCH
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}
