//! Liveness, readiness, status and Prometheus metrics.
//!
//! `/api/status` tells anyone the version and health only; the build, environment, uptime
//! and instance id (which names the host and process id) are for admins. `/health/details`
//! ([`details`]) reports every dependency and loop to admins and monitoring.

pub mod context;
pub mod details;
pub mod metrics;
pub mod probes;
pub mod process;
pub mod scrape;

use std::time::Duration;

use axum::{
    extract::{FromRef, FromRequestParts, State},
    http::{StatusCode, header, request::Parts},
    response::IntoResponse,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use context::HealthState;
pub use scrape::metrics_router;

use crate::{
    auth::{AuthState, CurrentUser, Role},
    db,
    error::{AppError, Problem},
    http::AppJson,
    state::AppState,
};

/// The crate version, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit the binary was built from, when the build set `NOCRON_BUILD_COMMIT`.
pub const BUILD_COMMIT: Option<&str> = option_env!("NOCRON_BUILD_COMMIT");

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(liveness))
        .routes(routes!(readiness))
        .routes(routes!(details::details))
        .routes(routes!(status))
        .routes(routes!(scrape::prometheus))
}

/// Liveness report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// Always `ok` while the process answers.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The server version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Resident memory of the process, in bytes.
    pub memory_rss_bytes: u64,
}

/// One readiness check.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessCheck {
    /// `database` or `migrations`.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Readiness report, the same shape for 200 and 503.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Every check and its outcome.
    pub checks: Vec<ReadinessCheck>,
    /// The realtime gateway's reach: `ok` (through Redis, every instance), `local` (no
    /// `REDIS_URL`), or `degraded` (Redis unreachable: events reach this instance's sockets
    /// only while it reconnects). Informational: it does not change `status`.
    pub realtime: crate::realtime::RealtimeHealth,
}

/// Whether the server can serve: `ok` when a database connection is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Serving normally.
    Ok,
    /// The database could not be reached in time.
    Degraded,
}

/// What `/api/status` tells anyone: the version and health; admins also get `detail`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerStatus {
    /// The server version.
    pub version: &'static str,
    /// Whether the server can serve.
    pub health: Health,
    /// Build and runtime facts, for admins only (absent for everyone else).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<StatusDetail>,
}

/// Build and runtime facts, shown to admins.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusDetail {
    /// Always `nocron`.
    pub name: &'static str,
    /// The commit the binary was built from, when known.
    pub commit: Option<&'static str>,
    /// `development`, `test` or `production`.
    pub environment: &'static str,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// This instance's id (host name, process id and a random suffix).
    pub instance_id: String,
}

/// The caller of a public route: nobody without an `Authorization` header; a header that
/// does not authenticate is a 401, never ignored.
pub struct MaybeUser(pub Option<CurrentUser>);

impl<S> FromRequestParts<S> for MaybeUser
where
    S: Send + Sync,
    AuthState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(MaybeUser(None));
        }
        CurrentUser::from_request_parts(parts, state)
            .await
            .map(|user| MaybeUser(Some(user)))
    }
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The process is alive", body = Liveness)))]
async fn liveness(State(state): State<HealthState>) -> AppJson<Liveness> {
    AppJson(Liveness {
        status: "ok",
        version: VERSION,
        uptime_seconds: state.started_at.elapsed().as_secs(),
        memory_rss_bytes: process::snapshot().rss_bytes,
    })
}

/// Readiness: the database is reachable and every migration is applied.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "A check failed; `checks` says which", body = Readiness),
    ))]
async fn readiness(State(state): State<HealthState>) -> impl IntoResponse {
    let outcome =
        tokio::time::timeout(Duration::from_secs(5), db::migration_state(&state.db)).await;
    let (database, migrations) = match outcome {
        Ok(Ok(db::MigrationState::UpToDate)) => (Ok(()), Ok(())),
        Ok(Ok(db::MigrationState::Pending(versions))) => {
            (Ok(()), Err(format!("pending migrations: {versions:?}")))
        }
        Ok(Err(err)) if is_missing_table(&err) => {
            (Ok(()), Err("migrations have not been applied".to_owned()))
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: database check failed");
            (
                Err(describe_db_error(&err)),
                Err("unknown: database unreachable".to_owned()),
            )
        }
        Err(_) => (
            Err("timed out after 5 s".to_owned()),
            Err("unknown: database unreachable".to_owned()),
        ),
    };
    let checks = vec![check("database", database), check("migrations", migrations)];
    let ready = checks.iter().all(|c| c.ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        checks,
        realtime: state.realtime.health(),
    };
    (status, [(header::CACHE_CONTROL, "no-store")], AppJson(body))
}

fn check(name: &'static str, result: Result<(), String>) -> ReadinessCheck {
    ReadinessCheck {
        name,
        ok: result.is_ok(),
        error: result.err(),
    }
}

fn is_missing_table(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01"))
}

/// A short, secret-free description of why the database is not usable.
fn describe_db_error(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::PoolTimedOut => "no connection could be opened in time".to_owned(),
        sqlx::Error::Io(_) => "connection refused or lost".to_owned(),
        sqlx::Error::Database(db) => format!("database error {}", db.code().unwrap_or_default()),
        _ => "unreachable".to_owned(),
    }
}

/// Version and health; admins also see the build, environment, uptime and instance.
#[utoipa::path(get, path = "/api/status", tag = "health",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Version and health; `detail` only for an admin's access token", body = ServerStatus),
        (status = 401, description = "An `Authorization` header was sent and is not a valid access token", body = Problem),
    ))]
async fn status(
    State(state): State<HealthState>,
    MaybeUser(user): MaybeUser,
) -> AppJson<ServerStatus> {
    // Checkouts are not tested by the pool, so the connection is pinged here.
    let reachable = tokio::time::timeout(Duration::from_secs(2), async {
        let mut conn = state.db.acquire().await?;
        sqlx::Connection::ping(&mut *conn).await
    })
    .await;
    let health = match reachable {
        Ok(Ok(())) => Health::Ok,
        _ => Health::Degraded,
    };
    let admin = user.is_some_and(|user| user.role.includes(Role::Admin));
    let detail = admin.then(|| StatusDetail {
        name: "nocron",
        commit: BUILD_COMMIT,
        environment: state.settings.environment.as_str(),
        uptime_seconds: state.started_at.elapsed().as_secs(),
        instance_id: state.instance_id.to_string(),
    });
    AppJson(ServerStatus {
        version: VERSION,
        health,
        detail,
    })
}
