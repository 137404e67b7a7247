//! Task queries shared by the API and the engine: create, read, change status, delete.
//! Every change wakes the dispatchers with `NOTIFY` and is published on the event bus.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{
    ActionType, CatchUpPolicy, ConcurrencyPolicy, DstPolicy, NewTask, Task, TaskStatus,
};
use crate::{
    billing::{PlanPolicy, limits},
    cron::schedule::Schedule,
    db::channels::TASKS_CHANGED,
    error::{AppError, AppResult},
    events::{DomainEvent, EventBus},
    executions::model::SkipReason,
    scheduler::planner,
};

/// The first slot of a schedule at or after `start_at` and after `now`, within `end_at`.
pub fn first_slot(
    schedule: &Schedule,
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let from = match start_at {
        // A slot exactly at start_at counts.
        Some(start) if start > now => start - TimeDelta::milliseconds(1),
        _ => now,
    };
    schedule
        .next_after(from)
        .filter(|slot| end_at.is_none_or(|end| *slot <= end))
}

/// Validates and stores a new task, computing its first slot, and announces it once stored.
pub async fn create_task(db: &PgPool, events: &EventBus, new: &NewTask) -> AppResult<Task> {
    let mut tx = db.begin().await?;
    let task = insert_task(&mut tx, new).await?;
    tx.commit().await?;
    announce_created(events, &task);
    Ok(task)
}

/// [`create_task`] for an owner's request: the owner's plan is checked (its `max_tasks`,
/// counted under a lock on the owner, and its `min_interval_seconds`) in the transaction
/// that stores the task, so concurrent creations never pass the limit.
pub async fn create_task_within_plan(
    db: &PgPool,
    events: &EventBus,
    policy: &PlanPolicy,
    new: &NewTask,
) -> AppResult<Task> {
    let schedule = new.validate()?;
    let mut tx = db.begin().await?;
    limits::admit_task(&mut tx, policy, new.owner_id, schedule.as_ref()).await?;
    let task = insert_task(&mut tx, new).await?;
    tx.commit().await?;
    announce_created(events, &task);
    Ok(task)
}

/// Publishes that `task` was created; call it once the transaction that stored it committed.
pub fn announce_created(events: &EventBus, task: &Task) {
    events.publish(DomainEvent::TaskCreated {
        task_id: task.id,
        owner_id: task.owner_id,
    });
}

/// Validates and stores a new task on `conn`, computing its first slot, so that it can be
/// created in one transaction with what belongs to it. Dispatchers are woken when the
/// transaction commits; the caller publishes [`announce_created`] after that.
pub async fn insert_task(conn: &mut PgConnection, new: &NewTask) -> AppResult<Task> {
    let schedule = new.validate()?;
    let spec = new.schedule.as_ref();
    let next_run_at = schedule.as_ref().and_then(|schedule| {
        first_slot(
            schedule,
            spec.and_then(|s| s.start_at),
            spec.and_then(|s| s.end_at),
            Utc::now(),
        )
    });
    let id = Uuid::now_v7();
    sqlx::query!(
        r#"INSERT INTO tasks (id, owner_id, name, description, tags, action_type, action_config,
               cron, timezone, start_at, end_at, jitter_seconds, dst_policy, status,
               timeout_seconds, retry_max_attempts, retry_initial_delay_seconds,
               retry_max_delay_seconds, retry_multiplier, concurrency_policy, catch_up_policy,
               catch_up_max, auto_pause_after_failures, next_run_at, allow_cycles, priority)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
               $18, $19, $20, $21, $22, $23, $24, $25, $26)"#,
        id,
        new.owner_id,
        new.name.trim(),
        new.description,
        &new.tags,
        new.action_type.as_str(),
        new.action_config,
        spec.map(|s| s.cron.trim()),
        spec.map_or("UTC", |s| s.timezone.as_str()),
        spec.and_then(|s| s.start_at),
        spec.and_then(|s| s.end_at),
        spec.map_or(0, |s| s.jitter_seconds),
        spec.map_or(DstPolicy::ShiftOnce, |s| s.dst_policy).as_str(),
        new.status.as_str(),
        new.timeout_seconds,
        new.retry.max_attempts,
        new.retry.initial_delay_seconds,
        new.retry.max_delay_seconds,
        new.retry.multiplier,
        new.concurrency_policy.as_str(),
        new.catch_up_policy.as_str(),
        new.catch_up_max,
        new.auto_pause_after_failures,
        next_run_at,
        new.allow_cycles,
        new.priority,
    )
    .execute(&mut *conn)
    .await?;
    crate::notifications::rules::insert_default_rules(&mut *conn, id).await?;
    notify_tasks_changed(&mut *conn).await?;
    load_task(&mut *conn, id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("inserted task vanished")))
}

