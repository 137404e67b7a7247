//! `GET /analytics/dashboard` (and `/api/v1/analytics/dashboard`): the summary's figures as
//! time series, one point per bucket of the caller's calendar.
//!
//! Buckets are cut in the requested time zone with PostgreSQL
//! (`date_trunc(bucket, queued_at AT TIME ZONE tz)`), so a day is midnight to midnight
//! there (23 or 25 hours across a DST change) and a UTC+8 user's day starts at 16:00 UTC.
//! Week buckets start on `week_start`: the local time is shifted so that day falls on a
//! Monday, truncated, and shifted back. Every bucket of the period is present, empty ones
//! with zeros; the first and last may be partial (they are cut at `from` and `to`).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    figures::{ExecutionCounts, Percentiles},
    period::{AnalyticsParams, Bucket, Period, WeekStart},
};
use crate::{
    auth::{Caller, Scope},
    error::{AppResult, Problem},
    http::{AppJson, AppQuery},
    state::AppState,
};

/// Routes of this file, relative to `/analytics`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dashboard))
}

/// One bucket's figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeriesPoint {
    /// When the bucket starts.
    pub start: DateTime<Utc>,
    /// The same instant on the wall clock of `tz` (`YYYY-MM-DDTHH:MM:SS`).
    #[schema(example = "2026-03-29T00:00:00")]
    pub local_start: String,
    /// Executions queued in the bucket, by status.
    pub executions: ExecutionCounts,
    /// Share of ended executions that succeeded (0–1), `null` when none ended.
    pub success_rate: Option<f64>,
    /// Run time, in milliseconds.
    pub duration_ms: Percentiles,
    /// How late executions started, in milliseconds.
    pub lateness_ms: Percentiles,
    /// Tasks with at least one execution in the bucket.
    pub active_tasks: i64,
    /// Notifications sent to you in the bucket.
    pub notifications_sent: i64,
}

/// A period as a time series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnalyticsSeries {
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub to: DateTime<Utc>,
    /// The time zone buckets follow.
    #[schema(example = "Europe/Berlin")]
    pub tz: String,
    /// The bucket width.
    pub bucket: Bucket,
    /// The first day of week buckets.
    pub week_start: WeekStart,
    /// One point per bucket, oldest first.
    pub points: Vec<SeriesPoint>,
}

/// Your executions and notifications over a period, bucketed in your time zone.
#[utoipa::path(get, path = "/dashboard", tag = "analytics", security(("bearer" = [])),
    params(AnalyticsParams),
    responses(
        (status = 200, description = "One point per bucket", body = AnalyticsSeries),
        (status = 400, description = "A parameter does not parse (`from`, `to`, `bucket`, `week_start`)", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `analytics:read`", body = Problem),
        (status = 422, description = "`tz` is not an IANA time zone, `to` is not after `from`, the period is longer than 400 days, or it would make more than 1000 buckets", body = Problem),
    ))]
async fn dashboard(
    State(db): State<PgPool>,
    caller: Caller,
    AppQuery(params): AppQuery<AnalyticsParams>,
) -> AppResult<AppJson<AnalyticsSeries>> {
    caller.require(Scope::AnalyticsRead)?;
    let period = Period::parse(&params, Utc::now(), true)?;
    Ok(AppJson(series(&db, caller.owner_id(), &period).await?))
}

/// The series of `period` for `owner_id`.
pub async fn series(
    db: &PgPool,
    owner_id: Uuid,
    period: &Period,
) -> Result<AnalyticsSeries, sqlx::Error> {
    let rows = sqlx::query!(
        r#"WITH buckets AS (
               SELECT b AS local_start
               FROM generate_series(
                        date_trunc($4, ($2::timestamptz AT TIME ZONE $5) + make_interval(days => $6))
                          - make_interval(days => $6),
                        $3::timestamptz AT TIME ZONE $5,
                        $7::text::interval) AS b
               WHERE b < ($3::timestamptz AT TIME ZONE $5)
           ),
           runs AS (
               SELECT date_trunc($4, (queued_at AT TIME ZONE $5) + make_interval(days => $6))
                        - make_interval(days => $6) AS local_start,
                      count(*) AS total,
                      count(*) FILTER (WHERE status = 'QUEUED') AS queued,
                      count(*) FILTER (WHERE status = 'RUNNING') AS running,
                      count(*) FILTER (WHERE status = 'SUCCEEDED') AS succeeded,
                      count(*) FILTER (WHERE status = 'FAILED') AS failed,
                      count(*) FILTER (WHERE status = 'DEAD') AS dead,
                      count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled,
                      count(*) FILTER (WHERE status = 'TIMED_OUT') AS timed_out,
                      percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[])
                        WITHIN GROUP (ORDER BY duration_ms) AS duration,
                      percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[])
                        WITHIN GROUP (ORDER BY lateness_ms) AS lateness,
                      count(DISTINCT task_id) AS active_tasks
               FROM executions
               WHERE owner_id = $1 AND queued_at >= $2 AND queued_at < $3
               GROUP BY 1
           ),
           sent AS (
               SELECT date_trunc($4, (created_at AT TIME ZONE $5) + make_interval(days => $6))
                        - make_interval(days => $6) AS local_start,
                      count(*) AS notifications
               FROM notifications
               WHERE user_id = $1 AND created_at >= $2 AND created_at < $3
               GROUP BY 1
           )
           SELECT b.local_start AS "local_start!",
                  (b.local_start AT TIME ZONE $5) AS "start!",
                  COALESCE(r.total, 0) AS "total!",
                  COALESCE(r.queued, 0) AS "queued!",
                  COALESCE(r.running, 0) AS "running!",
                  COALESCE(r.succeeded, 0) AS "succeeded!",
                  COALESCE(r.failed, 0) AS "failed!",
                  COALESCE(r.dead, 0) AS "dead!",
                  COALESCE(r.cancelled, 0) AS "cancelled!",
                  COALESCE(r.timed_out, 0) AS "timed_out!",
                  r.duration AS "duration?",
                  r.lateness AS "lateness?",
                  COALESCE(r.active_tasks, 0) AS "active_tasks!",
                  COALESCE(s.notifications, 0) AS "notifications_sent!"
           FROM buckets b
           LEFT JOIN runs r USING (local_start)
           LEFT JOIN sent s USING (local_start)
           ORDER BY b.local_start"#,
        owner_id,
        period.from,
        period.to,
        period.bucket.as_str(),
        period.tz_name(),
        period.week_shift_days(),
        period.step()
    )
    .fetch_all(db)
    .await?;
    let points = rows
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
            SeriesPoint {
                start: row.start,
                local_start: row.local_start.format("%Y-%m-%dT%H:%M:%S").to_string(),
                success_rate: executions.success_rate(),
                executions,
                duration_ms: Percentiles::from_array(row.duration),
                lateness_ms: Percentiles::from_array(row.lateness),
                active_tasks: row.active_tasks,
                notifications_sent: row.notifications_sent,
            }
        })
        .collect();
    Ok(AnalyticsSeries {
        from: period.from,
        to: period.to,
        tz: period.tz_name().to_owned(),
        bucket: period.bucket,
        week_start: period.week_start,
        points,
    })
}
