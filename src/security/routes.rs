//! `/admin/security-alerts`: the alert list (filters, cursor pagination), one alert with its
//! history, and its transitions (`acknowledge`, `resolve`, `false-positive`, each with a
//! note). Admins only; each transition is recorded by the audit trail as a critical admin
//! action (`admin.security_alerts.acknowledge`, …) and in the alert's own history.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::{AlertOut, AlertStatus, RuleKind, Severity};
use crate::{
    auth::{Admin, RequireRole},
    error::{AppError, AppResult, Problem},
    http::{AppJson, AppPath, AppQuery, cursor},
    state::AppState,
};

/// Longest transition note, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;
/// Longest suppression after a false positive, in days.
pub const MAX_SUPPRESS_DAYS: i32 = 365;

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_security_alerts))
        .routes(routes!(get_security_alert))
        .routes(routes!(acknowledge_security_alert))
        .routes(routes!(resolve_security_alert))
        .routes(routes!(false_positive_security_alert))
}

/// Filters of the list (all optional, combined with AND).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertFilters {
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Only this state.
    pub status: Option<AlertStatus>,
    /// Only this rule.
    pub rule: Option<RuleKind>,
    /// Seen at or after this time (`last_seen`).
    pub from: Option<DateTime<Utc>>,
    /// First seen before this time.
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (keep the filters while paging).
    pub cursor: Option<String>,
}

/// One page of alerts, most recently seen first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertPage {
    /// Most recently seen first.
    pub items: Vec<AlertOut>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// One step of an alert's life cycle.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionOut {
    /// The state before.
    pub from_status: AlertStatus,
    /// The state after.
    pub to_status: AlertStatus,
    /// The admin who made it (absent once their account is gone).
    pub actor_id: Option<Uuid>,
    /// Why.
    pub note: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// An alert with its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDetail {
    /// The alert.
    #[serde(flatten)]
    pub alert: AlertOut,
    /// Its transitions, oldest first.
    pub transitions: Vec<TransitionOut>,
}

/// The body of `acknowledge` and `resolve`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionIn {
    /// Why (1–2000 characters).
    #[schema(min_length = 1, max_length = 2000, example = "Looking into it")]
    pub note: String,
}

/// The body of `false-positive`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FalsePositiveIn {
    /// Why (1–2000 characters).
    #[schema(min_length = 1, max_length = 2000, example = "Our load test")]
    pub note: String,
    /// Suppress this rule for this subject for so many days (1–365); no suppression when
    /// absent.
    #[schema(minimum = 1, maximum = 365)]
    pub suppress_days: Option<i32>,
}

fn check_note(note: &str) -> AppResult<()> {
    let chars = note.trim().chars().count();
    if chars == 0 || note.chars().count() > MAX_NOTE_CHARS {
        return Err(AppError::invalid_field(
            "note",
            format!("must be 1 to {MAX_NOTE_CHARS} characters"),
        ));
    }
    Ok(())
}

/// List security alerts, most recently seen first, with filters and cursor pagination.
#[utoipa::path(get, path = "/admin/security-alerts", tag = "admin", security(("bearer" = [])),
    params(AlertFilters),
    responses(
        (status = 200, description = "A page of alerts", body = AlertPage),
        (status = 400, description = "A query parameter is malformed (an enum or a time)", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "`limit` or `cursor` is invalid, or `to` is not after `from`", body = Problem),
    ))]
