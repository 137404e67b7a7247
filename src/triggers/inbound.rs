//! `POST /hooks/{token}`: a webhook delivery becomes an execution.
//!
//! In order: the token is looked up by its hash (unknown, deleted, or of a disabled or
//! deleted account: a plain 404); the
//! trigger's rate limit is counted (429; also when the owner's queue is full); the body is read up to `WEBHOOK_MAX_BODY_BYTES`
//! (413); the signature is checked when the trigger has a scheme (401, also for a timestamp
//! outside the replay window); the task must be active (409). The execution is queued with
//! the idempotency key `webhook:{trigger}:{delivery id}` when the sender names its delivery
//! (`webhook-id` or `X-GitHub-Delivery`), so a redelivery answers the same execution. For a
//! GitHub-signed trigger the key is the verified signature instead (`github-sha256:<hex>`),
//! because `X-GitHub-Delivery` is not signed: a captured delivery replayed under another id,
//! or none, is still recognised and queues nothing.

use axum::{
    body::{Body, Bytes},
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
};
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::InboundState;
use super::{
    payload,
    signature::{SignatureConfig, SignatureVerifier},
    token,
    webhooks::{SignatureScheme, secret_associated_data},
};
use crate::{
    error::{AppError, ErrorCode, Problem},
    executions::{control, model::TriggerKind},
    http::{AppJson, AppPath, validation},
    state::AppState,
    tasks::model::TaskStatus,
};

/// Longest delivery id used for dedupe.
const MAX_DELIVERY_ID_LEN: usize = 256;

/// Routes of this file, relative to `/hooks`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_webhook))
}

/// The answer to an accepted delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAccepted {
    /// The queued execution (the first one, for a redelivery).
    pub execution_id: Uuid,
    /// True when this delivery id had already been received.
    pub duplicate: bool,
}

struct TriggerRow {
    id: Uuid,
    task_id: Uuid,
    owner_id: Uuid,
    task_status: TaskStatus,
    signature: SignatureScheme,
    secret_ciphertext: Option<Vec<u8>>,
    replay_window_seconds: Option<i32>,
}

/// Counts an inbound delivery in `nocron_trigger_deliveries_total` by trigger kind
/// (`webhook`, `email`) and result (`queued`, `duplicate`, `bad_signature`, `rate_limited`).
pub(crate) fn count_delivery(kind: &'static str, result: &'static str) {
    metrics::counter!("nocron_trigger_deliveries_total", "kind" => kind, "result" => result)
        .increment(1);
}

/// Reads a request body up to `limit` bytes; larger is a 413 problem.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, AppError> {
    let too_large = || {
        AppError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    // Reading fails when the limit is passed (or the client goes away mid-body).
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

/// The sender's delivery id, when it names one usable for dedupe.
fn delivery_id(verified: Option<String>, headers: &HeaderMap) -> Option<String> {
    verified
        .or_else(|| {
            ["webhook-id", "svix-id", "x-github-delivery"]
                .iter()
                .find_map(|name| headers.get(*name))
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
        })
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_DELIVERY_ID_LEN
                && id.bytes().all(|b| b.is_ascii_graphic())
        })
}

fn verifier(
    state: &InboundState,
    trigger: &TriggerRow,
) -> Result<Option<SignatureVerifier>, AppError> {
    let config = match trigger.signature {
        SignatureScheme::None => return Ok(None),
        SignatureScheme::StandardWebhooks => SignatureConfig::StandardWebhooks {
            tolerance_seconds: trigger
                .replay_window_seconds
                .and_then(|s| u32::try_from(s).ok()),
        },
        SignatureScheme::Github => SignatureConfig::Github,
    };
    let sealed = trigger
        .secret_ciphertext
        .as_deref()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("signed trigger without a secret")))?;
    let secret = state
        .vault
        .open(sealed, &secret_associated_data(trigger.id))
        .map_err(AppError::internal)?;
    let secret = String::from_utf8(secret).map_err(AppError::internal)?;
    SignatureVerifier::new(&config, &[secret.as_str()])
        .map(Some)
        .map_err(AppError::internal)
}

/// Deliver a webhook: the request becomes the input of an execution of the trigger's task.
///
/// The input is `{body, headers, query, content_type, received_at}`: the body parsed as JSON,
/// a form (an object) or text, the headers without credentials (`Authorization`, `Cookie`, …).
#[utoipa::path(post, path = "/{token}", tag = "triggers",
    params(("token" = String, Path, description = "The webhook trigger's token")),
    request_body(description = "Any JSON, form or text body",
        content((serde_json::Value = "application/json"),
            (String = "application/x-www-form-urlencoded"), (String = "text/plain"))),
    responses(
        (status = 202, description = "Queued (or a redelivery of a queued delivery)", body = DeliveryAccepted),
        (status = 400, description = "Malformed JSON body", body = Problem),
        (status = 401, description = "Missing or bad signature, or a timestamp outside the replay window", body = Problem),
        (status = 402, description = "The task's owner has used up the plan's `executions_per_month` (`PLAN_LIMIT_REACHED`)", body = Problem),
        (status = 404, description = "Unknown or deleted token", body = Problem),
        (status = 409, description = "The task is paused, stopped or failed", body = Problem),
        (status = 413, description = "Body larger than WEBHOOK_MAX_BODY_BYTES", body = Problem),
        (status = 415, description = "A body that is not JSON, a form or text", body = Problem),
        (status = 422, description = "A NUL character (U+0000) in the body or the query; the field is named (`body.…`, `query.…`)", body = Problem),
        (status = 429, description = "Too many deliveries on this token, or the task's owner already has MAX_QUEUED_PER_OWNER executions waiting; see Retry-After", body = Problem),
    ))]