/// One of the owner's tasks; another owner's task is `None`.
pub async fn find_task(db: &PgPool, task_id: Uuid, owner_id: Uuid) -> AppResult<Option<Task>> {
    let mut conn = db.acquire().await?;
    Ok(load_task(&mut conn, task_id)
        .await?
        .filter(|task| task.owner_id == owner_id))
}

/// One of the owner's tasks, or a 404: another owner's task is not found either.
pub async fn owned_task(db: &PgPool, task_id: Uuid, owner_id: Uuid) -> AppResult<Task> {
    find_task(db, task_id, owner_id)
        .await?
        .ok_or_else(|| AppError::not_found("task"))
}

/// A task by id, whoever owns it (for the engine, which acts for every owner).
pub async fn load_task(
    conn: &mut PgConnection,
    task_id: Uuid,
) -> Result<Option<Task>, sqlx::Error> {
    Ok(load_tasks(&mut *conn, &[task_id]).await?.pop())
}

/// Tasks by id, whoever owns them, in no particular order; ids without a task are left out.
pub async fn load_tasks<'c, E>(executor: E, task_ids: &[Uuid]) -> Result<Vec<Task>, sqlx::Error>
where
    E: sqlx::PgExecutor<'c>,
{
    sqlx::query_as!(
        Task,
        r#"SELECT id, owner_id, name, description, tags,
                  action_type AS "action_type: ActionType", action_config, cron, timezone,
                  start_at, end_at, jitter_seconds, dst_policy AS "dst_policy: DstPolicy",
                  status AS "status: TaskStatus", timeout_seconds, retry_max_attempts,
                  retry_initial_delay_seconds, retry_max_delay_seconds, retry_multiplier,
                  concurrency_policy AS "concurrency_policy: ConcurrencyPolicy",
                  catch_up_policy AS "catch_up_policy: CatchUpPolicy", catch_up_max,
                  auto_pause_after_failures, consecutive_failures, allow_cycles, priority,
                  next_run_at, created_at, updated_at
           FROM tasks WHERE id = ANY($1)"#,
        task_ids
    )
    .fetch_all(executor)
    .await
}

/// Moves one of the owner's tasks to `status`. Leaving `ACTIVE` keeps `next_run_at` where it
/// was; returning to `ACTIVE` records every slot that passed meanwhile as `PAUSED` in the
/// ledger and moves `next_run_at` to the first slot from now, so nothing is skipped silently
/// and nothing piles up.
pub async fn set_status(
    db: &PgPool,
    events: &EventBus,
    task_id: Uuid,
    owner_id: Uuid,
    status: TaskStatus,
) -> AppResult<Task> {
    let mut tx = db.begin().await?;
    let (task, change) = set_status_in(&mut tx, task_id, owner_id, status).await?;
    tx.commit().await?;
    if let Some(change) = change {
        change.publish(events);
    }
    Ok(task)
}

/// A status change made in a transaction, to announce once it commits.
#[derive(Debug)]
pub struct StatusChange {
    task_id: Uuid,
    from: TaskStatus,
    to: TaskStatus,
    paused_slots: Vec<DateTime<Utc>>,
}

impl StatusChange {
    /// Publishes the slots recorded as paused and the status change.
    pub fn publish(self, events: &EventBus) {
        for slot in self.paused_slots {
            events.publish(DomainEvent::ExecutionSkipped {
                task_id: self.task_id,
                scheduled_for: slot,
                reason: SkipReason::Paused,
            });
        }
        events.publish(DomainEvent::TaskStatusChanged {
            task_id: self.task_id,
            from: self.from,
            to: self.to,
            reason: None,
        });
    }
}

