//! Workers: claim queued executions in batches, run their actions concurrently under a lease,
//! and hand the results to the batched completion writer.
//!
//! Claiming is one statement (`UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)
//! RETURNING …`). While an execution runs, a heartbeat renews the leases of everything this
//! instance holds; an instance that dies stops renewing and `maintenance` rescues its work.
//! On shutdown the worker stops claiming, lets running executions finish within the grace
//! period, and hands the rest back to the queue.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use tokio::{
    sync::{Notify, mpsc},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    engine::{EXECUTION_CANCEL, EXECUTIONS_QUEUED, Engine},
    listener,
    outcomes::{self, AttemptResult, Completion},
};
use crate::{
    actions::{self, ExecutionContext, ExecutionLogger},
    events::DomainEvent,
    executions::model::TriggerKind,
    secrets::{self, SecretError, store::ResolvedConfig},
    tasks::model::{ActionType, ConcurrencyPolicy, RetryPolicy},
};

/// Completions written per transaction at most.
const COMPLETION_BATCH: usize = 500;

/// An execution this instance has claimed, with what it needs from its task.
#[derive(Debug, Clone)]
pub struct ClaimedExecution {
    /// The execution.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// The task's owner, whose secrets the action may use.
    pub owner_id: Uuid,
    /// Which try.
    pub attempt: i32,
    /// What created it.
    pub trigger_kind: TriggerKind,
    /// Its slot, for scheduled runs.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// The trigger's input.
    pub input: serde_json::Value,
    /// The task's action.
    pub action_type: ActionType,
    /// The action's configuration.
    pub action_config: serde_json::Value,
    /// Per-attempt limit.
    pub timeout_seconds: i32,
    /// The task's retry policy.
    pub retry: RetryPolicy,
    /// The task's concurrency policy.
    pub concurrency_policy: ConcurrencyPolicy,
}

/// First key of the two-key advisory locks a claim takes on the owners it serves (the
/// second is a hash of the owner id). Two-key locks never collide with the one-key locks of
/// the system jobs.
pub const OWNER_CLAIM_LOCK: i32 = 0x6e63_6f77; // "ncow"

