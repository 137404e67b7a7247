//! The live figures of the dashboard: what runs and waits now, the last hour's outcomes,
//! throughput over the last 5 minutes, p99 start lateness, and the last hour minute by
//! minute. One call computes them system-wide and for any number of users at once (two
//! queries over the active and last-hour executions, grouped by owner), so the realtime
//! ticker serves every subscriber of an instance with one computation per tick.

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::scope::DashboardScope;
use crate::realtime::events::{DashboardMetrics, MinuteFigures, PAYLOAD_VERSION};

/// Minutes in the per-minute series.
pub const SERIES_MINUTES: i64 = 60;

/// The figures of one tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveFigures {
    /// Every user's, when asked for.
    pub system: Option<DashboardMetrics>,
    /// Each requested user's own.
    pub users: HashMap<Uuid, DashboardMetrics>,
}

/// The figures system-wide (when `system`) and for each of `users`.
pub async fn compute(
    db: &PgPool,
    system: bool,
    users: &[Uuid],
) -> Result<LiveFigures, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT grouping(owner_id) = 1 AS "system!",
                  owner_id AS "owner_id?",
                  now() AS "at!",
                  count(*) FILTER (WHERE status = 'RUNNING') AS "running!",
                  count(*) FILTER (WHERE status = 'QUEUED') AS "queued!",
                  count(*) FILTER (WHERE status = 'SUCCEEDED'
                                   AND finished_at > now() - interval '1 hour') AS "succeeded!",
                  count(*) FILTER (WHERE status IN ('FAILED', 'DEAD', 'TIMED_OUT')
                                   AND finished_at > now() - interval '1 hour') AS "failed!",
                  count(*) FILTER (WHERE finished_at > now() - interval '5 minutes')
                    AS "finished_5m!",
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
                    FILTER (WHERE finished_at > now() - interval '1 hour') AS p95_duration,
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY lateness_ms)
                    FILTER (WHERE started_at > now() - interval '1 hour') AS p99_lateness,
                  COALESCE(EXTRACT(EPOCH FROM now() - min(scheduled_for)
                    FILTER (WHERE status = 'QUEUED' AND scheduled_for <= now())) * 1000, 0)::float8
                    AS "lag!"
           FROM executions
           WHERE (status IN ('RUNNING', 'QUEUED') OR finished_at > now() - interval '1 hour')
             AND ($1 OR owner_id = ANY($2))
           GROUP BY GROUPING SETS ((), (owner_id))
           HAVING (grouping(owner_id) = 1 AND $1) OR owner_id = ANY($2)"#,
        system,
        users
    )
    .fetch_all(db)
    .await?;
    let at = rows.first().map_or_else(Utc::now, |row| row.at);
    let series_from = at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
        - TimeDelta::minutes(SERIES_MINUTES - 1);
    let minutes = sqlx::query!(
        r#"SELECT grouping(owner_id) = 1 AS "system!",
                  owner_id AS "owner_id?",
                  date_trunc('minute', finished_at) AS "minute!",
                  count(*) AS "finished!",
                  count(*) FILTER (WHERE status = 'SUCCEEDED') AS "succeeded!",
                  count(*) FILTER (WHERE status IN ('FAILED', 'DEAD', 'TIMED_OUT')) AS "failed!"
           FROM executions
           WHERE finished_at >= $3 AND ($1 OR owner_id = ANY($2))
           GROUP BY GROUPING SETS ((date_trunc('minute', finished_at)),
                                   (owner_id, date_trunc('minute', finished_at)))
           HAVING (grouping(owner_id) = 1 AND $1) OR owner_id = ANY($2)"#,
        system,
        users,
        series_from
    )
    .fetch_all(db)
    .await?;
    let mut per_minute: HashMap<Option<Uuid>, HashMap<DateTime<Utc>, MinuteFigures>> =
        HashMap::new();
    for row in minutes {
        let key = if row.system { None } else { row.owner_id };
        per_minute.entry(key).or_default().insert(
            row.minute,
            MinuteFigures {
                minute: row.minute,
                finished: row.finished,
                succeeded: row.succeeded,
                failed: row.failed,
            },
        );
    }
    let series = |key: Option<Uuid>| {
        let found = per_minute.get(&key);
        (0..SERIES_MINUTES)
            .map(|i| {
                let minute = series_from + TimeDelta::minutes(i);
                found
                    .and_then(|m| m.get(&minute))
                    .cloned()
                    .unwrap_or(MinuteFigures {
                        minute,
                        finished: 0,
                        succeeded: 0,
                        failed: 0,
                    })
            })
            .collect::<Vec<_>>()
    };
    let idle = |scope: DashboardScope, key: Option<Uuid>| DashboardMetrics {
        v: PAYLOAD_VERSION,
        at,
        scope: scope.as_str().to_owned(),
        running: 0,
        queued: 0,
        succeeded_last_hour: 0,
        failed_last_hour: 0,
        p95_duration_ms: None,
        scheduler_lag_ms: Some(0.0),
        finished_last_5m: 0,
        throughput_per_minute: 0.0,
        p99_lateness_ms: None,
        per_minute: series(key),
    };
    let mut figures = LiveFigures {
        system: system.then(|| idle(DashboardScope::System, None)),
        users: users
            .iter()
            .map(|user| (*user, idle(DashboardScope::User, Some(*user))))
            .collect(),
    };
    for row in rows {
        let target = if row.system {
            figures.system.as_mut()
        } else {
            row.owner_id.and_then(|owner| figures.users.get_mut(&owner))
        };
        if let Some(metrics) = target {
            metrics.running = row.running;
            metrics.queued = row.queued;
            metrics.succeeded_last_hour = row.succeeded;
            metrics.failed_last_hour = row.failed;
            metrics.p95_duration_ms = row.p95_duration;
            metrics.scheduler_lag_ms = Some(row.lag);
            metrics.finished_last_5m = row.finished_5m;
            metrics.throughput_per_minute = row.finished_5m as f64 / 5.0;
            metrics.p99_lateness_ms = row.p99_lateness;
        }
    }
    Ok(figures)
}
