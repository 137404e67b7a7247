//! `GET /dashboard/recent-tasks`: the tasks that ran most recently, each with its last
//! ended execution's outcome and run time.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::scope::{DashboardScope, owner_filter};
use crate::{
    auth::Caller,
    error::{AppError, AppResult, Problem},
    executions::model::ExecutionStatus,
    http::{AppJson, AppQuery},
    state::AppState,
    tasks::status::TaskStatus,
};

/// Default number of tasks.
pub const DEFAULT_RECENT: i64 = 10;
/// Most tasks in one answer.
pub const MAX_RECENT: i64 = 50;

/// Routes of this file, relative to `/dashboard`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(recent_tasks))
}

/// `GET /dashboard/recent-tasks` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecentParams {
    /// How many tasks, 1–50 (default 10).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<i64>,
    /// `user` (default): your own tasks; `system`: every user's (administrators only).
    pub scope: Option<DashboardScope>,
}

/// A task and its last ended execution.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecentTask {
    /// The task.
    pub task_id: Uuid,
    /// Its name.
    pub name: String,
    /// Whether it is scheduled.
    pub status: TaskStatus,
    /// Its last ended execution.
    pub execution_id: Uuid,
    /// How that execution ended.
    pub last_status: ExecutionStatus,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Its run time in milliseconds.
    pub duration_ms: Option<i64>,
}

/// The most recently run tasks, most recent first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecentTasks {
    /// At most `limit`.
    pub items: Vec<RecentTask>,
}

/// The tasks that ran most recently, with their last outcome and run time.
#[utoipa::path(get, path = "/recent-tasks", tag = "dashboard", security(("bearer" = [])),
    params(RecentParams),
    responses(
        (status = 200, description = "The tasks, most recent first", body = RecentTasks),
        (status = 400, description = "`limit` or `scope` does not parse", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "`scope=system` without the ADMIN or SUPER_ADMIN role", body = Problem),
        (status = 422, description = "`limit` is not between 1 and 50", body = Problem),
    ))]
async fn recent_tasks(
    State(db): State<PgPool>,
    caller: Caller,
    AppQuery(params): AppQuery<RecentParams>,
) -> AppResult<AppJson<RecentTasks>> {
    let owner = owner_filter(&caller, params.scope)?;
    let limit = params.limit.unwrap_or(DEFAULT_RECENT);
    if !(1..=MAX_RECENT).contains(&limit) {
        return Err(AppError::invalid_field(
            "query.limit",
            format!("must be between 1 and {MAX_RECENT}"),
        ));
    }
    let items = sqlx::query_as!(
        RecentTask,
        r#"SELECT t.id AS task_id, t.name, t.status AS "status: TaskStatus",
                  e.id AS execution_id, e.status AS "last_status: ExecutionStatus",
                  e.started_at, e.finished_at AS "finished_at!", e.duration_ms
           FROM tasks t
           CROSS JOIN LATERAL (
               SELECT x.id, x.status, x.started_at, x.finished_at, x.duration_ms
               FROM executions x
               WHERE x.task_id = t.id AND x.finished_at IS NOT NULL
               ORDER BY x.finished_at DESC, x.id DESC
               LIMIT 1
           ) e
           WHERE $1::uuid IS NULL OR t.owner_id = $1
           ORDER BY e.finished_at DESC, t.id
           LIMIT $2"#,
        owner,
        limit
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(RecentTasks { items }))
}
