//! Task chaining: a task runs when an execution of another task ends.
//!
//! `on` says which endings count. An execution has *ended* when no worker will run it again
//! and no retry follows: a `FAILED` attempt with a retry queued has not ended.
//! - `SUCCEEDED`: it succeeded.
//! - `DEAD`: it failed for good: `DEAD` after its last attempt, or `TIMED_OUT` with no
//!   attempt left.
//! - `ANY`: any ending, `CANCELLED` included.
//!
//! The engine calls [`enqueue_chained`] inside the transaction that records the ending, so a
//! chained execution is queued exactly when the ending is committed; its idempotency key
//! `chain:{source execution}` makes a repeated follow-up a no-op. The chained execution's
//! input carries the source's result (`outcome`), error and ids. Cycles are refused when a
//! chain is saved, and as a second guard an execution deeper than [`MAX_CHAIN_DEPTH`] links is
//! not queued (and logged).

use std::collections::HashMap;

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::owned_task;
use crate::{
    auth::CurrentUser,
    error::{AppError, Problem},
    http::{AppJson, AppPath},
    scheduler::model::ExecutionStatus,
    state::AppState,
    tasks::{db::find_task, model::TaskStatus},
    text_enum,
};

/// Most links from the first task to a chained execution.
pub const MAX_CHAIN_DEPTH: i32 = 16;
/// Most chains one task may have as sources.
pub const MAX_CHAINS_PER_TASK: i64 = 20;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_chain, list_chains))
        .routes(routes!(delete_chain))
}

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

/// `POST /tasks/{task_id}/chains` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainIn {
    /// The task whose executions start this one (one of yours).
    pub source_task_id: Uuid,
    /// Which endings count.
    pub on: ChainOn,
}

/// A chain: `task_id` runs when an execution of `source_task_id` ends as `on` says.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainOut {
    /// The chain id.
    pub id: Uuid,
    /// The task that runs.
    pub task_id: Uuid,
    /// The task whose executions start it.
    pub source_task_id: Uuid,
    /// Which endings count.
    pub on: ChainOn,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Chain `task_id` after another of your tasks. A chain that would close a cycle is refused.
#[utoipa::path(post, path = "/tasks/{task_id}/chains", tag = "triggers", security(("bearer" = [])),
    params(("task_id" = Uuid, Path, description = "The task that will run")),
    request_body = ChainIn,
    responses(
        (status = 201, description = "Created", body = ChainOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 409, description = "Already chained after this source, or too many chains", body = Problem),
        (status = 422, description = "`source_task_id` is not one of your tasks, is the task itself, or closes a cycle", body = Problem),
    ))]
async fn create_chain(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(task_id): AppPath<Uuid>,
    AppJson(body): AppJson<ChainIn>,
) -> Result<(StatusCode, AppJson<ChainOut>), AppError> {
    let row = add_chain(&state, user.id, task_id, &body).await?;
    Ok((StatusCode::CREATED, AppJson(row)))
}

/// Chains one of the owner's tasks after another of theirs, refusing a chain to itself, to a
/// task that is not theirs, one that closes a cycle, and more than the limit.
pub async fn add_chain(
    state: &AppState,
    owner_id: Uuid,
    task_id: Uuid,
    body: &ChainIn,
) -> Result<ChainOut, AppError> {
    let user_id = owner_id;
    owned_task(state, task_id, user_id).await?;
    if body.source_task_id == task_id {
        return Err(AppError::invalid_field(
            "source_task_id",
            "a task cannot be chained after itself",
        ));
    }
    if find_task(&state.db, body.source_task_id, user_id)
        .await?
        .is_none()
    {
        return Err(AppError::invalid_field(
            "source_task_id",
            "no such task of yours",
        ));
    }
    let mut tx = state.db.begin().await?;
    // Both tasks are the caller's, so a cycle can only be closed by the caller's own chains:
    // serialising chain changes per owner makes the check below race-free.
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('task_chains:' || $1::text, 0))",
        user_id.to_string()
    )
    .execute(&mut *tx)
    .await?;
    let closes_cycle = sqlx::query_scalar!(
        r#"WITH RECURSIVE downstream (id) AS (
               SELECT task_id FROM task_chains WHERE source_task_id = $1
               UNION
               SELECT c.task_id FROM task_chains c JOIN downstream d ON c.source_task_id = d.id
           )
           SELECT EXISTS (SELECT 1 FROM downstream WHERE id = $2) AS "cycle!""#,
        task_id,
        body.source_task_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if closes_cycle {
        return Err(AppError::invalid_field(
            "source_task_id",
            "this chain would close a cycle: the source already runs after this task",
        ));
    }
    let existing = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM task_chains WHERE task_id = $1"#,
        task_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if existing >= MAX_CHAINS_PER_TASK {
        return Err(AppError::conflict(format!(
            "a task runs after at most {MAX_CHAINS_PER_TASK} sources; delete a chain first"
        )));
    }
    let row = sqlx::query_as!(
        ChainOut,
        r#"INSERT INTO task_chains (id, task_id, source_task_id, on_status)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT ON CONSTRAINT task_chains_pair_key DO NOTHING
           RETURNING id, task_id, source_task_id, on_status AS "on: ChainOn", created_at"#,
        Uuid::now_v7(),
        task_id,
        body.source_task_id,
        body.on.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::conflict("this task is already chained after that source"))?;
    tx.commit().await?;
    Ok(row)
}

