//! The dispatcher: turns due schedule slots into queued executions.
//!
//! A tick claims due tasks from the `next_run_at` index with `FOR UPDATE SKIP LOCKED` (so
//! instances share the work without waiting on each other), decides per task which slots run
//! (catch-up and concurrency policies, see `planner`), inserts one execution per slot with
//! `ON CONFLICT (task_id, scheduled_for) DO NOTHING` (so no slot fires twice, whatever races),
//! records every other slot in the planned-run ledger, and advances `next_run_at` from the
//! slot, never from the clock. Between ticks it sleeps until the earliest slot and wakes early
//! on `NOTIFY nocron_tasks_changed`.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use sqlx::{PgConnection, postgres::PgListener};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    engine::{EXECUTION_CANCEL, EXECUTIONS_QUEUED, Engine, TASKS_CHANGED},
    listener,
    planner::{self, SkipReason},
};
use crate::{
    billing::limits,
    cron::schedule::Schedule,
    events::DomainEvent,
    executions::counts,
    executions::model::TriggerKind,
    tasks::model::{CatchUpPolicy, ConcurrencyPolicy, DstPolicy},
};

/// Tasks claimed per tick; a fuller backlog is worked off in consecutive ticks.
pub const TASKS_PER_TICK: i64 = 2000;

/// The longest sleep between ticks when nothing is scheduled (a safety net for a lost
/// notification; normal wake-ups come from the earliest slot or `NOTIFY`).
const IDLE_RECHECK: Duration = Duration::from_secs(30);

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Due tasks claimed.
    pub tasks: usize,
    /// Executions inserted.
    pub queued: usize,
    /// Slots recorded in the ledger instead.
    pub recorded: usize,
    /// Whether the tick was full, so more tasks may be due right now.
    pub more: bool,
}

/// The ledger detail of a slot missed while the owner's account was not active, until the
/// account is enabled again and the task's catch-up policy has looked at it.
pub const OWNER_INACTIVE_PENDING: &str = "the account was not active";

/// A due task as the tick reads it.
struct DueTask {
    id: Uuid,
    owner_id: Uuid,
    owner_active: bool,
    cron: Option<String>,
    timezone: String,
    dst_policy: DstPolicy,
    end_at: Option<DateTime<Utc>>,
    jitter_seconds: i32,
    concurrency_policy: ConcurrencyPolicy,
    catch_up_policy: CatchUpPolicy,
    catch_up_max: i32,
    next_run_at: DateTime<Utc>,
    now: DateTime<Utc>,
}

#[derive(Default)]
struct TickPlan {
    exec_ids: Vec<Uuid>,
    exec_tasks: Vec<Uuid>,
    exec_slots: Vec<DateTime<Utc>>,
    exec_run_after: Vec<DateTime<Utc>>,
    skip_tasks: Vec<Uuid>,
    skip_slots: Vec<DateTime<Utc>>,
    skip_reasons: Vec<String>,
    /// `skip_reasons` as published on the event bus.
    skip_kinds: Vec<SkipReason>,
    skip_details: Vec<String>,
    next_tasks: Vec<Uuid>,
    next_slots: Vec<DateTime<Utc>>,
    next_present: Vec<bool>,
    cancel_tasks: Vec<Uuid>,
}

impl TickPlan {
    /// Records a slot in the ledger instead of running it.
    fn skip(&mut self, task_id: Uuid, slot: DateTime<Utc>, reason: SkipReason) {
        self.skip_tasks.push(task_id);
        self.skip_slots.push(slot);
        self.skip_reasons.push(reason.as_str().to_owned());
        self.skip_kinds.push(reason);
        self.skip_details.push(ledger_detail(reason));
    }
}

/// The ledger detail recorded with a skipped slot.
pub(super) fn ledger_detail(reason: SkipReason) -> String {
    match reason {
        SkipReason::OwnerInactive => OWNER_INACTIVE_PENDING.to_owned(),
        SkipReason::QueueFull => "the owner's queue was full (MAX_QUEUED_PER_OWNER)".to_owned(),
        SkipReason::PlanLimit => "the owner's plan's executions_per_month was used up".to_owned(),
        _ => String::new(),
    }
}

