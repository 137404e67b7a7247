//! Queueing chained executions when executions end, within the chain limits.
//!
//! The engine calls [`enqueue_chained`] inside the transaction that records the endings, so a
//! chained execution is queued exactly when the ending is committed; its idempotency key
//! `chain:{source execution}` makes a repeated follow-up a no-op. Every chained execution
//! records the root of its chain (`root_execution_id`, NULL on a root) and its depth (0 on a
//! root). A link that would go past a limit is not queued but written to the planned-run
//! ledger of the chained task with its reason:
//! - `CHAIN_DEPTH`: the new execution would be more than `CHAIN_MAX_DEPTH` links from its root;
//! - `CHAIN_BUDGET`: the root has already led to `CHAIN_MAX_EXECUTIONS_PER_ROOT` executions
//!   (itself included, retries not counted).
//!
//! The budget is counted on the root's own row (`chain_executions`), which is locked
//! (`FOR NO KEY UPDATE`, in id order) before it is read and updated in the same transaction,
//! so two chains of one root ending at once cannot both take its last slot.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    config::ChainSettings, executions::model::ExecutionStatus, executions::model::SkipReason,
    tasks::model::TaskStatus, text_enum,
};

text_enum! {
    /// Which endings of the source task's executions start the chained task.
    pub enum ChainOn {
        /// The execution succeeded.
        Succeeded = "SUCCEEDED",
        /// The execution failed for good (dead after its last attempt, or timed out with no
        /// attempt left).
        Dead = "DEAD",
        /// Any ending: succeeded, dead, timed out for good or cancelled.
        Any = "ANY",
    }
}

impl ChainOn {
    /// Whether an execution that ended in `status` (with no retry to follow) starts the chain.
    pub fn fires_on(self, status: ExecutionStatus) -> bool {
        use ExecutionStatus as S;
        match self {
            ChainOn::Succeeded => status == S::Succeeded,
            ChainOn::Dead => matches!(status, S::Dead | S::TimedOut),
            ChainOn::Any => matches!(status, S::Succeeded | S::Dead | S::TimedOut | S::Cancelled),
        }
    }
}

/// An execution that ended (no retry follows), as the engine reports it.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    /// The execution.
    pub execution_id: Uuid,
    /// How it ended.
    pub status: ExecutionStatus,
}

/// A chained execution queued by [`enqueue_chained`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chained {
    /// The new execution.
    pub execution_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
}

/// A chained execution a limit stopped; its ledger entry is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainStopped {
    /// The task that did not run.
    pub task_id: Uuid,
    /// The execution whose ending would have started it.
    pub source_execution_id: Uuid,
    /// The ledger entry's instant: when the source execution finished.
    pub at: DateTime<Utc>,
    /// `CHAIN_DEPTH` or `CHAIN_BUDGET`.
    pub reason: SkipReason,
}

/// What [`enqueue_chained`] did.
#[derive(Debug, Default)]
pub struct ChainFollowUp {
    /// Executions queued.
    pub queued: Vec<Chained>,
    /// Links stopped by a limit (each with a ledger entry).
    pub stopped: Vec<ChainStopped>,
}

/// A link that passed the depth check and waits for the budget.
struct Candidate {
    root: Uuid,
    task_id: Uuid,
    key: String,
    depth: i32,
    input: serde_json::Value,
    source_execution_id: Uuid,
    at: DateTime<Utc>,
}

