//! `POST /billing/subscription` (a Stripe Checkout Session for a paid plan) and
//! `POST /billing/portal` (a Billing Portal session). The subscription itself is written
//! when Stripe's events arrive (see [`super::webhook`]).

use std::{collections::HashMap, sync::Arc};

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use stripe::StripeRequest;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_checkout::{
    CheckoutSessionMode,
    checkout_session::{
        CreateCheckoutSession, CreateCheckoutSessionLineItems,
        CreateCheckoutSessionSubscriptionData,
    },
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    customer::{customer_for, stored_customer},
    plan_code::PlanCode,
    stripe_api::{StripeApi, idempotent, stripe_error},
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
    OpenApiRouter::new().routes(routes!(open_portal))
}

/// `POST /billing/subscription` and `PUT /billing/subscription` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChoice {
    /// The paid plan wanted (`PRO` or `ENTERPRISE`; BASIC is free).
    pub plan: PlanCode,
}

/// A Checkout Session to send the browser to.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutOut {
    /// Stripe's hosted payment page.
    pub checkout_url: String,
    /// The Checkout Session's id (`cs_…`).
    pub session_id: String,
}

/// A Billing Portal session.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalOut {
    /// Stripe's hosted portal page, valid for a short while.
    pub url: String,
}

/// The Stripe price of `plan`: 422 naming `plan` when it is free or has no price here.
pub fn price_of(settings: &Settings, plan: PlanCode) -> AppResult<String> {
    settings
        .billing
        .price_for(plan)
        .map(str::to_owned)
        .ok_or_else(|| {
            let why = if plan == PlanCode::Basic {
                "BASIC is free: it cannot be bought (cancel the subscription to return to it)"
                    .to_owned()
            } else {
                format!("{plan} cannot be bought on this server (no Stripe price is configured)")
            };
            AppError::invalid_field("plan", why)
        })
}

/// Where Stripe sends the browser back: the configured URL, else `PUBLIC_URL` + `path`.
fn return_url(settings: &Settings, configured: Option<&String>, path: &str) -> Option<String> {
    configured.cloned().or_else(|| {
        settings
            .public_url
            .as_deref()
            .map(|base| format!("{}{path}", base.trim_end_matches('/')))
    })
}

/// Start a subscription: a Stripe Checkout Session for `plan`.
///
/// Your Stripe customer is created on the first call (one per account, even under
/// concurrent calls) and reused after. The subscription is active once Stripe's
/// `checkout.session.completed` and subscription events have arrived.
#[utoipa::path(post, path = "/billing/subscription", tag = "billing", security(("bearer" = [])),
    request_body = PlanChoice,
    responses(
        (status = 201, description = "A Checkout Session: send the browser to `checkout_url`", body = CheckoutOut),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "Billing is off on this server (`BILLING_DISABLED`), or it has no return URL (`INTEGRATION_NOT_CONFIGURED`)", body = Problem),
        (status = 409, description = "You already have a subscription: change its plan with `PUT /billing/subscription`", body = Problem),
        (status = 422, description = "`plan` is missing, unknown, free or has no Stripe price here", body = Problem),
        (status = 502, description = "Stripe refused the request or could not be reached", body = Problem),
        (status = 504, description = "Stripe did not answer in time", body = Problem),
    ))]
pub(super) async fn start_checkout(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(stripe): State<StripeApi>,
    user: CurrentUser,
    AppJson(body): AppJson<PlanChoice>,
) -> AppResult<(StatusCode, AppJson<CheckoutOut>)> {
    let client = stripe.client()?;
    let price = price_of(&settings, body.plan)?;
    let billing = &settings.billing;
    let (Some(success_url), Some(cancel_url)) = (
        return_url(
            &settings,
            billing.success_url.as_ref(),
            "/billing?checkout=success",
        ),
        return_url(
            &settings,
            billing.cancel_url.as_ref(),
            "/billing?checkout=cancel",
        ),
    ) else {
        return Err(AppError::new(
            ErrorCode::IntegrationNotConfigured,
            "checkout needs BILLING_SUCCESS_URL and BILLING_CANCEL_URL (or PUBLIC_URL)",
        ));
    };
    let current = sqlx::query_scalar!(
        r#"SELECT stripe_subscription_id AS "id!" FROM subscriptions
           WHERE user_id = $1 AND stripe_subscription_id IS NOT NULL
             AND status IN ('active', 'trialing', 'past_due')"#,
        user.id
    )
    .fetch_optional(&db)
    .await?;
    if current.is_some() {
        return Err(AppError::conflict(
            "you already have a subscription: change its plan with PUT /billing/subscription",
        ));
    }
    let customer = customer_for(&db, client, user.id).await?;
    let metadata = HashMap::from([
        ("user_id".to_owned(), user.id.to_string()),
        ("plan".to_owned(), body.plan.as_str().to_owned()),
    ]);
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some(price);
    item.quantity = Some(1);
    let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
    subscription_data.metadata = Some(metadata.clone());
    let key = format!("nocron-checkout-{}-{}", user.id, Uuid::new_v4());
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(customer)
        .client_reference_id(user.id.to_string())
        .line_items(vec![item])
        .subscription_data(subscription_data)
        .metadata(metadata)
        .success_url(success_url)
        .cancel_url(cancel_url)
        .customize()
        .request_strategy(idempotent(&key)?)
        .send(client)
        .await
        .map_err(stripe_error)?;
    let checkout_url = session.url.ok_or_else(|| {
        AppError::new(
            ErrorCode::ExternalServiceError,
            "Stripe answered a Checkout Session without a URL",
        )
    })?;
    tracing::info!(user_id = %user.id, plan = %body.plan, session = %session.id, "checkout started");
    Ok((
        StatusCode::CREATED,
        AppJson(CheckoutOut {
            checkout_url,
            session_id: session.id.to_string(),
        }),
    ))
}

/// Open Stripe's Billing Portal (payment methods, invoices, plan changes, cancellation).
#[utoipa::path(post, path = "/billing/portal", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "A portal session: send the browser to `url`", body = PortalOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "Billing is off on this server (`BILLING_DISABLED`)", body = Problem),
        (status = 409, description = "You have no Stripe customer yet: subscribe first", body = Problem),
        (status = 502, description = "Stripe refused the request or could not be reached", body = Problem),
        (status = 504, description = "Stripe did not answer in time", body = Problem),
    ))]
async fn open_portal(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(stripe): State<StripeApi>,
    user: CurrentUser,
) -> AppResult<AppJson<PortalOut>> {
    let client = stripe.client()?;
    let mut conn = db.acquire().await?;
    let customer = stored_customer(&mut conn, user.id)
        .await?
        .ok_or_else(|| AppError::conflict("you have no Stripe customer yet: subscribe first"))?;
    drop(conn);
    let mut request = CreateBillingPortalSession::new().customer(customer);
    if let Some(url) =
        return_url(&settings, None, "/billing").or(settings.billing.success_url.clone())
    {
        request = request.return_url(url);
    }
    let key = format!("nocron-portal-{}-{}", user.id, Uuid::new_v4());
    let session = request
        .customize()
        .request_strategy(idempotent(&key)?)
        .send(client)
        .await
        .map_err(stripe_error)?;
    Ok(AppJson(PortalOut { url: session.url }))
}
