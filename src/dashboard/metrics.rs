//! `GET /dashboard/metrics`: the live figures, the same the realtime `dashboard.metrics`
//! event carries.

use axum::extract::State;
use sqlx::PgPool;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    live,
    scope::{ScopeParams, owner_filter},
};
use crate::{
    auth::Caller,
    error::{AppError, AppResult, Problem},
    http::{AppJson, AppQuery},
    realtime::events::DashboardMetrics,
    state::AppState,
};

/// Routes of this file, relative to `/dashboard`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dashboard_metrics))
}

/// What runs and waits now, throughput over the last 5 minutes, p99 start lateness over
/// the last hour, and the last hour minute by minute.
#[utoipa::path(get, path = "/metrics", tag = "dashboard", security(("bearer" = [])),
    params(ScopeParams),
    responses(
        (status = 200, description = "The live figures", body = DashboardMetrics),
        (status = 400, description = "`scope` is neither `user` nor `system`", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "`scope=system` without the ADMIN or SUPER_ADMIN role", body = Problem),
    ))]
async fn dashboard_metrics(
    State(db): State<PgPool>,
    caller: Caller,
    AppQuery(params): AppQuery<ScopeParams>,
) -> AppResult<AppJson<DashboardMetrics>> {
    let metrics = match owner_filter(&caller, params.scope)? {
        None => live::compute(&db, true, &[]).await?.system,
        Some(owner) => live::compute(&db, false, &[owner])
            .await?
            .users
            .remove(&owner),
    };
    metrics
        .map(AppJson)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("live figures missing their scope")))
}
