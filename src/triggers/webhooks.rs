//! Managing a task's webhook triggers: create (the URL, token and signing secret are shown
//! once), list (never tokens or secrets), delete, and rotate the token. Every query is scoped
//! to the caller's task; another owner's task or trigger is a 404.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{public_url, signature::StandardWebhooksKey, token};
use crate::{
    auth::CurrentUser,
    config::Settings,
    error::{AppError, FieldError, Problem},
    http::{AppJson, AppPath},
    secrets::Vault,
    state::AppState,
    tasks::db::owned_task,
    text_enum,
};

/// Most webhook triggers one task may have.
pub const MAX_WEBHOOKS_PER_TASK: i64 = 20;

/// Routes of this file, relative to `/tasks`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(delete_webhook))
        .routes(routes!(rotate_webhook))
}

text_enum! {
    /// How a webhook trigger's deliveries must be signed.
    pub enum SignatureScheme {
        /// Unsigned: the secret URL is the only credential.
        None = "none",
        /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
        StandardWebhooks = "standard_webhooks",
        /// GitHub-style `X-Hub-Signature-256: sha256=<hex>`.
        Github = "github",
    }
}

/// `POST /tasks/{task_id}/webhooks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    /// A label (at most 100 characters).
    #[schema(example = "GitHub pushes", max_length = 100)]
    pub name: Option<String>,
    /// The signature scheme deliveries must carry (default `none`).
    pub signature: Option<SignatureScheme>,
    /// The signing secret: `whsec_<base64>` (at least 16 bytes) for Standard Webhooks, a
    /// string of 16 to 256 characters for GitHub. Generated when omitted and a scheme is set.
    #[schema(min_length = 16, max_length = 256)]
    pub secret: Option<String>,
    /// Standard Webhooks only: accepted clock difference in seconds (1–86400, default 300).
    #[schema(minimum = 1, maximum = 86400)]
    pub replay_window_seconds: Option<i32>,
}

/// A webhook trigger as listed (never its token or secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    /// The trigger id.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// Its label.
    pub name: String,
    /// The token's public start, to recognise it.
    #[schema(example = "nwh_3fX9aQ2m")]
    pub token_prefix: String,
    /// The signature scheme.
    pub signature: SignatureScheme,
    /// Standard Webhooks: accepted clock difference in seconds.
    pub replay_window_seconds: Option<i32>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// When the token was last rotated.
    pub rotated_at: Option<DateTime<Utc>>,
    /// When a delivery was last accepted (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new or rotated webhook trigger: the only time its URL and token (and, on creation, its
/// signing secret) are shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    /// The trigger's details.
    #[serde(flatten)]
    pub details: WebhookOut,
    /// The token; store it now, it cannot be shown again.
    pub token: String,
    /// Where to send deliveries: `PUBLIC_URL/hooks/{token}` (the path alone without
    /// `PUBLIC_URL`).
    #[schema(example = "https://nocron.example.com/hooks/nwh_3fX9aQ2mLp0ZkR7tYb1cVn4sWe8uIo6a")]
    pub url: String,
    /// The signing secret, on creation with a scheme; store it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

struct WebhookRow {
    id: Uuid,
    task_id: Uuid,
    name: String,
    token_prefix: String,
    signature: SignatureScheme,
    replay_window_seconds: Option<i32>,
    created_at: DateTime<Utc>,
    rotated_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<WebhookRow> for WebhookOut {
    fn from(row: WebhookRow) -> Self {
        WebhookOut {
            id: row.id,
            task_id: row.task_id,
            name: row.name,
            token_prefix: row.token_prefix,
            signature: row.signature,
            replay_window_seconds: row.replay_window_seconds,
            created_at: row.created_at,
            rotated_at: row.rotated_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// What the vault binds a trigger's sealed secret to, so it cannot be moved to another row.
pub fn secret_associated_data(trigger_id: Uuid) -> Vec<u8> {
    format!("webhook_trigger:{trigger_id}").into_bytes()
}

/// A validated creation request: the scheme with its secret, name and window.
struct ValidWebhook {
    name: String,
    scheme: SignatureScheme,
    secret: Option<String>,
    replay_window_seconds: Option<i32>,
}

fn generate_secret(scheme: SignatureScheme) -> Option<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes[..]);
    match scheme {
        SignatureScheme::None => None,
        SignatureScheme::StandardWebhooks => Some(format!("whsec_{}", BASE64.encode(bytes))),
        SignatureScheme::Github => Some(hex::encode(bytes)),
    }
}

fn validate(body: WebhookIn) -> Result<ValidWebhook, AppError> {
    let mut errors = Vec::new();
    let mut fail = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        })
    };
    let name = body.name.unwrap_or_default().trim().to_owned();
    if name.chars().count() > 100 {
        fail("name", "must be at most 100 characters");
    }
    let scheme = body.signature.unwrap_or(SignatureScheme::None);
    match (scheme, &body.secret) {
        (SignatureScheme::None, Some(_)) => {
            fail("secret", "only with a signature scheme");
        }
        (SignatureScheme::StandardWebhooks, Some(secret)) => {
            let long_enough = secret
                .trim()
                .strip_prefix("whsec_")
                .and_then(|encoded| BASE64.decode(encoded).ok())
                .is_some_and(|key| (16..=64).contains(&key.len()));
            if !long_enough || StandardWebhooksKey::parse(secret).is_err() {
                fail(
                    "secret",
                    "must be whsec_ followed by base64 of 16 to 64 bytes",
                );
            }
        }
        (SignatureScheme::Github, Some(secret))
            if !(16..=256).contains(&secret.chars().count()) =>
        {
            fail("secret", "must be 16 to 256 characters");
        }
        _ => {}
    }
    if let Some(window) = body.replay_window_seconds {
        if scheme != SignatureScheme::StandardWebhooks {
            fail(
                "replay_window_seconds",
                "only with the standard_webhooks scheme (GitHub deliveries carry no timestamp)",
            );
        } else if !(1..=86_400).contains(&window) {
            fail("replay_window_seconds", "must be from 1 to 86400");
        }
    }
    if !errors.is_empty() {
        return Err(AppError::validation(errors));
    }
    let secret = match body.secret {
        Some(secret) => Some(secret.trim().to_owned()),
        None => generate_secret(scheme),
    };
    Ok(ValidWebhook {
        name,
        scheme,
        secret,
        replay_window_seconds: body.replay_window_seconds,
    })
}