/// Queues the executions chained after `ended`, inside the caller's transaction (the one
/// that records the endings), within `limits`. Idempotent: each (source execution, chained
/// task) pair is queued, or recorded as stopped, at most once. Chained tasks that are not
/// active are skipped and logged.
pub async fn enqueue_chained(
    conn: &mut PgConnection,
    ended: &[Ended],
    limits: &ChainSettings,
) -> Result<ChainFollowUp, sqlx::Error> {
    if ended.is_empty() {
        return Ok(ChainFollowUp::default());
    }
    let statuses: HashMap<Uuid, ExecutionStatus> =
        ended.iter().map(|e| (e.execution_id, e.status)).collect();
    let ids: Vec<Uuid> = statuses.keys().copied().collect();
    // Links already queued (a repeated follow-up) are left out before any limit is counted.
    let links = sqlx::query!(
        r#"SELECT c.id AS chain_id, c.task_id AS target_id, c.on_status AS "on: ChainOn",
                  t.status AS "target_status: TaskStatus",
                  e.id AS source_execution_id, e.task_id AS source_task_id, e.attempt,
                  e.trigger_kind, e.outcome, e.error, e.chain_depth, e.root_execution_id,
                  COALESCE(e.finished_at, clock_timestamp()) AS "finished_at!"
           FROM executions e
           JOIN task_chains c ON c.source_task_id = e.task_id
           JOIN tasks t ON t.id = c.task_id
           WHERE e.id = ANY($1)
             AND NOT EXISTS (
                 SELECT 1 FROM executions x
                 WHERE x.task_id = c.task_id AND x.idempotency_key = 'chain:' || e.id::text)
           ORDER BY e.id, c.id"#,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut stopped = Vec::new();
    let mut candidates = Vec::new();
    for link in links {
        let Some(&status) = statuses.get(&link.source_execution_id) else {
            continue;
        };
        if !link.on.fires_on(status) {
            continue;
        }
        if link.target_status != TaskStatus::Active {
            metrics::counter!("nocron_chains_skipped_total", "reason" => "inactive").increment(1);
            tracing::info!(
                chain_id = %link.chain_id,
                task_id = %link.target_id,
                status = %link.target_status,
                "chained execution not queued: the task is not active"
            );
            continue;
        }
        let depth = link.chain_depth.saturating_add(1);
        if depth > limits.max_depth {
            stopped.push(ChainStopped {
                task_id: link.target_id,
                source_execution_id: link.source_execution_id,
                at: link.finished_at,
                reason: SkipReason::ChainDepth,
            });
            continue;
        }
        candidates.push(Candidate {
            root: link.root_execution_id.unwrap_or(link.source_execution_id),
            task_id: link.target_id,
            key: format!("chain:{}", link.source_execution_id),
            depth,
            input: json!({
                "source": {
                    "task_id": link.source_task_id,
                    "execution_id": link.source_execution_id,
                    "status": status,
                    "attempt": link.attempt,
                    "trigger": link.trigger_kind,
                },
                "result": link.outcome,
                "error": link.error,
                "chain": {"id": link.chain_id, "depth": depth},
            }),
            source_execution_id: link.source_execution_id,
            at: link.finished_at,
        });
    }
    let queued = if candidates.is_empty() {
        Vec::new()
    } else {
        let granted = take_budget(conn, candidates, limits, &mut stopped).await?;
        insert_chained(conn, granted).await?
    };
    record_stopped(conn, &stopped, limits).await?;
    Ok(ChainFollowUp { queued, stopped })
}

/// Locks the roots of `candidates` and keeps the candidates their budgets still allow; the
/// others go to `stopped` as `CHAIN_BUDGET`. A root no longer stored (pruned by retention)
/// allows nothing, so its descendants never restart with a fresh budget.
async fn take_budget(
    conn: &mut PgConnection,
    candidates: Vec<Candidate>,
    limits: &ChainSettings,
    stopped: &mut Vec<ChainStopped>,
) -> Result<Vec<Candidate>, sqlx::Error> {
    let mut roots: Vec<Uuid> = candidates.iter().map(|c| c.root).collect();
    roots.sort_unstable();
    roots.dedup();
    // Locked in id order, so transactions sharing roots cannot deadlock on them.
    let counts = sqlx::query!(
        "SELECT id, chain_executions FROM executions
         WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        &roots
    )
    .fetch_all(&mut *conn)
    .await?;
    // Executions each root has led to: itself and its chained executions.
    let mut used: HashMap<Uuid, i64> = counts
        .into_iter()
        .map(|row| (row.id, 1 + i64::from(row.chain_executions)))
        .collect();
    let budget = i64::from(limits.max_executions_per_root);
    let mut granted = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        match used.get_mut(&candidate.root) {
            Some(count) if *count < budget => {
                *count += 1;
                granted.push(candidate);
            }
            _ => stopped.push(ChainStopped {
                task_id: candidate.task_id,
                source_execution_id: candidate.source_execution_id,
                at: candidate.at,
                reason: SkipReason::ChainBudget,
            }),
        }
    }
    Ok(granted)
}

