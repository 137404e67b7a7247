//! An account's Notion webhook endpoint: `POST /notion/webhook` creates it (or replaces it:
//! a new URL, and the verification starts over), `GET` shows it to its owner with the
//! verification token Notion sent (to paste into Notion's "Verify subscription" form),
//! `DELETE` removes it. Each account has at most one; its URL carries a secret token
//! (stored as its hash), which is how a delivery finds its account.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    config::Settings,
    error::{AppError, Problem},
    http::AppJson,
    secrets::Vault,
    state::AppState,
    triggers::{public_url, token},
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(
        create_notion_webhook,
        get_notion_webhook,
        delete_notion_webhook
    ))
}

/// What the vault binds an endpoint's verification token to.
pub(super) fn associated_data(endpoint_id: Uuid) -> Vec<u8> {
    let mut aad = b"nocron notion webhook v1\0".to_vec();
    aad.extend_from_slice(endpoint_id.as_bytes());
    aad
}

/// The account's endpoint as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotionWebhookOut {
    /// The endpoint id.
    pub id: Uuid,
    /// The URL token's public start.
    #[schema(example = "nwh_3fX9aQ2m")]
    pub token_prefix: String,
    /// Whether Notion's handshake has arrived (events are accepted from then on).
    pub verified: bool,
    /// The verification token Notion sent: paste it into the subscription's "Verify" form
    /// in Notion. Absent until the handshake.
    pub verification_token: Option<String>,
    /// When the handshake arrived.
    pub verified_at: Option<DateTime<Utc>>,
    /// When an event was last accepted.
    pub last_event_at: Option<DateTime<Utc>>,
    /// Created (or last replaced).
    pub created_at: DateTime<Utc>,
}

/// A new endpoint: the only time its URL is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotionWebhookCreated {
    /// The endpoint id.
    pub id: Uuid,
    /// The URL to enter as the subscription's webhook URL in Notion:
    /// `PUBLIC_URL/webhooks/notion/{token}` (the path alone without `PUBLIC_URL`).
    #[schema(
        example = "https://nocron.example.com/webhooks/notion/nwh_3fX9aQ2mLp0ZkR7tYb1cVn4sWe8uIo6a"
    )]
    pub url: String,
    /// The token in the URL; store it now, it cannot be shown again.
    pub token: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Create your Notion webhook endpoint, or replace it: the old URL stops working at once and
/// Notion's verification starts over.
#[utoipa::path(post, path = "/notion/webhook", tag = "notion", security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; `url` and `token` are shown only now", body = NotionWebhookCreated),
        (status = 401, description = "Not signed in", body = Problem),
    ))]
async fn create_notion_webhook(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    user: CurrentUser,
) -> Result<(StatusCode, AppJson<NotionWebhookCreated>), AppError> {
    let new = token::webhook();
    let id = Uuid::now_v7();
    let created_at = sqlx::query_scalar!(
        "INSERT INTO notion_webhook_endpoints (id, owner_id, token_prefix, token_hash)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (owner_id) DO UPDATE SET
             id = EXCLUDED.id, token_prefix = EXCLUDED.token_prefix,
             token_hash = EXCLUDED.token_hash, verification_token = NULL, key_id = NULL,
             verified_at = NULL, last_event_at = NULL, created_at = now()
         RETURNING created_at",
        id,
        user.id,
        new.prefix,
        new.hash,
    )
    .fetch_one(&db)
    .await?;
    Ok((
        StatusCode::CREATED,
        AppJson(NotionWebhookCreated {
            id,
            url: public_url(&settings, &format!("/webhooks/notion/{}", new.token)),
            token: new.token,
            created_at,
        }),
    ))
}

/// Your Notion webhook endpoint, with the verification token once Notion has sent it.
#[utoipa::path(get, path = "/notion/webhook", tag = "notion", security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint (never its URL token)", body = NotionWebhookOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No endpoint yet: create one with POST", body = Problem),
    ))]
async fn get_notion_webhook(
    State(db): State<PgPool>,
    State(vault): State<Arc<Vault>>,
    user: CurrentUser,
) -> Result<AppJson<NotionWebhookOut>, AppError> {
    let row = sqlx::query!(
        "SELECT id, token_prefix, verification_token, verified_at, last_event_at, created_at
         FROM notion_webhook_endpoints WHERE owner_id = $1",
        user.id
    )
    .fetch_optional(&db)
    .await?
    .ok_or_else(|| AppError::not_found("Notion webhook endpoint"))?;
    let verification_token = row
        .verification_token
        .map(|sealed| {
            let plain = vault
                .open(&sealed, &associated_data(row.id))
                .map_err(AppError::internal)?;
            String::from_utf8(plain).map_err(AppError::internal)
        })
        .transpose()?;
    Ok(AppJson(NotionWebhookOut {
        id: row.id,
        token_prefix: row.token_prefix,
        verified: verification_token.is_some(),
        verification_token,
        verified_at: row.verified_at,
        last_event_at: row.last_event_at,
        created_at: row.created_at,
    }))
}

/// Delete your Notion webhook endpoint; its URL answers 404 from now on.
#[utoipa::path(delete, path = "/notion/webhook", tag = "notion", security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "There was no endpoint", body = Problem),
    ))]
async fn delete_notion_webhook(
    State(db): State<PgPool>,
    user: CurrentUser,
) -> Result<StatusCode, AppError> {
    let deleted = sqlx::query!(
        "DELETE FROM notion_webhook_endpoints WHERE owner_id = $1",
        user.id
    )
    .execute(&db)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(AppError::not_found("Notion webhook endpoint"));
    }
    Ok(StatusCode::NO_CONTENT)
}
