//! Acting on executions from outside the loops: trigger a task now, cancel an execution,
//! retry a dead one by hand, and read an execution with its log lines and a task's ledger.
//! Every function takes the caller's owner id and checks it in the query.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use axum::http::{HeaderValue, header};
use sqlx::PgConnection;

use super::{
    counts,
    model::{Execution, ExecutionStatus, TriggerKind},
};
use crate::{
    billing::limits,
    error::{AppError, AppResult, ErrorCode},
    events::DomainEvent,
    scheduler::engine::{EXECUTION_CANCEL, EXECUTIONS_QUEUED, Engine},
    tasks::model::TaskStatus,
};

/// What a trigger refused for a full queue is told to wait, in seconds (`Retry-After`).
pub const QUEUE_FULL_RETRY_AFTER_SECONDS: u32 = 30;

/// 429 with `Retry-After` when the owner already has `max_queued_per_owner` executions
/// waiting. Counts at most that many rows of the owner's queue index.
pub async fn ensure_queue_room(
    conn: &mut PgConnection,
    engine: &Engine,
    owner_id: Uuid,
) -> AppResult<()> {
    let cap = i64::try_from(engine.config.max_queued_per_owner).unwrap_or(i64::MAX);
    let queued = counts::queued_count(&mut *conn, owner_id, cap).await?;
    if queued >= cap {
        metrics::counter!("nocron_queue_full_refusals_total").increment(1);
        return Err(AppError::new(
            ErrorCode::RateLimited,
            format!(
                "your account already has {cap} executions waiting (MAX_QUEUED_PER_OWNER); \
                 try again when some have run"
            ),
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from(QUEUE_FULL_RETRY_AFTER_SECONDS),
        ));
    }
    Ok(())
}

/// A queued execution, as answered to a trigger.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Enqueued {
    /// The execution.
    pub execution_id: Uuid,
    /// Its status now (`QUEUED` unless an idempotent repeat found an older one).
    pub status: ExecutionStatus,
    /// False when an execution with the same idempotency key already existed.
    pub created: bool,
}

/// Queues an execution of one of the owner's tasks now, at the task's priority. With an
/// idempotency key, a repeat returns the first execution instead of queuing another; it is
/// looked up before the queue cap is checked, so a repeat is answered even when the owner's
/// queue is full.
pub async fn enqueue(
    engine: &Engine,
    task_id: Uuid,
    owner_id: Uuid,
    trigger: TriggerKind,
    input: serde_json::Value,
    idempotency_key: Option<&str>,
) -> AppResult<Enqueued> {
    enqueue_at_priority(
        engine,
        task_id,
        owner_id,
        trigger,
        input,
        idempotency_key,
        None,
    )
    .await
}