/// Cancels the active executions of `CANCEL_RUNNING` tasks a newer slot supersedes: queued
/// ones at once, running ones through the cancel flag and `NOTIFY`.
pub(super) async fn cancel_superseded(
    conn: &mut PgConnection,
    tasks: &[Uuid],
) -> Result<(), sqlx::Error> {
    if tasks.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        r#"WITH targets AS (
               UPDATE executions
               SET cancel_requested = true,
                   status = CASE WHEN status = 'QUEUED' THEN 'CANCELLED' ELSE status END,
                   finished_at = CASE WHEN status = 'QUEUED' THEN now() ELSE finished_at END,
                   error = CASE WHEN status = 'QUEUED'
                                THEN 'cancelled: superseded by a newer run (CANCEL_RUNNING)'
                                ELSE error END
               WHERE task_id = ANY($1) AND status IN ('QUEUED', 'RUNNING')
               RETURNING id, status)
           SELECT pg_notify($2, id::text) FROM targets WHERE status = 'RUNNING'"#,
        tasks,
        EXECUTION_CANCEL
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(())
}

/// Runs one dispatcher tick over at most [`TASKS_PER_TICK`] due tasks.
#[tracing::instrument(skip_all, name = "dispatch")]
pub async fn dispatch_due(engine: &Engine) -> Result<DispatchReport, sqlx::Error> {
    let mut tx = engine.db.begin().await?;
    let due = sqlx::query_as!(
        DueTask,
        r#"SELECT id, owner_id, cron, timezone, dst_policy AS "dst_policy: DstPolicy", end_at,
                  jitter_seconds, concurrency_policy AS "concurrency_policy: ConcurrencyPolicy",
                  catch_up_policy AS "catch_up_policy: CatchUpPolicy", catch_up_max,
                  next_run_at AS "next_run_at!", now() AS "now!",
                  EXISTS (SELECT 1 FROM users u WHERE u.id = tasks.owner_id AND u.status = 'active')
                      AS "owner_active!"
           FROM tasks
           WHERE status = 'ACTIVE' AND next_run_at IS NOT NULL AND next_run_at <= now()
           ORDER BY next_run_at
           LIMIT $1
           FOR UPDATE SKIP LOCKED"#,
        TASKS_PER_TICK
    )
    .fetch_all(&mut *tx)
    .await?;
    if due.is_empty() {
        tx.rollback().await?;
        return Ok(DispatchReport::default());
    }

    // Active executions, only for the tasks whose policy looks at them.
    let guarded: Vec<Uuid> = due
        .iter()
        .filter(|t| t.concurrency_policy != ConcurrencyPolicy::Allow)
        .map(|t| t.id)
        .collect();
    let active = if guarded.is_empty() {
        HashMap::new()
    } else {
        counts::active_per_task(&mut tx, &guarded).await?
    };

    // Room left in each active owner's queue, counted up to the cap (an index range scan).
    let mut owners: Vec<Uuid> = due
        .iter()
        .filter(|t| t.owner_active)
        .map(|t| t.owner_id)
        .collect();
    owners.sort_unstable();
    owners.dedup();
    let cap = i64::try_from(engine.config.max_queued_per_owner).unwrap_or(i64::MAX);
    let mut room: HashMap<Uuid, i64> = HashMap::new();
    if !owners.is_empty() {
        for row in sqlx::query!(
            r#"SELECT o.id AS "id!",
                      (SELECT count(*) FROM (SELECT 1 FROM executions e
                                             WHERE e.owner_id = o.id AND e.status = 'QUEUED'
                                             LIMIT $2) AS q) AS "queued!"
               FROM UNNEST($1::uuid[]) AS o(id)"#,
            &owners,
            cap
        )
        .fetch_all(&mut *tx)
        .await?
        {
            room.insert(row.id, (cap - row.queued).max(0));
        }
    }

    // What is left of each owner's monthly executions, for owners whose plan limits them;
    // their counters stay locked until the tick commits.
    let mut allowance = limits::execution_allowance(&mut tx, &engine.config.plans, &owners).await?;
    let plan = plan_tick(&due, &active, &mut room, &mut allowance);

    cancel_superseded(&mut tx, &plan.cancel_tasks).await?;
    let inserted = sqlx::query!(
        r#"INSERT INTO executions (id, task_id, trigger_kind, scheduled_for, run_after)
           SELECT id, task_id, 'SCHEDULE', slot, run_after
           FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[])
                AS x(id, task_id, slot, run_after)
           ON CONFLICT ON CONSTRAINT executions_task_slot_key DO NOTHING
           RETURNING id, task_id, scheduled_for"#,
        &plan.exec_ids,
        &plan.exec_tasks,
        &plan.exec_slots,
        &plan.exec_run_after
    )
    .fetch_all(&mut *tx)
    .await?;
    let recorded = sqlx::query!(
        r#"INSERT INTO planned_runs (task_id, scheduled_for, reason, detail)
           SELECT s.task_id, s.slot, s.reason, s.detail
           FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[])
                AS s(task_id, slot, reason, detail)
           -- The ledger never contradicts the history: a slot that ran is not recorded.
           WHERE NOT EXISTS (SELECT 1 FROM executions e
                             WHERE e.task_id = s.task_id AND e.scheduled_for = s.slot)
           ON CONFLICT ON CONSTRAINT planned_runs_task_slot_key DO NOTHING"#,
        &plan.skip_tasks,
        &plan.skip_slots,
        &plan.skip_reasons,
        &plan.skip_details
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query!(
        r#"UPDATE tasks t SET next_run_at = CASE WHEN u.present THEN u.next END
           FROM UNNEST($1::uuid[], $2::timestamptz[], $3::bool[]) AS u(id, next, present)
           WHERE t.id = u.id"#,
        &plan.next_tasks,
        &plan.next_slots,
        &plan.next_present
    )
    .execute(&mut *tx)
    .await?;
    if !inserted.is_empty() {
        sqlx::query!("SELECT pg_notify($1, '')", EXECUTIONS_QUEUED)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;

    for row in &inserted {
        engine.events.publish(DomainEvent::ExecutionQueued {
            execution_id: row.id,
            task_id: row.task_id,
            scheduled_for: row.scheduled_for,
            trigger: TriggerKind::Schedule,
        });
    }
    for ((task_id, slot), reason) in plan
        .skip_tasks
        .iter()
        .zip(&plan.skip_slots)
        .zip(&plan.skip_kinds)
    {
        engine.events.publish(DomainEvent::ExecutionSkipped {
            task_id: *task_id,
            scheduled_for: *slot,
            reason: *reason,
        });
    }
    let report = DispatchReport {
        tasks: due.len(),
        queued: inserted.len(),
        recorded: usize::try_from(recorded).unwrap_or(usize::MAX),
        more: i64::try_from(due.len()).unwrap_or(i64::MAX) >= TASKS_PER_TICK,
    };
    metrics::counter!("nocron_dispatched_executions_total").increment(report.queued as u64);
    metrics::counter!("nocron_planned_runs_recorded_total").increment(report.recorded as u64);
    Ok(report)
}

