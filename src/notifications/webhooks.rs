//! `/notifications/webhooks` (and under `/api/v1`): your own webhook endpoints, the WEBHOOK
//! channel. The signing secret (Standard Webhooks, `whsec_…`) is shown once, on creation
//! and on rotation, and is kept sealed by the vault. URLs pass the SSRF guard when saved and
//! again when each delivery connects.

use axum::{extract::State, http::StatusCode};
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::Notifier;
use crate::{
    auth::{Caller, Scope},
    error::{AppError, AppResult, Problem},
    http::{AppJson, AppPath},
    state::AppState,
};

/// Most webhook endpoints one account may have.
pub const MAX_WEBHOOK_ENDPOINTS: i64 = 5;
/// Longest endpoint URL, in characters.
pub const MAX_URL_CHARS: usize = 2000;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// Routes of this file, relative to `/notifications`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(delete_endpoint))
        .routes(routes!(rotate_secret))
}

/// What the vault binds an endpoint's sealed secret to, so it cannot be moved to another row.
pub fn secret_associated_data(endpoint_id: Uuid) -> Vec<u8> {
    format!("notification_webhook:{endpoint_id}").into_bytes()
}

/// `POST /notifications/webhooks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointIn {
    /// Where notifications are posted: `http` or `https`, a public address (or one in
    /// `OUTBOUND_ALLOW_CIDRS`).
    #[schema(max_length = 2000, example = "https://hooks.example.com/nocron")]
    pub url: String,
    /// A note for yourself.
    #[schema(max_length = 200)]
    pub description: Option<String>,
}

/// One of your webhook endpoints (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointOut {
    /// The endpoint.
    pub id: Uuid,
    /// Where notifications are posted.
    pub url: String,
    /// Your note.
    pub description: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// When the secret was last rotated.
    pub rotated_at: Option<DateTime<Utc>>,
    /// The last delivery it accepted.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last delivery attempt that failed.
    pub last_failure_at: Option<DateTime<Utc>>,
}

/// An endpoint with its signing secret, shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    /// The Standard Webhooks signing secret (`whsec_<base64>`); store it now.
    pub secret: String,
}

fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes[..]);
    format!("whsec_{}", BASE64.encode(bytes))
}

fn validate(notifier: &Notifier, body: EndpointIn) -> AppResult<(String, String)> {
    let url = body.url.trim();
    if url.chars().count() > MAX_URL_CHARS {
        return Err(AppError::invalid_field(
            "url",
            format!("must be at most {MAX_URL_CHARS} characters"),
        ));
    }
    let url = notifier
        .outbound
        .parse_url(url)
        .map_err(|err| AppError::invalid_field("url", err.message()))?;
    let description = body.description.unwrap_or_default().trim().to_owned();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(AppError::invalid_field(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok((url.to_string(), description))
}

/// List your webhook endpoints, oldest first.
#[utoipa::path(get, path = "/webhooks", tag = "notifications", security(("bearer" = [])),
    responses(
        (status = 200, description = "Your endpoints (at most 5)", body = Vec<EndpointOut>),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:read`", body = Problem),
    ))]
async fn list_endpoints(
    State(notifier): State<Notifier>,
    caller: Caller,
) -> AppResult<AppJson<Vec<EndpointOut>>> {
    caller.require(Scope::NotificationsRead)?;
    let rows = sqlx::query_as!(
        EndpointOut,
        "SELECT id, url, description, created_at, rotated_at, last_success_at, last_failure_at
         FROM notification_webhooks WHERE user_id = $1 ORDER BY created_at, id",
        caller.owner_id()
    )
    .fetch_all(&notifier.db)
    .await?;
    Ok(AppJson(rows))
}

/// Add a webhook endpoint; the response shows its signing secret once. Notifications whose
/// channels include `WEBHOOK` are posted to every endpoint, signed the Standard Webhooks way.
#[utoipa::path(post, path = "/webhooks", tag = "notifications", security(("bearer" = [])),
    request_body = EndpointIn,
    responses(
        (status = 201, description = "Created; `secret` is shown only now", body = EndpointWithSecret),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:write`", body = Problem),
        (status = 409, description = "You have 5 endpoints already", body = Problem),
        (status = 422, description = "Invalid field (`url`: not http(s), too long or a private address; `description`)", body = Problem),
    ))]