/// Claims up to `limit` due executions for this instance, fairly across owners and, within
/// an owner, highest priority first: rows are taken by `run_after - priority *
/// PRIORITY_AGEING_SECONDS`, so a lower priority that has waited long enough comes first.
///
/// One transaction. First, the owners of active accounts with a free running slot and at
/// least one claimable row (due, and not waiting behind a running execution of a
/// `QUEUE_ONE`/`CANCEL_RUNNING` task) are found (a skip scan over the per-owner queue index),
/// oldest claimable row first; they are locked one by one with a transaction advisory lock,
/// passing over owners another instance is claiming for right now, until `limit` are held.
/// Then, in a statement
/// whose snapshot is taken after those locks (so it sees every claim committed before), each
/// locked owner of an active account gets at most its free running slots
/// (`max_running_per_owner` minus its running executions over every instance), and the rows
/// are taken round-robin: every owner's oldest first, then every owner's second, and so on.
/// Executions of `QUEUE_ONE` and `CANCEL_RUNNING` tasks wait while another execution of the
/// same task runs. Owners whose account is not active are never served: their executions
/// are neither started nor their secrets decrypted.
#[tracing::instrument(skip_all, fields(limit))]
pub async fn claim(engine: &Engine, limit: usize) -> Result<Vec<ClaimedExecution>, sqlx::Error> {
    let lease_seconds = engine.config.lease.as_secs_f64();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let per_owner = i64::try_from(engine.config.max_running_per_owner).unwrap_or(i64::MAX);
    let ageing = f64::from(engine.config.priority_ageing_seconds);
    let mut tx = engine.db.begin().await?;
    let owners = sqlx::query_scalar!(
        r#"WITH RECURSIVE owners AS (
               (SELECT owner_id FROM executions WHERE status = 'QUEUED'
                ORDER BY owner_id LIMIT 1)
               UNION ALL
               SELECT (SELECT e.owner_id FROM executions e
                       WHERE e.status = 'QUEUED' AND e.owner_id > o.owner_id
                       ORDER BY e.owner_id LIMIT 1)
               FROM owners o WHERE o.owner_id IS NOT NULL),
           due AS (
               SELECT o.owner_id,
                      (SELECT q.run_after - q.priority * $4::float8 * interval '1 second'
                       FROM executions q JOIN tasks qt ON qt.id = q.task_id
                       WHERE q.owner_id = o.owner_id AND q.status = 'QUEUED'
                         AND q.run_after <= clock_timestamp()
                         AND (qt.concurrency_policy IN ('ALLOW', 'SKIP')
                              OR NOT EXISTS (SELECT 1 FROM executions r
                                             WHERE r.task_id = q.task_id AND r.status = 'RUNNING'))
                       ORDER BY q.run_after - q.priority * $4::float8 * interval '1 second'
                       LIMIT 1) AS oldest
               FROM owners o
               JOIN users u ON u.id = o.owner_id AND u.status = 'active')
           SELECT ready.owner_id AS "owner_id!" FROM (
               SELECT d.owner_id FROM due d
               WHERE d.oldest IS NOT NULL
                 AND (SELECT count(*) FROM executions r
                      WHERE r.owner_id = d.owner_id AND r.status = 'RUNNING') < $2
               ORDER BY d.oldest) AS ready
           -- Volatile, so evaluated above the sort, row by row, until the limit is reached:
           -- an owner another instance holds is passed over for the next one.
           WHERE pg_try_advisory_xact_lock($1, hashtext(ready.owner_id::text))
           LIMIT $3"#,
        OWNER_CLAIM_LOCK,
        per_owner,
        limit,
        ageing
    )
    .fetch_all(&mut *tx)
    .await?;
    if owners.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let rows = sqlx::query!(
        r#"UPDATE executions e
           SET status = 'RUNNING', started_at = clock_timestamp(), instance_id = $1,
               lease_expires_at = clock_timestamp() + $2 * interval '1 second',
               lateness_ms = greatest(0, floor(extract(epoch FROM clock_timestamp() - e.run_after) * 1000))::bigint
           FROM tasks t
           WHERE t.id = e.task_id AND e.id IN (
               SELECT picked.id FROM (
                   SELECT c.id, c.claim_key,
                          row_number() OVER (PARTITION BY o.owner_id ORDER BY c.claim_key) AS turn
                   FROM UNNEST($4::uuid[]) AS o(owner_id)
                   JOIN users u ON u.id = o.owner_id AND u.status = 'active'
                   CROSS JOIN LATERAL (
                       SELECT greatest($5 - count(*), 0) AS free FROM executions r
                       WHERE r.owner_id = o.owner_id AND r.status = 'RUNNING') f
                   CROSS JOIN LATERAL (
                       SELECT q.id, q.run_after - q.priority * $6::float8 * interval '1 second' AS claim_key
                       FROM executions q JOIN tasks qt ON qt.id = q.task_id
                       WHERE q.owner_id = o.owner_id AND q.status = 'QUEUED'
                         AND q.run_after <= clock_timestamp()
                         AND (qt.concurrency_policy IN ('ALLOW', 'SKIP')
                              OR NOT EXISTS (SELECT 1 FROM executions r
                                             WHERE r.task_id = q.task_id AND r.status = 'RUNNING'))
                       ORDER BY claim_key
                       LIMIT least(f.free, $3)
                       FOR UPDATE OF q SKIP LOCKED) c
               ) picked
               ORDER BY picked.turn, picked.claim_key
               LIMIT $3)
           RETURNING e.id, e.task_id, t.owner_id, e.attempt, e.trigger_kind AS "trigger_kind: TriggerKind",
                     e.scheduled_for, e.input, t.action_type AS "action_type: ActionType",
                     t.action_config, t.timeout_seconds, t.retry_max_attempts,
                     t.retry_initial_delay_seconds, t.retry_max_delay_seconds, t.retry_multiplier,
                     t.concurrency_policy AS "concurrency_policy: ConcurrencyPolicy",
                     e.lateness_ms AS "lateness_ms!""#,
        &*engine.instance_id,
        lease_seconds,
        limit,
        &owners,
        per_owner,
        ageing
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    for row in &rows {
        metrics::histogram!(
            "nocron_execution_start_lateness_seconds",
            "trigger" => row.trigger_kind.as_str()
        )
        .record(row.lateness_ms as f64 / 1000.0);
    }
    Ok(rows
        .into_iter()
        .map(|row| ClaimedExecution {
            id: row.id,
            task_id: row.task_id,
            owner_id: row.owner_id,
            attempt: row.attempt,
            trigger_kind: row.trigger_kind,
            scheduled_for: row.scheduled_for,
            input: row.input,
            action_type: row.action_type,
            action_config: row.action_config,
            timeout_seconds: row.timeout_seconds,
            retry: RetryPolicy {
                max_attempts: row.retry_max_attempts,
                initial_delay_seconds: row.retry_initial_delay_seconds,
                max_delay_seconds: row.retry_max_delay_seconds,
                multiplier: row.retry_multiplier,
            },
            concurrency_policy: row.concurrency_policy,
        })
        .collect())
}