/// Create a webhook trigger for one of your tasks; the response shows its URL, token and
/// signing secret once.
#[utoipa::path(post, path = "/{id}/webhooks", tag = "triggers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    request_body = WebhookIn,
    responses(
        (status = 201, description = "Created; `token`, `url` and `secret` are shown only now", body = WebhookCreated),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 409, description = "The task has too many webhook triggers", body = Problem),
        (status = 422, description = "Invalid field (secret, replay_window_seconds, name)", body = Problem),
    ))]
async fn create_webhook(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(vault): State<Arc<Vault>>,
    user: CurrentUser,
    AppPath(task_id): AppPath<Uuid>,
    AppJson(body): AppJson<WebhookIn>,
) -> Result<(StatusCode, AppJson<WebhookCreated>), AppError> {
    owned_task(&db, task_id, user.id).await?;
    let mut tx = db.begin().await?;
    let created = insert_webhook(&mut tx, &vault, &settings, task_id, body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(created)))
}

/// Validates and stores a webhook trigger on a task the caller already checked is theirs,
/// inside the caller's transaction (which it may commit). The answer shows the token and
/// secret, once.
pub async fn insert_webhook(
    tx: &mut sqlx::PgConnection,
    vault: &Vault,
    settings: &Settings,
    task_id: Uuid,
    body: WebhookIn,
) -> Result<WebhookCreated, AppError> {
    let valid = validate(body)?;
    let id = Uuid::now_v7();
    let sealed = valid
        .secret
        .as_deref()
        .map(|secret| vault.seal(secret.as_bytes(), &secret_associated_data(id)))
        .transpose()
        .map_err(AppError::internal)?;
    let new = token::webhook();
    // Serialises concurrent creations on one task so the limit holds.
    sqlx::query!("SELECT id FROM tasks WHERE id = $1 FOR UPDATE", task_id)
        .fetch_one(&mut *tx)
        .await?;
    let existing = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM webhook_triggers WHERE task_id = $1"#,
        task_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if existing >= MAX_WEBHOOKS_PER_TASK {
        return Err(AppError::conflict(format!(
            "a task has at most {MAX_WEBHOOKS_PER_TASK} webhook triggers; delete one first"
        )));
    }
    let row = sqlx::query_as!(
        WebhookRow,
        r#"INSERT INTO webhook_triggers
               (id, task_id, name, token_prefix, token_hash, signature, secret_ciphertext,
                secret_key_id, replay_window_seconds)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           RETURNING id, task_id, name, token_prefix, signature AS "signature: SignatureScheme",
                     replay_window_seconds, created_at, rotated_at, last_used_at"#,
        id,
        task_id,
        valid.name,
        new.prefix,
        new.hash,
        valid.scheme.as_str(),
        sealed.as_ref().map(|s| s.bytes.clone()),
        sealed.as_ref().map(|s| s.key_id.clone()),
        valid.replay_window_seconds,
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(WebhookCreated {
        details: row.into(),
        url: public_url(settings, &format!("/hooks/{}", new.token)),
        token: new.token,
        secret: valid.secret,
    })
}

/// List one of your tasks' webhook triggers (never tokens or secrets).
#[utoipa::path(get, path = "/{id}/webhooks", tag = "triggers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task's webhook triggers, oldest first", body = Vec<WebhookOut>),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
    ))]
