//! `GET /analytics/summary` (and `/api/v1/analytics/summary`): a period's figures for the
//! caller's own executions and notifications, beside the previous period of equal length.
//!
//! An execution belongs to the period in which it was queued (`queued_at`); each attempt
//! counts (a retry is an execution of its own). The two periods, the per-task figures and
//! the notification counts are separate queries run concurrently, each a range scan of the
//! owner's index; the percentile sorts get enough working memory to stay in memory.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    figures::{ExecutionCounts, Percentiles, relative_change},
    period::{AnalyticsParams, Period},
};
use crate::{
    auth::{Caller, Scope},
    error::{AppResult, Problem},
    http::{AppJson, AppQuery},
    state::AppState,
};

/// How many tasks the busiest and the top failing lists hold.
pub const TOP_TASKS: usize = 10;

/// Routes of this file, relative to `/analytics`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(summary))
}

/// One period's figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodFigures {
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub to: DateTime<Utc>,
    /// Executions queued in the period, by status.
    pub executions: ExecutionCounts,
    /// Share of ended executions that succeeded (0–1), `null` when none ended.
    pub success_rate: Option<f64>,
    /// Run time of the period's executions, in milliseconds.
    pub duration_ms: Percentiles,
    /// How late the period's executions started (after they were due), in milliseconds.
    pub lateness_ms: Percentiles,
    /// Tasks with at least one execution in the period.
    pub active_tasks: i64,
    /// Notifications sent to you in the period (whatever their channels).
    pub notifications_sent: i64,
}

/// One task in the busiest or top failing list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskFigures {
    /// The task.
    pub task_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its executions in the period.
    pub executions: i64,
    /// Those that failed (`FAILED`, `DEAD`, `TIMED_OUT`).
    pub failures: i64,
    /// Its executions in the previous period.
    pub previous_executions: i64,
    /// Its failures in the previous period.
    pub previous_failures: i64,
}

/// How the period compares with the previous one: relative changes
/// (`(current − previous) / previous`, `null` when the previous figure is 0 or unknown),
/// except `success_rate`, a difference of rates.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SummaryChange {
    /// Relative change of all executions.
    pub executions: Option<f64>,
    /// Relative change of failures.
    pub failures: Option<f64>,
    /// Current success rate minus the previous one.
    pub success_rate: Option<f64>,
    /// Relative change of the median run time.
    pub duration_p50: Option<f64>,
    /// Relative change of the 95th percentile run time.
    pub duration_p95: Option<f64>,
    /// Relative change of the 95th percentile lateness.
    pub lateness_p95: Option<f64>,
    /// Relative change of active tasks.
    pub active_tasks: Option<f64>,
    /// Relative change of notifications sent.
    pub notifications_sent: Option<f64>,
}

/// The summary of a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnalyticsSummary {
    /// The time zone of the request.
    #[schema(example = "Europe/Berlin")]
    pub tz: String,
    /// The requested period.
    pub current: PeriodFigures,
    /// The period of equal length just before it.
    pub previous: PeriodFigures,
    /// The current period against the previous one.
    pub change: SummaryChange,
    /// The tasks with the most executions in the period (at most 10), most first.
    pub busiest_tasks: Vec<TaskFigures>,
    /// The tasks with the most failures in the period (at most 10, only tasks that failed).
    pub top_failing_tasks: Vec<TaskFigures>,
}

/// Your executions and notifications over a period, compared with the period before.
#[utoipa::path(get, path = "/summary", tag = "analytics", security(("bearer" = [])),
    params(AnalyticsParams),
    responses(
        (status = 200, description = "The period's figures and the previous period's", body = AnalyticsSummary),
        (status = 400, description = "A parameter does not parse (`from`, `to`, `bucket`, `week_start`)", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `analytics:read`", body = Problem),
        (status = 422, description = "`tz` is not an IANA time zone, `to` is not after `from`, or the period is longer than 400 days", body = Problem),
    ))]
async fn summary(
    State(db): State<PgPool>,
    caller: Caller,
    AppQuery(params): AppQuery<AnalyticsParams>,
) -> AppResult<AppJson<AnalyticsSummary>> {
    caller.require(Scope::AnalyticsRead)?;
    let period = Period::parse(&params, Utc::now(), false)?;
    Ok(AppJson(summarize(&db, caller.owner_id(), &period).await?))
}

/// The summary of `period` for `owner_id`: both periods, the task lists and the
/// notification counts are read concurrently, on connections of their own.
pub async fn summarize(
    db: &PgPool,
    owner_id: Uuid,
    period: &Period,
) -> Result<AnalyticsSummary, sqlx::Error> {
    let (previous_from, _) = period.previous();
    let (current, previous, tasks, sent) = tokio::try_join!(
        period_figures(db, owner_id, period.from, period.to),
        period_figures(db, owner_id, previous_from, period.from),
        per_task(db, owner_id, period.from, previous_from, period.to),
        notifications_sent(db, owner_id, period.from, previous_from, period.to),
    )?;
    let mut current = current;
    let mut previous = previous;
    current.notifications_sent = sent.0;
    previous.notifications_sent = sent.1;
    current.active_tasks = tasks.iter().filter(|t| t.executions > 0).count() as i64;
    previous.active_tasks = tasks.iter().filter(|t| t.previous_executions > 0).count() as i64;
    let (busiest_tasks, top_failing_tasks) = top_tasks(tasks);
    Ok(AnalyticsSummary {
        tz: period.tz_name().to_owned(),
        change: compare(&current, &previous),
        current,
        previous,
        busiest_tasks,
        top_failing_tasks,
    })
}

/// Working memory for the percentile sorts of one summary query, so a period of a few
/// hundred thousand executions sorts in memory rather than on disk.
const SUMMARY_WORK_MEM: &str = "SET LOCAL work_mem = '32MB'";

