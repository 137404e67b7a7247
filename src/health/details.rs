//! `GET /health/details`: every dependency and loop of this instance in one report, for
//! administrators and monitoring (an admin's access token, or `METRICS_TOKEN`).
//!
//! External services that fail (the SMTP relay, Stripe, Redis) make the report `degraded`,
//! never down: the server keeps serving without them. A database that does not answer is
//! `degraded` too; `/health/ready` is what takes an instance out of a load balancer.

use std::time::{Duration, Instant};

use axum::{
    extract::{FromRef, FromRequestParts, State},
    http::{header, request::Parts},
    response::IntoResponse,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    BUILD_COMMIT, Health, HealthState, VERSION,
    probes::{ServiceCheck, ServiceStatus},
    process, scrape,
};
use crate::{
    auth::{AuthState, CurrentUser, Role},
    error::{AppError, Problem},
    http::AppJson,
    realtime::RealtimeHealth,
    scheduler::liveness,
};

/// The caller of the details page: an admin, or a request bearing `METRICS_TOKEN`.
pub struct AdminOrMetricsToken;

impl<S> FromRequestParts<S> for AdminOrMetricsToken
where
    S: Send + Sync,
    AuthState: FromRef<S>,
    HealthState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let health = HealthState::from_ref(state);
        if health.settings.exposure.metrics_token.is_some()
            && scrape::bears_metrics_token(&health, &parts.headers)
        {
            return Ok(AdminOrMetricsToken);
        }
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.role.includes(Role::Admin) {
            Ok(AdminOrMetricsToken)
        } else {
            Err(AppError::forbidden(
                "the health details are for administrators (or METRICS_TOKEN)",
            ))
        }
    }
}

/// The database as this instance sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseDetail {
    /// `ok`, or `degraded` when no connection answered within 2 seconds.
    pub status: ServiceStatus,
    /// Round trip of a ping on a pooled connection, in milliseconds (including the wait
    /// for a free connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Why the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Connections the pool may open (`DATABASE_MAX_CONNECTIONS`).
    pub pool_max: u32,
    /// Connections open now.
    pub pool_size: u32,
    /// Open connections waiting for work.
    pub pool_idle: u32,
    /// Open connections in use.
    pub pool_in_use: u32,
}

/// The Redis link of the realtime gateway.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedisDetail {
    /// `ok`, `degraded` (configured and unreachable: events reach this instance's sockets
    /// only) or `not_configured`.
    pub status: ServiceStatus,
}

/// The inbound SMTP listener (email triggers).
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundSmtpDetail {
    /// Whether `INBOUND_SMTP_ADDR` is set.
    pub enabled: bool,
    /// The address it listens on, once bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listening_on: Option<String>,
}

/// One of the engine's loops on this instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoopDetail {
    /// Whether the role flag runs it here (`SCHEDULER_ENABLED`, `WORKERS_ENABLED`).
    pub enabled: bool,
    /// When it last went round (a dispatcher tick, a worker poll of the queue); absent
    /// before the first.
    pub last_tick_at: Option<DateTime<Utc>>,
    /// Seconds since then.
    pub seconds_since_last_tick: Option<f64>,
}

/// The execution queue, over every instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueDetail {
    /// Executions waiting (`QUEUED`), due now or later.
    pub queued: i64,
    /// Queued executions already due.
    pub due: i64,
    /// Executions running.
    pub running: i64,
    /// Seconds the oldest due execution has waited.
    pub oldest_due_seconds: Option<f64>,
}

/// This process's memory.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemoryDetail {
    /// Resident set size, in bytes.
    pub rss_bytes: u64,
    /// Virtual memory size, in bytes.
    pub virtual_bytes: u64,
    /// OS threads.
    pub threads: u64,
    /// Open file descriptors.
    pub open_fds: u64,
}

/// `GET /health/details`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDetails {
    /// `ok`, or `degraded` when any check below is `degraded`.
    pub status: Health,
    /// The server version.
    pub version: &'static str,
    /// The commit the binary was built from, when known.
    pub commit: Option<&'static str>,
    /// This instance's id.
    pub instance_id: String,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// The database: reachability, round trip and the pool.
    pub database: DatabaseDetail,
    /// The outbound SMTP relay (`SMTP_URL`): a real connection with EHLO, cached 5 s.
    pub smtp_relay: ServiceCheck,
    /// Stripe's API address (`STRIPE_API_BASE`) when billing is configured: a TCP
    /// connection, cached 5 s.
    pub stripe: ServiceCheck,
    /// Redis (`REDIS_URL`), the realtime gateway's link.
    pub redis: RedisDetail,
    /// The inbound SMTP listener.
    pub inbound_smtp: InboundSmtpDetail,
    /// The dispatcher of this instance.
    pub scheduler: LoopDetail,
    /// The workers of this instance.
    pub workers: LoopDetail,
    /// The execution queue (absent when the database did not answer).
    pub queue: Option<QueueDetail>,
    /// This process's memory.
    pub memory: MemoryDetail,
}