async fn create_endpoint(
    State(notifier): State<Notifier>,
    caller: Caller,
    AppJson(body): AppJson<EndpointIn>,
) -> AppResult<(StatusCode, AppJson<EndpointWithSecret>)> {
    caller.require(Scope::NotificationsWrite)?;
    let (url, description) = validate(&notifier, body)?;
    let id = Uuid::now_v7();
    let secret = generate_secret();
    let sealed = notifier
        .vault
        .seal(secret.as_bytes(), &secret_associated_data(id))
        .map_err(AppError::internal)?;
    let mut tx = notifier.db.begin().await?;
    // Serialises one account's creations so the limit holds.
    sqlx::query!(
        "SELECT id FROM users WHERE id = $1 FOR UPDATE",
        caller.owner_id()
    )
    .fetch_one(&mut *tx)
    .await?;
    let existing = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM notification_webhooks WHERE user_id = $1"#,
        caller.owner_id()
    )
    .fetch_one(&mut *tx)
    .await?;
    if existing >= MAX_WEBHOOK_ENDPOINTS {
        return Err(AppError::conflict(format!(
            "an account has at most {MAX_WEBHOOK_ENDPOINTS} webhook endpoints; delete one first"
        )));
    }
    let endpoint = sqlx::query_as!(
        EndpointOut,
        "INSERT INTO notification_webhooks
             (id, user_id, url, description, secret_ciphertext, secret_key_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, url, description, created_at, rotated_at, last_success_at,
                   last_failure_at",
        id,
        caller.owner_id(),
        url,
        description,
        sealed.bytes,
        sealed.key_id
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        AppJson(EndpointWithSecret { endpoint, secret }),
    ))
}

/// Remove one of your webhook endpoints; its queued deliveries end `NOT_SENT`.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:write`", body = Problem),
        (status = 404, description = "No such endpoint of yours", body = Problem),
    ))]
async fn delete_endpoint(
    State(notifier): State<Notifier>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<StatusCode> {
    caller.require(Scope::NotificationsWrite)?;
    let deleted = sqlx::query!(
        "DELETE FROM notification_webhooks WHERE id = $1 AND user_id = $2",
        id,
        caller.owner_id()
    )
    .execute(&notifier.db)
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(AppError::not_found("webhook endpoint"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Replace one of your endpoints' signing secret; the response shows the new one once.
/// Deliveries sent from now on are signed with it.
#[utoipa::path(post, path = "/webhooks/{id}/rotate-secret", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The endpoint")),
    responses(
        (status = 200, description = "The endpoint with its new secret, shown only now", body = EndpointWithSecret),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:write`", body = Problem),
        (status = 404, description = "No such endpoint of yours", body = Problem),
    ))]
async fn rotate_secret(
    State(notifier): State<Notifier>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<AppJson<EndpointWithSecret>> {
    caller.require(Scope::NotificationsWrite)?;
    let secret = generate_secret();
    let sealed = notifier
        .vault
        .seal(secret.as_bytes(), &secret_associated_data(id))
        .map_err(AppError::internal)?;
    let endpoint = sqlx::query_as!(
        EndpointOut,
        "UPDATE notification_webhooks
         SET secret_ciphertext = $3, secret_key_id = $4, rotated_at = now()
         WHERE id = $1 AND user_id = $2
         RETURNING id, url, description, created_at, rotated_at, last_success_at,
                   last_failure_at",
        id,
        caller.owner_id(),
        sealed.bytes,
        sealed.key_id
    )
    .fetch_optional(&notifier.db)
    .await?
    .ok_or_else(|| AppError::not_found("webhook endpoint"))?;
    Ok(AppJson(EndpointWithSecret { endpoint, secret }))
}
