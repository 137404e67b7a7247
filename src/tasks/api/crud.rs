//! Task definitions: list, create, read, replace, patch, delete.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    body::{TaskIn, TaskOut, merge_patch},
    secret_scope, version,
};
use crate::{
    auth::{Caller, Scope},
    billing::PlanPolicy,
    error::{AppError, AppResult, Problem},
    events::EventBus,
    http::{AppJson, AppPath, AppQuery, extract::parse_json},
    tasks::{
        db,
        list::{self, SortOrder, TaskQuery, TaskSort},
        model::{ActionType, NewTask, Task, TaskStatus},
        update, view,
    },
};

/// `GET /tasks` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListParams {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (keep `sort` and `order` while paging).
    pub cursor: Option<String>,
    /// Only this status.
    pub status: Option<TaskStatus>,
    /// Only this action type.
    pub action_type: Option<ActionType>,
    /// Only tasks carrying this tag.
    pub tag: Option<String>,
    /// Text in the name or description (case-insensitive).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// `created_at` (default), `updated_at`, `name` or `next_run_at`.
    pub sort: Option<TaskSort>,
    /// `asc` or `desc` (default: `desc` for times, `asc` for `name` and `next_run_at`).
    pub order: Option<SortOrder>,
}

/// One page of tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    /// The tasks, in the requested order.
    pub items: Vec<TaskOut>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// List your tasks, with filters, a sort and cursor pagination.
#[utoipa::path(get, path = "/", tag = "tasks", security(("bearer" = [])),
    params(TaskListParams),
    responses(
        (status = 200, description = "A page of tasks", body = TaskPage),
        (status = 400, description = "A query parameter is malformed", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 422, description = "`limit` or `cursor` is invalid, `q` is too long, or a parameter holds a NUL character (`query.q`)", body = Problem),
    ))]
pub async fn list_tasks(
    State(db): State<PgPool>,
    caller: Caller,
    AppQuery(params): AppQuery<TaskListParams>,
) -> AppResult<AppJson<TaskPage>> {
    caller.require(Scope::TasksRead)?;
    let limit = crate::http::cursor::page_size(params.limit)?;
    if params.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(AppError::invalid_field(
            "query.q",
            "must be at most 200 characters",
        ));
    }
    let sort = params.sort.unwrap_or(TaskSort::CreatedAt);
    let order = params.order.unwrap_or(match sort {
        TaskSort::CreatedAt | TaskSort::UpdatedAt => SortOrder::Desc,
        TaskSort::Name | TaskSort::NextRunAt => SortOrder::Asc,
    });
    let query = TaskQuery {
        status: params.status,
        action_type: params.action_type,
        tag: params.tag,
        search: params.q.filter(|q| !q.trim().is_empty()),
        sort,
        order,
        limit,
        cursor: params.cursor,
    };
    let page = list::list_tasks(&db, caller.owner_id(), &query).await?;
    Ok(AppJson(TaskPage {
        items: page
            .items
            .into_iter()
            .map(|(task, last)| TaskOut::new(task, last))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Create a task.
#[utoipa::path(post, path = "/", tag = "tasks", security(("bearer" = [])),
    request_body = TaskIn,
    responses(
        (status = 201, description = "The task, with `Location` and `ETag`", body = TaskOut),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 402, description = "Your plan's `max_tasks` or `min_interval_seconds` is reached (`PLAN_LIMIT_REACHED`)", body = Problem),
        (status = 403, description = "The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets", body = Problem),
        (status = 422, description = "A field is invalid; each failing field is named", body = Problem),
    ))]
pub async fn create_task(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    State(policy): State<PlanPolicy>,
    caller: Caller,
    AppJson(input): AppJson<TaskIn>,
) -> AppResult<(StatusCode, HeaderMap, AppJson<TaskOut>)> {
    caller.require(Scope::TasksWrite)?;
    if matches!(input.status, Some(TaskStatus::Failed)) {
        return Err(AppError::invalid_field(
            "status",
            "a new task is ACTIVE, PAUSED or STOPPED",
        ));
    }
    secret_scope::require_for(&caller, input.action.action_type, &input.action.config)?;
    let new = NewTask::try_from((caller.owner_id(), input))?;
    let task = db::create_task_within_plan(&db, &events, &policy, &new).await?;
    let mut headers = versioned(&task);
    set_location(&mut headers, &caller, task.id);
    Ok((
        StatusCode::CREATED,
        headers,
        AppJson(TaskOut::new(task, None)),
    ))
}

/// One of your tasks.
#[utoipa::path(get, path = "/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task")),
    responses(
        (status = 200, description = "The task, with its `ETag`", body = TaskOut),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
    ))]
pub async fn get_task(
    State(db): State<PgPool>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(HeaderMap, AppJson<TaskOut>)> {
    caller.require(Scope::TasksRead)?;
    let (task, last) = view::owned_task_with_latest(&db, id, caller.owner_id()).await?;
    Ok((versioned(&task), AppJson(TaskOut::new(task, last))))
}

/// Replace a task's definition. Send `If-Match` with the task's `ETag` to refuse the change
/// (412) if someone changed the task since you read it.
#[utoipa::path(put, path = "/{id}", tag = "tasks", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The task"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change is based on"),
    ),
    request_body = TaskIn,
    responses(
        (status = 200, description = "The changed task", body = TaskOut),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 402, description = "The schedule runs more often than your plan's `min_interval_seconds` (`PLAN_LIMIT_REACHED`)", body = Problem),
        (status = 403, description = "The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 412, description = "The task changed since the `If-Match` version", body = Problem),
        (status = 422, description = "A field is invalid; each failing field is named; `status` FAILED unless the task already is", body = Problem),
    ))]
