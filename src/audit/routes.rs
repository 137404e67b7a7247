//! Reading the audit trail. Admins: `GET /admin/audit-logs` (filters, cursor pagination),
//! `GET /admin/audit-logs/{id}`, `GET /admin/audit-logs/verify` (the hash chain) and
//! `GET /admin/audit-logs/export` (its own router, in `export.rs`). Everyone: `GET /users/me/audit-logs`,
//! their own account's security history.

use std::net::IpAddr;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    chain::{self, VerifyReport},
    model::{ActionClass, ActorType, Outcome, Target},
};
use crate::{
    auth::{Admin, CurrentUser, RequireRole},
    error::{AppError, AppResult, Problem},
    http::{AppJson, AppPath, AppQuery, cursor},
    state::AppState,
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit_logs))
        .routes(routes!(verify_audit_logs))
        .routes(routes!(get_audit_log))
        .routes(routes!(my_audit_logs))
}

/// Who acted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorOut {
    /// What kind of actor.
    #[serde(rename = "type")]
    pub kind: ActorType,
    /// The user (an API key's owner for a key); absent for anonymous and system actors.
    pub id: Option<Uuid>,
    /// The user's email when the event was written.
    pub email: Option<String>,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventOut {
    /// UUIDv7.
    pub id: Uuid,
    /// Position in the trail and in the hash chain.
    pub seq: i64,
    /// When the request arrived.
    pub occurred_at: DateTime<Utc>,
    /// The `X-Request-Id` the response carried.
    pub transaction_id: String,
    /// Who acted.
    pub actor: ActorOut,
    /// The API key used, if any.
    pub api_key_id: Option<Uuid>,
    /// Dotted action, e.g. `tasks.create`, `auth.login.failed`, `admin.role.grant`.
    pub action: String,
    /// Class of the action.
    pub action_class: ActionClass,
    /// Role, key, password, billing or admin change.
    pub critical: bool,
    /// HTTP method (`WS` for a Socket.IO handshake).
    pub method: String,
    /// The matched route template (absent when no route matched).
    pub route: Option<String>,
    /// The request path (credentials in it, such as webhook tokens, replaced).
    pub path: String,
    /// HTTP status answered.
    pub status: i32,
    /// `SUCCESS`, `FAILURE`, or `DENIED` (401, 403, 429).
    pub outcome: Outcome,
    /// What the request acted on, from its path.
    pub targets: Vec<Target>,
    /// The client address (through `TRUSTED_PROXIES`).
    pub ip: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// Milliseconds to the response head.
    pub latency_ms: i32,
    /// The JSON request body, credentials redacted, capped at 8 KiB.
    pub request_body: Option<Value>,
    /// The JSON response body, credentials redacted, capped at 8 KiB.
    pub response_body: Option<Value>,
    /// The row's hash in the chain, hex (absent until sealed, within seconds).
    pub hash: Option<String>,
    /// The previous row's hash, hex.
    pub prev_hash: Option<String>,
}

/// One page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditEventOut>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Filters of the admin list and export (all optional, combined with AND).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilters {
    /// The acting user.
    pub actor_id: Option<Uuid>,
    /// The kind of actor.
    pub actor_type: Option<ActorType>,
    /// Actions starting with this (`auth.`, `tasks.create`); at most 200 characters.
    #[param(max_length = 200)]
    pub action: Option<String>,
    /// The class.
    pub action_class: Option<ActionClass>,
    /// The outcome.
    pub outcome: Option<Outcome>,
    /// Only critical (`true`) or only other (`false`) events.
    pub critical: Option<bool>,
    /// The client address, exactly.
    pub ip: Option<String>,
    /// The route template, exactly (`/tasks/{id}`).
    #[param(max_length = 300)]
    pub route: Option<String>,
    /// The `X-Request-Id`.
    #[param(max_length = 128)]
    pub transaction_id: Option<String>,
    /// At or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Before this time.
    pub to: Option<DateTime<Utc>>,
}

