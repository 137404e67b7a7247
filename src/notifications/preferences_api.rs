//! `GET/PUT /notifications/preferences` and `GET /notifications/preferences/effective` (and
//! under `/api/v1`): your notification preferences, and what they resolve to for every type
//! and channel with the setting that decided it.

use axum::extract::State;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    model::{Channel, NotificationType},
    preferences::{self, Preferences, Source},
};
use crate::{
    auth::{Caller, Scope},
    error::{AppResult, Problem},
    http::AppJson,
    state::AppState,
};

/// Routes of this file, relative to `/notifications`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_preferences, put_preferences))
        .routes(routes!(effective_preferences))
}

/// One resolved value.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectiveSetting {
    /// The type.
    #[serde(rename = "type")]
    pub kind: NotificationType,
    /// The channel.
    pub channel: Channel,
    /// Whether this type goes out on this channel.
    pub enabled: bool,
    /// Which setting decided it.
    pub source: Source,
}

/// Every type and channel, resolved.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectivePreferences {
    /// One entry per type and channel.
    pub settings: Vec<EffectiveSetting>,
    /// Quiet hours, if set (critical types ignore them).
    pub quiet_hours: Option<preferences::QuietHours>,
}

/// Your notification preferences (the defaults when you have set none).
#[utoipa::path(get, path = "/preferences", tag = "notifications", security(("bearer" = [])),
    responses(
        (status = 200, description = "Your preferences", body = Preferences),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:read`", body = Problem),
    ))]
async fn get_preferences(
    State(db): State<PgPool>,
    caller: Caller,
) -> AppResult<AppJson<Preferences>> {
    caller.require(Scope::NotificationsRead)?;
    let mut conn = db.acquire().await?;
    Ok(AppJson(
        preferences::load(&mut conn, caller.owner_id()).await?,
    ))
}

/// Replace your notification preferences. A critical type's email cannot be turned off, and
/// `IN_APP` is always on.
#[utoipa::path(put, path = "/preferences", tag = "notifications", security(("bearer" = [])),
    request_body = Preferences,
    responses(
        (status = 200, description = "The preferences as stored", body = Preferences),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:write`", body = Problem),
        (status = 422, description = "An invalid setting, named (`types[2].channel`, `quiet_hours.timezone`, …)", body = Problem),
    ))]
async fn put_preferences(
    State(db): State<PgPool>,
    caller: Caller,
    AppJson(body): AppJson<Preferences>,
) -> AppResult<AppJson<Preferences>> {
    caller.require(Scope::NotificationsWrite)?;
    body.validate()?;
    let settings = serde_json::to_value(&body).map_err(crate::error::AppError::internal)?;
    sqlx::query!(
        "INSERT INTO notification_preferences (user_id, settings) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = now()",
        caller.owner_id(),
        settings
    )
    .execute(&db)
    .await?;
    Ok(AppJson(body))
}

/// What your preferences resolve to for every type and channel, and which setting decided
/// each: critical, then per type, per category, per channel, then the default.
#[utoipa::path(get, path = "/preferences/effective", tag = "notifications", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every type and channel, resolved", body = EffectivePreferences),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:read`", body = Problem),
    ))]
async fn effective_preferences(
    State(db): State<PgPool>,
    caller: Caller,
) -> AppResult<AppJson<EffectivePreferences>> {
    caller.require(Scope::NotificationsRead)?;
    let mut conn = db.acquire().await?;
    let prefs = preferences::load(&mut conn, caller.owner_id()).await?;
    let settings = NotificationType::ALL
        .iter()
        .flat_map(|kind| Channel::ALL.iter().map(move |channel| (*kind, *channel)))
        .map(|(kind, channel)| {
            let (enabled, source) = prefs.resolve(kind, channel);
            EffectiveSetting {
                kind,
                channel,
                enabled,
                source,
            }
        })
        .collect();
    Ok(AppJson(EffectivePreferences {
        settings,
        quiet_hours: prefs.quiet_hours,
    }))
}