/// [`enqueue`] at `priority` (0–9) instead of the task's when it is given.
pub async fn enqueue_at_priority(
    engine: &Engine,
    task_id: Uuid,
    owner_id: Uuid,
    trigger: TriggerKind,
    input: serde_json::Value,
    idempotency_key: Option<&str>,
    priority: Option<i16>,
) -> AppResult<Enqueued> {
    if matches!(trigger, TriggerKind::Schedule | TriggerKind::Retry) {
        return Err(AppError::invalid_field(
            "trigger",
            "schedule and retry executions are created by the engine",
        ));
    }
    let mut tx = engine.db.begin().await?;
    // A disabled or deleted account's tasks take no triggers.
    let status = sqlx::query_scalar!(
        r#"SELECT t.status AS "status: TaskStatus" FROM tasks t
           JOIN users u ON u.id = t.owner_id AND u.status = 'active'
           WHERE t.id = $1 AND t.owner_id = $2"#,
        task_id,
        owner_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("task"))?;
    if matches!(status, TaskStatus::Stopped | TaskStatus::Failed) {
        return Err(AppError::conflict(format!(
            "the task is {status}; resume it before running it"
        )));
    }
    // A repeat (a redelivered webhook, a retried request) gets the execution it already
    // created, even when the queue is full now: it adds nothing to the queue.
    if let Some(key) = idempotency_key {
        let existing = sqlx::query!(
            r#"SELECT id, status AS "status: ExecutionStatus" FROM executions
               WHERE task_id = $1 AND idempotency_key = $2"#,
            task_id,
            key
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(existing) = existing {
            tx.commit().await?;
            return Ok(Enqueued {
                execution_id: existing.id,
                status: existing.status,
                created: false,
            });
        }
    }
    ensure_queue_room(&mut tx, engine, owner_id).await?;
    limits::admit_execution(&mut tx, &engine.config.plans, owner_id, task_id).await?;
    let id = Uuid::now_v7();
    let inserted = sqlx::query_scalar!(
        "INSERT INTO executions (id, task_id, trigger_kind, input, idempotency_key, priority)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT ON CONSTRAINT executions_task_idempotency_key DO NOTHING
         RETURNING id",
        id,
        task_id,
        trigger.as_str(),
        input,
        idempotency_key,
        priority
    )
    .fetch_optional(&mut *tx)
    .await?;
    let result = match inserted {
        Some(id) => {
            sqlx::query!("SELECT pg_notify($1, '')", EXECUTIONS_QUEUED)
                .execute(&mut *tx)
                .await?;
            Enqueued {
                execution_id: id,
                status: ExecutionStatus::Queued,
                created: true,
            }
        }
        None => {
            let existing = sqlx::query!(
                r#"SELECT id, status AS "status: ExecutionStatus" FROM executions
                   WHERE task_id = $1 AND idempotency_key = $2"#,
                task_id,
                idempotency_key
            )
            .fetch_one(&mut *tx)
            .await?;
            Enqueued {
                execution_id: existing.id,
                status: existing.status,
                created: false,
            }
        }
    };
    tx.commit().await?;
    if result.created {
        engine.events.publish(DomainEvent::ExecutionQueued {
            execution_id: result.execution_id,
            task_id,
            scheduled_for: None,
            trigger,
        });
    }
    Ok(result)
}

/// Cancels one of the owner's executions: a queued one at once; a running one is asked to
/// stop (its instance hears it through `NOTIFY`, or at its next heartbeat). A finished
/// execution is a conflict.
pub async fn cancel_execution(
    engine: &Engine,
    execution_id: Uuid,
    owner_id: Uuid,
) -> AppResult<ExecutionStatus> {
    let mut tx = engine.db.begin().await?;
    let row = sqlx::query!(
        r#"UPDATE executions e
           SET cancel_requested = true,
               status = CASE WHEN e.status = 'QUEUED' THEN 'CANCELLED' ELSE e.status END,
               finished_at = CASE WHEN e.status = 'QUEUED' THEN clock_timestamp() ELSE e.finished_at END,
               error = CASE WHEN e.status = 'QUEUED' THEN 'cancelled before it started' ELSE e.error END
           FROM tasks t
           WHERE e.id = $1 AND t.id = e.task_id AND t.owner_id = $2
             AND e.status IN ('QUEUED', 'RUNNING')
           RETURNING e.status AS "status: ExecutionStatus", e.task_id"#,
        execution_id,
        owner_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        let exists = load_execution(engine, execution_id, owner_id).await?;
        return Err(match exists {
            Some(execution) => AppError::conflict(format!(
                "the execution already finished ({})",
                execution.status
            )),
            None => AppError::not_found("execution"),
        });
    };
    if row.status == ExecutionStatus::Running {
        sqlx::query!(
            "SELECT pg_notify($1, $2)",
            EXECUTION_CANCEL,
            execution_id.to_string()
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if row.status == ExecutionStatus::Cancelled {
        engine.events.publish(DomainEvent::ExecutionFinished {
            execution_id,
            task_id: row.task_id,
            status: row.status,
            attempt: 1,
            retry_execution_id: None,
        });
    }
    Ok(row.status)
}

/// Queues a fresh attempt of one of the owner's executions that ended without success
/// (`DEAD`, `TIMED_OUT` or `CANCELLED`); the new execution starts again at attempt 1.
pub async fn retry_execution(
    engine: &Engine,
    execution_id: Uuid,
    owner_id: Uuid,
) -> AppResult<Enqueued> {
    let mut tx = engine.db.begin().await?;
    let original = sqlx::query!(
        r#"SELECT e.task_id, e.status AS "status: ExecutionStatus", e.input
           FROM executions e JOIN tasks t ON t.id = e.task_id
           WHERE e.id = $1 AND t.owner_id = $2
           FOR UPDATE OF e"#,
        execution_id,
        owner_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("execution"))?;
    if !matches!(
        original.status,
        ExecutionStatus::Dead | ExecutionStatus::TimedOut | ExecutionStatus::Cancelled
    ) {
        return Err(AppError::conflict(format!(
            "only DEAD, TIMED_OUT or CANCELLED executions can be retried; this one is {}",
            original.status
        )));
    }
    ensure_queue_room(&mut tx, engine, owner_id).await?;
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO executions (id, task_id, trigger_kind, retry_of, input)
         VALUES ($1, $2, 'RETRY', $3, $4)",
        id,
        original.task_id,
        execution_id,
        original.input
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("SELECT pg_notify($1, '')", EXECUTIONS_QUEUED)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    engine.events.publish(DomainEvent::ExecutionQueued {
        execution_id: id,
        task_id: original.task_id,
        scheduled_for: None,
        trigger: TriggerKind::Retry,
    });
    Ok(Enqueued {
        execution_id: id,
        status: ExecutionStatus::Queued,
        created: true,
    })
}

/// One of the owner's executions.
pub async fn load_execution(
    engine: &Engine,
    execution_id: Uuid,
    owner_id: Uuid,
) -> AppResult<Option<Execution>> {
    Ok(sqlx::query_as!(
        Execution,
        r#"SELECT e.id, e.task_id, e.trigger_kind AS "trigger_kind: TriggerKind", e.scheduled_for,
                  e.status AS "status: ExecutionStatus", e.attempt, e.retry_of, e.run_after,
                  e.queued_at, e.started_at, e.finished_at, e.duration_ms, e.lateness_ms, e.instance_id,
                  e.lease_expires_at, e.input, e.outcome, e.error, e.idempotency_key,
                  e.root_execution_id, e.chain_depth, e.priority
           FROM executions e JOIN tasks t ON t.id = e.task_id
           WHERE e.id = $1 AND t.owner_id = $2"#,
        execution_id,
        owner_id
    )
    .fetch_optional(&engine.db)
    .await?)
}

/// One stored execution log line.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StoredLogLine {
    /// When it was written.
    pub logged_at: DateTime<Utc>,
    /// `DEBUG`, `INFO`, `WARN` or `ERROR`.
    pub level: String,
    /// The line.
    pub message: String,
}

/// The log lines of one of the owner's executions, oldest first.
pub async fn execution_log(
    engine: &Engine,
    execution_id: Uuid,
    owner_id: Uuid,
) -> AppResult<Vec<StoredLogLine>> {
    Ok(sqlx::query_as!(
        StoredLogLine,
        "SELECT l.logged_at, l.level, l.message
         FROM execution_logs l
         JOIN executions e ON e.id = l.execution_id
         JOIN tasks t ON t.id = e.task_id
         WHERE l.execution_id = $1 AND t.owner_id = $2
         ORDER BY l.id",
        execution_id,
        owner_id
    )
    .fetch_all(&engine.db)
    .await?)
}

/// A slot that did not run, from the planned-run ledger.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PlannedRun {
    /// The slot.
    pub scheduled_for: DateTime<Utc>,
    /// Why it did not run.
    pub reason: String,
    /// More detail, when there is any.
    pub detail: String,
}

/// The ledger of one of the owner's tasks, oldest slot first.
pub async fn planned_runs(
    engine: &Engine,
    task_id: Uuid,
    owner_id: Uuid,
) -> AppResult<Vec<PlannedRun>> {
    Ok(sqlx::query_as!(
        PlannedRun,
        "SELECT p.scheduled_for, p.reason, p.detail
         FROM planned_runs p JOIN tasks t ON t.id = p.task_id
         WHERE p.task_id = $1 AND t.owner_id = $2
         ORDER BY p.scheduled_for",
        task_id,
        owner_id
    )
    .fetch_all(&engine.db)
    .await?)
}
