//! `/billing`: the plans (public), the caller's usage of its plan and its subscription.
//! `/billing/plans` and `/billing/usage` work whether billing is on or off (when it is off
//! every account has the default plan, `ENTERPRISE` unless configured); the Stripe routes
//! answer 404 `BILLING_DISABLED` when it is off.

use std::sync::Arc;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    plan_code::{PlanCode, SubscriptionStatus},
    plans::{PlanLimits, all_plans, effective_plan},
    policy::PlanPolicy,
    usage::{LimitUsage, usage_of},
};
use crate::{
    auth::CurrentUser,
    config::Settings,
    error::{AppError, AppResult, ErrorCode, Problem},
    http::AppJson,
    state::AppState,
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plans))
        .routes(routes!(get_usage))
}

/// 404 `BILLING_DISABLED` unless billing is on.
pub fn require_billing(settings: &Settings) -> AppResult<()> {
    if settings.billing.enabled() {
        Ok(())
    } else {
        Err(billing_disabled())
    }
}

/// The 404 `BILLING_DISABLED` problem.
pub fn billing_disabled() -> AppError {
    AppError::new(
        ErrorCode::BillingDisabled,
        "billing is not enabled on this server",
    )
}

/// A plan, with its limits and display price.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanOut {
    /// Its code.
    pub code: PlanCode,
    /// Its name.
    pub name: String,
    /// Display price per month in the currency's smallest unit.
    pub monthly_price_cents: i32,
    /// ISO 4217 currency code, lowercase.
    pub currency: String,
    /// Whether it can be bought here (billing is on and a Stripe price is configured).
    pub purchasable: bool,
    /// Its limits; `null` is unlimited.
    pub limits: PlanLimits,
}

/// The plans, smallest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanList {
    /// The plans.
    pub items: Vec<PlanOut>,
    /// Whether billing is on: when off, every account has `default_plan`.
    pub billing_enabled: bool,
    /// The plan of accounts without a current subscription.
    pub default_plan: PlanCode,
}

/// What the caller uses of its plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageOut {
    /// The plan that applies now.
    pub plan: PlanCode,
    /// Whether billing is on.
    pub billing_enabled: bool,
    /// The plan's limits; `null` is unlimited.
    pub limits: PlanLimits,
    /// Each countable limit with its use.
    pub usage: Vec<LimitUsage>,
}

/// The caller's subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionOut {
    /// The plan that applies now (the default plan without a current subscription).
    pub plan: PlanCode,
    /// The subscribed plan, whatever its status (`null`: never subscribed).
    pub subscribed_plan: Option<PlanCode>,
    /// The subscription's status (`null`: never subscribed).
    pub status: Option<SubscriptionStatus>,
    /// When the current period ends.
    pub current_period_end: Option<DateTime<Utc>>,
    /// Whether it ends at the end of the period.
    pub cancel_at_period_end: bool,
    /// When the trial ends.
    pub trial_end: Option<DateTime<Utc>>,
    /// Each countable limit with its use.
    pub usage: Vec<LimitUsage>,
}

/// List the plans with their limits and prices (public).
#[utoipa::path(get, path = "/billing/plans", tag = "billing",
    responses(
        (status = 200, description = "The plans, smallest first", body = PlanList),
    ))]
async fn list_plans(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
) -> AppResult<AppJson<PlanList>> {
    let mut conn = db.acquire().await?;
    let plans = all_plans(&mut conn).await?;
    let billing = &settings.billing;
    let items = plans
        .into_iter()
        .map(|plan| PlanOut {
            purchasable: billing.enabled() && billing.price_for(plan.code).is_some(),
            code: plan.code,
            name: plan.name,
            monthly_price_cents: plan.monthly_price_cents,
            currency: plan.currency,
            limits: plan.limits,
        })
        .collect();
    Ok(AppJson(PlanList {
        items,
        billing_enabled: billing.enabled(),
        default_plan: billing.default_plan,
    }))
}

/// Your plan's limits and what you use of each.
#[utoipa::path(get, path = "/billing/usage", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "Your plan and usage", body = UsageOut),
        (status = 401, description = "Not signed in", body = Problem),
    ))]
async fn get_usage(
    State(db): State<PgPool>,
    State(policy): State<PlanPolicy>,
    user: CurrentUser,
) -> AppResult<AppJson<UsageOut>> {
    let mut conn = db.acquire().await?;
    let plan = effective_plan(&mut conn, &policy, user.id).await?;
    let usage = usage_of(&mut conn, user.id, &plan).await?;
    Ok(AppJson(UsageOut {
        plan: plan.code,
        billing_enabled: policy.billing_enabled,
        limits: plan.limits,
        usage,
    }))
}

/// Your subscription: the plan that applies, its status and period, and your usage.
#[utoipa::path(get, path = "/billing/subscription", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "Your subscription", body = SubscriptionOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "Billing is off on this server (`BILLING_DISABLED`)", body = Problem),
    ))]
pub(super) async fn get_subscription(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(policy): State<PlanPolicy>,
    user: CurrentUser,
) -> AppResult<AppJson<SubscriptionOut>> {
    require_billing(&settings)?;
    let mut conn = db.acquire().await?;
    let stored = sqlx::query!(
        r#"SELECT plan AS "plan: PlanCode", status AS "status: SubscriptionStatus",
                  current_period_end, cancel_at_period_end, trial_end
           FROM subscriptions WHERE user_id = $1"#,
        user.id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let plan = effective_plan(&mut conn, &policy, user.id).await?;
    let usage = usage_of(&mut conn, user.id, &plan).await?;
    Ok(AppJson(SubscriptionOut {
        plan: plan.code,
        subscribed_plan: stored.as_ref().map(|s| s.plan),
        status: stored.as_ref().map(|s| s.status),
        current_period_end: stored.as_ref().and_then(|s| s.current_period_end),
        cancel_at_period_end: stored.as_ref().is_some_and(|s| s.cancel_at_period_end),
        trial_end: stored.as_ref().and_then(|s| s.trial_end),
        usage,
    }))
}
