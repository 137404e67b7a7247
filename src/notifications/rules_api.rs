//! `/tasks/{id}/alert-rules` (and `/api/v1/tasks/{id}/alert-rules`): a task's alert rules.
//! Reading needs `tasks:read`, changing `tasks:write`; another owner's task or rule is a
//! 404. A task has at most [`MAX_RULES_PER_TASK`] rules; a new one starts with the
//! [`default_rules`].

use std::collections::HashSet;

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    model::Channel,
    rules::{MAX_RULES_PER_TASK, RuleKind, parse_params},
};
use crate::{
    auth::{Caller, Scope},
    error::{AppError, AppResult, FieldError, Problem},
    http::{AppJson, AppPath},
    state::AppState,
    tasks::db::owned_task,
};

/// Longest `repeat_every_minutes` (a week).
pub const MAX_REPEAT_MINUTES: i32 = 10_080;

/// Routes of this file, relative to `/tasks`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(replace_rule, delete_rule))
}

/// An alert rule as sent by the client (`POST`, and `PUT` which replaces it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleIn {
    /// What the rule watches.
    pub kind: RuleKind,
    /// `{"count": n}` (1–1000) for `CONSECUTIVE_FAILURES`, `{"ms": n}` (1–86400000) for
    /// `DURATION_OVER`, nothing for the others.
    #[schema(value_type = Option<Object>)]
    pub params: Option<Value>,
    /// Where its notifications go (default both `IN_APP` and `EMAIL`).
    pub channels: Option<Vec<Channel>>,
    /// Send again this often while the condition holds, 1–10080 (default: no repeats).
    #[schema(minimum = 1, maximum = 10080)]
    pub repeat_every_minutes: Option<i32>,
    /// Send nothing until then (the rule keeps its state meanwhile).
    pub muted_until: Option<DateTime<Utc>>,
}

/// An alert rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertRuleOut {
    /// The rule.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// What it watches.
    pub kind: RuleKind,
    /// Its parameters.
    #[schema(value_type = Object)]
    pub params: Value,
    /// Where its notifications go.
    pub channels: Vec<Channel>,
    /// Repeat interval while the condition holds.
    pub repeat_every_minutes: Option<i32>,
    /// Muted until then.
    pub muted_until: Option<DateTime<Utc>>,
    /// Whether its condition holds and it has fired.
    pub alerting: bool,
    /// When it last sent a notification.
    pub last_fired_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

struct Valid {
    params: Value,
    channels: Vec<String>,
}

fn validate(input: &AlertRuleIn) -> AppResult<Valid> {
    let mut errors: Vec<FieldError> = Vec::new();
    let params = match parse_params(input.kind, input.params.as_ref()) {
        Ok(params) => params,
        Err(err) => {
            errors.extend(err.field_errors().iter().cloned());
            Value::Null
        }
    };
    let channels = input
        .channels
        .clone()
        .unwrap_or_else(|| vec![Channel::InApp, Channel::Email]);
    if channels.is_empty() {
        errors.push(FieldError {
            field: "channels".into(),
            message: "give at least one channel".into(),
        });
    }
    let mut seen = HashSet::new();
    if channels.iter().any(|c| !seen.insert(*c)) {
        errors.push(FieldError {
            field: "channels".into(),
            message: "a channel is listed twice".into(),
        });
    }
    if input
        .repeat_every_minutes
        .is_some_and(|m| !(1..=MAX_REPEAT_MINUTES).contains(&m))
    {
        errors.push(FieldError {
            field: "repeat_every_minutes".into(),
            message: format!("must be from 1 to {MAX_REPEAT_MINUTES}"),
        });
    }
    if !errors.is_empty() {
        return Err(AppError::validation(errors));
    }
    Ok(Valid {
        params,
        channels: channels.iter().map(|c| c.as_str().to_owned()).collect(),
    })
}

struct Row {
    id: Uuid,
    task_id: Uuid,
    kind: RuleKind,
    params: Value,
    channels: Vec<String>,
    repeat_every_minutes: Option<i32>,
    muted_until: Option<DateTime<Utc>>,
    alerting: bool,
    last_fired_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for AlertRuleOut {
    fn from(r: Row) -> Self {
        AlertRuleOut {
            id: r.id,
            task_id: r.task_id,
            kind: r.kind,
            params: r.params,
            channels: r.channels.iter().filter_map(|c| c.parse().ok()).collect(),
            repeat_every_minutes: r.repeat_every_minutes,
            muted_until: r.muted_until,
            alerting: r.alerting,
            last_fired_at: r.last_fired_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The alert rules of one of your tasks, oldest first.
#[utoipa::path(get, path = "/{id}/alert-rules", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task")),
    responses(
        (status = 200, description = "The task's rules", body = Vec<AlertRuleOut>),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `tasks:read`", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
    ))]
async fn list_rules(
    State(db): State<PgPool>,
    caller: Caller,
    AppPath(task_id): AppPath<Uuid>,
) -> AppResult<AppJson<Vec<AlertRuleOut>>> {
    caller.require(Scope::TasksRead)?;
    owned_task(&db, task_id, caller.owner_id()).await?;
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, task_id, kind AS "kind: RuleKind", params, channels, repeat_every_minutes,
                  muted_until, alerting, last_fired_at, created_at, updated_at
           FROM alert_rules WHERE task_id = $1 ORDER BY created_at, id"#,
        task_id
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(rows.into_iter().map(AlertRuleOut::from).collect()))
}

/// Add an alert rule to one of your tasks.
#[utoipa::path(post, path = "/{id}/alert-rules", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task")),
    request_body = AlertRuleIn,
    responses(
        (status = 201, description = "The rule", body = AlertRuleOut),
        (status = 400, description = "The body is not JSON, or the id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 402, description = "Your plan's `max_alert_rules_per_task` is reached (`PLAN_LIMIT_REACHED`)", body = Problem),
        (status = 403, description = "The API key lacks `tasks:write`", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 409, description = "The task already has the most rules allowed (20)", body = Problem),
        (status = 422, description = "A field is invalid; each failing field is named", body = Problem),
    ))]
