//! Email triggers: a task's inbound addresses `task-{token}@INBOUND_DOMAIN`. Managed per task
//! (create shows the address once, list, delete); mail arrives through the SMTP listener
//! ([`super::smtp`]) or `POST /hooks/email/{token}` from providers that post inbound mail
//! as HTTP (JSON fields or a raw `message/rfc822`).

use std::sync::Arc;

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::InboundState;
use super::{
    inbound::{DeliveryAccepted, read_body, touch},
    message::{self, Envelope, ParsedMail},
    payload, public_url, token,
};
use crate::{
    auth::CurrentUser,
    config::Settings,
    error::{AppError, ErrorCode, Problem},
    executions::{
        control::{self, Enqueued},
        model::TriggerKind,
    },
    http::{AppJson, AppPath, extract::parse_json},
    state::AppState,
    tasks::db::owned_task,
    tasks::model::TaskStatus,
};

/// Most email triggers one task may have.
pub const MAX_EMAIL_TRIGGERS_PER_TASK: i64 = 20;
/// What an email trigger address's local part starts with.
pub const LOCAL_PART_PREFIX: &str = "task-";

/// The routes that manage email triggers, relative to `/tasks`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_email_trigger, list_email_triggers))
        .routes(routes!(delete_email_trigger))
}

/// The inbound route of this file, relative to `/hooks`.
pub fn inbound_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_email))
}

/// `POST /tasks/{task_id}/email-triggers` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTriggerIn {
    /// A label (at most 100 characters).
    #[schema(example = "Invoices inbox", max_length = 100)]
    pub name: Option<String>,
}

/// An email trigger as listed (never its token or address).
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailTriggerOut {
    /// The trigger id.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// Its label.
    pub name: String,
    /// The token's public start, to recognise the address.
    pub token_prefix: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// When a message was last accepted (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new email trigger: the only time its address and token are shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailTriggerCreated {
    /// The trigger's details.
    #[serde(flatten)]
    pub details: EmailTriggerOut,
    /// The token; store it now, it cannot be shown again.
    pub token: String,
    /// `task-{token}@INBOUND_DOMAIN`, when `INBOUND_DOMAIN` is configured.
    #[schema(example = "task-k3q7x2m4p9d5w8r6t1y0z2a4b6c8e0f2@hooks.example.com")]
    pub address: Option<String>,
    /// Where a mail provider can post inbound messages for this trigger.
    pub http_url: String,
}

struct EmailTriggerRow {
    id: Uuid,
    task_id: Uuid,
    name: String,
    token_prefix: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<EmailTriggerRow> for EmailTriggerOut {
    fn from(row: EmailTriggerRow) -> Self {
        EmailTriggerOut {
            id: row.id,
            task_id: row.task_id,
            name: row.name,
            token_prefix: row.token_prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// Create an email trigger for one of your tasks; the response shows its address once.
#[utoipa::path(post, path = "/{id}/email-triggers", tag = "triggers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    request_body = EmailTriggerIn,
    responses(
        (status = 201, description = "Created; `token`, `address` and `http_url` are shown only now", body = EmailTriggerCreated),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 409, description = "The task has too many email triggers", body = Problem),
        (status = 422, description = "Invalid name", body = Problem),
    ))]
async fn create_email_trigger(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    user: CurrentUser,
    AppPath(task_id): AppPath<Uuid>,
    AppJson(body): AppJson<EmailTriggerIn>,
) -> Result<(StatusCode, AppJson<EmailTriggerCreated>), AppError> {
    owned_task(&db, task_id, user.id).await?;
    let mut tx = db.begin().await?;
    let created = insert_email_trigger(&mut tx, &settings, task_id, body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(created)))
}

/// Validates and stores an email trigger on a task the caller already checked is theirs,
/// inside the caller's transaction. The answer shows the token and address, once.
pub async fn insert_email_trigger(
    tx: &mut sqlx::PgConnection,
    settings: &Settings,
    task_id: Uuid,
    body: EmailTriggerIn,
) -> Result<EmailTriggerCreated, AppError> {
    let name = body.name.unwrap_or_default().trim().to_owned();
    if name.chars().count() > 100 {
        return Err(AppError::invalid_field(
            "name",
            "must be at most 100 characters",
        ));
    }
    let new = token::email();
    sqlx::query!("SELECT id FROM tasks WHERE id = $1 FOR UPDATE", task_id)
        .fetch_one(&mut *tx)
        .await?;
    let existing = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM email_triggers WHERE task_id = $1"#,
        task_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if existing >= MAX_EMAIL_TRIGGERS_PER_TASK {
        return Err(AppError::conflict(format!(
            "a task has at most {MAX_EMAIL_TRIGGERS_PER_TASK} email triggers; delete one first"
        )));
    }
    let row = sqlx::query_as!(
        EmailTriggerRow,
        "INSERT INTO email_triggers (id, task_id, name, token_prefix, token_hash)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, task_id, name, token_prefix, created_at, last_used_at",
        Uuid::now_v7(),
        task_id,
        name,
        new.prefix,
        new.hash,
    )
    .fetch_one(&mut *tx)
    .await?;
    let address = settings
        .triggers
        .inbound_domain
        .as_ref()
        .map(|domain| format!("{LOCAL_PART_PREFIX}{}@{domain}", new.token));
    Ok(EmailTriggerCreated {
        details: row.into(),
        http_url: public_url(settings, &format!("/hooks/email/{}", new.token)),
        address,
        token: new.token,
    })
}

