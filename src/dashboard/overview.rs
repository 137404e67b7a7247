//! `GET /dashboard/overview`: tasks by status, today's executions by status in the
//! caller's time zone, the last 24 hours' success rate, the next 10 runs, failing tasks and
//! unread notifications.
//!
//! "Today" is midnight to midnight in `tz`, cut by PostgreSQL, and an execution belongs to
//! the day it was queued in. The 24-hour success rate counts executions that ended in the
//! last 24 hours. The unread count is always the caller's own.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::scope::{DashboardScope, owner_filter};
use crate::{
    analytics::{
        figures::{ExecutionCounts, success_rate},
        period::parse_tz,
    },
    auth::Caller,
    error::{AppResult, Problem},
    http::{AppJson, AppQuery},
    notifications::store,
    state::AppState,
    tasks::status::TaskStatus,
};

/// How many upcoming runs and failing tasks the overview lists.
pub const OVERVIEW_LIST: i64 = 10;

/// Routes of this file, relative to `/dashboard`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview))
}

/// `GET /dashboard/overview` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverviewParams {
    /// IANA time zone "today" is taken in (default `UTC`).
    #[param(example = "Asia/Shanghai")]
    pub tz: Option<String>,
    /// `user` (default): your own figures; `system`: every user's (administrators only).
    pub scope: Option<DashboardScope>,
}

/// Tasks by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct TaskCounts {
    /// Every status together.
    pub total: i64,
    /// Scheduled and triggerable.
    pub active: i64,
    /// Paused.
    pub paused: i64,
    /// Stopped by their owner.
    pub stopped: i64,
    /// Stopped by the engine after repeated failures.
    pub failed: i64,
}

/// Today's executions.
#[derive(Debug, Serialize, ToSchema)]
pub struct Today {
    /// Local midnight, as an instant.
    pub from: DateTime<Utc>,
    /// The next local midnight.
    pub to: DateTime<Utc>,
    /// Executions queued today, by status.
    pub executions: ExecutionCounts,
}

/// The last 24 hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct LastDay {
    /// Executions that succeeded in the last 24 hours.
    pub succeeded: i64,
    /// Executions that failed (`FAILED`, `DEAD`, `TIMED_OUT`) in the last 24 hours.
    pub failed: i64,
    /// `succeeded / (succeeded + failed)`, 0–1; `null` when none ended.
    pub success_rate: Option<f64>,
}

/// An upcoming scheduled run.
#[derive(Debug, Serialize, ToSchema)]
pub struct NextRun {
    /// The task.
    pub task_id: Uuid,
    /// Its name.
    pub name: String,
    /// When it runs next.
    pub next_run_at: DateTime<Utc>,
}

/// A task that is failing: stopped by the engine, or whose last executions failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailingTask {
    /// The task.
    pub task_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: TaskStatus,
    /// Failed executions in a row, up to now.
    pub consecutive_failures: i32,
}

/// The dashboard's overview.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardOverview {
    /// Whose figures these are.
    pub scope: DashboardScope,
    /// The time zone of "today".
    #[schema(example = "Asia/Shanghai")]
    pub tz: String,
    /// Tasks by status.
    pub tasks: TaskCounts,
    /// Today's executions.
    pub today: Today,
    /// The last 24 hours' outcomes.
    pub last_24h: LastDay,
    /// The next 10 scheduled runs, soonest first.
    pub next_runs: Vec<NextRun>,
    /// Up to 10 failing tasks, most consecutive failures first.
    pub failing_tasks: Vec<FailingTask>,
    /// Your unread notifications.
    pub unread_notifications: i64,
}

/// Your tasks, today's executions, the last 24 hours, what runs next, what fails, and your
/// unread notifications.
#[utoipa::path(get, path = "/overview", tag = "dashboard", security(("bearer" = [])),
    params(OverviewParams),
    responses(
        (status = 200, description = "The overview", body = DashboardOverview),
        (status = 400, description = "`scope` is neither `user` nor `system`", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "`scope=system` without the ADMIN or SUPER_ADMIN role", body = Problem),
        (status = 422, description = "`tz` is not an IANA time zone", body = Problem),
    ))]
