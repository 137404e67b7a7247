//! What the engine does when an account stops or starts being active.
//!
//! Deactivation (an admin disables or deletes the account, or its owner deletes it) cancels
//! the owner's queued executions and asks the running ones to stop, through the same
//! `cancel_requested` flag and `NOTIFY` as a cancel from the API, in the transaction that
//! changes the account. While the account is not active the dispatcher records its tasks'
//! slots as `OWNER_INACTIVE` and the workers never claim its executions. Reactivation applies
//! each task's catch-up policy to the slots it missed: those the policy keeps are queued (and
//! leave the ledger), the others stay recorded as `OWNER_INACTIVE`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    dispatcher::OWNER_INACTIVE_PENDING,
    engine::{EXECUTION_CANCEL, EXECUTIONS_QUEUED},
    planner::{self, DueSlots},
};
use crate::tasks::model::CatchUpPolicy;

/// What a deactivation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deactivated {
    /// Queued executions cancelled.
    pub cancelled: u64,
    /// Running executions asked to stop.
    pub stopping: u64,
}

/// Cancels the owner's queued executions and asks its running ones to stop. Call it in the
/// transaction that makes the account inactive.
pub async fn deactivate(
    conn: &mut PgConnection,
    owner_id: Uuid,
) -> Result<Deactivated, sqlx::Error> {
    let counts = sqlx::query!(
        r#"WITH targets AS (
               UPDATE executions
               SET cancel_requested = true,
                   status = CASE WHEN status = 'QUEUED' THEN 'CANCELLED' ELSE status END,
                   finished_at = CASE WHEN status = 'QUEUED' THEN now() ELSE finished_at END,
                   error = CASE WHEN status = 'QUEUED'
                                THEN 'cancelled: the account is not active' ELSE error END
               WHERE owner_id = $1 AND status IN ('QUEUED', 'RUNNING')
               RETURNING id, status),
           notified AS (SELECT pg_notify($2, id::text) FROM targets WHERE status = 'RUNNING')
           SELECT count(*) FILTER (WHERE status = 'CANCELLED') AS "cancelled!",
                  count(*) FILTER (WHERE status = 'RUNNING') AS "stopping!",
                  (SELECT count(*) FROM notified) AS "notified!"
           FROM targets"#,
        owner_id,
        EXECUTION_CANCEL
    )
    .fetch_one(&mut *conn)
    .await?;
    let done = Deactivated {
        cancelled: u64::try_from(counts.cancelled).unwrap_or(0),
        stopping: u64::try_from(counts.notified).unwrap_or(0),
    };
    if done != Deactivated::default() {
        tracing::info!(%owner_id, cancelled = done.cancelled, stopping = done.stopping,
            "account inactive: its executions were cancelled");
    }
    Ok(done)
}

/// Applies each of the owner's active tasks' catch-up policy to the slots recorded as
/// `OWNER_INACTIVE` while the account was not active: the slots kept are queued. Returns how
/// many executions were queued. Call it in the transaction that makes the account active.
pub async fn reactivate(conn: &mut PgConnection, owner_id: Uuid) -> Result<u64, sqlx::Error> {
    // Locking the tasks waits for a dispatcher tick that holds them, so its ledger rows are
    // seen here; later ticks see the account active.
    let tasks = sqlx::query!(
        r#"SELECT id, catch_up_policy AS "catch_up_policy: CatchUpPolicy", catch_up_max,
                  now() AS "now!"
           FROM tasks WHERE owner_id = $1 AND status = 'ACTIVE' AND cron IS NOT NULL
           ORDER BY id
           FOR UPDATE"#,
        owner_id
    )
    .fetch_all(&mut *conn)
    .await?;
    if tasks.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = tasks.iter().map(|t| t.id).collect();
    let missed = sqlx::query!(
        "SELECT task_id, scheduled_for FROM planned_runs
         WHERE task_id = ANY($1) AND reason = 'OWNER_INACTIVE' AND detail = $2
         ORDER BY task_id, scheduled_for",
        &ids,
        OWNER_INACTIVE_PENDING
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut by_task: BTreeMap<Uuid, Vec<DateTime<Utc>>> = BTreeMap::new();
    for row in missed {
        by_task
            .entry(row.task_id)
            .or_default()
            .push(row.scheduled_for);
    }
    let (mut run_tasks, mut run_slots, mut run_ids) = (Vec::new(), Vec::new(), Vec::new());
    for task in &tasks {
        let Some(slots) = by_task.remove(&task.id) else {
            continue;
        };
        let due = DueSlots {
            due: slots,
            after_end: None,
            next_run_at: None,
            complete: true,
        };
        let decided = planner::catch_up(
            &due,
            task.catch_up_policy,
            usize::try_from(task.catch_up_max).unwrap_or(1),
            task.now,
        );
        for slot in decided.run {
            run_tasks.push(task.id);
            run_slots.push(slot);
            run_ids.push(Uuid::now_v7());
        }
    }
    let queued = sqlx::query!(
        r#"INSERT INTO executions (id, task_id, trigger_kind, scheduled_for)
           SELECT id, task_id, 'SCHEDULE', slot
           FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[]) AS x(id, task_id, slot)
           ON CONFLICT ON CONSTRAINT executions_task_slot_key DO NOTHING"#,
        &run_ids,
        &run_tasks,
        &run_slots
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // The ledger never contradicts the history: a slot that now runs leaves it.
    sqlx::query!(
        "DELETE FROM planned_runs p
         USING UNNEST($1::uuid[], $2::timestamptz[]) AS x(task_id, slot)
         WHERE p.task_id = x.task_id AND p.scheduled_for = x.slot",
        &run_tasks,
        &run_slots
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE planned_runs SET detail = $3
         WHERE task_id = ANY($1) AND reason = 'OWNER_INACTIVE' AND detail = $2",
        &ids,
        OWNER_INACTIVE_PENDING,
        "the account was not active; not caught up when it was enabled again"
    )
    .execute(&mut *conn)
    .await?;
    if queued > 0 {
        sqlx::query!("SELECT pg_notify($1, '')", EXECUTIONS_QUEUED)
            .execute(&mut *conn)
            .await?;
    }
    Ok(queued)
}