async fn receive_webhook(
    State(state): State<InboundState>,
    AppPath(presented): AppPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, AppJson<DeliveryAccepted>), AppError> {
    let hash = token::webhook_lookup_hash(&presented).ok_or_else(|| AppError::not_found("hook"))?;
    let trigger = sqlx::query_as!(
        TriggerRow,
        r#"SELECT w.id, w.task_id, t.owner_id, t.status AS "task_status: TaskStatus",
                  w.signature AS "signature: SignatureScheme", w.secret_ciphertext,
                  w.replay_window_seconds
           FROM webhook_triggers w
           JOIN tasks t ON t.id = w.task_id
           JOIN users u ON u.id = t.owner_id AND u.status = 'active'
           WHERE w.token_hash = $1"#,
        hash
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::not_found("hook"))?;
    state.runtime.limiter.check(&trigger.id).inspect_err(|_| {
        count_delivery("webhook", "rate_limited");
    })?;
    let body = read_body(
        &headers,
        body,
        state.settings.triggers.webhook_max_body_bytes,
    )
    .await?;
    let (verified_id, replay_key) = match verifier(&state, &trigger)? {
        None => (None, None),
        Some(verifier) => {
            let verified = verifier
                .verify(&headers, &body, Utc::now().timestamp())
                .map_err(|err| {
                    tracing::info!(trigger_id = %trigger.id, reason = %err, "webhook signature rejected");
                    count_delivery("webhook", "bad_signature");
                    AppError::unauthorized("the delivery's signature is missing or invalid")
                })?;
            (verified.delivery_id, verified.replay_key)
        }
    };
    if trigger.task_status != TaskStatus::Active {
        return Err(AppError::conflict(format!(
            "the task is {}; resume it to accept deliveries",
            trigger.task_status
        )));
    }
    let media_type = payload::media_type(&headers);
    let input = json!({
        "body": payload::body_json(&media_type, &body)?,
        "headers": payload::headers_json(&headers),
        "query": payload::form_json(query.as_deref().unwrap_or("").as_bytes()),
        "content_type": media_type,
        "received_at": Utc::now(),
        "trigger": {"type": "webhook", "id": trigger.id},
    });
    // PostgreSQL's jsonb cannot hold U+0000: name the field instead of failing the insert.
    if let Some(path) = validation::nul_path(&input) {
        return Err(AppError::invalid_field(path, validation::NUL_MESSAGE));
    }
    // A GitHub delivery is known by its signature: its delivery id is not signed, so a
    // replay under a new (or no) `X-GitHub-Delivery` is still the same delivery.
    let key = replay_key
        .or_else(|| delivery_id(verified_id, &headers))
        .map(|id| format!("webhook:{}:{id}", trigger.id));
    let queued = control::enqueue(
        &state.engine,
        trigger.task_id,
        trigger.owner_id,
        TriggerKind::Webhook,
        input,
        key.as_deref(),
    )
    .await?;
    touch(&state, TriggerTable::Webhook, trigger.id).await;
    count_delivery(
        "webhook",
        if queued.created {
            "queued"
        } else {
            "duplicate"
        },
    );
    Ok((
        StatusCode::ACCEPTED,
        AppJson(DeliveryAccepted {
            execution_id: queued.execution_id,
            duplicate: !queued.created,
        }),
    ))
}

/// Which table a trigger lives in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TriggerTable {
    /// `webhook_triggers`.
    Webhook,
    /// `email_triggers`.
    Email,
}

/// Records a trigger's use, at most once a minute (a failure only costs the timestamp).
pub(crate) async fn touch(state: &InboundState, table: TriggerTable, trigger_id: Uuid) {
    let result = match table {
        TriggerTable::Email => {
            sqlx::query!(
                "UPDATE email_triggers SET last_used_at = now()
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
                trigger_id
            )
            .execute(&state.db)
            .await
        }
        TriggerTable::Webhook => {
            sqlx::query!(
                "UPDATE webhook_triggers SET last_used_at = now()
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
                trigger_id
            )
            .execute(&state.db)
            .await
        }
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, %trigger_id, "cannot record the trigger's last use");
    }
}