/// List one of your tasks' email triggers (never tokens or addresses).
#[utoipa::path(get, path = "/{id}/email-triggers", tag = "triggers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task's email triggers, oldest first", body = Vec<EmailTriggerOut>),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
    ))]
async fn list_email_triggers(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath(task_id): AppPath<Uuid>,
) -> Result<AppJson<Vec<EmailTriggerOut>>, AppError> {
    owned_task(&db, task_id, user.id).await?;
    let rows = sqlx::query_as!(
        EmailTriggerRow,
        "SELECT e.id, e.task_id, e.name, e.token_prefix, e.created_at, e.last_used_at
         FROM email_triggers e JOIN tasks t ON t.id = e.task_id
         WHERE e.task_id = $1 AND t.owner_id = $2
         ORDER BY e.created_at, e.id",
        task_id,
        user.id
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(
        rows.into_iter().map(EmailTriggerOut::from).collect(),
    ))
}

/// Delete an email trigger; its address rejects mail from now on.
#[utoipa::path(delete, path = "/{id}/email-triggers/{trigger_id}", tag = "triggers", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Task id"),
        ("trigger_id" = Uuid, Path, description = "Email trigger id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such email trigger on a task of yours", body = Problem),
    ))]
async fn delete_email_trigger(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath((task_id, id)): AppPath<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    sqlx::query_scalar!(
        "DELETE FROM email_triggers e USING tasks t
         WHERE e.id = $1 AND e.task_id = $2 AND t.id = e.task_id AND t.owner_id = $3
         RETURNING e.id",
        id,
        task_id,
        user.id
    )
    .fetch_optional(&db)
    .await?
    .ok_or_else(|| AppError::not_found("email trigger"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// An email trigger found by its token, with what accepting mail needs.
#[derive(Debug, Clone)]
pub struct EmailTarget {
    /// The trigger.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// The task's owner.
    pub owner_id: Uuid,
    /// The task's status.
    pub task_status: TaskStatus,
}

/// The email trigger of a token (any case), if any and if its task's owner is an active
/// account.
pub async fn find_target(db: &PgPool, presented: &str) -> Result<Option<EmailTarget>, sqlx::Error> {
    let Some(hash) = token::email_lookup_hash(presented) else {
        return Ok(None);
    };
    sqlx::query_as!(
        EmailTarget,
        r#"SELECT e.id, e.task_id, t.owner_id, t.status AS "task_status: TaskStatus"
           FROM email_triggers e
           JOIN tasks t ON t.id = e.task_id
           JOIN users u ON u.id = t.owner_id AND u.status = 'active'
           WHERE e.token_hash = $1"#,
        hash
    )
    .fetch_optional(db)
    .await
}

/// The token of an address `task-{token}@{domain}` on our domain, if it is one.
pub fn token_of_address<'a>(address: &'a str, domain: &str) -> Option<&'a str> {
    let (local, at_domain) = address.rsplit_once('@')?;
    if !at_domain.eq_ignore_ascii_case(domain) {
        return None;
    }
    let prefix = local.get(..LOCAL_PART_PREFIX.len())?;
    prefix
        .eq_ignore_ascii_case(LOCAL_PART_PREFIX)
        .then(|| &local[LOCAL_PART_PREFIX.len()..])
}

/// Queues an execution of the target's task with a message as its input. A redelivery of
/// the same `Message-ID` to the same trigger answers the first execution.
pub async fn accept(
    state: &InboundState,
    target: &EmailTarget,
    mail: ParsedMail,
    envelope: Option<&Envelope>,
) -> Result<Enqueued, AppError> {
    if target.task_status != TaskStatus::Active {
        return Err(AppError::conflict(format!(
            "the task is {}; resume it to accept mail",
            target.task_status
        )));
    }
    let key = mail
        .message_id
        .as_deref()
        .filter(|id| !id.is_empty() && id.len() <= 256)
        .map(|id| format!("email:{}:{id}", target.id));
    let mut input = message::to_input(mail, envelope);
    if let Value::Object(map) = &mut input {
        map.insert(
            "trigger".into(),
            serde_json::json!({"type": "email", "id": target.id}),
        );
    }
    let queued = control::enqueue(
        &state.engine,
        target.task_id,
        target.owner_id,
        TriggerKind::Email,
        input,
        key.as_deref(),
    )
    .await?;
    touch(state, super::inbound::TriggerTable::Email, target.id).await;
    super::inbound::count_delivery(
        "email",
        if queued.created {
            "queued"
        } else {
            "duplicate"
        },
    );
    Ok(queued)
}

/// One or several addresses.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Recipients {
    /// One address.
    One(String),
    /// Several addresses.
    Many(Vec<String>),
}