async fn list_webhooks(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath(task_id): AppPath<Uuid>,
) -> Result<AppJson<Vec<WebhookOut>>, AppError> {
    owned_task(&db, task_id, user.id).await?;
    let rows = sqlx::query_as!(
        WebhookRow,
        r#"SELECT w.id, w.task_id, w.name, w.token_prefix,
                  w.signature AS "signature: SignatureScheme", w.replay_window_seconds,
                  w.created_at, w.rotated_at, w.last_used_at
           FROM webhook_triggers w JOIN tasks t ON t.id = w.task_id
           WHERE w.task_id = $1 AND t.owner_id = $2
           ORDER BY w.created_at, w.id"#,
        task_id,
        user.id
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(rows.into_iter().map(WebhookOut::from).collect()))
}

/// Delete a webhook trigger; its URL answers 404 from now on.
#[utoipa::path(delete, path = "/{id}/webhooks/{webhook_id}", tag = "triggers", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Task id"),
        ("webhook_id" = Uuid, Path, description = "Webhook trigger id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such webhook trigger on a task of yours", body = Problem),
    ))]
async fn delete_webhook(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath((task_id, id)): AppPath<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    sqlx::query_scalar!(
        "DELETE FROM webhook_triggers w USING tasks t
         WHERE w.id = $1 AND w.task_id = $2 AND t.id = w.task_id AND t.owner_id = $3
         RETURNING w.id",
        id,
        task_id,
        user.id
    )
    .fetch_optional(&db)
    .await?
    .ok_or_else(|| AppError::not_found("webhook trigger"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a webhook trigger's token; the old URL stops working at once. The signing secret
/// is kept.
#[utoipa::path(post, path = "/{id}/webhooks/{webhook_id}/rotate", tag = "triggers", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Task id"),
        ("webhook_id" = Uuid, Path, description = "Webhook trigger id"),
    ),
    responses(
        (status = 200, description = "The new URL and token, shown only now", body = WebhookCreated),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such webhook trigger on a task of yours", body = Problem),
    ))]
async fn rotate_webhook(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    user: CurrentUser,
    AppPath((task_id, id)): AppPath<(Uuid, Uuid)>,
) -> Result<AppJson<WebhookCreated>, AppError> {
    let new = token::webhook();
    let row = sqlx::query_as!(
        WebhookRow,
        r#"UPDATE webhook_triggers w
           SET token_prefix = $4, token_hash = $5, rotated_at = now(), last_used_at = NULL
           FROM tasks t
           WHERE w.id = $1 AND w.task_id = $2 AND t.id = w.task_id AND t.owner_id = $3
           RETURNING w.id, w.task_id, w.name, w.token_prefix,
                     w.signature AS "signature: SignatureScheme", w.replay_window_seconds,
                     w.created_at, w.rotated_at, w.last_used_at"#,
        id,
        task_id,
        user.id,
        new.prefix,
        new.hash,
    )
    .fetch_optional(&db)
    .await?
    .ok_or_else(|| AppError::not_found("webhook trigger"))?;
    Ok(AppJson(WebhookCreated {
        details: row.into(),
        url: public_url(&settings, &format!("/hooks/{}", new.token)),
        token: new.token,
        secret: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(
        scheme: Option<SignatureScheme>,
        secret: Option<&str>,
        window: Option<i32>,
    ) -> WebhookIn {
        WebhookIn {
            name: None,
            signature: scheme,
            secret: secret.map(str::to_owned),
            replay_window_seconds: window,
        }
    }

    fn fields(result: Result<ValidWebhook, AppError>) -> Vec<String> {
        match result {
            Ok(_) => Vec::new(),
            Err(err) => err.field_errors().iter().map(|e| e.field.clone()).collect(),
        }
    }

    #[test]
    fn secrets_are_generated_for_a_scheme_and_checked_when_given() {
        let valid = validate(input(
            Some(SignatureScheme::StandardWebhooks),
            None,
            Some(60),
        ))
        .expect("valid");
        let secret = valid.secret.expect("generated");
        assert!(StandardWebhooksKey::parse(&secret).is_ok());
        assert!(
            validate(input(None, None, None))
                .expect("valid")
                .secret
                .is_none()
        );
        assert_eq!(fields(validate(input(None, Some("x"), None))), ["secret"]);
        assert_eq!(
            fields(validate(input(
                Some(SignatureScheme::StandardWebhooks),
                Some("whsec_AAAA"),
                None
            ))),
            ["secret"]
        );
        assert_eq!(
            fields(validate(input(
                Some(SignatureScheme::Github),
                Some("short"),
                Some(5)
            ))),
            ["secret", "replay_window_seconds"]
        );
    }
}