/// Filters checked and ready for SQL.
#[derive(Debug, Clone, Default)]
pub(super) struct CheckedFilters {
    pub actor_id: Option<Uuid>,
    pub actor_type: Option<&'static str>,
    pub action: Option<String>,
    pub action_class: Option<&'static str>,
    pub outcome: Option<&'static str>,
    pub critical: Option<bool>,
    pub ip: Option<String>,
    pub route: Option<String>,
    pub transaction_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl AuditFilters {
    /// 422 naming the parameter for a malformed address, an over-long text or `to` ≤ `from`.
    pub(super) fn check(self) -> AppResult<CheckedFilters> {
        let too_long = |field: &str, value: &Option<String>, max: usize| {
            if value.as_ref().is_some_and(|v| v.chars().count() > max) {
                Err(AppError::invalid_field(
                    format!("query.{field}"),
                    format!("must be at most {max} characters"),
                ))
            } else {
                Ok(())
            }
        };
        too_long("action", &self.action, 200)?;
        too_long("route", &self.route, 300)?;
        too_long("transaction_id", &self.transaction_id, 128)?;
        let ip = self
            .ip
            .map(|ip| {
                ip.parse::<IpAddr>()
                    .map(|ip| ip.to_canonical().to_string())
                    .map_err(|_| AppError::invalid_field("query.ip", "must be an IP address"))
            })
            .transpose()?;
        if let (Some(from), Some(to)) = (self.from, self.to)
            && to <= from
        {
            return Err(AppError::invalid_field("query.to", "must be after `from`"));
        }
        Ok(CheckedFilters {
            actor_id: self.actor_id,
            actor_type: self.actor_type.map(ActorType::as_str),
            action: self.action,
            action_class: self.action_class.map(ActionClass::as_str),
            outcome: self.outcome.map(Outcome::as_str),
            critical: self.critical,
            ip,
            route: self.route,
            transaction_id: self.transaction_id,
            from: self.from,
            to: self.to,
        })
    }
}

/// Page parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (keep the filters while paging).
    pub cursor: Option<String>,
}

/// A row as selected (the same columns in every query of this module).
pub(super) struct Row {
    pub id: Uuid,
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub transaction_id: String,
    pub actor_type: ActorType,
    pub actor_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub api_key_id: Option<Uuid>,
    pub action: String,
    pub action_class: ActionClass,
    pub critical: bool,
    pub method: String,
    pub route: Option<String>,
    pub path: String,
    pub status: i32,
    pub outcome: Outcome,
    pub targets: Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub latency_ms: i32,
    pub request_body: Option<Value>,
    pub response_body: Option<Value>,
    pub hash: Option<Vec<u8>>,
    pub prev_hash: Option<Vec<u8>>,
}

impl From<Row> for AuditEventOut {
    fn from(r: Row) -> Self {
        AuditEventOut {
            id: r.id,
            seq: r.seq,
            occurred_at: r.occurred_at,
            transaction_id: r.transaction_id,
            actor: ActorOut {
                kind: r.actor_type,
                id: r.actor_id,
                email: r.actor_email,
            },
            api_key_id: r.api_key_id,
            action: r.action,
            action_class: r.action_class,
            critical: r.critical,
            method: r.method,
            route: r.route,
            path: r.path,
            status: r.status,
            outcome: r.outcome,
            targets: serde_json::from_value(r.targets).unwrap_or_default(),
            ip: r.ip,
            user_agent: r.user_agent,
            latency_ms: r.latency_ms,
            request_body: r.request_body,
            response_body: r.response_body,
            hash: r.hash.map(hex::encode),
            prev_hash: r.prev_hash.map(hex::encode),
        }
    }
}

/// A page from `limit + 1` rows.
fn page(mut rows: Vec<Row>, limit: i64) -> AppResult<AuditPage> {
    let next_cursor = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.truncate(rows.len() - 1);
        rows.last()
            .map(|last| cursor::encode(&last.seq))
            .transpose()?
    } else {
        None
    };
    Ok(AuditPage {
        items: rows.into_iter().map(AuditEventOut::from).collect(),
        next_cursor,
    })
}

/// List audit events, newest first, with filters and cursor pagination.
#[utoipa::path(get, path = "/admin/audit-logs", tag = "admin", security(("bearer" = [])),
    params(AuditFilters, PageParams),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "A query parameter is malformed (an id, enum, boolean or time)", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "`limit`, `cursor`, `ip` or a text filter is invalid, or `to` is not after `from`", body = Problem),
    ))]