/// Runs one claimed execution's action under its timeout, stopping early if `cancel` fires.
#[tracing::instrument(skip_all, fields(task_id = %claimed.task_id, execution_id = %claimed.id))]
pub async fn execute(
    engine: &Engine,
    claimed: &ClaimedExecution,
    cancel: CancellationToken,
) -> Completion {
    let started = Instant::now();
    engine.events.publish(DomainEvent::ExecutionStarted {
        execution_id: claimed.id,
        task_id: claimed.task_id,
        attempt: claimed.attempt,
        instance_id: engine.instance_id.to_string(),
    });
    let logger = ExecutionLogger::new(claimed.id, claimed.task_id, engine.events.clone());
    let timeout = Duration::from_secs(u64::try_from(claimed.timeout_seconds).unwrap_or(1));
    let deadline = tokio::time::Instant::now() + timeout;
    let (result, outcome, error, logger) = match resolve_secrets(engine, claimed).await {
        Err(error) => {
            logger.error(error.clone());
            (
                AttemptResult::Failed,
                serde_json::Value::Null,
                Some(error),
                logger,
            )
        }
        Ok(resolved) => {
            let logger = logger.with_redactor(resolved.redactor.clone());
            let (result, outcome, error) =
                run_action(engine, claimed, resolved, &logger, deadline, cancel).await;
            (result, outcome, error, logger)
        }
    };
    Completion {
        id: claimed.id,
        task_id: claimed.task_id,
        attempt: claimed.attempt,
        result,
        outcome,
        error,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        logs: logger.take_lines(),
        input: claimed.input.clone(),
        retry: claimed.retry,
        releases_waiting: matches!(
            claimed.concurrency_policy,
            ConcurrencyPolicy::QueueOne | ConcurrencyPolicy::CancelRunning
        ),
    }
}

/// Loads and decrypts the secrets the task's configuration refers to (and a script's
/// declared ones) for the task's owner, and resolves the references. The error is a
/// sentence for the execution record, naming missing secrets and never showing a value.
async fn resolve_secrets(
    engine: &Engine,
    claimed: &ClaimedExecution,
) -> Result<ResolvedConfig, String> {
    let declared = actions::declared_secrets(claimed.action_type, &claimed.action_config);
    secrets::store::resolve_config(
        &engine.db,
        &engine.actions.vault,
        claimed.owner_id,
        &claimed.action_config,
        &declared,
    )
    .await
    .map_err(|err| match err {
        SecretError::Missing(names) => format!(
            "the task refers to secrets that do not exist: {}",
            names.join(", ")
        ),
        SecretError::Database(db) => {
            tracing::warn!(error = %db, "loading the task's secrets failed");
            "loading the task's secrets failed (database unavailable)".to_owned()
        }
        other => other.to_string(),
    })
}

