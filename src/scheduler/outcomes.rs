//! Recording finished attempts: final status, retries with exponential backoff and jitter,
//! dead letters, and auto-pause after consecutive dead executions.
//!
//! Completions are written in batches (one transaction per batch). A completion only lands if
//! the execution is still `RUNNING` under this instance: when a lease was rescued meanwhile,
//! the rescuer owns the outcome and this one is dropped, so no attempt is recorded twice.

use rand::Rng;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::engine::{EXECUTIONS_QUEUED, Engine};
use crate::{
    actions::LogLine,
    audit::{model as audit_model, writer as audit_writer},
    config::ChainSettings,
    events::DomainEvent,
    executions::model::{ExecutionStatus, TriggerKind},
    notifications,
    tasks::{
        db::notify_tasks_changed,
        model::{RetryPolicy, TaskStatus},
    },
    triggers::chained::{self as chains, ChainStopped, Chained, Ended},
};

/// How an attempt ended, before retry rules are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// The action succeeded.
    Succeeded,
    /// The action failed.
    Failed,
    /// The action failed in a way another attempt cannot fix (an invalid configuration, a
    /// permanent refusal): no retry, straight to the dead letters.
    FailedPermanently,
    /// The action ran past the task's timeout.
    TimedOut,
    /// The execution was cancelled.
    Cancelled,
}

/// A finished attempt as the worker reports it.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The execution.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// Which try this was.
    pub attempt: i32,
    /// How it ended.
    pub result: AttemptResult,
    /// What the action produced.
    pub outcome: serde_json::Value,
    /// Why it failed.
    pub error: Option<String>,
    /// Wall time.
    pub duration_ms: i64,
    /// Its log lines.
    pub logs: Vec<LogLine>,
    /// The input, carried to a retry.
    pub input: serde_json::Value,
    /// The task's retry policy when the attempt was claimed.
    pub retry: RetryPolicy,
    /// Whether executions of the task may be waiting for this one to finish
    /// (`QUEUE_ONE`, `CANCEL_RUNNING`), so idle workers must be woken.
    pub releases_waiting: bool,
}

/// The status an attempt ends in, and whether another attempt follows.
pub fn final_status(
    result: AttemptResult,
    attempt: i32,
    max_attempts: i32,
) -> (ExecutionStatus, bool) {
    let attempts_left = attempt < max_attempts;
    match result {
        AttemptResult::Succeeded => (ExecutionStatus::Succeeded, false),
        AttemptResult::Cancelled => (ExecutionStatus::Cancelled, false),
        AttemptResult::Failed if attempts_left => (ExecutionStatus::Failed, true),
        AttemptResult::Failed | AttemptResult::FailedPermanently => (ExecutionStatus::Dead, false),
        AttemptResult::TimedOut => (ExecutionStatus::TimedOut, attempts_left),
    }
}

/// Delay before attempt `attempt + 1`: `initial × multiplier^(attempt-1)`, capped at the
/// maximum, then spread by ±20 % so retries of many executions do not arrive together.
pub fn retry_delay_ms(policy: &RetryPolicy, attempt: i32, rng: &mut impl Rng) -> i64 {
    let exponent = attempt.saturating_sub(1).clamp(0, 60);
    let base = f64::from(policy.initial_delay_seconds) * policy.multiplier.powi(exponent);
    let capped = base.min(f64::from(policy.max_delay_seconds)) * 1000.0;
    let spread = rng.random_range(0.8..=1.2);
    (capped * spread).min(f64::from(policy.max_delay_seconds) * 1000.0) as i64
}

/// An attempt whose final status is known, for retry and failure bookkeeping.
#[derive(Debug, Clone)]
pub struct FinishedAttempt {
    /// The execution.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// Which try.
    pub attempt: i32,
    /// Its final status.
    pub status: ExecutionStatus,
    /// Whether another attempt is queued.
    pub retry: bool,
    /// Delay before that attempt.
    pub retry_delay_ms: i64,
    /// Input carried over.
    pub input: serde_json::Value,
}

