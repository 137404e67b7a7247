//! Executions as the API shows them: one execution with its log lines, cancel and retry
//! (`/executions/{id}`, also under `/api/v1`), and a task's history ([`history`]).

pub mod history;

use axum::{extract::State, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::{Caller, Scope},
    error::{AppError, AppResult, Problem},
    http::{AppJson, AppPath},
    scheduler::{
        control::{self, Enqueued, StoredLogLine},
        engine::Engine,
        model::{Execution, ExecutionStatus},
    },
    state::AppState,
};

/// Routes of this module, relative to `/executions`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_execution))
        .routes(routes!(cancel_execution))
        .routes(routes!(retry_execution))
}

/// An execution with its log lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionOut {
    /// The execution.
    #[serde(flatten)]
    pub execution: Execution,
    /// Its log lines, oldest first.
    pub logs: Vec<StoredLogLine>,
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
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<AppJson<ExecutionOut>> {
    caller.require(Scope::ExecutionsRead)?;
    let engine = Engine::from_state(&state);
    let execution = control::load_execution(&engine, id, caller.owner_id())
        .await?
        .ok_or_else(|| AppError::not_found("execution"))?;
    let logs = control::execution_log(&engine, id, caller.owner_id()).await?;
    Ok(AppJson(ExecutionOut { execution, logs }))
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
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(StatusCode, AppJson<CancelOut>)> {
    caller.require(Scope::TasksExecute)?;
    let status =
        control::cancel_execution(&Engine::from_state(&state), id, caller.owner_id()).await?;
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
    ))]
async fn retry_execution(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(StatusCode, AppJson<Enqueued>)> {
    caller.require(Scope::TasksExecute)?;
    let enqueued =
        control::retry_execution(&Engine::from_state(&state), id, caller.owner_id()).await?;
    Ok((StatusCode::ACCEPTED, AppJson(enqueued)))
}
