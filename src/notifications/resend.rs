//! `POST /notifications/{id}/resend` (and under `/api/v1`): sends a notification again on
//! each channel whose last delivery failed (`UNDELIVERED` or `BOUNCED`). The failed delivery
//! keeps its status; the resend is a new delivery of the next `generation`, queued for the
//! delivery worker. A notification is resent at most [`MAX_RESENDS`] times per channel.

use axum::{extract::State, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    Notifier,
    model::{Channel, DeliveryStatus, initial_status},
    routes::DeliveryOut,
};
use crate::{
    auth::{Caller, Scope},
    db::channels::NOTIFICATION_DELIVERIES,
    error::{AppError, AppResult, Problem},
    http::{AppJson, AppPath},
    state::AppState,
};

/// Resends one channel of a notification may get.
pub const MAX_RESENDS: i16 = 3;

/// Routes of this file, relative to `/notifications`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(resend))
}

/// Send a notification again on each channel whose last delivery failed.
#[utoipa::path(post, path = "/{id}/resend", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The notification")),
    responses(
        (status = 202, description = "The new deliveries, queued (or `NOT_SENT` when the channel is no longer set up)", body = [DeliveryOut]),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:write`", body = Problem),
        (status = 404, description = "No such notification of yours", body = Problem),
        (status = 409, description = "No delivery of it failed, or each failed one was resent 3 times already", body = Problem),
    ))]
async fn resend(
    State(state): State<Notifier>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(StatusCode, AppJson<Vec<DeliveryOut>>)> {
    caller.require(Scope::NotificationsWrite)?;
    let mut tx = state.db.begin().await?;
    // Locks the notification, so two resends at once cannot both add a generation.
    sqlx::query_scalar!(
        "SELECT id FROM notifications
         WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL FOR UPDATE",
        id,
        caller.owner_id()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("notification"))?;
    // The latest delivery of each channel (and webhook endpoint still set up).
    let latest = sqlx::query!(
        r#"SELECT DISTINCT ON (channel, endpoint_id)
                  channel AS "channel: Channel", endpoint_id, status AS "status: DeliveryStatus",
                  generation
           FROM notification_deliveries
           WHERE notification_id = $1 AND channel <> 'IN_APP'
             AND (channel <> 'WEBHOOK' OR endpoint_id IS NOT NULL)
           ORDER BY channel, endpoint_id, generation DESC"#,
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    let failed: Vec<_> = latest
        .iter()
        .filter(|d| {
            matches!(
                d.status,
                DeliveryStatus::Undelivered | DeliveryStatus::Bounced
            )
        })
        .collect();
    if failed.is_empty() {
        return Err(AppError::conflict(
            "no delivery of this notification failed, so there is nothing to resend",
        ));
    }
    let again: Vec<_> = failed
        .into_iter()
        .filter(|d| d.generation < MAX_RESENDS)
        .collect();
    if again.is_empty() {
        return Err(AppError::conflict(format!(
            "each failed delivery of this notification was resent {MAX_RESENDS} times already"
        )));
    }
    let email_ready = state.mailer.is_some();
    let mut ids = Vec::with_capacity(again.len());
    let mut channels = Vec::with_capacity(again.len());
    let mut endpoints = Vec::with_capacity(again.len());
    let mut statuses = Vec::with_capacity(again.len());
    let mut errors = Vec::with_capacity(again.len());
    let mut generations = Vec::with_capacity(again.len());
    for delivery in &again {
        let (status, error) = initial_status(delivery.channel, email_ready);
        ids.push(Uuid::now_v7());
        channels.push(delivery.channel.as_str().to_owned());
        endpoints.push(delivery.endpoint_id);
        statuses.push(status.as_str().to_owned());
        errors.push(error.unwrap_or_default().to_owned());
        generations.push(delivery.generation + 1);
    }
    let added = sqlx::query_as!(
        DeliveryOut,
        r#"INSERT INTO notification_deliveries
               (id, notification_id, channel, endpoint_id, status, last_error, generation)
           SELECT d.id, $1, d.channel, d.endpoint_id, d.status, NULLIF(d.error, ''), d.generation
           FROM UNNEST($2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::int2[])
                AS d(id, channel, endpoint_id, status, error, generation)
           RETURNING channel AS "channel: Channel", status AS "status: DeliveryStatus",
                     attempts, last_error, sent_at, delivered_at, updated_at, generation,
                     opened_at, clicked_at"#,
        id,
        &ids,
        &channels,
        &endpoints as &[Option<Uuid>],
        &statuses,
        &errors,
        &generations
    )
    .fetch_all(&mut *tx)
    .await?;
    if added.iter().any(|d| d.status == DeliveryStatus::Queued) {
        sqlx::query!("SELECT pg_notify($1, '')", NOTIFICATION_DELIVERIES)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, AppJson(added)))
}
