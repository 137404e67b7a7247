//! `POST /webhooks/notion/{token}`: what Notion sends to an account's endpoint.
//!
//! In order: the token is looked up by its hash (unknown, or of a disabled account: 404);
//! the endpoint's rate limit is counted (429); the body is read up to
//! `WEBHOOK_MAX_BODY_BYTES` (413) and must be a JSON object (400). A body holding only
//! `verification_token` is Notion's subscription handshake: the token is sealed with the
//! vault and stored (200), once; a second one is a 409 until the owner replaces the endpoint.
//! Anything else is an event: `X-Notion-Signature: sha256=<hex>` must be the HMAC-SHA256 of
//! the raw body under the stored verification token, compared in constant time (401, also
//! before the handshake); then the event must carry `id`, `type` and `entity` (400). Each
//! active task of the owner with a matching NOTION trigger gets one execution keyed by the
//! event id, and the event id is recorded per endpoint (primary key), so a redelivery queues
//! nothing and answers `duplicate: true`.

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::webhook_endpoint::associated_data;
use crate::{
    error::{AppError, ErrorCode, FieldError, Problem},
    http::{AppJson, AppPath},
    state::AppState,
    triggers::{
        InboundState,
        inbound::{count_delivery, read_body},
        notion::{self as notion_triggers, NotionEvent},
        token,
    },
};

/// The header Notion signs events with.
pub const SIGNATURE_HEADER: &str = "x-notion-signature";
/// Longest accepted verification token and event id.
const MAX_TOKEN_LEN: usize = 512;

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive))
}

/// The answer to an accepted handshake or event.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotionDeliveryAccepted {
    /// `verification` for the handshake, `event` for an event.
    #[schema(example = "event")]
    pub kind: &'static str,
    /// The executions the event queued (or had queued, for a redelivery); empty when no
    /// trigger matched, and for the handshake.
    pub executions: Vec<Uuid>,
    /// True when this event id had already been received.
    pub duplicate: bool,
}

struct EndpointRow {
    id: Uuid,
    owner_id: Uuid,
    verification_token: Option<Vec<u8>>,
}

/// `sha256=<hex>` of `body` under `token`, as Notion signs.
pub fn sign(token: &str, body: &[u8]) -> String {
    crate::triggers::signature::sign_github(token.as_bytes(), body)
}

/// Whether `presented` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `token`, compared
/// in constant time.
pub fn verify(token: &str, body: &[u8], presented: &str) -> bool {
    let Some(provided) = presented
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex_text| hex::decode(hex_text).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(token.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&provided).is_ok()
}

fn bad_request(detail: &str) -> AppError {
    AppError::new(ErrorCode::BadRequest, detail)
}

/// 400 naming the malformed field.
fn malformed(field: &str, message: &str) -> AppError {
    AppError::new(ErrorCode::BadRequest, format!("{field}: {message}")).with_fields(vec![
        FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        },
    ])
}

/// The handshake's token, when `body` is one: an object whose only key is
/// `verification_token`.
fn handshake_token(body: &serde_json::Map<String, Value>) -> Option<Result<&str, AppError>> {
    let token = body.get("verification_token")?;
    if body.contains_key("type") {
        return None;
    }
    Some(
        token
            .as_str()
            .filter(|t| {
                !t.is_empty() && t.len() <= MAX_TOKEN_LEN && t.bytes().all(|b| b.is_ascii_graphic())
            })
            .ok_or_else(|| {
                malformed(
                    "verification_token",
                    "must be a string of 1 to 512 visible ASCII characters",
                )
            }),
    )
}