/// The decisions of one tick, computed without I/O. `room` is what is left of each active
/// owner's queue; slots past it are recorded as `QUEUE_FULL`. `allowance` is what is left of
/// the monthly executions of owners whose plan limits them; slots past it are recorded as
/// `PLAN_LIMIT`.
fn plan_tick(
    due: &[DueTask],
    active: &HashMap<Uuid, (i64, i64)>,
    room: &mut HashMap<Uuid, i64>,
    allowance: &mut HashMap<Uuid, i64>,
) -> TickPlan {
    let mut plan = TickPlan::default();
    let mut rng = rand::rng();
    for task in due {
        let now = task.now;
        let schedule = task
            .cron
            .as_deref()
            .map(|cron| Schedule::cached(cron, &task.timezone, task.dst_policy));
        let Some(Ok(schedule)) = schedule else {
            tracing::error!(task_id = %task.id, "stored schedule no longer parses; unscheduling the task");
            plan.next_tasks.push(task.id);
            plan.next_slots.push(now);
            plan.next_present.push(false);
            continue;
        };
        let slots = planner::due_slots(&schedule, task.next_run_at, task.end_at, now);
        if !task.owner_active {
            // Recorded, not run; catch-up looks at these when the account is enabled again.
            for slot in slots.due.iter().copied() {
                plan.skip(task.id, slot, SkipReason::OwnerInactive);
            }
            if let Some(slot) = slots.after_end {
                plan.skip(task.id, slot, SkipReason::AfterEnd);
            }
            plan.next_tasks.push(task.id);
            plan.next_slots.push(slots.next_run_at.unwrap_or(now));
            plan.next_present.push(slots.next_run_at.is_some());
            continue;
        }
        let catch_up = planner::catch_up(
            &slots,
            task.catch_up_policy,
            usize::try_from(task.catch_up_max).unwrap_or(1),
            now,
        );
        let (running, queued) = active.get(&task.id).copied().unwrap_or((0, 0));
        let admission = planner::admit(task.concurrency_policy, catch_up.run, running, queued);
        if admission.cancel_active {
            plan.cancel_tasks.push(task.id);
        }
        let owner_room = room.entry(task.owner_id).or_insert(0);
        let mut owner_allowance = allowance.get_mut(&task.owner_id);
        for slot in admission.insert {
            if owner_allowance.as_deref().is_some_and(|left| *left <= 0) {
                plan.skip(task.id, slot, SkipReason::PlanLimit);
                continue;
            }
            if *owner_room <= 0 {
                plan.skip(task.id, slot, SkipReason::QueueFull);
                continue;
            }
            *owner_room -= 1;
            if let Some(left) = owner_allowance.as_deref_mut() {
                *left -= 1;
            }
            let jitter_ms = if task.jitter_seconds > 0 {
                rng.random_range(0..=i64::from(task.jitter_seconds) * 1000)
            } else {
                0
            };
            plan.exec_ids.push(Uuid::now_v7());
            plan.exec_tasks.push(task.id);
            plan.exec_slots.push(slot);
            plan.exec_run_after
                .push(slot + TimeDelta::milliseconds(jitter_ms));
        }
        let skipped = catch_up
            .skipped
            .into_iter()
            .map(|s| (s.slot, s.reason))
            .chain(
                admission
                    .skipped
                    .into_iter()
                    .map(|slot| (slot, SkipReason::SkippedConcurrency)),
            );
        for (slot, reason) in skipped {
            plan.skip(task.id, slot, reason);
        }
        plan.next_tasks.push(task.id);
        plan.next_slots.push(slots.next_run_at.unwrap_or(now));
        plan.next_present.push(slots.next_run_at.is_some());
    }

    plan
}

