//! Task chaining: a task runs when an execution of another task ends.
//!
//! `on` says which endings count. An execution has *ended* when no worker will run it again
//! and no retry follows: a `FAILED` attempt with a retry queued has not ended.
//! - `SUCCEEDED`: it succeeded.
//! - `DEAD`: it failed for good: `DEAD` after its last attempt, or `TIMED_OUT` with no
//!   attempt left.
//! - `ANY`: any ending, `CANCELLED` included.
//!
//! This module manages chains; [`super::chained`] queues the chained executions. When a chain
//! is saved, a task may start at most `CHAIN_MAX_OUT_DEGREE` tasks, and a chain that closes a
//! cycle is refused unless every task on the cycle has `allow_cycles` (a cycle is usually a
//! mistake; the depth and budget limits bound the ones that are not).

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    config::ChainSettings,
    config::Settings,
    error::{AppError, AppResult, Problem},
    http::{AppJson, AppPath},
    state::AppState,
    tasks::db::{load_task, owned_task},
};

pub use super::chained::{ChainFollowUp, ChainOn, ChainStopped, Chained, Ended, enqueue_chained};

/// Most chains one task may have as sources.
pub const MAX_CHAINS_PER_TASK: i64 = 20;

/// Routes of this file, relative to `/tasks`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_chain, list_chains))
        .routes(routes!(delete_chain))
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

/// Chain `task_id` after another of your tasks. A chain that would close a cycle is refused
/// unless every task on the cycle has `allow_cycles`; a task starts at most
/// `CHAIN_MAX_OUT_DEGREE` tasks.
#[utoipa::path(post, path = "/{id}/chains", tag = "triggers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task that will run")),
    request_body = ChainIn,
    responses(
        (status = 201, description = "Created", body = ChainOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 409, description = "Already chained after this source, or too many chains", body = Problem),
        (status = 422, description = "`source_task_id` is not one of your tasks, already starts `CHAIN_MAX_OUT_DEGREE` tasks, or closes a cycle through a task without `allow_cycles`", body = Problem),
    ))]
async fn create_chain(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    user: CurrentUser,
    AppPath(task_id): AppPath<Uuid>,
    AppJson(body): AppJson<ChainIn>,
) -> Result<(StatusCode, AppJson<ChainOut>), AppError> {
    let mut tx = db.begin().await?;
    let row = add_chain(&mut tx, settings.chains, user.id, task_id, &body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(row)))
}

/// Chains one of the owner's tasks after another of theirs, refusing a chain to itself, a
/// task that is not theirs, a source already at the out-degree limit, a cycle through a task without
/// `allow_cycles`, and more sources than [`MAX_CHAINS_PER_TASK`]. Runs on `conn`, so a task
/// and its chain can be created in one transaction; the caller commits.
pub async fn add_chain(
    conn: &mut PgConnection,
    limits: ChainSettings,
    owner_id: Uuid,
    task_id: Uuid,
    body: &ChainIn,
) -> Result<ChainOut, AppError> {
    let user_id = owner_id;
    if !owns_task(conn, task_id, user_id).await? {
        return Err(AppError::not_found("task"));
    }
    if body.source_task_id == task_id {
        return Err(AppError::invalid_field(
            "source_task_id",
            "a task cannot be chained after itself",
        ));
    }
    if !owns_task(conn, body.source_task_id, user_id).await? {
        return Err(AppError::invalid_field(
            "source_task_id",
            "no such task of yours",
        ));
    }
    // Both tasks are the caller's, so a cycle can only be closed by the caller's own chains:
    // serialising chain changes per owner makes the checks below race-free.
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('task_chains:' || $1::text, 0))",
        user_id.to_string()
    )
    .execute(&mut *conn)
    .await?;
    let out_degree = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM task_chains WHERE source_task_id = $1"#,
        body.source_task_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if out_degree >= limits.max_out_degree {
        return Err(AppError::invalid_field(
            "source_task_id",
            format!(
                "this task already starts {out_degree} tasks, the most CHAIN_MAX_OUT_DEGREE={} allows; delete one of its chains first",
                limits.max_out_degree
            ),
        ));
    }
    // The new link source → task closes a cycle through every task on a path from the task
    // to the source (the task and the source included): each of them must opt in.
    let refusing = sqlx::query!(
        r#"WITH RECURSIVE downstream (id) AS (
               SELECT $1::uuid
               UNION
               SELECT c.task_id FROM task_chains c JOIN downstream d ON c.source_task_id = d.id
           ), upstream (id) AS (
               SELECT $2::uuid
               UNION
               SELECT c.source_task_id FROM task_chains c JOIN upstream u ON c.task_id = u.id
           )
           SELECT t.id, t.allow_cycles
           FROM tasks t
           WHERE t.id IN (SELECT id FROM downstream INTERSECT SELECT id FROM upstream)
           ORDER BY t.id"#,
        task_id,
        body.source_task_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let without_opt_in: Vec<String> = refusing
        .iter()
        .filter(|t| !t.allow_cycles)
        .map(|t| t.id.to_string())
        .collect();
    if !without_opt_in.is_empty() {
        let shown = without_opt_in
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = without_opt_in.len().saturating_sub(5);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        return Err(AppError::invalid_field(
            "source_task_id",
            format!(
                "this chain would close a cycle (the source already runs after this task); every task on the cycle must set allow_cycles: true, and these do not: {shown}{more}"
            ),
        ));
    }
    let existing = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM task_chains WHERE task_id = $1"#,
        task_id
    )
    .fetch_one(&mut *conn)
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
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::conflict("this task is already chained after that source"))?;
    Ok(row)
}

/// Whether `task_id` is one of the owner's tasks, as `conn` sees it.
async fn owns_task(conn: &mut PgConnection, task_id: Uuid, owner_id: Uuid) -> AppResult<bool> {
    Ok(load_task(conn, task_id)
        .await?
        .is_some_and(|task| task.owner_id == owner_id))
}

/// List the chains that start one of your tasks.
#[utoipa::path(get, path = "/{id}/chains", tag = "triggers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task's chains, oldest first", body = Vec<ChainOut>),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
    ))]
async fn list_chains(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath(task_id): AppPath<Uuid>,
) -> Result<AppJson<Vec<ChainOut>>, AppError> {
    owned_task(&db, task_id, user.id).await?;
    let rows = sqlx::query_as!(
        ChainOut,
        r#"SELECT c.id, c.task_id, c.source_task_id, c.on_status AS "on: ChainOn", c.created_at
           FROM task_chains c JOIN tasks t ON t.id = c.task_id
           WHERE c.task_id = $1 AND t.owner_id = $2
           ORDER BY c.created_at, c.id"#,
        task_id,
        user.id
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(rows))
}

/// Delete a chain.
#[utoipa::path(delete, path = "/{id}/chains/{chain_id}", tag = "triggers", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Task id"),
        ("chain_id" = Uuid, Path, description = "Chain id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such chain on a task of yours", body = Problem),
    ))]
async fn delete_chain(
    State(db): State<PgPool>,
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
    .fetch_optional(&db)
    .await?
    .ok_or_else(|| AppError::not_found("chain"))?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_endings_fire_which_chains() {
        use crate::executions::model::ExecutionStatus as S;
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
