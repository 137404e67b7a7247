//! `GET /admin/system`: the configuration with secrets masked ([`super::config_view`]), the
//! version, the migrations applied to the database and the live instances with their roles
//! and last heartbeat ([`super::instances`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    config_view::{self, ConfigEntry},
    instances::{self, InstanceOut},
};
use crate::{
    auth::{Admin, RequireRole},
    config::Settings,
    error::{AppError, Problem},
    http::AppJson,
    state::AppState,
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(system))
}

/// A migration applied to the database.
#[derive(Debug, Serialize, ToSchema)]
pub struct MigrationOut {
    /// Its version (the file's prefix).
    pub version: i64,
    /// Its description (the file's name).
    pub description: String,
    /// When it was applied.
    pub installed_on: DateTime<Utc>,
    /// Whether it succeeded.
    pub success: bool,
}

/// The system as an admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemOut {
    /// The server's version.
    pub version: String,
    /// The instance that answered.
    pub instance_id: String,
    /// The settings in effect, secrets masked.
    pub config: Vec<ConfigEntry>,
    /// Migrations applied, oldest first.
    pub migrations: Vec<MigrationOut>,
    /// Instances heard from in the last minute.
    pub instances: Vec<InstanceOut>,
}

/// Configuration (secrets masked), version, migrations and live instances (admins).
#[utoipa::path(get, path = "/admin/system", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "The system", body = SystemOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
    ))]
async fn system(
    axum::extract::State(db): axum::extract::State<PgPool>,
    axum::extract::State(settings): axum::extract::State<Arc<Settings>>,
    axum::extract::State(state): axum::extract::State<AppState>,
    _admin: RequireRole<Admin>,
) -> Result<AppJson<SystemOut>, AppError> {
    let migrations = sqlx::query_as!(
        MigrationOut,
        "SELECT version, description, installed_on, success FROM _sqlx_migrations ORDER BY version"
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(SystemOut {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        instance_id: state.instance_id.to_string(),
        config: config_view::view(&settings),
        migrations,
        instances: instances::live(&db).await?,
    }))
}
