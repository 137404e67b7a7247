//! Self-service changes to the account's Stripe subscription: `PUT /billing/subscription`
//! (another plan, prorated), `DELETE /billing/subscription` (cancel at the period end, or now)
//! and `POST /billing/subscription/resume` (undo a pending cancellation). Each answers what
//! Stripe answered; the stored subscription follows when Stripe's event arrives, ordered as
//! every event is (see [`super::webhook`]).

use std::{collections::HashMap, sync::Arc};

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use stripe::{Client, StripeRequest};
use stripe_billing::Subscription;
use stripe_billing::subscription::{
    CancelSubscription, RetrieveSubscription, UpdateSubscription, UpdateSubscriptionItems,
    UpdateSubscriptionProrationBehavior,
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    checkout::{PlanChoice, price_of},
    plan_code::{PlanCode, SubscriptionStatus},
    stripe_api::{StripeApi, idempotent, stripe_error},
};
use crate::{
    auth::CurrentUser,
    config::Settings,
    error::{AppError, AppResult, ErrorCode, Problem},
    http::{AppJson, AppQuery},
    state::AppState,
};

/// Routes of this file, and every method of `/billing/subscription` (one path, one entry).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            super::routes::get_subscription,
            super::checkout::start_checkout,
            change_plan,
            cancel
        ))
        .routes(routes!(resume))
}

/// The subscription as Stripe answered the change.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionChangeOut {
    /// Stripe's subscription id (`sub_…`).
    pub subscription_id: String,
    /// The plan of its price (`null`: a price this server does not know).
    pub plan: Option<PlanCode>,
    /// Stripe's status: `trialing`, `active`, `past_due`, `canceled`, `incomplete`,
    /// `incomplete_expired`, `unpaid` or `paused`.
    pub status: String,
    /// Whether it ends at the end of the period.
    pub cancel_at_period_end: bool,
    /// When the current period ends.
    pub current_period_end: Option<DateTime<Utc>>,
}

/// `DELETE /billing/subscription` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CancelParams {
    /// `true`: end the subscription now (no refund); otherwise at the end of the period.
    pub immediately: Option<bool>,
}

/// The account's Stripe subscription and its stored status; 409 when it has none that can
/// still change.
async fn current(db: &PgPool, user_id: Uuid) -> AppResult<(String, SubscriptionStatus)> {
    let row = sqlx::query!(
        r#"SELECT stripe_subscription_id AS "id!", status AS "status: SubscriptionStatus"
           FROM subscriptions
           WHERE user_id = $1 AND stripe_subscription_id IS NOT NULL
             AND status IN ('active', 'trialing', 'past_due', 'unpaid', 'incomplete')"#,
        user_id
    )
    .fetch_optional(db)
    .await?;
    row.map(|row| (row.id, row.status)).ok_or_else(|| {
        AppError::conflict(
            "you have no Stripe subscription to change: start one with POST /billing/subscription",
        )
    })
}

fn key(operation: &str, user_id: Uuid) -> String {
    format!("nocron-{operation}-{user_id}-{}", Uuid::new_v4())
}

fn answer(settings: &Settings, sub: Subscription) -> SubscriptionChangeOut {
    let item = sub.items.data.first();
    let plan = item.and_then(|item| {
        let price = item.price.id.as_str();
        [PlanCode::Pro, PlanCode::Enterprise]
            .into_iter()
            .find(|plan| settings.billing.price_for(*plan) == Some(price))
    });
    SubscriptionChangeOut {
        subscription_id: sub.id.to_string(),
        plan: plan.or_else(|| sub.metadata.get("plan").and_then(|p| p.parse().ok())),
        status: sub.status.as_str().to_owned(),
        cancel_at_period_end: sub.cancel_at_period_end,
        current_period_end: item
            .and_then(|item| DateTime::from_timestamp(item.current_period_end, 0)),
    }
}

async fn set_cancel_at_period_end(
    client: &Client,
    subscription: &str,
    value: bool,
    key: &str,
) -> AppResult<Subscription> {
    UpdateSubscription::new(subscription)
        .cancel_at_period_end(value)
        .customize()
        .request_strategy(idempotent(key)?)
        .send(client)
        .await
        .map_err(stripe_error)
}

