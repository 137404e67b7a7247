//! Live execution numbers for dashboards: what runs, what waits, how the last hour went and
//! how late scheduled work is. One query over the active and recently finished executions
//! (both behind partial indexes), never the whole history.

use sqlx::PgPool;

/// System-wide execution numbers at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionStats {
    /// Executions running now.
    pub running: i64,
    /// Executions waiting for a worker.
    pub queued: i64,
    /// Executions that succeeded in the last hour.
    pub succeeded_last_hour: i64,
    /// Executions that ended `FAILED`, `DEAD` or `TIMED_OUT` in the last hour.
    pub failed_last_hour: i64,
    /// 95th percentile run time of executions finished in the last hour, in milliseconds.
    pub p95_duration_ms: Option<f64>,
    /// now − the oldest due `scheduled_for` still queued, in milliseconds (0 when none).
    pub scheduler_lag_ms: f64,
}

/// The numbers now.
pub async fn current(db: &PgPool) -> Result<ExecutionStats, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT
             count(*) FILTER (WHERE status = 'RUNNING') AS "running!",
             count(*) FILTER (WHERE status = 'QUEUED') AS "queued!",
             count(*) FILTER (WHERE status = 'SUCCEEDED'
                              AND finished_at > now() - interval '1 hour') AS "succeeded!",
             count(*) FILTER (WHERE status IN ('FAILED', 'DEAD', 'TIMED_OUT')
                              AND finished_at > now() - interval '1 hour') AS "failed!",
             percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
               FILTER (WHERE finished_at > now() - interval '1 hour') AS p95,
             COALESCE(EXTRACT(EPOCH FROM now() - min(scheduled_for)
               FILTER (WHERE status = 'QUEUED' AND scheduled_for <= now())) * 1000, 0)::float8
               AS "lag!"
           FROM executions
           WHERE status IN ('RUNNING', 'QUEUED') OR finished_at > now() - interval '1 hour'"#
    )
    .fetch_one(db)
    .await?;
    Ok(ExecutionStats {
        running: row.running,
        queued: row.queued,
        succeeded_last_hour: row.succeeded,
        failed_last_hour: row.failed,
        p95_duration_ms: row.p95,
        scheduler_lag_ms: row.lag,
    })
}
