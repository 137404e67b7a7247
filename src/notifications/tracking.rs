//! Open and click tracking of notification emails: `GET /t/o/{token}` answers a 1×1 pixel and
//! records `opened_at`, `GET /t/c/{token}` records `clicked_at` and redirects to the link the
//! notification carries. A token names one delivery and what it tracks, signed with a key
//! derived from the server's signing secret; the redirect target is read from the stored
//! notification, never from the request, so the endpoint cannot be used as an open redirect.
//! Tracking needs `PUBLIC_URL` (the address the links in an email lead to); without it,
//! emails carry their link as is and no pixel.

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{Notifier, tracker::Tracked};
use crate::{
    error::{AppError, AppResult, Problem},
    http::AppPath,
    state::AppState,
};

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

/// The routes `/t/o/{token}` and `/t/c/{token}`; public (the token is the credential).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(opened))
        .routes(routes!(clicked))
}

/// The delivery a token names, when tracking is on and the token is this server's.
fn delivery(notifier: &Notifier, what: Tracked, token: &str) -> AppResult<Uuid> {
    notifier
        .tracking
        .as_ref()
        .and_then(|tracking| tracking.verify(what, token))
        .ok_or_else(|| AppError::not_found("tracking token"))
}

/// A notification email was opened: records it and answers a transparent pixel.
#[utoipa::path(get, path = "/t/o/{token}", tag = "notifications",
    params(("token" = String, Path, description = "The token from the email")),
    responses(
        (status = 200, description = "A 1×1 transparent GIF", content_type = "image/gif", body = Vec<u8>),
        (status = 404, description = "Not a token this server issued", body = Problem),
    ))]
async fn opened(
    State(state): State<Notifier>,
    AppPath(token): AppPath<String>,
) -> AppResult<Response> {
    let delivery_id = delivery(&state, Tracked::Open, &token)?;
    sqlx::query!(
        r#"WITH opened AS (
               UPDATE notification_deliveries SET opened_at = COALESCE(opened_at, now())
               WHERE id = $1 AND channel = 'EMAIL'
               RETURNING notification_id)
           UPDATE notifications SET seen_at = COALESCE(seen_at, now())
           WHERE id = (SELECT notification_id FROM opened) AND deleted_at IS NULL"#,
        delivery_id
    )
    .execute(&state.db)
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        PIXEL,
    )
        .into_response())
}

/// The link in a notification email was followed: records it and redirects to the
/// notification's own link.
#[utoipa::path(get, path = "/t/c/{token}", tag = "notifications",
    params(("token" = String, Path, description = "The token from the email")),
    responses(
        (status = 302, description = "To the notification's link (`Location`)"),
        (status = 404, description = "Not a token this server issued, or its notification is gone", body = Problem),
    ))]
async fn clicked(
    State(state): State<Notifier>,
    AppPath(token): AppPath<String>,
) -> AppResult<Response> {
    let delivery_id = delivery(&state, Tracked::Click, &token)?;
    let link = sqlx::query_scalar!(
        r#"WITH clicked AS (
               UPDATE notification_deliveries
               SET clicked_at = COALESCE(clicked_at, now()), opened_at = COALESCE(opened_at, now())
               WHERE id = $1 AND channel = 'EMAIL'
               RETURNING notification_id)
           UPDATE notifications
           SET clicked_at = COALESCE(clicked_at, now()), seen_at = COALESCE(seen_at, now())
           WHERE id = (SELECT notification_id FROM clicked) AND deleted_at IS NULL
           RETURNING link"#,
        delivery_id
    )
    .fetch_optional(&state.db)
    .await?
    .flatten()
    .ok_or_else(|| AppError::not_found("notification"))?;
    let Some(tracking) = &state.tracking else {
        return Err(AppError::not_found("tracking token"));
    };
    let location = HeaderValue::from_str(&tracking.absolute(&link))
        .map_err(|_| AppError::not_found("notification link"))?;
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}