/// Builds and runs the action with its resolved configuration, under the deadline and the
/// cancellation token. Everything returned has the secrets' values redacted.
async fn run_action(
    engine: &Engine,
    claimed: &ClaimedExecution,
    resolved: ResolvedConfig,
    logger: &ExecutionLogger,
    deadline: tokio::time::Instant,
    cancel: CancellationToken,
) -> (AttemptResult, serde_json::Value, Option<String>) {
    let redactor = resolved.redactor;
    let action = match actions::build(claimed.action_type, &resolved.config) {
        Ok(action) => action,
        Err(errors) => {
            let detail: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            let error = redactor
                .redact(&format!(
                    "the action configuration is invalid: {}",
                    detail.join("; ")
                ))
                .into_owned();
            logger.error(error.clone());
            return (
                AttemptResult::FailedPermanently,
                serde_json::Value::Null,
                Some(error),
            );
        }
    };
    let context = ExecutionContext {
        execution_id: claimed.id,
        task_id: claimed.task_id,
        owner_id: claimed.owner_id,
        attempt: claimed.attempt,
        input: claimed.input.clone(),
        config: resolved.config,
        deadline,
        logger: logger.clone(),
        http: engine.http.clone(),
        outbound: engine.outbound.clone(),
        secrets: resolved.secrets,
        services: engine.actions.clone(),
        notion: engine.notion.clone(),
    };
    tokio::select! {
        _ = cancel.cancelled() => {
            logger.warn("cancelled while running");
            (AttemptResult::Cancelled, serde_json::Value::Null, Some("cancelled while running".to_owned()))
        }
        ran = tokio::time::timeout_at(deadline, action.run(&context)) => match ran {
            Ok(outcome) => {
                let outcome = outcome.redacted(&redactor);
                let result = if outcome.success {
                    AttemptResult::Succeeded
                } else if outcome.timed_out {
                    AttemptResult::TimedOut
                } else if outcome.permanent {
                    AttemptResult::FailedPermanently
                } else {
                    AttemptResult::Failed
                };
                (result, outcome.result, outcome.error)
            }
            Err(_) => {
                let error = format!("timed out after {} s", claimed.timeout_seconds);
                logger.error(error.clone());
                (AttemptResult::TimedOut, serde_json::Value::Null, Some(error))
            }
        }
    }
}

/// One worker step for tests and tools: claims up to `limit` executions, runs them
/// concurrently and records their completions in one batch. Returns the recorded ids.
pub async fn run_batch(engine: &Engine, limit: usize) -> Result<Vec<Uuid>, sqlx::Error> {
    let claimed = claim(engine, limit).await?;
    let runs = claimed
        .iter()
        .map(|execution| execute(engine, execution, CancellationToken::new()));
    let completions = futures::future::join_all(runs).await;
    outcomes::record_completions(engine, &completions).await
}

/// Puts executions this instance still holds back in the queue, lease cleared, without
/// counting an attempt: they were interrupted by a shutdown, not failed.
pub async fn hand_back(engine: &Engine, ids: &[Uuid]) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut tx = engine.db.begin().await?;
    let returned = sqlx::query!(
        "UPDATE executions
         SET status = 'QUEUED', instance_id = NULL, lease_expires_at = NULL, started_at = NULL,
             run_after = clock_timestamp()
         WHERE id = ANY($1) AND status = 'RUNNING' AND instance_id = $2",
        ids,
        &*engine.instance_id
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query!("SELECT pg_notify($1, '')", EXECUTIONS_QUEUED)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(returned)
}

/// Executions running in this instance, with the token that cancels each.
type InFlight = Arc<Mutex<HashMap<Uuid, CancellationToken>>>;

