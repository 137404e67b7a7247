//! The heartbeat of running instances: each process records its id, roles and version in
//! `instances` at start-up and refreshes it every [`HEARTBEAT`], so `GET /admin/system` can
//! list the live ones; the row is removed at a clean shutdown.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use utoipa::ToSchema;

use crate::config::Settings;

/// How often an instance refreshes its row.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// An instance silent for longer than this is not listed as live.
pub const LIVE_WITHIN_SECONDS: i32 = 60;

/// A live instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceOut {
    /// `hostname-pid-random`.
    pub id: String,
    /// What it runs: `api`, `scheduler`, `worker`, `notifications`.
    pub roles: Vec<String>,
    /// Its version.
    pub version: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub last_heartbeat_at: DateTime<Utc>,
}

/// The roles the settings give this process.
pub fn roles(settings: &Settings) -> Vec<String> {
    let mut roles = vec!["api".to_owned()];
    if settings.scheduler_enabled {
        roles.push("scheduler".to_owned());
    }
    if settings.workers_enabled {
        roles.push("worker".to_owned());
    }
    if settings.notifications_enabled {
        roles.push("notifications".to_owned());
    }
    roles
}

async fn beat(db: &PgPool, id: &str, roles: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO instances (id, roles, version) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET roles = $2, last_heartbeat_at = now()",
        id,
        roles,
        env!("CARGO_PKG_VERSION")
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records this instance now and refreshes it until `shutdown`, then removes its row.
pub async fn start(
    db: PgPool,
    id: String,
    roles: Vec<String>,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<(), sqlx::Error> {
    beat(&db, &id, &roles).await?;
    tasks.spawn(async move {
        let mut ticker = tokio::time::interval(HEARTBEAT);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {
                    if let Err(err) = beat(&db, &id, &roles).await {
                        tracing::warn!(error = %err, "instance heartbeat failed");
                    }
                }
            }
        }
        if let Err(err) = sqlx::query!("DELETE FROM instances WHERE id = $1", id)
            .execute(&db)
            .await
        {
            tracing::warn!(error = %err, "could not remove this instance's row");
        }
    });
    Ok(())
}

/// The instances heard from within [`LIVE_WITHIN_SECONDS`], oldest first.
pub async fn live(db: &PgPool) -> Result<Vec<InstanceOut>, sqlx::Error> {
    sqlx::query_as!(
        InstanceOut,
        "SELECT id, roles, version, started_at, last_heartbeat_at FROM instances
         WHERE last_heartbeat_at > now() - make_interval(secs => $1)
         ORDER BY started_at, id",
        f64::from(LIVE_WITHIN_SECONDS)
    )
    .fetch_all(db)
    .await
}

/// Removes the rows of instances silent for a day (crashed ones); returns how many.
pub async fn forget_silent(db: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query!("DELETE FROM instances WHERE last_heartbeat_at < now() - interval '1 day'")
            .execute(db)
            .await?
            .rows_affected(),
    )
}