/// [`set_status`] inside the caller's transaction: the task as it is now, and the change to
/// publish after the commit (`None` when the task already had that status).
pub async fn set_status_in(
    tx: &mut PgConnection,
    task_id: Uuid,
    owner_id: Uuid,
    status: TaskStatus,
) -> AppResult<(Task, Option<StatusChange>)> {
    let task = sqlx::query!(
        r#"SELECT status AS "status: TaskStatus", cron, timezone,
                  dst_policy AS "dst_policy: DstPolicy", start_at, end_at, next_run_at,
                  now() AS "now!"
           FROM tasks WHERE id = $1 AND owner_id = $2 FOR UPDATE"#,
        task_id,
        owner_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("task"))?;
    if task.status == status {
        let current = load_task(&mut *tx, task_id).await?;
        return Ok((current.ok_or_else(|| AppError::not_found("task"))?, None));
    }
    let mut next_run_at = task.next_run_at;
    let mut paused_slots = Vec::new();
    if status == TaskStatus::Active
        && let Some(cron) = &task.cron
    {
        let schedule = Schedule::parse(cron, &task.timezone, task.dst_policy).map_err(|err| {
            AppError::invalid_field(format!("schedule.{}", err.field), err.message)
        })?;
        if let Some(first) = task.next_run_at.filter(|slot| *slot <= task.now) {
            let due = planner::due_slots(&schedule, first, task.end_at, task.now);
            paused_slots = due.due;
        }
        next_run_at = first_slot(&schedule, task.start_at, task.end_at, task.now);
    }
    let reasons = vec![SkipReason::Paused.as_str().to_owned(); paused_slots.len()];
    sqlx::query!(
        r#"INSERT INTO planned_runs (task_id, scheduled_for, reason, detail)
           SELECT $1, slot, reason, 'the task was not active'
           FROM UNNEST($2::timestamptz[], $3::text[]) AS s(slot, reason)
           ON CONFLICT ON CONSTRAINT planned_runs_task_slot_key DO NOTHING"#,
        task_id,
        &paused_slots,
        &reasons
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE tasks SET status = $2, next_run_at = $3, updated_at = now(),
             consecutive_failures = CASE WHEN $2 = 'ACTIVE' THEN 0 ELSE consecutive_failures END
         WHERE id = $1",
        task_id,
        status.as_str(),
        next_run_at
    )
    .execute(&mut *tx)
    .await?;
    notify_tasks_changed(&mut *tx).await?;
    let updated = load_task(&mut *tx, task_id)
        .await?
        .ok_or_else(|| AppError::not_found("task"))?;
    let change = StatusChange {
        task_id,
        from: task.status,
        to: status,
        paused_slots,
    };
    Ok((updated, Some(change)))
}

/// Deletes one of the owner's tasks with its history; `false` when there was none.
pub async fn delete_task(
    db: &PgPool,
    events: &EventBus,
    task_id: Uuid,
    owner_id: Uuid,
) -> AppResult<bool> {
    let mut tx = db.begin().await?;
    let deleted = delete_task_in(&mut tx, task_id, owner_id).await?;
    tx.commit().await?;
    if deleted {
        events.publish(DomainEvent::TaskDeleted { task_id, owner_id });
    }
    Ok(deleted)
}

/// Deletes one of the owner's tasks inside the caller's transaction; `false` when there was
/// none. The task's executions are locked first, in the order a worker finishing them locks
/// them (execution, then its task), so a deletion racing a completion waits for it instead
/// of deadlocking with it.
pub async fn delete_task_in(
    tx: &mut PgConnection,
    task_id: Uuid,
    owner_id: Uuid,
) -> Result<bool, sqlx::Error> {
    // Locks without sending the ids back: a task may have many executions.
    sqlx::query!(
        r#"SELECT count(*) AS "locked!" FROM (
               SELECT e.id FROM executions e JOIN tasks t ON t.id = e.task_id
               WHERE e.task_id = $1 AND t.owner_id = $2
               ORDER BY e.id FOR UPDATE OF e) locked"#,
        task_id,
        owner_id
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(sqlx::query!(
        "DELETE FROM tasks WHERE id = $1 AND owner_id = $2",
        task_id,
        owner_id
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0)
}

/// Wakes every dispatcher (delivered when the surrounding transaction commits).
pub async fn notify_tasks_changed(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT pg_notify($1, '')", TASKS_CHANGED)
        .execute(conn)
        .await?;
    Ok(())
}