fn in_flight_ids(in_flight: &InFlight) -> Vec<Uuid> {
    in_flight
        .lock()
        .map(|map| map.keys().copied().collect())
        .unwrap_or_default()
}

fn cancel_in_flight(in_flight: &InFlight, id: Uuid) {
    if let Ok(map) = in_flight.lock()
        && let Some(token) = map.get(&id)
    {
        token.cancel();
    }
}

/// The worker loop of one instance, until `shutdown`; see the module documentation.
pub async fn run(engine: Engine, shutdown: CancellationToken) {
    let in_flight: InFlight = Arc::default();
    let wake = Arc::new(Notify::new());
    let helpers = CancellationToken::new();
    let (completions, receiver) = mpsc::unbounded_channel();
    let writer = tokio::spawn(completion_writer(engine.clone(), receiver));
    let heartbeat = tokio::spawn(heartbeat(
        engine.clone(),
        in_flight.clone(),
        helpers.clone(),
    ));
    let notifications = tokio::spawn(listen(
        engine.clone(),
        in_flight.clone(),
        wake.clone(),
        helpers.clone(),
    ));
    let concurrency = engine.config.worker_concurrency;
    let batch = engine.config.worker_batch_size.min(concurrency);
    // Claim in chunks rather than one execution per completion.
    let claim_threshold = (batch / 4).max(1);
    let mut running = JoinSet::new();
    let mut failures = 0u32;
    tracing::info!(instance = %engine.instance_id, concurrency, batch, "workers started");
    while !shutdown.is_cancelled() {
        let free = concurrency.saturating_sub(running.len());
        let want = free.min(batch);
        let mut full_batch = false;
        if want >= claim_threshold {
            match claim(&engine, want).await {
                Ok(claimed) => {
                    failures = 0;
                    super::liveness::worker_polled(&engine.instance_id);
                    full_batch = claimed.len() == want;
                    for execution in claimed {
                        let token = CancellationToken::new();
                        if let Ok(mut map) = in_flight.lock() {
                            map.insert(execution.id, token.clone());
                        }
                        let engine = engine.clone();
                        let completions = completions.clone();
                        let in_flight = in_flight.clone();
                        running.spawn(async move {
                            let completion = execute(&engine, &execution, token).await;
                            // Sent before leaving the in-flight set, so a shutdown hand-back
                            // never re-queues an execution whose result is on its way.
                            let _ = completions.send(completion);
                            if let Ok(mut map) = in_flight.lock() {
                                map.remove(&execution.id);
                            }
                        });
                    }
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %err, failures, "claiming executions failed");
                }
            }
        }
        if full_batch {
            continue;
        }
        let wait = if failures > 0 {
            listener::backoff(failures)
        } else if want < claim_threshold {
            Duration::from_secs(30)
        } else {
            time_to_next_due(&engine).await
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wake.notified() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }

    let grace = engine.config.shutdown_grace;
    if !running.is_empty() {
        tracing::info!(
            running = running.len(),
            grace_ms = grace.as_millis() as u64,
            "workers stopping: letting running executions finish"
        );
    }
    let finished_in_time = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    if !finished_in_time {
        running.abort_all();
        while running.join_next().await.is_some() {}
    }
    drop(completions);
    let _ = writer.await;
    let leftover = in_flight_ids(&in_flight);
    match hand_back(&engine, &leftover).await {
        Ok(0) => {}
        Ok(returned) => tracing::info!(returned, "handed unfinished executions back to the queue"),
        Err(err) => {
            tracing::error!(error = %err, "handing executions back failed; their leases will expire and they will be rescued")
        }
    }
    helpers.cancel();
    let _ = heartbeat.await;
    let _ = notifications.await;
    tracing::info!("workers stopped");
}