async fn overview(
    State(db): State<PgPool>,
    caller: Caller,
    AppQuery(params): AppQuery<OverviewParams>,
) -> AppResult<AppJson<DashboardOverview>> {
    let tz = parse_tz(params.tz.as_deref())?.name();
    let owner = owner_filter(&caller, params.scope)?;
    let tasks = sqlx::query_as!(
        TaskCounts,
        r#"SELECT count(*) AS "total!",
                  count(*) FILTER (WHERE status = 'ACTIVE') AS "active!",
                  count(*) FILTER (WHERE status = 'PAUSED') AS "paused!",
                  count(*) FILTER (WHERE status = 'STOPPED') AS "stopped!",
                  count(*) FILTER (WHERE status = 'FAILED') AS "failed!"
           FROM tasks WHERE $1::uuid IS NULL OR owner_id = $1"#,
        owner
    )
    .fetch_one(&db)
    .await?;
    let today = sqlx::query!(
        r#"WITH day AS (
               SELECT date_trunc('day', now() AT TIME ZONE $2) AS local_day
           ),
           bounds AS (
               SELECT local_day AT TIME ZONE $2 AS day_start,
                      (local_day + interval '1 day') AT TIME ZONE $2 AS day_end
               FROM day
           )
           SELECT b.day_start AS "day_start!", b.day_end AS "day_end!",
                  count(e.id) AS "total!",
                  count(e.id) FILTER (WHERE e.status = 'QUEUED') AS "queued!",
                  count(e.id) FILTER (WHERE e.status = 'RUNNING') AS "running!",
                  count(e.id) FILTER (WHERE e.status = 'SUCCEEDED') AS "succeeded!",
                  count(e.id) FILTER (WHERE e.status = 'FAILED') AS "failed!",
                  count(e.id) FILTER (WHERE e.status = 'DEAD') AS "dead!",
                  count(e.id) FILTER (WHERE e.status = 'CANCELLED') AS "cancelled!",
                  count(e.id) FILTER (WHERE e.status = 'TIMED_OUT') AS "timed_out!"
           FROM bounds b
           LEFT JOIN executions e
             ON e.queued_at >= b.day_start AND e.queued_at < b.day_end
            AND ($1::uuid IS NULL OR e.owner_id = $1)
           GROUP BY b.day_start, b.day_end"#,
        owner,
        tz
    )
    .fetch_one(&db)
    .await?;
    let last_day = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE status = 'SUCCEEDED') AS "succeeded!",
                  count(*) FILTER (WHERE status IN ('FAILED', 'DEAD', 'TIMED_OUT')) AS "failed!"
           FROM executions
           WHERE finished_at > now() - interval '24 hours'
             AND ($1::uuid IS NULL OR owner_id = $1)"#,
        owner
    )
    .fetch_one(&db)
    .await?;
    let next_runs = sqlx::query_as!(
        NextRun,
        r#"SELECT id AS task_id, name, next_run_at AS "next_run_at!"
           FROM tasks
           WHERE status = 'ACTIVE' AND next_run_at IS NOT NULL
             AND ($1::uuid IS NULL OR owner_id = $1)
           ORDER BY next_run_at, id
           LIMIT $2"#,
        owner,
        OVERVIEW_LIST
    )
    .fetch_all(&db)
    .await?;
    let failing_tasks = sqlx::query_as!(
        FailingTask,
        r#"SELECT id AS task_id, name, status AS "status: TaskStatus", consecutive_failures
           FROM tasks
           WHERE (status = 'FAILED' OR consecutive_failures > 0)
             AND ($1::uuid IS NULL OR owner_id = $1)
           ORDER BY consecutive_failures DESC, updated_at DESC, id
           LIMIT $2"#,
        owner,
        OVERVIEW_LIST
    )
    .fetch_all(&db)
    .await?;
    let unread_notifications = store::unread_count(&db, caller.owner_id()).await?;
    Ok(AppJson(DashboardOverview {
        scope: if owner.is_some() {
            DashboardScope::User
        } else {
            DashboardScope::System
        },
        tz: tz.to_owned(),
        tasks,
        today: Today {
            from: today.day_start,
            to: today.day_end,
            executions: ExecutionCounts {
                total: today.total,
                queued: today.queued,
                running: today.running,
                succeeded: today.succeeded,
                failed: today.failed,
                dead: today.dead,
                cancelled: today.cancelled,
                timed_out: today.timed_out,
            },
        },
        last_24h: LastDay {
            succeeded: last_day.succeeded,
            failed: last_day.failed,
            success_rate: success_rate(last_day.succeeded, last_day.failed),
        },
        next_runs,
        failing_tasks,
        unread_notifications,
    }))
}