/// Writes a batch of completions in one transaction and publishes their events. Returns the
/// ids that were recorded (the others had been rescued by another instance meanwhile).
pub async fn record_completions(
    engine: &Engine,
    completions: &[Completion],
) -> Result<Vec<Uuid>, sqlx::Error> {
    if completions.is_empty() {
        return Ok(Vec::new());
    }
    let mut finished = Vec::with_capacity(completions.len());
    let (mut ids, mut statuses, mut durations, mut outcomes, mut errors) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for completion in completions {
        let delay_ms = retry_delay_ms(&completion.retry, completion.attempt, &mut rand::rng());
        let (status, retry) = final_status(
            completion.result,
            completion.attempt,
            completion.retry.max_attempts,
        );
        ids.push(completion.id);
        statuses.push(status.as_str().to_owned());
        durations.push(completion.duration_ms);
        outcomes.push(completion.outcome.clone());
        errors.push(completion.error.clone().unwrap_or_default());
        finished.push(FinishedAttempt {
            id: completion.id,
            task_id: completion.task_id,
            attempt: completion.attempt,
            status,
            retry,
            retry_delay_ms: delay_ms,
            input: completion.input.clone(),
        });
    }
    let mut tx = engine.db.begin().await?;
    let recorded: Vec<Uuid> = sqlx::query_scalar!(
        r#"UPDATE executions e
           SET status = u.status, finished_at = clock_timestamp(), duration_ms = u.duration_ms,
               outcome = u.outcome, error = NULLIF(u.error, ''), lease_expires_at = NULL
           FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::jsonb[], $5::text[])
                AS u(id, status, duration_ms, outcome, error)
           WHERE e.id = u.id AND e.status = 'RUNNING' AND e.instance_id = $6
           RETURNING e.id"#,
        &ids,
        &statuses,
        &durations,
        &outcomes,
        &errors,
        &*engine.instance_id
    )
    .fetch_all(&mut *tx)
    .await?;
    if recorded.len() < completions.len() {
        tracing::warn!(
            dropped = completions.len() - recorded.len(),
            "completions arrived after their lease was rescued elsewhere; the rescue stands"
        );
    }
    let (mut log_ids, mut log_at, mut log_levels, mut log_messages, mut log_fields) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for completion in completions.iter().filter(|c| recorded.contains(&c.id)) {
        for line in &completion.logs {
            log_ids.push(completion.id);
            log_at.push(line.logged_at);
            log_levels.push(line.level.as_str().to_owned());
            log_messages.push(line.message.clone());
            log_fields.push(line.fields.clone());
        }
    }
    if !log_ids.is_empty() {
        sqlx::query!(
            r#"INSERT INTO execution_logs (execution_id, logged_at, level, message, fields)
               SELECT id, at, level, message, COALESCE(fields, '{}')
               FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::jsonb[])
                    AS l(id, at, level, message, fields)"#,
            &log_ids,
            &log_at,
            &log_levels,
            &log_messages,
            &log_fields
        )
        .execute(&mut *tx)
        .await?;
    }
    finished.retain(|f| recorded.contains(&f.id));
    if completions.iter().any(|c| c.releases_waiting) {
        sqlx::query!("SELECT pg_notify($1, '')", EXECUTIONS_QUEUED)
            .execute(&mut *tx)
            .await?;
    }
    let follow_up = follow_up(&mut tx, &mut finished, &engine.config.chains).await?;
    tx.commit().await?;
    publish_finished(engine, &finished, &follow_up);
    Ok(recorded)
}

/// What `follow_up` did beyond recording.
#[derive(Debug, Default)]
pub struct FollowUp {
    /// `(failed execution, its retry)` pairs.
    pub retries: Vec<(Uuid, Uuid)>,
    /// Tasks set to `FAILED` by auto-pause.
    pub paused_tasks: Vec<Uuid>,
    /// Executions queued by task chains on the attempts that ended.
    pub chained: Vec<Chained>,
    /// Chained executions a chain limit stopped (recorded in the ledger).
    pub chain_stopped: Vec<ChainStopped>,
}

