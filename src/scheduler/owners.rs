//! What the engine does when an account stops or starts being active.
//!
//! Deactivation (an admin disables or deletes the account, or its owner deletes it) cancels
//! the owner's queued executions and asks the running ones to stop, through the same
//! `cancel_requested` flag and `NOTIFY` as a cancel from the API, in the transaction that
//! changes the account. While the account is not active the dispatcher records its tasks'
//! slots as `OWNER_INACTIVE` and the workers never claim its executions. Reactivation applies
//! each task's catch-up policy to the slots it missed, then its concurrency policy and the
//! owner's queue cap as a dispatcher tick would: those kept are queued (and leave the ledger),
//! those refused are recorded as `SKIPPED_CONCURRENCY` or `QUEUE_FULL`, and the others stay
//! recorded as `OWNER_INACTIVE`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    dispatcher::{self, OWNER_INACTIVE_PENDING},
    engine::{EXECUTION_CANCEL, EXECUTIONS_QUEUED},
    planner::{self, DueSlots, SkipReason},
};
use crate::{
    executions::counts,
    tasks::model::{CatchUpPolicy, ConcurrencyPolicy},
};

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
/// `OWNER_INACTIVE` while the account was not active, then the task's concurrency policy and
/// the owner's queue cap (`max_queued_per_owner`), as a dispatcher tick does: the slots kept
/// are queued; those the concurrency policy refuses become `SKIPPED_CONCURRENCY` and those
/// past the cap `QUEUE_FULL`. Returns how many executions were queued. Call it in the
/// transaction that makes the account active.
pub async fn reactivate(
    conn: &mut PgConnection,
    owner_id: Uuid,
    max_queued_per_owner: usize,
) -> Result<u64, sqlx::Error> {
    // Locking the tasks waits for a dispatcher tick that holds them, so its ledger rows are
    // seen here; later ticks see the account active.
    let tasks = sqlx::query!(
        r#"SELECT id, catch_up_policy AS "catch_up_policy: CatchUpPolicy", catch_up_max,
                  concurrency_policy AS "concurrency_policy: ConcurrencyPolicy",
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
    if by_task.is_empty() {
        return Ok(0);
    }
    // What the concurrency policies look at (executions still stopping count as running).
    let active = counts::active_per_task(&mut *conn, &ids).await?;
    let cap = i64::try_from(max_queued_per_owner).unwrap_or(i64::MAX);
    let queued_now = counts::queued_count(&mut *conn, owner_id, cap).await?;
    let mut room = (cap - queued_now).max(0);
    let (mut run_tasks, mut run_slots, mut run_ids) = (Vec::new(), Vec::new(), Vec::new());
    let (mut skip_tasks, mut skip_slots, mut skip_reasons, mut skip_details) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cancel_tasks = Vec::new();
    let mut skip = |task_id: Uuid, slot: DateTime<Utc>, reason: SkipReason| {
        skip_tasks.push(task_id);
        skip_slots.push(slot);
        skip_reasons.push(reason.as_str().to_owned());
        skip_details.push(dispatcher::ledger_detail(reason));
    };
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
        let (running, queued) = active.get(&task.id).copied().unwrap_or((0, 0));
        let admission = planner::admit(task.concurrency_policy, decided.run, running, queued);
        if admission.cancel_active {
            cancel_tasks.push(task.id);
        }
        for slot in admission.insert {
            if room <= 0 {
                skip(task.id, slot, SkipReason::QueueFull);
                continue;
            }
            room -= 1;
            run_tasks.push(task.id);
            run_slots.push(slot);
            run_ids.push(Uuid::now_v7());
        }
        for slot in admission.skipped {
            skip(task.id, slot, SkipReason::SkippedConcurrency);
        }
    }
    dispatcher::cancel_superseded(&mut *conn, &cancel_tasks).await?;
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
    // Slots the concurrency policy or the queue cap refused say so, as a tick records them.
    sqlx::query!(
        "UPDATE planned_runs p SET reason = x.reason, detail = x.detail
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[])
              AS x(task_id, slot, reason, detail)
         WHERE p.task_id = x.task_id AND p.scheduled_for = x.slot",
        &skip_tasks,
        &skip_slots,
        &skip_reasons,
        &skip_details
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
