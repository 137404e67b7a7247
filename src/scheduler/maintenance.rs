//! Engine housekeeping: rescuing executions whose lease expired (their instance died or lost
//! the database), and pruning finished executions past the retention period.
//!
//! Both run as system jobs (`system_jobs`: tokio-cron-scheduler, one instance at a time
//! under a Postgres advisory lock); rescue would also be safe concurrently (`SKIP LOCKED`).

use uuid::Uuid;

use super::{
    engine::Engine,
    outcomes::{self, FinishedAttempt},
};
use crate::{
    executions::model::ExecutionStatus,
    system_jobs::{JobContext, SystemJob},
};

/// Expired leases handled per rescue pass.
const RESCUE_BATCH: i64 = 500;

/// Fails every execution whose lease expired: a retry is queued at once when attempts
/// remain, otherwise it is dead; a cancelled one stays cancelled. Returns the rescued ids.
#[tracing::instrument(skip_all, name = "rescue")]
pub async fn rescue_expired_leases(engine: &Engine) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut tx = engine.db.begin().await?;
    let rows = sqlx::query!(
        r#"UPDATE executions e
           SET status = CASE WHEN e.cancel_requested THEN 'CANCELLED'
                             WHEN e.attempt < t.retry_max_attempts THEN 'FAILED'
                             ELSE 'DEAD' END,
               finished_at = clock_timestamp(),
               duration_ms = (EXTRACT(EPOCH FROM clock_timestamp() - e.started_at) * 1000)::int8,
               lease_expires_at = NULL,
               error = 'lease expired: instance ' || COALESCE(e.instance_id, 'unknown')
                       || ' stopped renewing it (crashed or lost the database)'
           FROM tasks t
           WHERE t.id = e.task_id AND e.id IN (
               SELECT id FROM executions
               WHERE status = 'RUNNING' AND lease_expires_at < clock_timestamp()
               ORDER BY lease_expires_at
               LIMIT $1
               FOR UPDATE SKIP LOCKED)
           RETURNING e.id, e.task_id, e.attempt, e.status AS "status: ExecutionStatus", e.input"#,
        RESCUE_BATCH
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let mut finished: Vec<FinishedAttempt> = rows
        .into_iter()
        .map(|row| FinishedAttempt {
            id: row.id,
            task_id: row.task_id,
            attempt: row.attempt,
            status: row.status,
            retry: row.status == ExecutionStatus::Failed,
            // The action did not fail; its instance did. Retry at once, elsewhere.
            retry_delay_ms: 0,
            input: row.input,
        })
        .collect();
    let retries = outcomes::follow_up(&mut tx, &mut finished, &engine.config.chains).await?;
    tx.commit().await?;
    tracing::warn!(
        rescued = finished.len(),
        "rescued executions with expired leases"
    );
    outcomes::publish_finished(engine, &finished, &retries);
    metrics::counter!("nocron_leases_rescued_total").increment(finished.len() as u64);
    Ok(finished.iter().map(|f| f.id).collect())
}

/// Deletes finished executions (with their log lines) and ledger rows older than the
/// retention period. Returns the executions deleted.
pub async fn prune_old_executions(engine: &Engine) -> Result<u64, sqlx::Error> {
    let mut tx = engine.db.begin().await?;
    let days = f64::from(engine.config.retention_days);
    let deleted = sqlx::query!(
        "DELETE FROM executions
         WHERE finished_at < now() - $1 * interval '1 day'
           AND status IN ('SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED', 'TIMED_OUT')",
        days
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query!(
        "DELETE FROM planned_runs WHERE recorded_at < now() - $1 * interval '1 day'",
        days
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if deleted > 0 {
        tracing::info!(deleted, "pruned executions past the retention period");
    }
    Ok(deleted)
}

/// The engine's system jobs: lease rescue every half lease (at least every second, at most
/// every 30 s) and hourly retention pruning.
pub fn system_jobs(state: &JobContext) -> Vec<SystemJob> {
    let every = (state.settings.execution_lease.as_secs() / 2).clamp(1, 30);
    vec![
        SystemJob::new(
            "execution-lease-rescue",
            format!("*/{every} * * * * *"),
            |state: JobContext| async move {
                rescue_expired_leases(&state.engine).await?;
                Ok(())
            },
        ),
        SystemJob::new(
            "execution-retention",
            "0 17 * * * *",
            |state: JobContext| async move {
                prune_old_executions(&state.engine).await?;
                Ok(())
            },
        ),
    ]
}