/// Queues retries and chained executions, adds an outbox record for each execution that
/// ended (alert rules are evaluated from it), (no retry for an attempt whose cancellation was
/// requested or whose owner is no longer active: it ends `CANCELLED`), and updates the tasks' consecutive-failure counts
/// (auto-pausing tasks that reach their limit), inside the caller's transaction.
pub async fn follow_up(
    tx: &mut Transaction<'_, Postgres>,
    finished: &mut [FinishedAttempt],
    chain_limits: &ChainSettings,
) -> Result<FollowUp, sqlx::Error> {
    stop_unwanted_retries(tx, finished).await?;
    let retries: Vec<&FinishedAttempt> = finished.iter().filter(|f| f.retry).collect();
    let mut pairs = Vec::new();
    if !retries.is_empty() {
        let new_ids: Vec<Uuid> = retries.iter().map(|_| Uuid::now_v7()).collect();
        let tasks: Vec<Uuid> = retries.iter().map(|f| f.task_id).collect();
        let attempts: Vec<i32> = retries.iter().map(|f| f.attempt + 1).collect();
        let of: Vec<Uuid> = retries.iter().map(|f| f.id).collect();
        let delays: Vec<i64> = retries.iter().map(|f| f.retry_delay_ms).collect();
        let inputs: Vec<serde_json::Value> = retries.iter().map(|f| f.input.clone()).collect();
        // A retry keeps the chain depth and root of the attempt it retries, so retrying does
        // not reset a chain's limits, and its priority.
        sqlx::query!(
            r#"INSERT INTO executions
                   (id, task_id, trigger_kind, attempt, retry_of, run_after, input, chain_depth,
                    root_execution_id, priority)
               SELECT r.id, r.task_id, 'RETRY', r.attempt, r.retry_of,
                      clock_timestamp() + r.delay_ms * interval '1 millisecond', r.input,
                      COALESCE(f.chain_depth, 0), f.root_execution_id, f.priority
               FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::uuid[], $5::int8[], $6::jsonb[])
                    AS r(id, task_id, attempt, retry_of, delay_ms, input)
               LEFT JOIN executions f ON f.id = r.retry_of"#,
            &new_ids,
            &tasks,
            &attempts,
            &of,
            &delays,
            &inputs
        )
        .execute(&mut **tx)
        .await?;
        sqlx::query!("SELECT pg_notify($1, '')", EXECUTIONS_QUEUED)
            .execute(&mut **tx)
            .await?;
        pairs = of.into_iter().zip(new_ids).collect();
    }
    let ended: Vec<Ended> = finished
        .iter()
        .filter(|f| !f.retry)
        .map(|f| Ended {
            execution_id: f.id,
            status: f.status,
        })
        .collect();
    let chains::ChainFollowUp {
        queued: chained,
        stopped: chain_stopped,
    } = chains::enqueue_chained(tx, &ended, chain_limits).await?;
    if !chained.is_empty() {
        sqlx::query!("SELECT pg_notify($1, '')", EXECUTIONS_QUEUED)
            .execute(&mut **tx)
            .await?;
    }
    let succeeded: Vec<Uuid> = finished
        .iter()
        .filter(|f| f.status == ExecutionStatus::Succeeded)
        .map(|f| f.task_id)
        .collect();
    if !succeeded.is_empty() {
        sqlx::query!(
            "UPDATE tasks SET consecutive_failures = 0
             WHERE id = ANY($1) AND consecutive_failures <> 0",
            &succeeded
        )
        .execute(&mut **tx)
        .await?;
    }
    let dead: Vec<Uuid> = finished
        .iter()
        .filter(|f| {
            !f.retry && matches!(f.status, ExecutionStatus::Dead | ExecutionStatus::TimedOut)
        })
        .map(|f| f.task_id)
        .collect();
    let paused_tasks = if dead.is_empty() {
        Vec::new()
    } else {
        count_dead(tx, &dead).await?
    };
    // After the failure counts, which the records carry: one INSERT, consumed elsewhere.
    let ended_ids: Vec<Uuid> = finished.iter().filter(|f| !f.retry).map(|f| f.id).collect();
    notifications::outbox::record_ended(tx, &ended_ids).await?;
    notifications::outbox::record_auto_paused(tx, &paused_tasks).await?;
    if !paused_tasks.is_empty() {
        let events: Vec<_> = paused_tasks
            .iter()
            .map(|id| auto_pause_event(*id))
            .collect();
        audit_writer::insert(&mut **tx, &events).await?;
    }
    Ok(FollowUp {
        retries: pairs,
        paused_tasks,
        chained,
        chain_stopped,
    })
}