/// How long until the earliest active slot, by the database clock (`None`: nothing scheduled).
pub async fn time_to_next_slot(engine: &Engine) -> Result<Option<Duration>, sqlx::Error> {
    let seconds = sqlx::query_scalar!(
        r#"SELECT EXTRACT(EPOCH FROM (min(next_run_at) - clock_timestamp()))::float8
           FROM tasks WHERE status = 'ACTIVE' AND next_run_at IS NOT NULL"#
    )
    .fetch_one(&engine.db)
    .await?;
    Ok(seconds.map(|s| Duration::from_secs_f64(s.max(0.0))))
}

/// The dispatcher loop: tick, sleep until the earliest slot or a notification, repeat, until
/// `shutdown`. Database errors are logged and retried; the listener is rebuilt after any
/// error, which re-issues `LISTEN`.
pub async fn run(engine: Engine, shutdown: CancellationToken) {
    let mut listener: Option<PgListener> = None;
    let mut failures: u32 = 0;
    tracing::info!(instance = %engine.instance_id, "dispatcher started");
    while !shutdown.is_cancelled() {
        if listener.is_none() {
            listener = listener::connect(&engine.db, &[TASKS_CHANGED]).await;
        }
        let mut idle_tick = true;
        let mut wait = loop {
            match dispatch_due(&engine).await {
                Ok(report) => {
                    failures = 0;
                    super::liveness::dispatcher_ticked(&engine.instance_id);
                    idle_tick &= report.tasks == 0;
                    if !report.more {
                        break None;
                    }
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %err, failures, "dispatcher tick failed; retrying");
                    break Some(listener::backoff(failures));
                }
            }
        };
        if wait.is_none() {
            wait = Some(match time_to_next_slot(&engine).await {
                Ok(Some(until)) if until.is_zero() && idle_tick => {
                    // Due rows are locked by another instance's tick: give it a moment.
                    Duration::from_millis(20)
                }
                // A millisecond late rather than early: a tick before the slot finds nothing.
                Ok(Some(until)) => (until + Duration::from_millis(1)).min(IDLE_RECHECK),
                Ok(None) => IDLE_RECHECK,
                Err(err) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %err, "reading the next slot failed");
                    listener::backoff(failures)
                }
            });
        }
        let wait = wait.unwrap_or(IDLE_RECHECK);
        let listener_failed = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => false,
            received = listener::recv(&mut listener) => match received {
                Ok(Some(_)) => false,
                // The connection was lost: LISTEN again on a new one before the next tick
                // looks at the tasks, so a change made in between is either seen by the tick
                // or notified.
                Ok(None) => true,
                Err(err) => {
                    tracing::warn!(error = %err, "dispatcher lost its LISTEN connection; reconnecting");
                    true
                }
            },
        };
        if listener_failed {
            listener = None;
        }
    }
    tracing::info!("dispatcher stopped");
}
