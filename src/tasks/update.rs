//! Changing a task's definition: replace it (keeping its schedule position when the schedule
//! did not change) and copy it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    db::{create_task_within_plan, first_slot, load_task, notify_tasks_changed},
    model::{DstPolicy, NewTask, Task, TaskStatus},
};
use crate::{
    billing::{PlanPolicy, limits},
    error::{AppError, AppResult},
    events::{DomainEvent, EventBus},
};

/// Replaces the definition of one of the owner's tasks with `new` (its status and owner are
/// not changed here). When `expected_version` is given and the task's `updated_at` differs,
/// nothing changes and the answer is 412. When the schedule is the same, `next_run_at` stays;
/// otherwise it moves to the new schedule's first slot from now.
pub async fn update_task(
    db: &PgPool,
    events: &EventBus,
    policy: &PlanPolicy,
    task_id: Uuid,
    owner_id: Uuid,
    new: &NewTask,
    expected_version: Option<DateTime<Utc>>,
) -> AppResult<Task> {
    let mut tx = db.begin().await?;
    let task = update_task_in(&mut tx, policy, task_id, owner_id, new, expected_version).await?;
    tx.commit().await?;
    events.publish(DomainEvent::TaskUpdated { task_id, owner_id });
    Ok(task)
}

/// [`update_task`] inside the caller's transaction; the caller publishes
/// `DomainEvent::TaskUpdated` once it commits.
pub async fn update_task_in(
    tx: &mut PgConnection,
    policy: &PlanPolicy,
    task_id: Uuid,
    owner_id: Uuid,
    new: &NewTask,
    expected_version: Option<DateTime<Utc>>,
) -> AppResult<Task> {
    let schedule = new.validate()?;
    let current = sqlx::query!(
        r#"SELECT cron, timezone, dst_policy AS "dst_policy: DstPolicy", start_at, end_at,
                  next_run_at, updated_at, now() AS "now!"
           FROM tasks WHERE id = $1 AND owner_id = $2 FOR UPDATE"#,
        task_id,
        owner_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("task"))?;
    if let Some(expected) = expected_version
        && expected != current.updated_at
    {
        return Err(AppError::precondition_failed(
            "the task changed since you read it; fetch it again and reapply your change",
        ));
    }
    let spec = new.schedule.as_ref();
    let same_schedule = spec.is_some_and(|s| {
        current.cron.as_deref() == Some(s.cron.trim())
            && current.timezone == s.timezone
            && current.dst_policy == s.dst_policy
            && current.start_at == s.start_at
            && current.end_at == s.end_at
    });
    if !same_schedule {
        limits::admit_schedule(&mut *tx, policy, owner_id, schedule.as_ref()).await?;
    }
    let next_run_at = if same_schedule {
        current.next_run_at
    } else {
        schedule.as_ref().and_then(|schedule| {
            first_slot(
                schedule,
                spec.and_then(|s| s.start_at),
                spec.and_then(|s| s.end_at),
                current.now,
            )
        })
    };
    sqlx::query!(
        r#"UPDATE tasks SET name = $2, description = $3, tags = $4, action_type = $5,
               action_config = $6, cron = $7, timezone = $8, start_at = $9, end_at = $10,
               jitter_seconds = $11, dst_policy = $12, timeout_seconds = $13,
               retry_max_attempts = $14, retry_initial_delay_seconds = $15,
               retry_max_delay_seconds = $16, retry_multiplier = $17, concurrency_policy = $18,
               catch_up_policy = $19, catch_up_max = $20, auto_pause_after_failures = $21,
               next_run_at = $22, allow_cycles = $23, priority = $24, updated_at = greatest(clock_timestamp(), updated_at + interval '1 microsecond')
           WHERE id = $1"#,
        task_id,
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
    .execute(&mut *tx)
    .await?;
    notify_tasks_changed(&mut *tx).await?;
    load_task(&mut *tx, task_id)
        .await?
        .ok_or_else(|| AppError::not_found("task"))
}

/// The definition of a stored task, as input for creating another.
pub fn definition_of(task: &Task) -> NewTask {
    NewTask {
        owner_id: task.owner_id,
        name: task.name.clone(),
        description: task.description.clone(),
        tags: task.tags.clone(),
        action_type: task.action_type,
        action_config: task.action_config.clone(),
        schedule: task.schedule_spec(),
        status: task.status,
        timeout_seconds: task.timeout_seconds,
        retry: task.retry_policy(),
        concurrency_policy: task.concurrency_policy,
        catch_up_policy: task.catch_up_policy,
        catch_up_max: task.catch_up_max,
        auto_pause_after_failures: task.auto_pause_after_failures,
        allow_cycles: task.allow_cycles,
        priority: task.priority,
    }
}

/// A paused copy of one of the owner's tasks named `name` (default: "<name> (copy)"), so a
/// copy never fires alongside its original until its owner resumes it.
pub async fn duplicate_task(
    db: &PgPool,
    events: &EventBus,
    policy: &PlanPolicy,
    task_id: Uuid,
    owner_id: Uuid,
    name: Option<&str>,
) -> AppResult<Task> {
    let original = super::db::find_task(db, task_id, owner_id)
        .await?
        .ok_or_else(|| AppError::not_found("task"))?;
    let mut copy = definition_of(&original);
    copy.name = match name {
        Some(name) => name.to_owned(),
        None => copy_name(&original.name),
    };
    copy.status = TaskStatus::Paused;
    create_task_within_plan(db, events, policy, &copy).await
}

/// "<name> (copy)", shortened so the result stays within the 200-character limit.
fn copy_name(name: &str) -> String {
    const SUFFIX: &str = " (copy)";
    let keep = 200 - SUFFIX.chars().count();
    let base: String = name.chars().take(keep).collect();
    format!("{base}{SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::copy_name;

    #[test]
    fn copy_names_stay_within_the_limit() {
        assert_eq!(copy_name("ping"), "ping (copy)");
        let long = "é".repeat(200);
        assert_eq!(copy_name(&long).chars().count(), 200);
    }
}