/// Inserts the granted chained executions and adds those inserted to their roots' counts
/// (the roots are still locked by [`take_budget`]).
async fn insert_chained(
    conn: &mut PgConnection,
    granted: Vec<Candidate>,
) -> Result<Vec<Chained>, sqlx::Error> {
    if granted.is_empty() {
        return Ok(Vec::new());
    }
    let (mut new_ids, mut tasks, mut inputs, mut keys, mut depths, mut roots) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for candidate in granted {
        new_ids.push(Uuid::now_v7());
        tasks.push(candidate.task_id);
        inputs.push(candidate.input);
        keys.push(candidate.key);
        depths.push(candidate.depth);
        roots.push(candidate.root);
    }
    let queued = sqlx::query!(
        r#"INSERT INTO executions
               (id, task_id, trigger_kind, input, idempotency_key, chain_depth, root_execution_id)
           SELECT id, task_id, 'CHAIN', input, key, depth, root
           FROM UNNEST($1::uuid[], $2::uuid[], $3::jsonb[], $4::text[], $5::int4[], $6::uuid[])
                AS c(id, task_id, input, key, depth, root)
           -- A disabled or deleted account's tasks are not chained into.
           WHERE EXISTS (SELECT 1 FROM tasks t JOIN users u ON u.id = t.owner_id
                         WHERE t.id = c.task_id AND u.status = 'active')
           ON CONFLICT ON CONSTRAINT executions_task_idempotency_key DO NOTHING
           RETURNING id, task_id, root_execution_id AS "root!""#,
        &new_ids,
        &tasks,
        &inputs,
        &keys,
        &depths,
        &roots
    )
    .fetch_all(&mut *conn)
    .await?;
    let counted: Vec<Uuid> = queued.iter().map(|row| row.root).collect();
    sqlx::query!(
        "UPDATE executions e SET chain_executions = e.chain_executions + n.n
         FROM (SELECT id, count(*)::int4 AS n FROM UNNEST($1::uuid[]) AS id GROUP BY id) n
         WHERE e.id = n.id",
        &counted
    )
    .execute(&mut *conn)
    .await?;
    metrics::counter!("nocron_chained_executions_total").increment(queued.len() as u64);
    Ok(queued
        .into_iter()
        .map(|row| Chained {
            execution_id: row.id,
            task_id: row.task_id,
        })
        .collect())
}

/// Writes the ledger entries of the stopped links (once per source execution and task).
async fn record_stopped(
    conn: &mut PgConnection,
    stopped: &[ChainStopped],
    limits: &ChainSettings,
) -> Result<(), sqlx::Error> {
    if stopped.is_empty() {
        return Ok(());
    }
    let (mut tasks, mut at, mut reasons, mut details, mut sources) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for stop in stopped {
        let detail = match stop.reason {
            SkipReason::ChainDepth => format!(
                "the chain is {} links deep, more than CHAIN_MAX_DEPTH={}",
                limits.max_depth.saturating_add(1),
                limits.max_depth
            ),
            _ => format!(
                "the chain's root has led to CHAIN_MAX_EXECUTIONS_PER_ROOT={} executions",
                limits.max_executions_per_root
            ),
        };
        metrics::counter!("nocron_chains_skipped_total", "reason" => stop.reason.as_str())
            .increment(1);
        tracing::warn!(
            task_id = %stop.task_id,
            source_execution_id = %stop.source_execution_id,
            reason = %stop.reason,
            "chained execution not queued: {detail}"
        );
        tasks.push(stop.task_id);
        at.push(stop.at);
        reasons.push(stop.reason.as_str().to_owned());
        details.push(detail);
        sources.push(stop.source_execution_id);
    }
    sqlx::query!(
        r#"INSERT INTO planned_runs (task_id, scheduled_for, reason, detail, source_execution_id)
           SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::uuid[])
           ON CONFLICT ON CONSTRAINT planned_runs_task_slot_key DO NOTHING"#,
        &tasks,
        &at,
        &reasons,
        &details,
        &sources
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