async fn list_security_alerts(
    State(db): State<PgPool>,
    _admin: RequireRole<Admin>,
    AppQuery(filters): AppQuery<AlertFilters>,
) -> AppResult<AppJson<AlertPage>> {
    let limit = cursor::page_size(filters.limit)?;
    if let (Some(from), Some(to)) = (filters.from, filters.to)
        && to <= from
    {
        return Err(AppError::invalid_field("query.to", "must be after `from`"));
    }
    let after: Option<(DateTime<Utc>, Uuid)> =
        filters.cursor.as_deref().map(cursor::decode).transpose()?;
    let (after_seen, after_id) = after.unzip();
    let mut items = sqlx::query_as!(
        AlertOut,
        r#"SELECT id, rule AS "rule: RuleKind", severity AS "severity: Severity", subject, count,
                  first_seen, last_seen, event_ids, details, monitor_only,
                  status AS "status: AlertStatus", created_at, updated_at
           FROM security_alerts
           WHERE ($1::text IS NULL OR severity = $1)
             AND ($2::text IS NULL OR status = $2)
             AND ($3::text IS NULL OR rule = $3)
             AND ($4::timestamptz IS NULL OR last_seen >= $4)
             AND ($5::timestamptz IS NULL OR first_seen < $5)
             AND ($6::timestamptz IS NULL OR (last_seen, id) < ($6, $7::uuid))
           ORDER BY last_seen DESC, id DESC
           LIMIT $8"#,
        filters.severity.map(Severity::as_str),
        filters.status.map(AlertStatus::as_str),
        filters.rule.map(RuleKind::as_str),
        filters.from,
        filters.to,
        after_seen,
        after_id,
        limit + 1
    )
    .fetch_all(&db)
    .await?;
    let next_cursor = if items.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        items.truncate(items.len() - 1);
        items
            .last()
            .map(|last| cursor::encode(&(last.last_seen, last.id)))
            .transpose()?
    } else {
        None
    };
    Ok(AppJson(AlertPage { items, next_cursor }))
}

/// One security alert with its history.
#[utoipa::path(get, path = "/admin/security-alerts/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The alert")),
    responses(
        (status = 200, description = "The alert", body = AlertDetail),
        (status = 400, description = "`id` is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such alert", body = Problem),
    ))]