/// Change your subscription's plan; Stripe prorates the difference.
#[utoipa::path(put, path = "/billing/subscription", tag = "billing", security(("bearer" = [])),
    request_body = PlanChoice,
    responses(
        (status = 200, description = "The subscription with its new price, as Stripe answered", body = SubscriptionChangeOut),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "Billing is off on this server (`BILLING_DISABLED`)", body = Problem),
        (status = 409, description = "You have no Stripe subscription to change", body = Problem),
        (status = 422, description = "`plan` is missing, unknown, free or has no Stripe price here", body = Problem),
        (status = 502, description = "Stripe refused the request or could not be reached", body = Problem),
        (status = 504, description = "Stripe did not answer in time", body = Problem),
    ))]
async fn change_plan(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(stripe): State<StripeApi>,
    user: CurrentUser,
    AppJson(body): AppJson<PlanChoice>,
) -> AppResult<AppJson<SubscriptionChangeOut>> {
    let client = stripe.client()?;
    let price = price_of(&settings, body.plan)?;
    let (subscription, _) = current(&db, user.id).await?;
    let existing = RetrieveSubscription::new(subscription.as_str())
        .send(client)
        .await
        .map_err(stripe_error)?;
    let item = existing.items.data.first().ok_or_else(|| {
        AppError::new(
            ErrorCode::ExternalServiceError,
            "Stripe answered a subscription without items",
        )
    })?;
    let mut change = UpdateSubscriptionItems::new();
    change.id = Some(item.id.to_string());
    change.price = Some(price);
    let metadata = HashMap::from([
        ("user_id".to_owned(), user.id.to_string()),
        ("plan".to_owned(), body.plan.as_str().to_owned()),
    ]);
    let updated = UpdateSubscription::new(subscription.as_str())
        .items(vec![change])
        .proration_behavior(UpdateSubscriptionProrationBehavior::CreateProrations)
        .metadata(metadata)
        .customize()
        .request_strategy(idempotent(&key("change", user.id))?)
        .send(client)
        .await
        .map_err(stripe_error)?;
    tracing::info!(user_id = %user.id, plan = %body.plan, %subscription, "plan change sent to Stripe");
    Ok(AppJson(answer(&settings, updated)))
}

/// Cancel your subscription at the end of its period, or now with `immediately=true`.
#[utoipa::path(delete, path = "/billing/subscription", tag = "billing", security(("bearer" = [])),
    params(CancelParams),
    responses(
        (status = 200, description = "The subscription, as Stripe answered the cancellation", body = SubscriptionChangeOut),
        (status = 400, description = "`immediately` is not a boolean", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "Billing is off on this server (`BILLING_DISABLED`)", body = Problem),
        (status = 409, description = "You have no Stripe subscription to cancel", body = Problem),
        (status = 502, description = "Stripe refused the request or could not be reached", body = Problem),
        (status = 504, description = "Stripe did not answer in time", body = Problem),
    ))]
async fn cancel(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(stripe): State<StripeApi>,
    user: CurrentUser,
    AppQuery(params): AppQuery<CancelParams>,
) -> AppResult<AppJson<SubscriptionChangeOut>> {
    let client = stripe.client()?;
    let (subscription, _) = current(&db, user.id).await?;
    let answered = if params.immediately.unwrap_or(false) {
        CancelSubscription::new(subscription.as_str())
            .customize()
            .request_strategy(idempotent(&key("cancel", user.id))?)
            .send(client)
            .await
            .map_err(stripe_error)?
    } else {
        set_cancel_at_period_end(client, &subscription, true, &key("cancel", user.id)).await?
    };
    tracing::info!(user_id = %user.id, %subscription, immediately = params.immediately.unwrap_or(false), "cancellation sent to Stripe");
    Ok(AppJson(answer(&settings, answered)))
}

/// Keep your subscription: undo a cancellation pending for the end of the period.
#[utoipa::path(post, path = "/billing/subscription/resume", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription, as Stripe answered", body = SubscriptionChangeOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "Billing is off on this server (`BILLING_DISABLED`)", body = Problem),
        (status = 409, description = "You have no Stripe subscription that can be kept", body = Problem),
        (status = 502, description = "Stripe refused the request or could not be reached", body = Problem),
        (status = 504, description = "Stripe did not answer in time", body = Problem),
    ))]
async fn resume(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(stripe): State<StripeApi>,
    user: CurrentUser,
) -> AppResult<AppJson<SubscriptionChangeOut>> {
    let client = stripe.client()?;
    let (subscription, _) = current(&db, user.id).await?;
    let answered =
        set_cancel_at_period_end(client, &subscription, false, &key("resume", user.id)).await?;
    tracing::info!(user_id = %user.id, %subscription, "resume sent to Stripe");
    Ok(AppJson(answer(&settings, answered)))
}