/// The parts of an event matching needs; a 400 names a missing or malformed field.
fn parse_event(payload: Value) -> Result<NotionEvent, AppError> {
    let text = |value: &Value, field: &str| -> Result<String, AppError> {
        value
            .as_str()
            .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)
            .map(str::to_owned)
            .ok_or_else(|| malformed(field, "required: a string of at most 512 characters"))
    };
    let id = text(&payload["id"], "id")?;
    let event_type = text(&payload["type"], "type")?;
    let entity = text(&payload["entity"]["id"], "entity.id")?;
    let entity_id =
        Uuid::try_parse(&entity).map_err(|_| malformed("entity.id", "must be a Notion id"))?;
    let mut entity_ids = vec![entity_id];
    if let Some(parent) = payload["data"]["parent"]["id"]
        .as_str()
        .and_then(|p| Uuid::try_parse(p).ok())
    {
        entity_ids.push(parent);
    }
    Ok(NotionEvent {
        id,
        event_type,
        entity_ids,
        payload,
    })
}

/// Receive a Notion webhook: the subscription handshake, or a signed event that queues an
/// execution of each of the owner's tasks with a matching NOTION trigger.
///
/// Create the endpoint with `POST /notion/webhook` and enter its URL as the subscription's
/// webhook URL in Notion. The execution input is `{event, received_at, trigger}`.
#[utoipa::path(post, path = "/webhooks/notion/{token}", tag = "notion",
    params(
        ("token" = String, Path, description = "The endpoint's token"),
        ("X-Notion-Signature" = Option<String>, Header,
            description = "`sha256=<hex HMAC-SHA256 of the body under the verification token>`; required for events"),
    ),
    request_body(description = "Notion's handshake `{\"verification_token\": \"…\"}` or an event",
        content((serde_json::Value = "application/json"))),
    responses(
        (status = 200, description = "Handshake stored, or event accepted (`executions` may be empty)", body = NotionDeliveryAccepted),
        (status = 400, description = "Not a JSON object, a handshake whose `verification_token` is not a short string, or an event without `id`, `type` or `entity.id` (the field is named)", body = Problem),
        (status = 401, description = "An event with a missing or bad signature, or before the handshake", body = Problem),
        (status = 402, description = "The owner has used up the plan's `executions_per_month` (`PLAN_LIMIT_REACHED`)", body = Problem),
        (status = 404, description = "Unknown token", body = Problem),
        (status = 409, description = "A handshake on an endpoint that already has its verification token", body = Problem),
        (status = 413, description = "Body larger than WEBHOOK_MAX_BODY_BYTES", body = Problem),
        (status = 429, description = "Too many deliveries on this endpoint, or the owner's queue is full; see Retry-After", body = Problem),
    ))]
async fn receive(
    State(state): State<InboundState>,
    AppPath(presented): AppPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, AppJson<NotionDeliveryAccepted>), AppError> {
    let not_found = || AppError::not_found("Notion webhook endpoint");
    let hash = token::webhook_lookup_hash(&presented).ok_or_else(not_found)?;
    let endpoint = sqlx::query_as!(
        EndpointRow,
        "SELECT e.id, e.owner_id, e.verification_token
         FROM notion_webhook_endpoints e
         JOIN users u ON u.id = e.owner_id AND u.status = 'active'
         WHERE e.token_hash = $1",
        hash
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(not_found)?;
    state.runtime.limiter.check(&endpoint.id).inspect_err(|_| {
        count_delivery("notion", "rate_limited");
    })?;
    let raw = read_body(
        &headers,
        body,
        state.settings.triggers.webhook_max_body_bytes,
    )
    .await?;
    let payload: Value =
        serde_json::from_slice(&raw).map_err(|_| bad_request("the body is not JSON"))?;
    let Value::Object(object) = &payload else {
        return Err(bad_request("the body is not a JSON object"));
    };
    if let Some(token) = handshake_token(object) {
        return store_verification(&state, &endpoint, token?).await;
    }
    let Some(sealed) = &endpoint.verification_token else {
        count_delivery("notion", "bad_signature");
        return Err(AppError::unauthorized(
            "the endpoint has not received Notion's verification token yet",
        ));
    };
    let verification = state
        .vault
        .open(sealed, &associated_data(endpoint.id))
        .map_err(AppError::internal)?;
    let verification = String::from_utf8(verification).map_err(AppError::internal)?;
    let signed = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|presented| verify(&verification, &raw, presented));
    if !signed {
        tracing::info!(endpoint_id = %endpoint.id, "Notion signature rejected");
        count_delivery("notion", "bad_signature");
        return Err(AppError::unauthorized(
            "the X-Notion-Signature header is missing or does not match",
        ));
    }
    let event = parse_event(payload)?;
    let (executions, created) =
        notion_triggers::fire(&state.engine, endpoint.owner_id, &event).await?;
    let recorded = sqlx::query!(
        "INSERT INTO notion_webhook_events (endpoint_id, event_id, event_type, executions)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        endpoint.id,
        event.id,
        event.event_type,
        i32::try_from(executions.len()).unwrap_or(i32::MAX),
    )
    .execute(&state.db)
    .await?
    .rows_affected();
    sqlx::query!(
        "UPDATE notion_webhook_endpoints SET last_event_at = now() WHERE id = $1",
        endpoint.id
    )
    .execute(&state.db)
    .await?;
    let duplicate = recorded == 0 && created == 0;
    count_delivery("notion", if duplicate { "duplicate" } else { "queued" });
    Ok((
        StatusCode::OK,
        AppJson(NotionDeliveryAccepted {
            kind: "event",
            executions,
            duplicate,
        }),
    ))
}

