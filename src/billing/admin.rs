//! Billing administration (admins only): every subscription, granting a plan by hand, and
//! reading or changing a plan's limits and display price.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    downgrade::pause_over_limit,
    plan_code::{PlanCode, SubscriptionStatus},
    plans::{PlanLimits, all_plans},
    policy::PlanPolicy,
};
use crate::{
    auth::{Admin, RequireRole},
    error::{AppError, AppResult, FieldError, Problem},
    events::EventBus,
    http::{AppJson, AppPath, AppQuery, cursor},
    state::AppState,
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions))
        .routes(routes!(grant_plan))
        .routes(routes!(get_plan, update_plan))
}

/// A subscription, for admins.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionAdminOut {
    /// The account.
    pub user_id: Uuid,
    /// The subscribed plan.
    pub plan: PlanCode,
    /// Its status.
    pub status: SubscriptionStatus,
    /// Stripe's customer id.
    pub stripe_customer_id: Option<String>,
    /// Stripe's subscription id (`null` for a plan granted by hand).
    pub stripe_subscription_id: Option<String>,
    /// When the period ends.
    pub current_period_end: Option<DateTime<Utc>>,
    /// Whether it ends at the period end.
    pub cancel_at_period_end: bool,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A page of subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionAdminPage {
    /// By account id.
    pub items: Vec<SubscriptionAdminOut>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// `GET /admin/subscriptions` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionListParams {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only this status.
    pub status: Option<SubscriptionStatus>,
    /// Only this plan.
    pub plan: Option<PlanCode>,
}

/// `PUT /admin/users/{id}/plan` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantPlanIn {
    /// The plan to give.
    pub plan: PlanCode,
}

/// A plan with its limits, for admins.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanAdminIn {
    /// Display name, 1–50 characters.
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    /// Display price per month in the currency's smallest unit (0–100000000).
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub monthly_price_cents: i32,
    /// Lowercase ISO 4217 code.
    #[schema(pattern = "^[a-z]{3}$")]
    pub currency: String,
    /// The limits; `null` is unlimited.
    pub limits: PlanLimits,
}

/// A plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanAdminOut {
    /// Its code.
    pub code: PlanCode,
    /// Its definition.
    #[serde(flatten)]
    pub plan: PlanAdminIn,
}

/// Every subscription, by account id.
#[utoipa::path(get, path = "/admin/subscriptions", tag = "admin", security(("bearer" = [])),
    params(SubscriptionListParams),
    responses(
        (status = 200, description = "A page of subscriptions", body = SubscriptionAdminPage),
        (status = 400, description = "A query parameter is malformed", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "`limit` or `cursor` is invalid", body = Problem),
    ))]
async fn list_subscriptions(
    State(db): State<PgPool>,
    _admin: RequireRole<Admin>,
    AppQuery(params): AppQuery<SubscriptionListParams>,
) -> AppResult<AppJson<SubscriptionAdminPage>> {
    let limit = cursor::page_size(params.limit)?;
    let after: Option<Uuid> = params.cursor.as_deref().map(cursor::decode).transpose()?;
    let mut rows = sqlx::query_as!(
        SubscriptionAdminOut,
        r#"SELECT user_id, plan AS "plan: PlanCode", status AS "status: SubscriptionStatus",
                  stripe_customer_id, stripe_subscription_id, current_period_end,
                  cancel_at_period_end, updated_at
           FROM subscriptions
           WHERE ($1::uuid IS NULL OR user_id > $1)
             AND ($2::text IS NULL OR status = $2)
             AND ($3::text IS NULL OR plan = $3)
           ORDER BY user_id
           LIMIT $4"#,
        after,
        params.status.map(SubscriptionStatus::as_str),
        params.plan.map(PlanCode::as_str),
        limit + 1
    )
    .fetch_all(&db)
    .await?;
    let next_cursor = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.truncate(rows.len() - 1);
        rows.last()
            .map(|last| cursor::encode(&last.user_id))
            .transpose()?
    } else {
        None
    };
    Ok(AppJson(SubscriptionAdminPage {
        items: rows,
        next_cursor,
    }))
}

/// Give a user a plan by hand (an active subscription without Stripe). A later Stripe event
/// about the user's subscription replaces it. Tasks over a smaller plan's limit are paused.
#[utoipa::path(put, path = "/admin/users/{id}/plan", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user")),
    request_body = GrantPlanIn,
    responses(
        (status = 200, description = "The user's subscription", body = SubscriptionAdminOut),
        (status = 400, description = "The body is not JSON, or the id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 422, description = "Unknown plan", body = Problem),
    ))]