/// An inbound message as JSON fields (what mail providers' inbound webhooks post).
#[derive(Debug, Deserialize, ToSchema)]
pub struct InboundEmailJson {
    /// The sender.
    pub from: Option<String>,
    /// The recipients.
    pub to: Option<Recipients>,
    /// Subject.
    pub subject: Option<String>,
    /// Plain-text body.
    pub text: Option<String>,
    /// HTML body.
    pub html: Option<String>,
    /// The `Message-ID`, used to recognise a redelivery.
    pub message_id: Option<String>,
}

impl From<InboundEmailJson> for ParsedMail {
    fn from(json: InboundEmailJson) -> Self {
        ParsedMail {
            from: json.from,
            to: match json.to {
                None => Vec::new(),
                Some(Recipients::One(one)) => vec![one],
                Some(Recipients::Many(many)) => many,
            },
            subject: json.subject,
            text: json.text,
            html: json.html,
            message_id: json.message_id.map(|id| {
                id.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            }),
            ..ParsedMail::default()
        }
    }
}

/// Deliver an inbound email over HTTP: JSON fields `{from, to, subject, text, html}` or a raw
/// message as `message/rfc822`. The task receives the same input as from the SMTP listener.
#[utoipa::path(post, path = "/email/{token}", tag = "triggers",
    params(("token" = String, Path, description = "The email trigger's token")),
    request_body(description = "JSON fields, or a raw RFC 822 message",
        content((InboundEmailJson = "application/json"), (String = "message/rfc822"))),
    responses(
        (status = 202, description = "Queued (or a redelivery of the same Message-ID)", body = DeliveryAccepted),
        (status = 400, description = "Malformed JSON or message", body = Problem),
        (status = 404, description = "Unknown or deleted token", body = Problem),
        (status = 409, description = "The task is paused, stopped or failed", body = Problem),
        (status = 413, description = "Larger than INBOUND_EMAIL_MAX_BYTES", body = Problem),
        (status = 415, description = "Neither JSON nor message/rfc822", body = Problem),
        (status = 429, description = "Too many messages on this token, or the task's owner already has MAX_QUEUED_PER_OWNER executions waiting; see Retry-After", body = Problem),
    ))]
async fn receive_email(
    State(state): State<InboundState>,
    AppPath(presented): AppPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, AppJson<DeliveryAccepted>), AppError> {
    let target = find_target(&state.db, &presented)
        .await?
        .ok_or_else(|| AppError::not_found("hook"))?;
    state.runtime.limiter.check(&target.id).inspect_err(|_| {
        super::inbound::count_delivery("email", "rate_limited");
    })?;
    let bytes = read_body(
        &headers,
        body,
        state.settings.triggers.inbound_email_max_bytes,
    )
    .await?;
    let media_type = payload::media_type(&headers);
    let mail = if payload::is_json(&media_type) {
        parse_json::<InboundEmailJson>(&bytes)?.into()
    } else if media_type == "message/rfc822" {
        message::parse_rfc822(&bytes).ok_or_else(|| {
            AppError::invalid_field("body", "not an RFC 822 message")
                .with_source(anyhow::anyhow!("unparseable message"))
        })?
    } else {
        return Err(AppError::new(
            ErrorCode::InvalidContentType,
            "expected application/json or message/rfc822",
        ));
    };
    let queued = accept(&state, &target, mail, None).await?;
    Ok((
        StatusCode::ACCEPTED,
        AppJson(DeliveryAccepted {
            execution_id: queued.execution_id,
            duplicate: !queued.created,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_on_our_domain_yield_their_token() {
        assert_eq!(
            token_of_address("task-abc@Hooks.Example.com", "hooks.example.com"),
            Some("abc")
        );
        assert_eq!(
            token_of_address("TASK-abc@hooks.example.com", "hooks.example.com"),
            Some("abc")
        );
        assert_eq!(
            token_of_address("task-abc@other.com", "hooks.example.com"),
            None
        );
        assert_eq!(
            token_of_address("abc@hooks.example.com", "hooks.example.com"),
            None
        );
        assert_eq!(token_of_address("no-at-sign", "hooks.example.com"), None);
    }
}