/// How long until the earliest queued execution is due (a poll, capped, in case an
/// execution waits on a concurrency guard and no notification will come).
async fn time_to_next_due(engine: &Engine) -> Duration {
    let seconds = sqlx::query_scalar!(
        r#"SELECT EXTRACT(EPOCH FROM (min(run_after) - clock_timestamp()))::float8
           FROM executions WHERE status = 'QUEUED'"#
    )
    .fetch_one(&engine.db)
    .await;
    match seconds {
        Ok(Some(s)) if s > 0.0 => Duration::from_secs_f64(s).min(Duration::from_secs(30)),
        Ok(Some(_)) => Duration::from_secs(1),
        Ok(None) => Duration::from_secs(30),
        Err(_) => Duration::from_secs(1),
    }
}

/// Writes completions in batches: whatever has arrived since the last write goes in one
/// transaction. A failed write is retried (it is idempotent); if the database stays away,
/// the executions' leases expire and they are rescued.
async fn completion_writer(engine: Engine, mut receiver: mpsc::UnboundedReceiver<Completion>) {
    let mut batch = Vec::new();
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        while batch.len() < COMPLETION_BATCH {
            match receiver.try_recv() {
                Ok(completion) => batch.push(completion),
                Err(_) => break,
            }
        }
        let mut failures = 0u32;
        while let Err(err) = outcomes::record_completions(&engine, &batch).await {
            failures = failures.saturating_add(1);
            if failures >= 30 {
                tracing::error!(error = %err, lost = batch.len(), "recording completions keeps failing; leaving them to lease rescue");
                break;
            }
            tracing::warn!(error = %err, failures, "recording completions failed; retrying");
            tokio::time::sleep(listener::backoff(failures)).await;
        }
        batch.clear();
    }
}

/// Renews the leases of everything this instance runs, every third of the lease. An
/// execution whose lease is no longer ours, or whose cancellation was requested, is stopped.
async fn heartbeat(engine: Engine, in_flight: InFlight, stop: CancellationToken) {
    let period = engine.config.lease / 3;
    let lease_seconds = engine.config.lease.as_secs_f64();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        let ids = in_flight_ids(&in_flight);
        if ids.is_empty() {
            continue;
        }
        let renewed = sqlx::query!(
            "UPDATE executions SET lease_expires_at = clock_timestamp() + $3 * interval '1 second'
             WHERE id = ANY($1) AND instance_id = $2 AND status = 'RUNNING'
             RETURNING id, cancel_requested",
            &ids,
            &*engine.instance_id,
            lease_seconds
        )
        .fetch_all(&engine.db)
        .await;
        match renewed {
            Ok(rows) => {
                for id in &ids {
                    match rows.iter().find(|row| row.id == *id) {
                        Some(row) if !row.cancel_requested => {}
                        Some(_) => cancel_in_flight(&in_flight, *id),
                        // Rescued elsewhere: our result would be discarded, stop working on it.
                        None => cancel_in_flight(&in_flight, *id),
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "renewing leases failed"),
        }
    }
}

/// Wakes the worker loop on `nocron_executions_queued` and cancels running executions named
/// on `nocron_execution_cancel`.
async fn listen(engine: Engine, in_flight: InFlight, wake: Arc<Notify>, stop: CancellationToken) {
    let mut failures = 0u32;
    while !stop.is_cancelled() {
        let Some(mut connection) =
            listener::connect(&engine.db, &[EXECUTIONS_QUEUED, EXECUTION_CANCEL]).await
        else {
            failures = failures.saturating_add(1);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(listener::backoff(failures)) => continue,
            }
        };
        failures = 0;
        // Anything queued while we were not listening is found by this wake-up.
        wake.notify_one();
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                received = connection.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) if notification.channel() == EXECUTION_CANCEL => {
                    if let Ok(id) = notification.payload().parse::<Uuid>() {
                        cancel_in_flight(&in_flight, id);
                    }
                }
                Ok(Some(_)) => wake.notify_one(),
                // The connection was lost: listen again on a new one first, then look (the
                // wake-up after connecting), so nothing queued in between goes unnoticed.
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "worker lost its LISTEN connection; reconnecting");
                    break;
                }
            }
        }
    }
}