async fn grant_plan(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    State(policy): State<PlanPolicy>,
    admin: RequireRole<Admin>,
    AppPath(user_id): AppPath<Uuid>,
    AppJson(body): AppJson<GrantPlanIn>,
) -> AppResult<AppJson<SubscriptionAdminOut>> {
    let mut tx = db.begin().await?;
    let exists = sqlx::query_scalar!("SELECT id FROM users WHERE id = $1", user_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(AppError::not_found("user"));
    }
    let row = sqlx::query_as!(
        SubscriptionAdminOut,
        r#"INSERT INTO subscriptions AS s (user_id, plan, status, last_event_created,
                                           last_event_rank)
           VALUES ($1, $2, 'active', now(), 2)
           ON CONFLICT (user_id) DO UPDATE SET
               plan = EXCLUDED.plan, status = 'active', past_due_since = NULL,
               cancel_at_period_end = false, last_event_created = now(),
               last_event_rank = 2, updated_at = now()
           RETURNING user_id, plan AS "plan: PlanCode", status AS "status: SubscriptionStatus",
                     stripe_customer_id, stripe_subscription_id, current_period_end,
                     cancel_at_period_end, updated_at"#,
        user_id,
        body.plan.as_str()
    )
    .fetch_one(&mut *tx)
    .await?;
    let changes = pause_over_limit(&mut tx, &policy, user_id).await?;
    tx.commit().await?;
    for change in changes {
        change.publish(&events);
    }
    tracing::info!(admin = %admin.user().id, %user_id, plan = %body.plan, "plan granted by an admin");
    Ok(AppJson(row))
}

async fn load_plan(db: &PgPool, code: PlanCode) -> AppResult<PlanAdminOut> {
    let mut conn = db.acquire().await?;
    let plan = all_plans(&mut conn)
        .await?
        .into_iter()
        .find(|plan| plan.code == code)
        .ok_or_else(|| AppError::not_found("plan"))?;
    Ok(PlanAdminOut {
        code: plan.code,
        plan: PlanAdminIn {
            name: plan.name,
            monthly_price_cents: plan.monthly_price_cents,
            currency: plan.currency,
            limits: plan.limits,
        },
    })
}

/// A plan with its limits.
#[utoipa::path(get, path = "/admin/plans/{code}", tag = "admin", security(("bearer" = [])),
    params(("code" = PlanCode, Path, description = "The plan")),
    responses(
        (status = 200, description = "The plan", body = PlanAdminOut),
        (status = 400, description = "Unknown plan code", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
    ))]
async fn get_plan(
    State(db): State<PgPool>,
    _admin: RequireRole<Admin>,
    AppPath(code): AppPath<PlanCode>,
) -> AppResult<AppJson<PlanAdminOut>> {
    Ok(AppJson(load_plan(&db, code).await?))
}

fn validate(plan: &PlanAdminIn) -> AppResult<()> {
    let mut errors = Vec::new();
    let mut fail = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        })
    };
    let name = plan.name.trim().chars().count();
    if !(1..=50).contains(&name) {
        fail("name", "must be 1 to 50 characters");
    }
    if !(0..=100_000_000).contains(&plan.monthly_price_cents) {
        fail("monthly_price_cents", "must be from 0 to 100000000");
    }
    if plan.currency.len() != 3 || !plan.currency.bytes().all(|b| b.is_ascii_lowercase()) {
        fail("currency", "must be a lowercase ISO 4217 code such as usd");
    }
    let limits = &plan.limits;
    if limits.max_tasks.is_some_and(|v| v < 0) {
        fail(
            "limits.max_tasks",
            "must be at least 0 (or null: unlimited)",
        );
    }
    if !(1..=86_400).contains(&limits.min_interval_seconds) {
        fail("limits.min_interval_seconds", "must be from 1 to 86400");
    }
    if limits.executions_per_month.is_some_and(|v| v < 0) {
        fail(
            "limits.executions_per_month",
            "must be at least 0 (or null: unlimited)",
        );
    }
    if limits.max_api_keys.is_some_and(|v| v < 0) {
        fail(
            "limits.max_api_keys",
            "must be at least 0 (or null: unlimited)",
        );
    }
    if limits.max_alert_rules_per_task.is_some_and(|v| v < 0) {
        fail(
            "limits.max_alert_rules_per_task",
            "must be at least 0 (or null: unlimited)",
        );
    }
    if !(1..=36_500).contains(&limits.history_retention_days) {
        fail("limits.history_retention_days", "must be from 1 to 36500");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::validation(errors))
    }
}

/// Change a plan's limits, name and display price (Stripe's price is changed in Stripe).
#[utoipa::path(put, path = "/admin/plans/{code}", tag = "admin", security(("bearer" = [])),
    params(("code" = PlanCode, Path, description = "The plan")),
    request_body = PlanAdminIn,
    responses(
        (status = 200, description = "The plan", body = PlanAdminOut),
        (status = 400, description = "The body is not JSON, or an unknown plan code", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "A field is invalid; each failing field is named", body = Problem),
    ))]
async fn update_plan(
    State(db): State<PgPool>,
    admin: RequireRole<Admin>,
    AppPath(code): AppPath<PlanCode>,
    AppJson(body): AppJson<PlanAdminIn>,
) -> AppResult<AppJson<PlanAdminOut>> {
    validate(&body)?;
    let limits = &body.limits;
    sqlx::query!(
        "UPDATE plans SET name = $2, monthly_price_cents = $3, currency = $4, max_tasks = $5,
             min_interval_seconds = $6, executions_per_month = $7, max_api_keys = $8,
             max_alert_rules_per_task = $9, history_retention_days = $10, updated_at = now()
         WHERE code = $1",
        code.as_str(),
        body.name.trim(),
        body.monthly_price_cents,
        body.currency,
        limits.max_tasks,
        limits.min_interval_seconds,
        limits.executions_per_month,
        limits.max_api_keys,
        limits.max_alert_rules_per_task,
        limits.history_retention_days
    )
    .execute(&db)
    .await?;
    tracing::info!(admin = %admin.user().id, plan = %code, "plan changed by an admin");
    Ok(AppJson(load_plan(&db, code).await?))
}