/// An attempt that would be retried ends `CANCELLED` instead when its cancellation was
/// requested while it ran or its owner's account is no longer active: neither may bring the
/// work back into the queue.
async fn stop_unwanted_retries(
    conn: &mut PgConnection,
    finished: &mut [FinishedAttempt],
) -> Result<(), sqlx::Error> {
    let retrying: Vec<Uuid> = finished.iter().filter(|f| f.retry).map(|f| f.id).collect();
    if retrying.is_empty() {
        return Ok(());
    }
    let stopped = sqlx::query_scalar!(
        r#"UPDATE executions e
           SET status = 'CANCELLED',
               error = COALESCE(e.error || '; ', '')
                       || CASE WHEN e.cancel_requested
                               THEN 'not retried: cancellation was requested'
                               ELSE 'not retried: the account is not active' END
           WHERE e.id = ANY($1)
             AND (e.cancel_requested
                  OR NOT EXISTS (SELECT 1 FROM users u
                                 WHERE u.id = e.owner_id AND u.status = 'active'))
           RETURNING e.id"#,
        &retrying
    )
    .fetch_all(&mut *conn)
    .await?;
    for attempt in finished.iter_mut().filter(|f| stopped.contains(&f.id)) {
        attempt.retry = false;
        attempt.status = ExecutionStatus::Cancelled;
    }
    Ok(())
}

/// Adds dead executions to their tasks' counts; a task reaching `auto_pause_after_failures`
/// is set to `FAILED` with a `task_events` record. Returns the tasks paused.
async fn count_dead(
    conn: &mut PgConnection,
    dead_tasks: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let counted = sqlx::query!(
        r#"UPDATE tasks t SET consecutive_failures = t.consecutive_failures + d.n
           FROM (SELECT id, count(*)::int4 AS n FROM UNNEST($1::uuid[]) AS id GROUP BY id) d
           WHERE t.id = d.id
           RETURNING t.id, t.consecutive_failures, t.auto_pause_after_failures,
                     t.status AS "status: TaskStatus""#,
        dead_tasks
    )
    .fetch_all(&mut *conn)
    .await?;
    let reached: Vec<Uuid> = counted
        .iter()
        .filter(|t| {
            t.status == TaskStatus::Active
                && t.auto_pause_after_failures
                    .is_some_and(|limit| t.consecutive_failures >= limit)
        })
        .map(|t| t.id)
        .collect();
    if reached.is_empty() {
        return Ok(reached);
    }
    let paused = sqlx::query_scalar!(
        r#"WITH paused AS (
               UPDATE tasks SET status = 'FAILED', updated_at = now()
               WHERE id = ANY($1) AND status = 'ACTIVE'
               RETURNING id, consecutive_failures)
           INSERT INTO task_events (task_id, kind, detail)
           SELECT id, 'AUTO_PAUSED',
                  jsonb_build_object('consecutive_failures', consecutive_failures,
                                     'reason', 'consecutive dead executions reached auto_pause_after_failures')
           FROM paused
           RETURNING task_id"#,
        &reached
    )
    .fetch_all(&mut *conn)
    .await?;
    for task_id in &paused {
        tracing::warn!(%task_id, "task set to FAILED after consecutive dead executions");
    }
    notify_tasks_changed(conn).await?;
    Ok(paused)
}