/// The executions of `owner_id` queued in `[from, to)`: one aggregate pass, no grouping.
async fn period_figures(
    db: &PgPool,
    owner_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<PeriodFigures, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(SUMMARY_WORK_MEM).execute(&mut *tx).await?;
    let row = sqlx::query!(
        r#"SELECT count(*) AS "total!",
                  count(*) FILTER (WHERE status = 'QUEUED') AS "queued!",
                  count(*) FILTER (WHERE status = 'RUNNING') AS "running!",
                  count(*) FILTER (WHERE status = 'SUCCEEDED') AS "succeeded!",
                  count(*) FILTER (WHERE status = 'FAILED') AS "failed!",
                  count(*) FILTER (WHERE status = 'DEAD') AS "dead!",
                  count(*) FILTER (WHERE status = 'CANCELLED') AS "cancelled!",
                  count(*) FILTER (WHERE status = 'TIMED_OUT') AS "timed_out!",
                  percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[])
                    WITHIN GROUP (ORDER BY duration_ms) AS duration,
                  percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[])
                    WITHIN GROUP (ORDER BY lateness_ms) AS lateness
           FROM executions
           WHERE owner_id = $1 AND queued_at >= $2 AND queued_at < $3"#,
        owner_id,
        from,
        to
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let executions = ExecutionCounts {
        total: row.total,
        queued: row.queued,
        running: row.running,
        succeeded: row.succeeded,
        failed: row.failed,
        dead: row.dead,
        cancelled: row.cancelled,
        timed_out: row.timed_out,
    };
    Ok(PeriodFigures {
        from,
        to,
        success_rate: executions.success_rate(),
        executions,
        duration_ms: Percentiles::from_array(row.duration),
        lateness_ms: Percentiles::from_array(row.lateness),
        active_tasks: 0,
        notifications_sent: 0,
    })
}

/// Notifications sent to `user_id` in `[from, to)` and in `[previous_from, from)`.
async fn notifications_sent(
    db: &PgPool,
    user_id: Uuid,
    from: DateTime<Utc>,
    previous_from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(i64, i64), sqlx::Error> {
    let sent = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE created_at >= $2) AS "current!",
                  count(*) FILTER (WHERE created_at < $2) AS "previous!"
           FROM notifications
           WHERE user_id = $1 AND created_at >= $3 AND created_at < $4"#,
        user_id,
        from,
        previous_from,
        to
    )
    .fetch_one(db)
    .await?;
    Ok((sent.current, sent.previous))
}

fn compare(current: &PeriodFigures, previous: &PeriodFigures) -> SummaryChange {
    let count = |value: i64| Some(value as f64);
    SummaryChange {
        executions: relative_change(
            count(current.executions.total),
            count(previous.executions.total),
        ),
        failures: relative_change(
            count(current.executions.failures()),
            count(previous.executions.failures()),
        ),
        success_rate: current
            .success_rate
            .zip(previous.success_rate)
            .map(|(now, before)| now - before),
        duration_p50: relative_change(current.duration_ms.p50, previous.duration_ms.p50),
        duration_p95: relative_change(current.duration_ms.p95, previous.duration_ms.p95),
        lateness_p95: relative_change(current.lateness_ms.p95, previous.lateness_ms.p95),
        active_tasks: relative_change(count(current.active_tasks), count(previous.active_tasks)),
        notifications_sent: relative_change(
            count(current.notifications_sent),
            count(previous.notifications_sent),
        ),
    }
}

/// Each task of `owner_id` with executions in the period `[from, to)` or the previous
/// period `[previous_from, from)`, with its figures in both.
async fn per_task(
    db: &PgPool,
    owner_id: Uuid,
    from: DateTime<Utc>,
    previous_from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<TaskFigures>, sqlx::Error> {
    sqlx::query_as!(
        TaskFigures,
        r#"WITH per_task AS (
               SELECT task_id,
                      count(*) FILTER (WHERE queued_at >= $2) AS executions,
                      count(*) FILTER (WHERE queued_at >= $2
                                       AND status IN ('FAILED', 'DEAD', 'TIMED_OUT')) AS failures,
                      count(*) FILTER (WHERE queued_at < $2) AS previous_executions,
                      count(*) FILTER (WHERE queued_at < $2
                                       AND status IN ('FAILED', 'DEAD', 'TIMED_OUT'))
                        AS previous_failures
               FROM executions
               WHERE owner_id = $1 AND queued_at >= $3 AND queued_at < $4
               GROUP BY task_id
           )
           SELECT p.task_id AS "task_id!", t.name AS "name!", p.executions AS "executions!",
                  p.failures AS "failures!", p.previous_executions AS "previous_executions!",
                  p.previous_failures AS "previous_failures!"
           FROM per_task p JOIN tasks t ON t.id = p.task_id AND t.owner_id = $1"#,
        owner_id,
        from,
        previous_from,
        to
    )
    .fetch_all(db)
    .await
}

/// The busiest tasks of the period and those that failed most, at most [`TOP_TASKS`] each.
fn top_tasks(mut tasks: Vec<TaskFigures>) -> (Vec<TaskFigures>, Vec<TaskFigures>) {
    tasks.retain(|task| task.executions > 0);
    tasks.sort_by(|a, b| {
        b.executions
            .cmp(&a.executions)
            .then(a.task_id.cmp(&b.task_id))
    });
    let busiest: Vec<TaskFigures> = tasks.iter().take(TOP_TASKS).cloned().collect();
    tasks.retain(|task| task.failures > 0);
    tasks.sort_by(|a, b| b.failures.cmp(&a.failures).then(a.task_id.cmp(&b.task_id)));
    tasks.truncate(TOP_TASKS);
    (busiest, tasks)
}