async fn store_verification(
    state: &InboundState,
    endpoint: &EndpointRow,
    token: &str,
) -> Result<(StatusCode, AppJson<NotionDeliveryAccepted>), AppError> {
    let sealed = state
        .vault
        .seal(token.as_bytes(), &associated_data(endpoint.id))
        .map_err(AppError::internal)?;
    let stored = sqlx::query!(
        "UPDATE notion_webhook_endpoints
         SET verification_token = $2, key_id = $3, verified_at = now()
         WHERE id = $1 AND verification_token IS NULL",
        endpoint.id,
        sealed.bytes,
        sealed.key_id,
    )
    .execute(&state.db)
    .await?
    .rows_affected();
    if stored == 0 {
        return Err(AppError::conflict(
            "this endpoint already has its verification token; replace the endpoint (POST /notion/webhook) to verify a new subscription",
        ));
    }
    Ok((
        StatusCode::OK,
        AppJson(NotionDeliveryAccepted {
            kind: "verification",
            executions: Vec::new(),
            duplicate: false,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_right_token_and_body() {
        let body = br#"{"id":"e1","type":"page.created"}"#;
        let signature = sign("secret_token", body);
        assert!(signature.starts_with("sha256="));
        assert!(verify("secret_token", body, &signature));
        assert!(!verify("other_token", body, &signature));
        assert!(!verify("secret_token", b"{}", &signature));
        assert!(!verify("secret_token", body, "sha256=zz"));
        assert!(!verify(
            "secret_token",
            body,
            signature.trim_start_matches("sha256=")
        ));
    }

    #[test]
    fn the_handshake_is_an_object_with_only_a_verification_token() {
        let handshake = serde_json::json!({"verification_token": "secret_abc"});
        let Value::Object(object) = &handshake else {
            panic!("object")
        };
        assert_eq!(
            handshake_token(object).map(|t| t.ok()),
            Some(Some("secret_abc"))
        );
        let event = serde_json::json!({"verification_token": "x", "type": "page.created"});
        let Value::Object(object) = &event else {
            panic!("object")
        };
        assert!(handshake_token(object).is_none());
    }

    #[test]
    fn events_without_an_entity_are_refused_naming_the_field() {
        let err = parse_event(serde_json::json!({"id": "e", "type": "page.created"}))
            .expect_err("no entity");
        assert_eq!(err.code(), ErrorCode::BadRequest);
        assert_eq!(err.field_errors()[0].field, "entity.id");
        let event = parse_event(serde_json::json!({
            "id": "e", "type": "page.created",
            "entity": {"id": "153104cd-477e-809d-8dc4-ff2d96ae3090", "type": "page"},
            "data": {"parent": {"id": "13950b26c2034f3bb97d93ec06319565", "type": "database"}}
        }))
        .expect("event");
        assert_eq!(event.entity_ids.len(), 2);
    }
}
