//! `GET /admin/analytics`: the platform per day in a time zone: accounts (total, new,
//! active), executions by status with the success rate and the p95 of run time and of
//! lateness, the queue at the end of each day, and over the whole period the tasks and the
//! accounts with the most failures. Executions are counted on the day they were queued, as in
//! the per-user analytics ([`crate::analytics`]), whose period rules and figures this reuses.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    analytics::{
        figures::ExecutionCounts,
        period::{AnalyticsParams, Bucket, Period},
    },
    auth::{Admin, RequireRole},
    error::{AppError, Problem},
    http::{AppJson, AppQuery},
    state::AppState,
};

/// The longest period one request may cover.
pub const MAX_DAYS: i64 = 92;
/// Entries in each top list.
const TOP: i64 = 10;

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(platform_analytics))
}

/// `GET /admin/analytics` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminAnalyticsParams {
    /// Start, inclusive (RFC 3339); default: 7 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339); default: now. At most 92 days after `from`.
    pub to: Option<DateTime<Utc>>,
    /// IANA time zone the days follow; default `UTC`.
    #[param(example = "Europe/Berlin")]
    pub tz: Option<String>,
}

/// Accounts on one day.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserFigures {
    /// Accounts that existed (not deleted) at the end of the day.
    pub total: i64,
    /// Accounts created that day.
    pub new: i64,
    /// Accounts that signed in or had an execution queued that day.
    pub active: i64,
}

/// One day.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminDay {
    /// Midnight in the time zone, as UTC.
    pub start: DateTime<Utc>,
    /// The date in the time zone (`YYYY-MM-DD`).
    pub date: String,
    /// Accounts.
    pub users: UserFigures,
    /// Executions queued that day (within the period), by status.
    pub executions: ExecutionCounts,
    /// `SUCCEEDED / (SUCCEEDED + FAILED + DEAD + TIMED_OUT)`; null when none ended.
    pub success_rate: Option<f64>,
    /// 95th percentile of run time, ms.
    pub duration_p95_ms: Option<f64>,
    /// 95th percentile of start lateness, ms.
    pub lateness_p95_ms: Option<f64>,
    /// Executions queued (in the 30 days before) and not yet started at the end of the day.
    pub queue_depth: i64,
}

/// A task with failures.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AdminFailingTask)]
pub struct FailingTask {
    /// Task id.
    pub task_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its owner.
    pub owner_id: Uuid,
    /// Failed, dead and timed-out executions in the period.
    pub failures: i64,
}

/// An account with failures.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailingAccount {
    /// User id.
    pub user_id: Uuid,
    /// Email.
    pub email: String,
    /// Failed, dead and timed-out executions of its tasks in the period.
    pub failures: i64,
}

/// The queue now.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueNow {
    /// Executions waiting for a worker.
    pub queued: i64,
    /// Executions running.
    pub running: i64,
}

/// Platform analytics.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminAnalytics {
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub to: DateTime<Utc>,
    /// The time zone.
    pub tz: String,
    /// One entry per day, oldest first.
    pub days: Vec<AdminDay>,
    /// The 10 tasks with the most failures in the period.
    pub top_failing_tasks: Vec<FailingTask>,
    /// The 10 accounts with the most failures in the period.
    pub top_failing_accounts: Vec<FailingAccount>,
    /// The queue at the time of the request.
    pub queue_now: QueueNow,
}

/// Platform analytics per day (admins).
#[utoipa::path(get, path = "/admin/analytics", tag = "admin", security(("bearer" = [])),
    params(AdminAnalyticsParams),
    responses(
        (status = 200, description = "The figures", body = AdminAnalytics),
        (status = 400, description = "Malformed query parameter", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "Unknown time zone, `to` not after `from`, or more than 92 days", body = Problem),
    ))]
async fn platform_analytics(
    axum::extract::State(db): axum::extract::State<PgPool>,
    _admin: RequireRole<Admin>,
    AppQuery(params): AppQuery<AdminAnalyticsParams>,
) -> Result<AppJson<AdminAnalytics>, AppError> {
    let period = Period::parse(
        &AnalyticsParams {
            from: params.from,
            to: params.to,
            tz: params.tz,
            bucket: Some(Bucket::Day),
            week_start: None,
        },
        Utc::now(),
        true,
    )?;
    if period.to - period.from > Duration::days(MAX_DAYS) {
        return Err(AppError::invalid_field(
            "query.from",
            format!("the period may cover at most {MAX_DAYS} days"),
        ));
    }
    Ok(AppJson(compute(&db, &period).await?))
}