pub async fn replace_task(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    State(policy): State<PlanPolicy>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
    AppJson(input): AppJson<TaskIn>,
) -> AppResult<(HeaderMap, AppJson<TaskOut>)> {
    caller.require(Scope::TasksWrite)?;
    let expected = version::if_match(&headers)?;
    let write = TaskWrite {
        db: &db,
        events: &events,
        policy: &policy,
    };
    let task = apply(&write, &caller, id, input, None, expected).await?;
    respond_with(&db, task).await
}

/// Change some fields of a task: the body is a JSON merge patch (RFC 7396) of its definition,
/// e.g. `{"schedule": {"cron": "0 * * * *"}}`; `null` removes an optional field
/// (`{"schedule": null}` makes the task run only when triggered).
#[utoipa::path(patch, path = "/{id}", tag = "tasks", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The task"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change is based on"),
    ),
    request_body(content = Object, description = "A merge patch of `TaskIn`",
        content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed task", body = TaskOut),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 402, description = "The schedule runs more often than your plan's `min_interval_seconds` (`PLAN_LIMIT_REACHED`)", body = Problem),
        (status = 403, description = "The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 412, description = "The task changed since the `If-Match` version", body = Problem),
        (status = 422, description = "A field is invalid; each failing field is named; `status` FAILED unless the task already is", body = Problem),
    ))]
pub async fn patch_task(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    State(policy): State<PlanPolicy>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
    AppJson(patch): AppJson<serde_json::Value>,
) -> AppResult<(HeaderMap, AppJson<TaskOut>)> {
    caller.require(Scope::TasksWrite)?;
    if !patch.is_object() {
        return Err(AppError::invalid_field(
            "body",
            "a merge patch is a JSON object",
        ));
    }
    let expected = version::if_match(&headers)?;
    let current = db::owned_task(&db, id, caller.owner_id()).await?;
    let mut definition = serde_json::to_value(TaskIn::from_task(&current))
        .map_err(|err| AppError::internal(anyhow::anyhow!(err)))?;
    merge_patch(&mut definition, &patch);
    let bytes = serde_json::to_vec(&definition).map_err(AppError::internal)?;
    let input: TaskIn = parse_json(&bytes)?;
    // Without If-Match the patch still applies to the version it was merged with.
    let write = TaskWrite {
        db: &db,
        events: &events,
        policy: &policy,
    };
    let task = apply(
        &write,
        &caller,
        id,
        input,
        Some(current.status),
        expected.or(Some(current.updated_at)),
    )
    .await?;
    respond_with(&db, task).await
}

/// Delete a task with its history.
#[utoipa::path(delete, path = "/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
    ))]
pub async fn delete_task(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<StatusCode> {
    caller.require(Scope::TasksWrite)?;
    if db::delete_task(&db, &events, id, caller.owner_id()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("task"))
    }
}

/// The task with its latest execution, and its `ETag`.
pub async fn respond_with(db: &PgPool, task: Task) -> AppResult<(HeaderMap, AppJson<TaskOut>)> {
    let last = list::latest_executions(db, &[task.id])
        .await?
        .pop()
        .map(|(_, summary)| summary);
    Ok((versioned(&task), AppJson(TaskOut::new(task, last))))
}

/// `Location` of a new task, under the mount the caller used.
pub fn set_location(headers: &mut HeaderMap, caller: &Caller, task_id: Uuid) {
    let prefix = if caller.via_api { "/api/v1" } else { "" };
    if let Ok(value) = HeaderValue::from_str(&format!("{prefix}/tasks/{task_id}")) {
        headers.insert(header::LOCATION, value);
    }
}

fn versioned(task: &Task) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, version::etag(task.updated_at));
    headers
}

/// Replaces a task's definition, then moves it to the requested status if that differs.
///
/// `status: FAILED` is refused unless the task already is FAILED (only the engine sets it):
/// a PATCH that leaves `status` alone, or a PUT that sends back the status it read, fixes a
/// failed task without resuming it. `current_status` is the status the change was based on,
/// when the caller already read it.
/// What changing a task needs from the application.
struct TaskWrite<'a> {
    db: &'a PgPool,
    events: &'a EventBus,
    policy: &'a PlanPolicy,
}

async fn apply(
    write: &TaskWrite<'_>,
    caller: &Caller,
    id: Uuid,
    input: TaskIn,
    current_status: Option<TaskStatus>,
    expected: Option<chrono::DateTime<chrono::Utc>>,
) -> AppResult<Task> {
    let TaskWrite { db, events, policy } = *write;
    secret_scope::require_for(caller, input.action.action_type, &input.action.config)?;
    let status = input.status;
    if matches!(status, Some(TaskStatus::Failed)) {
        let current = match current_status {
            Some(current) => current,
            None => db::owned_task(db, id, caller.owner_id()).await?.status,
        };
        if current != TaskStatus::Failed {
            return Err(AppError::invalid_field(
                "status",
                "only the engine sets FAILED; use ACTIVE, PAUSED or STOPPED",
            ));
        }
    }
    let new = NewTask::try_from((caller.owner_id(), input))?;
    let task =
        update::update_task(db, events, policy, id, caller.owner_id(), &new, expected).await?;
    match status {
        Some(status) if status != task.status => {
            db::set_status(db, events, id, caller.owner_id(), status).await
        }
        _ => Ok(task),
    }
}
