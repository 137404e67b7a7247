//! What happened to a task (its executions and skipped slots) and what will (its next runs).

use axum::extract::State;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    auth::{Caller, Scope},
    cron::{
        CronSchedule,
        explain::{self, ExplainOut},
    },
    error::{AppError, AppResult, Problem},
    executions::history::{self, HistoryPage, HistoryQuery},
    http::{AppJson, AppPath, AppQuery},
    tasks::{db, model::TaskStatus},
};

/// `GET /tasks/{id}/logs` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only this status: an execution status, or `SKIPPED` for slots that did not run.
    #[param(schema_with = log_status_schema)]
    pub status: Option<String>,
    /// Only entries at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only entries before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// `status` of [`LogParams`]: an execution status or `SKIPPED`.
fn log_status_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let mut statuses: Vec<&str> = crate::executions::model::ExecutionStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    statuses.push("SKIPPED");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(statuses))
        .build()
}

/// A task's history: its executions and the slots that did not run (with the reason), newest
/// first. Nothing is skipped silently: every slot is either an execution or a `SKIPPED` entry.
#[utoipa::path(get, path = "/{id}/logs", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task"), LogParams),
    responses(
        (status = 200, description = "A page of history", body = HistoryPage),
        (status = 400, description = "A parameter is malformed", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 422, description = "`limit`, `status` or `cursor` is invalid", body = Problem),
    ))]
pub async fn task_logs(
    State(db): State<PgPool>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppQuery(params): AppQuery<LogParams>,
) -> AppResult<AppJson<HistoryPage>> {
    caller.require(Scope::ExecutionsRead)?;
    let limit = crate::http::cursor::page_size(params.limit)?;
    let status = params
        .status
        .as_deref()
        .map(history::parse_status)
        .transpose()?;
    db::owned_task(&db, id, caller.owner_id()).await?;
    let query = HistoryQuery {
        status,
        from: params.from,
        to: params.to,
        limit,
        cursor: params.cursor,
    };
    Ok(AppJson(history::task_history(&db, id, &query).await?))
}

/// `GET /tasks/{id}/next-runs` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextRunParams {
    /// How many runs, 1–100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub count: Option<i64>,
}

/// A task's upcoming runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct NextRunsOut {
    /// The task.
    pub task_id: Uuid,
    /// Its status; runs of a task that is not `ACTIVE` are those it would have once resumed.
    pub status: TaskStatus,
    /// The schedule explained with its next runs; `null` for a task without a schedule.
    pub schedule: Option<ExplainOut>,
}

/// The next runs of a task's schedule, in UTC and local time, with DST notes.
#[utoipa::path(get, path = "/{id}/next-runs", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task"), NextRunParams),
    responses(
        (status = 200, description = "The upcoming runs", body = NextRunsOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 422, description = "`count` is out of range", body = Problem),
    ))]
pub async fn next_runs(
    State(db): State<PgPool>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
    AppQuery(params): AppQuery<NextRunParams>,
) -> AppResult<AppJson<NextRunsOut>> {
    caller.require(Scope::TasksRead)?;
    let count = params.count.unwrap_or(10);
    if !(1..=100).contains(&count) {
        return Err(AppError::invalid_field(
            "query.count",
            "must be between 1 and 100",
        ));
    }
    let task = db::owned_task(&db, id, caller.owner_id()).await?;
    let schedule = match &task.cron {
        None => None,
        Some(cron) => {
            let parsed = CronSchedule::parse(cron, &task.timezone, task.dst_policy.into())
                .map_err(|err| AppError::internal(anyhow::anyhow!("stored schedule: {err:?}")))?;
            let now = Utc::now();
            // A slot exactly at a future start_at counts.
            let after = match task.start_at {
                Some(start) if start > now => start - TimeDelta::milliseconds(1),
                _ => now,
            };
            Some(explain::explanation(
                &parsed,
                cron.clone(),
                after,
                task.end_at,
                usize::try_from(count).unwrap_or(10),
            ))
        }
    };
    Ok(AppJson(NextRunsOut {
        task_id: task.id,
        status: task.status,
        schedule,
    }))
}
