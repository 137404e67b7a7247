//! Running a task now, moving it between statuses, and copying it.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    body::TaskOut,
    crud::{respond_with, set_location},
};
use crate::{
    auth::{Caller, Scope},
    error::{AppError, AppResult, ErrorCode, Problem},
    events::EventBus,
    executions::{
        control::{self, Enqueued},
        model::TriggerKind,
    },
    http::{AppJson, AppPath, extract::optional_json},
    scheduler::engine::Engine,
    tasks::{
        db,
        model::{PRIORITIES, TaskStatus},
        update,
    },
};

/// The header that makes `execute` idempotent.
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer that repeats an earlier execution for the same idempotency key.
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Largest execution input, serialized.
const MAX_INPUT_BYTES: usize = 256 * 1024;

/// `POST /tasks/{id}/execute` body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ExecuteIn {
    /// Passed to the action as its input (default `{}`), up to 256 KiB.
    #[schema(example = json!({"order_id": 42}))]
    pub input: Option<serde_json::Value>,
    /// This run's priority, 0 (lowest) to 9 (default: the task's).
    #[schema(minimum = 0, maximum = 9)]
    pub priority: Option<i16>,
}

/// `POST /tasks/{id}/duplicate` body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DuplicateIn {
    /// The copy's name (default: "<name> (copy)").
    pub name: Option<String>,
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> AppResult<Option<String>> {
    let Some(value) = headers.get(&IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::invalid_field(
            "header.Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// Run a task now. With an `Idempotency-Key` header, repeating the request (same key, same
/// input) answers the first execution instead of running again; the answer then carries
/// `Idempotent-Replayed: true`.
#[utoipa::path(post, path = "/{id}/execute", tag = "tasks", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The task"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries of this request safe"),
    ),
    request_body(content = Option<ExecuteIn>, description = "Optional; `{\"input\": …}`"),
    responses(
        (status = 202, description = "Queued (or, for a repeated key, the first execution)", body = Enqueued),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 402, description = "Your plan's `executions_per_month` is used up (`PLAN_LIMIT_REACHED`, with `resets_at`)", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 409, description = "The task is STOPPED or FAILED", body = Problem),
        (status = 413, description = "The input is larger than 256 KiB", body = Problem),
        (status = 422, description = "The key was used with another input, or a field is invalid", body = Problem),
        (status = 429, description = "Your account already has MAX_QUEUED_PER_OWNER executions waiting; see Retry-After",
            body = Problem, headers(("Retry-After" = u32, description = "Seconds to wait before trying again"))),
    ))]
pub async fn execute_task(
    State(engine): State<Engine>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<(StatusCode, HeaderMap, AppJson<Enqueued>)> {
    caller.require(Scope::TasksExecute)?;
    let key = idempotency_key(&headers)?;
    let request: ExecuteIn = optional_json(&headers, &body)?;
    let input = request.input.unwrap_or_else(|| serde_json::json!({}));
    if let Some(priority) = request.priority
        && !PRIORITIES.contains(&priority)
    {
        return Err(AppError::invalid_field("priority", "must be from 0 to 9"));
    }
    if serde_json::to_vec(&input).map_or(0, |bytes| bytes.len()) > MAX_INPUT_BYTES {
        return Err(AppError::new(
            ErrorCode::PayloadTooLarge,
            "`input` must be at most 256 KiB",
        ));
    }
    let trigger = if caller.via_api {
        TriggerKind::Api
    } else {
        TriggerKind::Manual
    };
    let enqueued = control::enqueue_at_priority(
        &engine,
        id,
        caller.owner_id(),
        trigger,
        input.clone(),
        key.as_deref(),
        request.priority,
    )
    .await?;
    let mut answer_headers = HeaderMap::new();
    if !enqueued.created {
        let first = control::load_execution(&engine, enqueued.execution_id, caller.owner_id())
            .await?
            .ok_or_else(|| AppError::not_found("execution"))?;
        if first.input != input {
            return Err(AppError::invalid_field(
                "header.Idempotency-Key",
                "was already used with a different input; use a new key for a new run",
            ));
        }
        answer_headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok((StatusCode::ACCEPTED, answer_headers, AppJson(enqueued)))
}

/// Moves one of the caller's tasks to `status` and answers the task.
async fn move_to(
    db: &PgPool,
    events: &EventBus,
    caller: &Caller,
    id: Uuid,
    status: TaskStatus,
) -> AppResult<(HeaderMap, AppJson<TaskOut>)> {
    caller.require(Scope::TasksWrite)?;
    let task = db::set_status(db, events, id, caller.owner_id(), status).await?;
    respond_with(db, task).await
}

/// Pause a task: its slots are recorded as `PAUSED` in the history until it is resumed.
#[utoipa::path(post, path = "/{id}/pause", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task")),
    responses(
        (status = 200, description = "The paused task", body = TaskOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
    ))]
pub async fn pause_task(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(HeaderMap, AppJson<TaskOut>)> {
    move_to(&db, &events, &caller, id, TaskStatus::Paused).await
}

/// Resume a paused, stopped or failed task: it fires from its next slot after now.
#[utoipa::path(post, path = "/{id}/resume", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task")),
    responses(
        (status = 200, description = "The active task", body = TaskOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
    ))]
pub async fn resume_task(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(HeaderMap, AppJson<TaskOut>)> {
    move_to(&db, &events, &caller, id, TaskStatus::Active).await
}

/// Stop a task: it neither fires nor accepts triggers until it is resumed.
#[utoipa::path(post, path = "/{id}/stop", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task")),
    responses(
        (status = 200, description = "The stopped task", body = TaskOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
    ))]
pub async fn stop_task(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(HeaderMap, AppJson<TaskOut>)> {
    move_to(&db, &events, &caller, id, TaskStatus::Stopped).await
}

/// Copy a task. The copy starts `PAUSED`, so it never fires alongside the original until you
/// resume it.
#[utoipa::path(post, path = "/{id}/duplicate", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task to copy")),
    request_body(content = Option<DuplicateIn>, description = "Optional; `{\"name\": …}`"),
    responses(
        (status = 201, description = "The copy", body = TaskOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 402, description = "Your plan's `max_tasks` is reached (`PLAN_LIMIT_REACHED`)", body = Problem),
        (status = 403, description = "The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 422, description = "The name is invalid", body = Problem),
    ))]
pub async fn duplicate_task(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    State(policy): State<crate::billing::PlanPolicy>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<(StatusCode, HeaderMap, AppJson<TaskOut>)> {
    caller.require(Scope::TasksWrite)?;
    let request: DuplicateIn = optional_json(&headers, &body)?;
    let original = db::owned_task(&db, id, caller.owner_id()).await?;
    super::secret_scope::require_for(&caller, original.action_type, &original.action_config)?;
    let copy = update::duplicate_task(
        &db,
        &events,
        &policy,
        id,
        caller.owner_id(),
        request.name.as_deref(),
    )
    .await?;
    let (mut answer_headers, out) = respond_with(&db, copy).await?;
    set_location(&mut answer_headers, &caller, out.0.id);
    Ok((StatusCode::CREATED, answer_headers, out))
}