/// List the chains that start one of your tasks.
#[utoipa::path(get, path = "/tasks/{task_id}/chains", tag = "triggers", security(("bearer" = [])),
    params(("task_id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task's chains, oldest first", body = Vec<ChainOut>),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
    ))]
async fn list_chains(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(task_id): AppPath<Uuid>,
) -> Result<AppJson<Vec<ChainOut>>, AppError> {
    owned_task(&state, task_id, user.id).await?;
    let rows = sqlx::query_as!(
        ChainOut,
        r#"SELECT c.id, c.task_id, c.source_task_id, c.on_status AS "on: ChainOn", c.created_at
           FROM task_chains c JOIN tasks t ON t.id = c.task_id
           WHERE c.task_id = $1 AND t.owner_id = $2
           ORDER BY c.created_at, c.id"#,
        task_id,
        user.id
    )
    .fetch_all(&state.db)
    .await?;
    Ok(AppJson(rows))
}

/// Delete a chain.
#[utoipa::path(delete, path = "/tasks/{task_id}/chains/{id}", tag = "triggers", security(("bearer" = [])),
    params(
        ("task_id" = Uuid, Path, description = "Task id"),
        ("id" = Uuid, Path, description = "Chain id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such chain on a task of yours", body = Problem),
    ))]
async fn delete_chain(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath((task_id, id)): AppPath<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    sqlx::query_scalar!(
        "DELETE FROM task_chains c USING tasks t
         WHERE c.id = $1 AND c.task_id = $2 AND t.id = c.task_id AND t.owner_id = $3
         RETURNING c.id",
        id,
        task_id,
        user.id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::not_found("chain"))?;
    Ok(StatusCode::NO_CONTENT)
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

/// Queues the executions chained after `ended`, inside the caller's transaction (the one
/// that records the endings). Idempotent: each (source execution, chained task) pair is
/// queued at most once. Chained tasks that are not active, and links deeper than
/// [`MAX_CHAIN_DEPTH`], are skipped and logged.
pub async fn enqueue_chained(
    conn: &mut PgConnection,
    ended: &[Ended],
) -> Result<Vec<Chained>, sqlx::Error> {
    if ended.is_empty() {
        return Ok(Vec::new());
    }
    let statuses: HashMap<Uuid, ExecutionStatus> =
        ended.iter().map(|e| (e.execution_id, e.status)).collect();
    let ids: Vec<Uuid> = statuses.keys().copied().collect();
    let links = sqlx::query!(
        r#"SELECT c.id AS chain_id, c.task_id AS target_id, c.on_status AS "on: ChainOn",
                  t.status AS "target_status: TaskStatus",
                  e.id AS source_execution_id, e.task_id AS source_task_id, e.attempt,
                  e.trigger_kind, e.outcome, e.error, e.chain_depth
           FROM executions e
           JOIN task_chains c ON c.source_task_id = e.task_id
           JOIN tasks t ON t.id = c.task_id
           WHERE e.id = ANY($1)"#,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let (mut new_ids, mut tasks, mut inputs, mut keys, mut depths) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for link in links {
        let Some(&status) = statuses.get(&link.source_execution_id) else {
            continue;
        };
        if !link.on.fires_on(status) {
            continue;
        }
        let depth = link.chain_depth + 1;
        if depth > MAX_CHAIN_DEPTH {
            metrics::counter!("nocron_chains_skipped_total", "reason" => "depth").increment(1);
            tracing::warn!(
                chain_id = %link.chain_id,
                source_execution_id = %link.source_execution_id,
                task_id = %link.target_id,
                depth,
                "chained execution not queued: deeper than {MAX_CHAIN_DEPTH} links"
            );
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
        new_ids.push(Uuid::now_v7());
        tasks.push(link.target_id);
        keys.push(format!("chain:{}", link.source_execution_id));
        depths.push(depth);
        inputs.push(json!({
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
        }));
    }
    if new_ids.is_empty() {
        return Ok(Vec::new());
    }
    let queued = sqlx::query!(
        r#"INSERT INTO executions (id, task_id, trigger_kind, input, idempotency_key, chain_depth)
           SELECT id, task_id, 'CHAIN', input, key, depth
           FROM UNNEST($1::uuid[], $2::uuid[], $3::jsonb[], $4::text[], $5::int4[])
                AS c(id, task_id, input, key, depth)
           -- A disabled or deleted account's tasks are not chained into.
           WHERE EXISTS (SELECT 1 FROM tasks t JOIN users u ON u.id = t.owner_id
                         WHERE t.id = c.task_id AND u.status = 'active')
           ON CONFLICT ON CONSTRAINT executions_task_idempotency_key DO NOTHING
           RETURNING id, task_id"#,
        &new_ids,
        &tasks,
        &inputs,
        &keys,
        &depths
    )
    .fetch_all(&mut *conn)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_endings_fire_which_chains() {
        use ExecutionStatus as S;
        assert!(ChainOn::Succeeded.fires_on(S::Succeeded));
        assert!(!ChainOn::Succeeded.fires_on(S::Dead));
        assert!(ChainOn::Dead.fires_on(S::Dead));
        assert!(ChainOn::Dead.fires_on(S::TimedOut));
        assert!(!ChainOn::Dead.fires_on(S::Cancelled));
        assert!(!ChainOn::Dead.fires_on(S::Succeeded));
        for status in [S::Succeeded, S::Dead, S::TimedOut, S::Cancelled] {
            assert!(ChainOn::Any.fires_on(status));
        }
        for on in ChainOn::ALL {
            assert!(!on.fires_on(S::Failed));
            assert!(!on.fires_on(S::Running));
        }
    }
}