async fn get_security_alert(
    State(db): State<PgPool>,
    _admin: RequireRole<Admin>,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<AppJson<AlertDetail>> {
    Ok(AppJson(detail(&db, id).await?))
}

async fn detail(db: &PgPool, id: Uuid) -> AppResult<AlertDetail> {
    let alert = sqlx::query_as!(
        AlertOut,
        r#"SELECT id, rule AS "rule: RuleKind", severity AS "severity: Severity", subject, count,
                  first_seen, last_seen, event_ids, details, monitor_only,
                  status AS "status: AlertStatus", created_at, updated_at
           FROM security_alerts WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or_else(|| AppError::not_found("security alert"))?;
    let transitions = sqlx::query_as!(
        TransitionOut,
        r#"SELECT from_status AS "from_status: AlertStatus", to_status AS "to_status: AlertStatus",
                  actor_id, note, created_at
           FROM security_alert_transitions WHERE alert_id = $1
           ORDER BY created_at, id"#,
        id
    )
    .fetch_all(db)
    .await?;
    Ok(AlertDetail { alert, transitions })
}

/// Moves an alert to `to`, recording who and why; 409 when the alert cannot move there.
async fn transition(
    db: &PgPool,
    admin_id: Uuid,
    id: Uuid,
    to: AlertStatus,
    note: &str,
    suppress_days: Option<i32>,
) -> AppResult<AlertDetail> {
    check_note(note)?;
    if let Some(days) = suppress_days
        && !(1..=MAX_SUPPRESS_DAYS).contains(&days)
    {
        return Err(AppError::invalid_field(
            "suppress_days",
            format!("must be between 1 and {MAX_SUPPRESS_DAYS}"),
        ));
    }
    let mut tx = db.begin().await?;
    let current = sqlx::query!(
        r#"SELECT status AS "status: AlertStatus", rule, subject
           FROM security_alerts WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("security alert"))?;
    if !current.status.may_become(to) {
        return Err(AppError::conflict(format!(
            "the alert is {}; it cannot become {}",
            current.status, to
        )));
    }
    sqlx::query!(
        "UPDATE security_alerts SET status = $2, updated_at = now() WHERE id = $1",
        id,
        to.as_str()
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO security_alert_transitions (id, alert_id, from_status, to_status, actor_id, note)
         VALUES ($1, $2, $3, $4, $5, $6)",
        Uuid::now_v7(),
        id,
        current.status.as_str(),
        to.as_str(),
        admin_id,
        note.trim()
    )
    .execute(&mut *tx)
    .await?;
    if let Some(days) = suppress_days {
        sqlx::query!(
            "INSERT INTO security_suppressions (rule, subject, until, alert_id, created_by)
             VALUES ($1, $2, now() + make_interval(days => $3), $4, $5)
             ON CONFLICT (rule, subject) DO UPDATE SET
                 until = EXCLUDED.until, alert_id = EXCLUDED.alert_id,
                 created_by = EXCLUDED.created_by, created_at = now()",
            current.rule,
            current.subject,
            days,
            id,
            admin_id
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    detail(db, id).await
}

/// Acknowledge an open alert (`OPEN → ACKNOWLEDGED`).
#[utoipa::path(post, path = "/admin/security-alerts/{id}/acknowledge", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The alert")),
    request_body = TransitionIn,
    responses(
        (status = 200, description = "The alert, acknowledged", body = AlertDetail),
        (status = 400, description = "The body is not JSON, or `id` is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such alert", body = Problem),
        (status = 409, description = "The alert is not `OPEN`", body = Problem),
        (status = 415, description = "The body is not `application/json`", body = Problem),
        (status = 422, description = "`note` is missing, empty or too long", body = Problem),
    ))]
async fn acknowledge_security_alert(
    State(db): State<PgPool>,
    admin: RequireRole<Admin>,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<TransitionIn>,
) -> AppResult<AppJson<AlertDetail>> {
    Ok(AppJson(
        transition(
            &db,
            admin.0.id,
            id,
            AlertStatus::Acknowledged,
            &body.note,
            None,
        )
        .await?,
    ))
}

/// Resolve an open or acknowledged alert (`→ RESOLVED`).
#[utoipa::path(post, path = "/admin/security-alerts/{id}/resolve", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The alert")),
    request_body = TransitionIn,
    responses(
        (status = 200, description = "The alert, resolved", body = AlertDetail),
        (status = 400, description = "The body is not JSON, or `id` is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such alert", body = Problem),
        (status = 409, description = "The alert is already `RESOLVED` or `FALSE_POSITIVE`", body = Problem),
        (status = 415, description = "The body is not `application/json`", body = Problem),
        (status = 422, description = "`note` is missing, empty or too long", body = Problem),
    ))]
async fn resolve_security_alert(
    State(db): State<PgPool>,
    admin: RequireRole<Admin>,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<TransitionIn>,
) -> AppResult<AppJson<AlertDetail>> {
    Ok(AppJson(
        transition(&db, admin.0.id, id, AlertStatus::Resolved, &body.note, None).await?,
    ))
}

/// Mark an open or acknowledged alert a false positive (`→ FALSE_POSITIVE`), optionally
/// suppressing the rule for its subject for some days.
#[utoipa::path(post, path = "/admin/security-alerts/{id}/false-positive", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The alert")),
    request_body = FalsePositiveIn,
    responses(
        (status = 200, description = "The alert, marked a false positive", body = AlertDetail),
        (status = 400, description = "The body is not JSON, or `id` is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such alert", body = Problem),
        (status = 409, description = "The alert is already `RESOLVED` or `FALSE_POSITIVE`", body = Problem),
        (status = 415, description = "The body is not `application/json`", body = Problem),
        (status = 422, description = "`note` is missing, empty or too long, or `suppress_days` is out of range", body = Problem),
    ))]
async fn false_positive_security_alert(
    State(db): State<PgPool>,
    admin: RequireRole<Admin>,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<FalsePositiveIn>,
) -> AppResult<AppJson<AlertDetail>> {
    Ok(AppJson(
        transition(
            &db,
            admin.0.id,
            id,
            AlertStatus::FalsePositive,
            &body.note,
            body.suppress_days,
        )
        .await?,
    ))
}