async fn create_rule(
    State(db): State<PgPool>,
    State(policy): State<crate::billing::PlanPolicy>,
    caller: Caller,
    AppPath(task_id): AppPath<Uuid>,
    AppJson(input): AppJson<AlertRuleIn>,
) -> AppResult<(StatusCode, AppJson<AlertRuleOut>)> {
    caller.require(Scope::TasksWrite)?;
    validate(&input)?;
    let mut tx = db.begin().await?;
    // Locking the task serializes concurrent additions, so the limit holds.
    let owned = sqlx::query_scalar!(
        "SELECT id FROM tasks WHERE id = $1 AND owner_id = $2 FOR UPDATE",
        task_id,
        caller.owner_id()
    )
    .fetch_optional(&mut *tx)
    .await?;
    if owned.is_none() {
        return Err(AppError::not_found("task"));
    }
    let row = insert_rule(&mut tx, &policy, caller.owner_id(), task_id, &input).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(row)))
}

/// Validates and adds an alert rule to a task of `owner_id` that the caller's transaction
/// has locked (`FOR UPDATE`), within the per-task and plan limits.
pub async fn insert_rule(
    tx: &mut sqlx::PgConnection,
    policy: &crate::billing::PlanPolicy,
    owner_id: Uuid,
    task_id: Uuid,
    input: &AlertRuleIn,
) -> AppResult<AlertRuleOut> {
    let valid = validate(input)?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM alert_rules WHERE task_id = $1"#,
        task_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if count >= MAX_RULES_PER_TASK {
        return Err(AppError::conflict(format!(
            "a task has at most {MAX_RULES_PER_TASK} alert rules"
        )));
    }
    crate::billing::limits::admit_alert_rule(&mut *tx, policy, owner_id, count).await?;
    let row = sqlx::query_as!(
        Row,
        r#"INSERT INTO alert_rules (id, task_id, kind, params, channels, repeat_every_minutes,
                                    muted_until)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING id, task_id, kind AS "kind: RuleKind", params, channels,
                     repeat_every_minutes, muted_until, alerting, last_fired_at, created_at,
                     updated_at"#,
        Uuid::now_v7(),
        task_id,
        input.kind.as_str(),
        valid.params,
        &valid.channels,
        input.repeat_every_minutes,
        input.muted_until
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(row.into())
}

/// Replace one of your task's alert rules. Its alerting state is kept while its kind and
/// parameters stay the same.
#[utoipa::path(put, path = "/{id}/alert-rules/{rule_id}", tag = "notifications", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The task"),
        ("rule_id" = Uuid, Path, description = "The rule"),
    ),
    request_body = AlertRuleIn,
    responses(
        (status = 200, description = "The rule", body = AlertRuleOut),
        (status = 400, description = "The body is not JSON, or an id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `tasks:write`", body = Problem),
        (status = 404, description = "No such task or rule of yours", body = Problem),
        (status = 422, description = "A field is invalid; each failing field is named", body = Problem),
    ))]
async fn replace_rule(
    State(db): State<PgPool>,
    caller: Caller,
    AppPath((task_id, rule_id)): AppPath<(Uuid, Uuid)>,
    AppJson(input): AppJson<AlertRuleIn>,
) -> AppResult<AppJson<AlertRuleOut>> {
    caller.require(Scope::TasksWrite)?;
    let valid = validate(&input)?;
    let row = sqlx::query_as!(
        Row,
        r#"UPDATE alert_rules r
           SET kind = $4, params = $5, channels = $6, repeat_every_minutes = $7,
               muted_until = $8, updated_at = now(),
               alerting = r.alerting AND r.kind = $4 AND r.params = $5
           FROM tasks t
           WHERE r.id = $1 AND r.task_id = $2 AND t.id = r.task_id AND t.owner_id = $3
           RETURNING r.id, r.task_id, r.kind AS "kind: RuleKind", r.params, r.channels,
                     r.repeat_every_minutes, r.muted_until, r.alerting, r.last_fired_at,
                     r.created_at, r.updated_at"#,
        rule_id,
        task_id,
        caller.owner_id(),
        input.kind.as_str(),
        valid.params,
        &valid.channels,
        input.repeat_every_minutes,
        input.muted_until
    )
    .fetch_optional(&db)
    .await?
    .ok_or_else(|| AppError::not_found("alert rule"))?;
    Ok(AppJson(row.into()))
}

/// Delete one of your task's alert rules.
#[utoipa::path(delete, path = "/{id}/alert-rules/{rule_id}", tag = "notifications", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The task"),
        ("rule_id" = Uuid, Path, description = "The rule"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "An id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `tasks:write`", body = Problem),
        (status = 404, description = "No such task or rule of yours", body = Problem),
    ))]
async fn delete_rule(
    State(db): State<PgPool>,
    caller: Caller,
    AppPath((task_id, rule_id)): AppPath<(Uuid, Uuid)>,
) -> AppResult<StatusCode> {
    caller.require(Scope::TasksWrite)?;
    let deleted = sqlx::query!(
        "DELETE FROM alert_rules r USING tasks t
         WHERE r.id = $1 AND r.task_id = $2 AND t.id = r.task_id AND t.owner_id = $3",
        rule_id,
        task_id,
        caller.owner_id()
    )
    .execute(&db)
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(AppError::not_found("alert rule"));
    }
    Ok(StatusCode::NO_CONTENT)
}
