//! A task as the API shows it, its definition with its latest execution, read in one round
//! trip: the row type both reads decode, and the read of one task by id.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{ActionType, CatchUpPolicy, ConcurrencyPolicy, DstPolicy, Task, TaskStatus};
use crate::{
    error::{AppError, AppResult},
    executions::model::{ExecutionStatus, TriggerKind},
};

/// The latest execution of a task, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExecutionSummary {
    /// The execution.
    pub id: Uuid,
    /// Its status.
    pub status: ExecutionStatus,
    /// What started it.
    pub trigger_kind: TriggerKind,
    /// Attempt number.
    pub attempt: i32,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// How long it ran.
    pub duration_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The columns of a task (`tasks` unqualified), in [`TaskRow`]'s names.
pub const TASK_COLUMNS: &str = "id, owner_id, name, description, tags, action_type, \
    action_config, cron, timezone, start_at, end_at, jitter_seconds, dst_policy, status, \
    timeout_seconds, retry_max_attempts, retry_initial_delay_seconds, retry_max_delay_seconds, \
    retry_multiplier, concurrency_policy, catch_up_policy, catch_up_max, \
    auto_pause_after_failures, consecutive_failures, allow_cycles, priority, next_run_at, \
    created_at, updated_at";

/// A lateral join adding the latest execution of the task aliased `alias` as the `last_*`
/// columns of [`TaskRow`] (one index probe on `executions_task_idx`).
pub fn latest_execution_join(alias: &str) -> String {
    format!(
        "LEFT JOIN LATERAL (
             SELECT x.id AS last_id, x.status AS last_status,
                    x.trigger_kind AS last_trigger_kind, x.attempt AS last_attempt,
                    x.queued_at AS last_queued_at, x.started_at AS last_started_at,
                    x.finished_at AS last_finished_at, x.duration_ms AS last_duration_ms,
                    x.error AS last_error
             FROM executions x WHERE x.task_id = {alias}.id
             ORDER BY x.queued_at DESC LIMIT 1
         ) e ON true"
    )
}

/// A task and the columns of its latest execution, all `NULL` when it never ran.
#[derive(Debug, sqlx::FromRow)]
pub struct TaskRow {
    id: Uuid,
    owner_id: Uuid,
    name: String,
    description: String,
    tags: Vec<String>,
    action_type: ActionType,
    action_config: serde_json::Value,
    cron: Option<String>,
    timezone: String,
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
    jitter_seconds: i32,
    dst_policy: DstPolicy,
    status: TaskStatus,
    timeout_seconds: i32,
    retry_max_attempts: i32,
    retry_initial_delay_seconds: i32,
    retry_max_delay_seconds: i32,
    retry_multiplier: f64,
    concurrency_policy: ConcurrencyPolicy,
    catch_up_policy: CatchUpPolicy,
    catch_up_max: i32,
    auto_pause_after_failures: Option<i32>,
    consecutive_failures: i32,
    allow_cycles: bool,
    priority: i16,
    next_run_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_id: Option<Uuid>,
    last_status: Option<ExecutionStatus>,
    last_trigger_kind: Option<TriggerKind>,
    last_attempt: Option<i32>,
    last_queued_at: Option<DateTime<Utc>>,
    last_started_at: Option<DateTime<Utc>>,
    last_finished_at: Option<DateTime<Utc>>,
    last_duration_ms: Option<i64>,
    last_error: Option<String>,
}

impl TaskRow {
    /// The task's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The task and its latest execution.
    pub fn split(self) -> (Task, Option<ExecutionSummary>) {
        let last = match (
            self.last_id,
            self.last_status,
            self.last_trigger_kind,
            self.last_attempt,
            self.last_queued_at,
        ) {
            (Some(id), Some(status), Some(trigger_kind), Some(attempt), Some(queued_at)) => {
                Some(ExecutionSummary {
                    id,
                    status,
                    trigger_kind,
                    attempt,
                    queued_at,
                    started_at: self.last_started_at,
                    finished_at: self.last_finished_at,
                    duration_ms: self.last_duration_ms,
                    error: self.last_error,
                })
            }
            _ => None,
        };
        let task = Task {
            id: self.id,
            owner_id: self.owner_id,
            name: self.name,
            description: self.description,
            tags: self.tags,
            action_type: self.action_type,
            action_config: self.action_config,
            cron: self.cron,
            timezone: self.timezone,
            start_at: self.start_at,
            end_at: self.end_at,
            jitter_seconds: self.jitter_seconds,
            dst_policy: self.dst_policy,
            status: self.status,
            timeout_seconds: self.timeout_seconds,
            retry_max_attempts: self.retry_max_attempts,
            retry_initial_delay_seconds: self.retry_initial_delay_seconds,
            retry_max_delay_seconds: self.retry_max_delay_seconds,
            retry_multiplier: self.retry_multiplier,
            concurrency_policy: self.concurrency_policy,
            catch_up_policy: self.catch_up_policy,
            catch_up_max: self.catch_up_max,
            auto_pause_after_failures: self.auto_pause_after_failures,
            consecutive_failures: self.consecutive_failures,
            allow_cycles: self.allow_cycles,
            priority: self.priority,
            next_run_at: self.next_run_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        (task, last)
    }
}

/// One of the owner's tasks with its latest execution (one query); another owner's task is
/// a 404 like a missing one.
pub async fn owned_task_with_latest(
    db: &PgPool,
    task_id: Uuid,
    owner_id: Uuid,
) -> AppResult<(Task, Option<ExecutionSummary>)> {
    let row = sqlx::query_as!(
        TaskRow,
        r#"SELECT t.id, t.owner_id, t.name, t.description, t.tags,
                  t.action_type AS "action_type: ActionType", t.action_config, t.cron,
                  t.timezone, t.start_at, t.end_at, t.jitter_seconds,
                  t.dst_policy AS "dst_policy: DstPolicy", t.status AS "status: TaskStatus",
                  t.timeout_seconds, t.retry_max_attempts, t.retry_initial_delay_seconds,
                  t.retry_max_delay_seconds, t.retry_multiplier,
                  t.concurrency_policy AS "concurrency_policy: ConcurrencyPolicy",
                  t.catch_up_policy AS "catch_up_policy: CatchUpPolicy", t.catch_up_max,
                  t.auto_pause_after_failures, t.consecutive_failures, t.allow_cycles,
                  t.priority, t.next_run_at, t.created_at, t.updated_at,
                  e.id AS "last_id?", e.status AS "last_status?: ExecutionStatus",
                  e.trigger_kind AS "last_trigger_kind?: TriggerKind",
                  e.attempt AS "last_attempt?", e.queued_at AS "last_queued_at?",
                  e.started_at AS "last_started_at?", e.finished_at AS "last_finished_at?",
                  e.duration_ms AS "last_duration_ms?", e.error AS "last_error?"
           FROM tasks t
           LEFT JOIN LATERAL (
               SELECT id, status, trigger_kind, attempt, queued_at, started_at, finished_at,
                      duration_ms, error
               FROM executions WHERE task_id = t.id
               ORDER BY queued_at DESC LIMIT 1
           ) e ON true
           WHERE t.id = $1 AND t.owner_id = $2"#,
        task_id,
        owner_id
    )
    .fetch_optional(db)
    .await?
    .ok_or_else(|| AppError::not_found("task"))?;
    Ok(row.split())
}