/// Every dependency and loop of this instance: database and pool, SMTP relay, Stripe,
/// Redis, inbound SMTP, scheduler, workers, queue, memory, uptime and version.
///
/// For an admin's access token, or `Authorization: Bearer <METRICS_TOKEN>` when that is set.
/// Failing external services show as `degraded`; the answer is 200 either way.
#[utoipa::path(get, path = "/health/details", tag = "health",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report; `status` is `degraded` when any check is", body = HealthDetails),
        (status = 401, description = "No valid access token (nor METRICS_TOKEN)", body = Problem),
        (status = 403, description = "Signed in, but not an administrator", body = Problem),
    ))]
pub(super) async fn details(
    State(state): State<HealthState>,
    _caller: AdminOrMetricsToken,
) -> impl IntoResponse {
    let (database, smtp_relay, stripe, queue) = tokio::join!(
        database(&state),
        state.probes.smtp(state.mailer.as_ref()),
        state.probes.stripe(
            state
                .settings
                .billing
                .enabled()
                .then_some(state.settings.billing.stripe_api_base.as_str())
        ),
        queue(&state),
    );
    let redis = RedisDetail {
        status: match state.realtime.health() {
            RealtimeHealth::Local => ServiceStatus::NotConfigured,
            RealtimeHealth::Ok => ServiceStatus::Ok,
            RealtimeHealth::Degraded => ServiceStatus::Degraded,
        },
    };
    let degraded = [
        database.status,
        smtp_relay.status,
        stripe.status,
        redis.status,
    ]
    .contains(&ServiceStatus::Degraded);
    let beats = liveness::beats(&state.instance_id);
    let stats = process::snapshot();
    let body = HealthDetails {
        status: if degraded {
            Health::Degraded
        } else {
            Health::Ok
        },
        version: VERSION,
        commit: BUILD_COMMIT,
        instance_id: state.instance_id.to_string(),
        uptime_seconds: state.started_at.elapsed().as_secs(),
        database,
        smtp_relay,
        stripe,
        redis,
        inbound_smtp: InboundSmtpDetail {
            enabled: state.settings.triggers.inbound_smtp_addr.is_some(),
            listening_on: state.triggers.smtp_addr().map(|addr| addr.to_string()),
        },
        scheduler: loop_detail(state.settings.scheduler_enabled, beats.dispatcher_tick),
        workers: loop_detail(state.settings.workers_enabled, beats.worker_poll),
        queue,
        memory: MemoryDetail {
            rss_bytes: stats.rss_bytes,
            virtual_bytes: stats.virtual_bytes,
            threads: stats.threads,
            open_fds: stats.open_fds,
        },
    };
    ([(header::CACHE_CONTROL, "no-store")], AppJson(body))
}

fn loop_detail(enabled: bool, last: Option<DateTime<Utc>>) -> LoopDetail {
    LoopDetail {
        enabled,
        last_tick_at: last,
        seconds_since_last_tick: last
            .map(|at| (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0),
    }
}

async fn database(state: &HealthState) -> DatabaseDetail {
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(2), async {
        let mut conn = state.db.acquire().await?;
        sqlx::Connection::ping(&mut *conn).await
    })
    .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(super::describe_db_error(&err)),
        Err(_) => Some("no answer within 2 s".to_owned()),
    };
    let size = state.db.size();
    let idle = u32::try_from(state.db.num_idle()).unwrap_or(u32::MAX);
    DatabaseDetail {
        status: if error.is_none() {
            ServiceStatus::Ok
        } else {
            ServiceStatus::Degraded
        },
        latency_ms: error.is_none().then_some(latency_ms),
        error,
        pool_max: state.db.options().get_max_connections(),
        pool_size: size,
        pool_idle: idle,
        pool_in_use: size.saturating_sub(idle),
    }
}

async fn queue(state: &HealthState) -> Option<QueueDetail> {
    let counts = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query!(
            r#"SELECT count(*) FILTER (WHERE status = 'QUEUED') AS "queued!",
                      count(*) FILTER (WHERE status = 'QUEUED' AND run_after <= now()) AS "due!",
                      count(*) FILTER (WHERE status = 'RUNNING') AS "running!",
                      EXTRACT(EPOCH FROM now() - min(run_after) FILTER
                          (WHERE status = 'QUEUED' AND run_after <= now()))::float8 AS oldest_due
               FROM executions WHERE status IN ('QUEUED', 'RUNNING')"#
        )
        .fetch_one(&state.db),
    )
    .await;
    let row = counts.ok()?.ok()?;
    Some(QueueDetail {
        queued: row.queued,
        due: row.due,
        running: row.running,
        oldest_due_seconds: row.oldest_due,
    })
}