/// The audit trail's `SYSTEM` record of a task the engine set to `FAILED`.
fn auto_pause_event(task_id: Uuid) -> audit_model::AuditEvent {
    audit_model::system_event(
        "tasks.auto_pause",
        audit_model::ActionClass::Update,
        false,
        &format!("/tasks/{task_id}"),
        vec![audit_model::Target {
            kind: "task".to_owned(),
            id: task_id.to_string(),
        }],
        serde_json::json!({ "status": "FAILED", "reason": "auto_pause_after_failures reached" }),
    )
}

/// Publishes `execution.finished` for each attempt, `task.status_changed` for each task
/// auto-paused, `execution.queued` for each chained execution and `execution.skipped` for
/// each chained execution a limit stopped.
pub fn publish_finished(engine: &Engine, finished: &[FinishedAttempt], follow_up: &FollowUp) {
    for task_id in &follow_up.paused_tasks {
        engine.events.publish(DomainEvent::TaskStatusChanged {
            task_id: *task_id,
            from: TaskStatus::Active,
            to: TaskStatus::Failed,
            reason: Some("auto_pause_after_failures reached".to_owned()),
        });
    }
    for attempt in finished {
        let retry_execution_id = follow_up
            .retries
            .iter()
            .find(|(failed, _)| *failed == attempt.id)
            .map(|(_, next)| *next);
        engine.events.publish(DomainEvent::ExecutionFinished {
            execution_id: attempt.id,
            task_id: attempt.task_id,
            status: attempt.status,
            attempt: attempt.attempt,
            retry_execution_id,
        });
        metrics::counter!("nocron_executions_finished_total", "status" => attempt.status.as_str())
            .increment(1);
    }
    for stopped in &follow_up.chain_stopped {
        engine.events.publish(DomainEvent::ExecutionSkipped {
            task_id: stopped.task_id,
            scheduled_for: stopped.at,
            reason: stopped.reason,
        });
    }
    for chained in &follow_up.chained {
        engine.events.publish(DomainEvent::ExecutionQueued {
            execution_id: chained.execution_id,
            task_id: chained.task_id,
            scheduled_for: None,
            trigger: TriggerKind::Chain,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_end_in_the_right_status() {
        use AttemptResult::*;
        use ExecutionStatus as S;
        assert_eq!(final_status(Succeeded, 1, 3), (S::Succeeded, false));
        assert_eq!(final_status(Failed, 1, 3), (S::Failed, true));
        assert_eq!(final_status(Failed, 3, 3), (S::Dead, false));
        assert_eq!(final_status(FailedPermanently, 1, 3), (S::Dead, false));
        assert_eq!(final_status(TimedOut, 1, 2), (S::TimedOut, true));
        assert_eq!(final_status(TimedOut, 2, 2), (S::TimedOut, false));
        assert_eq!(final_status(Cancelled, 1, 3), (S::Cancelled, false));
    }

    #[test]
    fn backoff_grows_exponentially_within_jitter_and_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_delay_seconds: 10,
            max_delay_seconds: 60,
            multiplier: 2.0,
        };
        let mut rng = rand::rng();
        for _ in 0..200 {
            let first = retry_delay_ms(&policy, 1, &mut rng);
            assert!((8_000..=12_000).contains(&first), "{first}");
            let second = retry_delay_ms(&policy, 2, &mut rng);
            assert!((16_000..=24_000).contains(&second), "{second}");
            let late = retry_delay_ms(&policy, 8, &mut rng);
            assert!((48_000..=60_000).contains(&late), "{late}");
        }
    }
}
