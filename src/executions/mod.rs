//! Executions: the stored model ([`model`]), acting on them from outside the engine's loops
//! ([`control`]: trigger, cancel, retry, read), live numbers ([`stats`]), and the API: one
//! execution with its log lines, cancel and retry (`/executions/{id}`, also under
//! `/api/v1`), and a task's history ([`history`]).

pub mod control;
pub mod counts;
pub mod history;
pub mod model;
pub mod stats;

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use self::{
    control::{Enqueued, StoredLogLine},
    history::{ExecutionPage, ExecutionQuery},
    model::{Execution, ExecutionStatus, TriggerKind},
};
use crate::{
    auth::{Caller, Scope},
    error::{AppError, AppResult, Problem},
    http::{AppJson, AppPath, AppQuery},
    scheduler::engine::Engine,
    state::AppState,
};

/// Routes of this module, relative to `/executions`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_executions))
        .routes(routes!(get_execution))
        .routes(routes!(cancel_execution))
        .routes(routes!(retry_execution))
}

/// An execution with its log lines, as clients see it: the queue's bookkeeping (which
/// instance holds the claim, until when, and when it may be claimed) stays inside.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionOut {
    /// UUID v7.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// What created it.
    pub trigger_kind: TriggerKind,
    /// The schedule slot, for scheduled runs.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Where it is.
    pub status: ExecutionStatus,
    /// 1 for the first try.
    pub attempt: i32,
    /// The attempt this one retries.
    pub retry_of: Option<Uuid>,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// Wall time of the attempt.
    pub duration_ms: Option<i64>,
    /// How long after it was due (its slot, plus any jitter or retry delay) a worker
    /// started it; absent until it starts.
    #[schema(minimum = 0)]
    pub lateness_ms: Option<i64>,
    /// The trigger's input.
    pub input: serde_json::Value,
    /// What the action produced.
    pub outcome: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// The caller's idempotency key, for API triggers.
    pub idempotency_key: Option<String>,
    /// The execution that started this one's chain; `null` on a root (an execution not
    /// started by a chain, or a retry of one). Retries keep their attempt's root.
    pub root_execution_id: Option<Uuid>,
    /// Chain links from the root: 0 on a root, the source's depth + 1 on a chained
    /// execution; retries keep their attempt's depth.
    pub chain_depth: i32,
    /// 0 (lowest) to 9: the task's, unless the run was started with another.
    #[schema(minimum = 0, maximum = 9)]
    pub priority: i16,
    /// Its log lines, oldest first.
    pub logs: Vec<StoredLogLine>,
}

impl ExecutionOut {
    /// The client's view of a stored execution and its log lines.
    pub fn new(execution: Execution, logs: Vec<StoredLogLine>) -> Self {
        ExecutionOut {
            id: execution.id,
            task_id: execution.task_id,
            trigger_kind: execution.trigger_kind,
            scheduled_for: execution.scheduled_for,
            status: execution.status,
            attempt: execution.attempt,
            retry_of: execution.retry_of,
            queued_at: execution.queued_at,
            started_at: execution.started_at,
            finished_at: execution.finished_at,
            duration_ms: execution.duration_ms,
            lateness_ms: execution.lateness_ms,
            input: execution.input,
            outcome: execution.outcome,
            error: execution.error,
            idempotency_key: execution.idempotency_key,
            root_execution_id: execution.root_execution_id,
            chain_depth: execution.chain_depth,
            priority: execution.priority,
            logs,
        }
    }
}

/// The state of an execution after a cancel request.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelOut {
    /// The execution.
    pub execution_id: Uuid,
    /// `CANCELLED` for a queued execution; `RUNNING` for one that was asked to stop and
    /// will end as `CANCELLED` shortly.
    pub status: ExecutionStatus,
}

/// `GET /executions` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecutionFilter {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only this status, e.g. `DEAD` for the dead-letter list.
    pub status: Option<ExecutionStatus>,
    /// Only this trigger kind.
    pub trigger_kind: Option<TriggerKind>,
    /// Only executions queued at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only executions queued before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// Your executions across all your tasks, newest first: `?status=DEAD` is the dead-letter
/// list, `?status=RUNNING` what runs now.
#[utoipa::path(get, path = "/", tag = "executions", security(("bearer" = [])),
    params(ExecutionFilter),
    responses(
        (status = 200, description = "A page of executions", body = ExecutionPage),
        (status = 400, description = "A parameter is malformed", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 422, description = "`limit` or `cursor` is invalid", body = Problem),
    ))]
async fn list_executions(
    State(db): State<PgPool>,
    caller: Caller,
    AppQuery(filter): AppQuery<ExecutionFilter>,
) -> AppResult<AppJson<ExecutionPage>> {
    caller.require(Scope::ExecutionsRead)?;
    let limit = crate::http::cursor::page_size(filter.limit)?;
    let query = ExecutionQuery {
        status: filter.status,
        trigger_kind: filter.trigger_kind,
        from: filter.from,
        to: filter.to,
        limit,
        cursor: filter.cursor,
    };
    Ok(AppJson(
        history::owner_executions(&db, caller.owner_id(), &query).await?,
    ))
}

/// One of your executions, with its log lines.
#[utoipa::path(get, path = "/{id}", tag = "executions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The execution")),
    responses(
        (status = 200, description = "The execution", body = ExecutionOut),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such execution of yours", body = Problem),
    ))]
async fn get_execution(
    State(engine): State<Engine>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<AppJson<ExecutionOut>> {
    caller.require(Scope::ExecutionsRead)?;
    let execution = control::load_execution(&engine, id, caller.owner_id())
        .await?
        .ok_or_else(|| AppError::not_found("execution"))?;
    let logs = control::execution_log(&engine, id, caller.owner_id()).await?;
    Ok(AppJson(ExecutionOut::new(execution, logs)))
}

/// Cancel a queued or running execution.
#[utoipa::path(post, path = "/{id}/cancel", tag = "executions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The execution")),
    responses(
        (status = 202, description = "Cancelled, or asked to stop", body = CancelOut),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such execution of yours", body = Problem),
        (status = 409, description = "The execution already finished", body = Problem),
    ))]
async fn cancel_execution(
    State(engine): State<Engine>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(StatusCode, AppJson<CancelOut>)> {
    caller.require(Scope::TasksExecute)?;
    let status = control::cancel_execution(&engine, id, caller.owner_id()).await?;
    Ok((
        StatusCode::ACCEPTED,
        AppJson(CancelOut {
            execution_id: id,
            status,
        }),
    ))
}

/// Run a `DEAD`, `TIMED_OUT` or `CANCELLED` execution again, as a new execution.
#[utoipa::path(post, path = "/{id}/retry", tag = "executions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The execution")),
    responses(
        (status = 202, description = "A new execution is queued", body = Enqueued),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such execution of yours", body = Problem),
        (status = 409, description = "The execution did not end without success", body = Problem),
        (status = 429, description = "Your account already has MAX_QUEUED_PER_OWNER executions waiting; see Retry-After",
            body = Problem, headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ))]
async fn retry_execution(
    State(engine): State<Engine>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(StatusCode, AppJson<Enqueued>)> {
    caller.require(Scope::TasksExecute)?;
    let enqueued = control::retry_execution(&engine, id, caller.owner_id()).await?;
    Ok((StatusCode::ACCEPTED, AppJson(enqueued)))
}
