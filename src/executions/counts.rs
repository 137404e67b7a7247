//! How many executions wait or run, counted the way triggers, the dispatcher and account
//! reactivation all need: an owner's queue up to its cap, and each task's active runs.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

/// Executions of `owner_id` waiting in the queue, counted up to `cap`: a range scan of at
/// most `cap` rows of the owner's queue index.
pub async fn queued_count(
    conn: &mut PgConnection,
    owner_id: Uuid,
    cap: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "queued!" FROM (SELECT 1 FROM executions
                                             WHERE owner_id = $1 AND status = 'QUEUED'
                                             LIMIT $2) AS q"#,
        owner_id,
        cap
    )
    .fetch_one(conn)
    .await
}

/// `(running, queued)` executions of each of these tasks, as the concurrency policies see
/// them (executions still stopping count as running); tasks with neither are left out.
pub async fn active_per_task(
    conn: &mut PgConnection,
    task_ids: &[Uuid],
) -> Result<HashMap<Uuid, (i64, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT task_id,
                  count(*) FILTER (WHERE status = 'RUNNING') AS "running!",
                  count(*) FILTER (WHERE status = 'QUEUED') AS "queued!"
           FROM executions
           WHERE task_id = ANY($1) AND status IN ('QUEUED', 'RUNNING')
           GROUP BY task_id"#,
        task_ids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.task_id, (row.running, row.queued)))
        .collect())
}