/// The figures of `period` (day buckets).
pub async fn compute(db: &PgPool, period: &Period) -> Result<AdminAnalytics, sqlx::Error> {
    let tz = period.tz_name();
    let rows = sqlx::query!(
        r#"WITH days AS (
               SELECT b AS local_start,
                      b AT TIME ZONE $3 AS start_at,
                      (b + interval '1 day') AT TIME ZONE $3 AS end_at
               FROM generate_series(date_trunc('day', $1::timestamptz AT TIME ZONE $3),
                                    $2::timestamptz AT TIME ZONE $3,
                                    interval '1 day') AS b
               WHERE b < ($2::timestamptz AT TIME ZONE $3)
           ),
           runs AS (
               SELECT date_trunc('day', queued_at AT TIME ZONE $3) AS local_start,
                      count(*) AS total,
                      count(*) FILTER (WHERE status = 'QUEUED') AS queued,
                      count(*) FILTER (WHERE status = 'RUNNING') AS running,
                      count(*) FILTER (WHERE status = 'SUCCEEDED') AS succeeded,
                      count(*) FILTER (WHERE status = 'FAILED') AS failed,
                      count(*) FILTER (WHERE status = 'DEAD') AS dead,
                      count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled,
                      count(*) FILTER (WHERE status = 'TIMED_OUT') AS timed_out,
                      percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS duration_p95,
                      percentile_cont(0.95) WITHIN GROUP (ORDER BY lateness_ms) AS lateness_p95
               FROM executions
               WHERE queued_at >= $1 AND queued_at < $2
               GROUP BY 1
           )
           SELECT d.local_start AS "local_start!", d.start_at AS "start_at!",
                  (SELECT count(*) FROM users u
                   WHERE u.created_at < d.end_at
                     AND (u.deleted_at IS NULL OR u.deleted_at >= d.end_at)) AS "users_total!",
                  (SELECT count(*) FROM users u
                   WHERE u.created_at >= d.start_at AND u.created_at < d.end_at) AS "users_new!",
                  (SELECT count(*) FROM (
                       SELECT e.owner_id FROM executions e
                       WHERE e.queued_at >= GREATEST(d.start_at, $1)
                         AND e.queued_at < LEAST(d.end_at, $2)
                       UNION
                       SELECT u.id FROM users u
                       WHERE u.last_login_at >= d.start_at AND u.last_login_at < d.end_at
                       UNION
                       SELECT s.user_id FROM sessions s
                       WHERE s.created_at >= d.start_at AND s.created_at < d.end_at
                   ) AS a) AS "users_active!",
                  (SELECT count(*) FROM executions e
                   WHERE e.queued_at < d.end_at AND e.queued_at >= d.start_at - interval '30 days'
                     AND (e.started_at IS NULL OR e.started_at >= d.end_at)
                     AND (e.finished_at IS NULL OR e.finished_at >= d.end_at)) AS "queue_depth!",
                  COALESCE(r.total, 0) AS "total!",
                  COALESCE(r.queued, 0) AS "queued!",
                  COALESCE(r.running, 0) AS "running!",
                  COALESCE(r.succeeded, 0) AS "succeeded!",
                  COALESCE(r.failed, 0) AS "failed!",
                  COALESCE(r.dead, 0) AS "dead!",
                  COALESCE(r.cancelled, 0) AS "cancelled!",
                  COALESCE(r.timed_out, 0) AS "timed_out!",
                  r.duration_p95 AS "duration_p95?",
                  r.lateness_p95 AS "lateness_p95?"
           FROM days d LEFT JOIN runs r USING (local_start)
           ORDER BY d.local_start"#,
        period.from,
        period.to,
        tz
    )
    .fetch_all(db)
    .await?;
    let days = rows
        .into_iter()
        .map(|row| {
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
            AdminDay {
                start: row.start_at,
                date: row.local_start.format("%Y-%m-%d").to_string(),
                users: UserFigures {
                    total: row.users_total,
                    new: row.users_new,
                    active: row.users_active,
                },
                success_rate: executions.success_rate(),
                executions,
                duration_p95_ms: row.duration_p95,
                lateness_p95_ms: row.lateness_p95,
                queue_depth: row.queue_depth,
            }
        })
        .collect();
    let top_failing_tasks = sqlx::query_as!(
        FailingTask,
        r#"SELECT e.task_id, t.name, t.owner_id, count(*) AS "failures!"
           FROM executions e JOIN tasks t ON t.id = e.task_id
           WHERE e.queued_at >= $1 AND e.queued_at < $2
             AND e.status IN ('FAILED', 'DEAD', 'TIMED_OUT')
           GROUP BY e.task_id, t.name, t.owner_id
           ORDER BY count(*) DESC, e.task_id
           LIMIT $3"#,
        period.from,
        period.to,
        TOP
    )
    .fetch_all(db)
    .await?;
    let top_failing_accounts = sqlx::query_as!(
        FailingAccount,
        r#"SELECT u.id AS user_id, u.email::text AS "email!", count(*) AS "failures!"
           FROM executions e JOIN users u ON u.id = e.owner_id
           WHERE e.queued_at >= $1 AND e.queued_at < $2
             AND e.status IN ('FAILED', 'DEAD', 'TIMED_OUT')
           GROUP BY u.id, u.email
           ORDER BY count(*) DESC, u.id
           LIMIT $3"#,
        period.from,
        period.to,
        TOP
    )
    .fetch_all(db)
    .await?;
    let queue_now = sqlx::query_as!(
        QueueNow,
        r#"SELECT count(*) FILTER (WHERE status = 'QUEUED') AS "queued!",
                  count(*) FILTER (WHERE status = 'RUNNING') AS "running!"
           FROM executions WHERE status IN ('QUEUED', 'RUNNING')"#
    )
    .fetch_one(db)
    .await?;
    Ok(AdminAnalytics {
        from: period.from,
        to: period.to,
        tz: tz.to_owned(),
        days,
        top_failing_tasks,
        top_failing_accounts,
        queue_now,
    })
}