async fn list_audit_logs(
    State(db): State<PgPool>,
    _admin: RequireRole<Admin>,
    AppQuery(filters): AppQuery<AuditFilters>,
    AppQuery(paging): AppQuery<PageParams>,
) -> AppResult<AppJson<AuditPage>> {
    let f = filters.check()?;
    let limit = cursor::page_size(paging.limit)?;
    let before: Option<i64> = paging.cursor.as_deref().map(cursor::decode).transpose()?;
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, seq, occurred_at, transaction_id, actor_type AS "actor_type: ActorType",
                  actor_id, actor_email, api_key_id, action,
                  action_class AS "action_class: ActionClass", critical, method, route, path,
                  status, outcome AS "outcome: Outcome", targets, host(ip) AS ip, user_agent,
                  latency_ms, request_body, response_body, hash, prev_hash
           FROM audit_events
           WHERE ($1::uuid IS NULL OR actor_id = $1)
             AND ($2::text IS NULL OR actor_type = $2)
             AND ($3::text IS NULL OR starts_with(action, $3))
             AND ($4::text IS NULL OR action_class = $4)
             AND ($5::text IS NULL OR outcome = $5)
             AND ($6::bool IS NULL OR critical = $6)
             AND ($7::text IS NULL OR ip = $7::inet)
             AND ($8::text IS NULL OR route = $8)
             AND ($9::text IS NULL OR transaction_id = $9)
             AND ($10::timestamptz IS NULL OR occurred_at >= $10)
             AND ($11::timestamptz IS NULL OR occurred_at < $11)
             AND ($12::int8 IS NULL OR seq < $12)
           ORDER BY seq DESC
           LIMIT $13"#,
        f.actor_id,
        f.actor_type,
        f.action,
        f.action_class,
        f.outcome,
        f.critical,
        f.ip,
        f.route,
        f.transaction_id,
        f.from,
        f.to,
        before,
        limit + 1
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(page(rows, limit)?))
}

/// One audit event.
#[utoipa::path(get, path = "/admin/audit-logs/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The event")),
    responses(
        (status = 200, description = "The event", body = AuditEventOut),
        (status = 400, description = "`id` is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such event", body = Problem),
    ))]
async fn get_audit_log(
    State(db): State<PgPool>,
    _admin: RequireRole<Admin>,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<AppJson<AuditEventOut>> {
    let row = sqlx::query_as!(
        Row,
        r#"SELECT id, seq, occurred_at, transaction_id, actor_type AS "actor_type: ActorType",
                  actor_id, actor_email, api_key_id, action,
                  action_class AS "action_class: ActionClass", critical, method, route, path,
                  status, outcome AS "outcome: Outcome", targets, host(ip) AS ip, user_agent,
                  latency_ms, request_body, response_body, hash, prev_hash
           FROM audit_events WHERE id = $1"#,
        id
    )
    .fetch_optional(&db)
    .await?
    .ok_or_else(|| AppError::not_found("audit event"))?;
    Ok(AppJson(row.into()))
}

/// Check the hash chain: how far it holds, and the first row that does not.
#[utoipa::path(get, path = "/admin/audit-logs/verify", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "How far the chain verifies", body = VerifyReport),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
    ))]
async fn verify_audit_logs(
    State(db): State<PgPool>,
    _admin: RequireRole<Admin>,
) -> AppResult<AppJson<VerifyReport>> {
    Ok(AppJson(chain::verify(&db).await?))
}

/// Your account's security history: sign-ins, sessions, password and key changes, and
/// every critical action you made, newest first.
#[utoipa::path(get, path = "/users/me/audit-logs", tag = "users", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 422, description = "`limit` or `cursor` is invalid", body = Problem),
    ))]
async fn my_audit_logs(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppQuery(paging): AppQuery<PageParams>,
) -> AppResult<AppJson<AuditPage>> {
    let limit = cursor::page_size(paging.limit)?;
    let before: Option<i64> = paging.cursor.as_deref().map(cursor::decode).transpose()?;
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, seq, occurred_at, transaction_id, actor_type AS "actor_type: ActorType",
                  actor_id, actor_email, api_key_id, action,
                  action_class AS "action_class: ActionClass", critical, method, route, path,
                  status, outcome AS "outcome: Outcome", targets, host(ip) AS ip, user_agent,
                  latency_ms, request_body, response_body, hash, prev_hash
           FROM audit_events
           WHERE actor_id = $1 AND (action_class IN ('AUTH', 'SECURITY') OR critical)
             AND ($2::int8 IS NULL OR seq < $2)
           ORDER BY seq DESC
           LIMIT $3"#,
        user.id,
        before,
        limit + 1
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(page(rows, limit)?))
}
