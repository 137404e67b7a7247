//! `POST /webhooks/stripe`: Stripe's events. The signature is checked on the raw body; the
//! event id is recorded in `stripe_events` in the transaction of the event's effects, so a
//! redelivered event answers 200 and changes nothing; unknown types answer 200 and are
//! logged.

use std::sync::Arc;

use axum::{body::Bytes, extract::State, http::HeaderMap};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    apply::{self, PaymentOutcome, rank_of},
    downgrade::pause_over_limit,
    policy::PlanPolicy,
    routes::require_billing,
    signature,
    stripe_objects::{CheckoutSession, StripeEvent, StripeInvoice, StripeSubscription},
};
use crate::{
    audit,
    config::Settings,
    error::{AppError, AppResult, ErrorCode, Problem},
    events::EventBus,
    http::AppJson,
    state::AppState,
    tasks::db::StatusChange,
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stripe_webhook))
}

/// What the endpoint answers Stripe.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceived {
    /// Always true: the event needs no redelivery.
    pub received: bool,
    /// True when this event id was applied before (nothing changed now).
    pub duplicate: bool,
}

fn bad_request(detail: &str) -> AppError {
    AppError::new(ErrorCode::BadRequest, detail)
}

/// Receive a Stripe event (signed with `STRIPE_WEBHOOK_SECRET`).
#[utoipa::path(post, path = "/webhooks/stripe", tag = "billing",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256 of t.body>`")),
    request_body(content = Object, description = "A Stripe event, as Stripe sends it"),
    responses(
        (status = 200, description = "Applied, a duplicate, or a type Nocron does not handle", body = WebhookReceived),
        (status = 400, description = "A missing, malformed, stale (over 300 s) or wrong signature, or a body that is not a Stripe event", body = Problem),
        (status = 404, description = "Billing is off, or `STRIPE_WEBHOOK_SECRET` is unset (`BILLING_DISABLED`)", body = Problem),
    ))]
async fn stripe_webhook(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    State(events): State<EventBus>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<AppJson<WebhookReceived>> {
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad_request("the Stripe-Signature header is missing"))?;
    require_billing(&settings)?;
    let secret = settings
        .billing
        .stripe_webhook_secret
        .as_ref()
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::BillingDisabled,
                "the Stripe webhook is not configured on this server",
            )
        })?;
    signature::verify(
        secret.expose().as_bytes(),
        header,
        &body,
        chrono::Utc::now().timestamp(),
    )
    .map_err(|err| bad_request(&err.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| bad_request("the body is not JSON"))?;
    let event =
        StripeEvent::parse(&value).ok_or_else(|| bad_request("the body is not a Stripe event"))?;

    let mut tx = db.begin().await?;
    let recorded = sqlx::query_scalar!(
        "INSERT INTO stripe_events (id, type, created) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO NOTHING RETURNING id",
        event.id,
        event.kind,
        event.created
    )
    .fetch_optional(&mut *tx)
    .await?;
    if recorded.is_none() {
        tx.rollback().await?;
        tracing::info!(event_id = %event.id, kind = %event.kind, "stripe event already applied");
        return Ok(AppJson(WebhookReceived {
            received: true,
            duplicate: true,
        }));
    }
    let changes = apply_event(&mut tx, &settings, &event).await?;
    // Recorded with its effects: an event applied is an event audited.
    audit::writer::insert(&mut *tx, &[audit_event(&event)]).await?;
    tx.commit().await?;
    for change in changes {
        change.publish(&events);
    }
    Ok(AppJson(WebhookReceived {
        received: true,
        duplicate: false,
    }))
}

/// The audit trail's `SYSTEM` record of an applied Stripe event.
fn audit_event(event: &StripeEvent) -> audit::AuditEvent {
    audit::system_event(
        &format!("billing.stripe.{}", event.kind),
        audit::ActionClass::Billing,
        true,
        "/webhooks/stripe",
        vec![audit::model::Target {
            kind: "stripe_event".to_owned(),
            id: event.id.clone(),
        }],
        serde_json::json!({ "event_id": event.id, "type": event.kind, "created": event.created }),
    )
}

/// Applies one event in `tx`; returns the task status changes (tasks paused by a smaller
/// plan) to publish once it commits.
async fn apply_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    settings: &Settings,
    event: &StripeEvent,
) -> AppResult<Vec<StatusChange>> {
    let mut changes = Vec::new();
    let kind = event.kind.as_str();
    let unmatched = || {
        tracing::warn!(event_id = %event.id, kind, "stripe event for no known account; ignored");
    };
    match kind {
        "checkout.session.completed" => {
            let session = CheckoutSession::parse(&event.object);
            if apply::checkout_completed(&mut *tx, &session, event.created)
                .await?
                .is_none()
            {
                unmatched();
            }
        }
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => {
            let subscription = StripeSubscription::parse(&event.object, &settings.billing)
                .ok_or_else(|| bad_request("the event's subscription has no id or status"))?;
            match apply::subscription_changed(&mut *tx, &subscription, event.created, rank_of(kind))
                .await?
            {
                None => unmatched(),
                Some((_, false)) => {
                    tracing::info!(event_id = %event.id, kind, "older than the stored state; ignored");
                }
                Some((user_id, true)) => {
                    let policy = PlanPolicy::from_settings(settings);
                    changes = pause_over_limit(tx, &policy, user_id).await?;
                }
            }
        }
        "customer.subscription.trial_will_end" => {
            let subscription = StripeSubscription::parse(&event.object, &settings.billing)
                .ok_or_else(|| bad_request("the event's subscription has no id or status"))?;
            match apply::user_for(
                &mut *tx,
                subscription.customer.as_deref(),
                Some(&subscription.id),
            )
            .await?
            {
                Some(user_id) => {
                    let when = subscription
                        .trial_end
                        .map_or_else(|| "soon".to_owned(), |t| format!("on {}", t.date_naive()));
                    apply::notify(
                        tx,
                        user_id,
                        "Your trial ends soon",
                        &format!("Your trial ends {when}. Add a payment method to keep your plan."),
                        kind,
                    )
                    .await?;
                }
                None => unmatched(),
            }
        }
        "invoice.paid" | "invoice.payment_failed" | "invoice.payment_action_required" => {
            let invoice = StripeInvoice::parse(&event.object)
                .ok_or_else(|| bad_request("the event's invoice has no id"))?;
            let outcome = match kind {
                "invoice.paid" => PaymentOutcome::Succeeded,
                "invoice.payment_failed" => PaymentOutcome::Failed,
                _ => PaymentOutcome::ActionRequired,
            };
            let user =
                apply::invoice_event(&mut *tx, &invoice, outcome, &event.id, event.created).await?;
            match (user, outcome) {
                (None, _) => unmatched(),
                (Some(user_id), PaymentOutcome::Failed) => {
                    apply::notify(
                        tx,
                        user_id,
                        "A payment failed",
                        &format!(
                            "We could not charge your payment method. Your plan stays for {} days; update your payment method to keep it.",
                            settings.billing.grace_days
                        ),
                        kind,
                    )
                    .await?;
                }
                (Some(user_id), PaymentOutcome::ActionRequired) => {
                    apply::notify(
                        tx,
                        user_id,
                        "Your payment needs your confirmation",
                        "Your bank asks you to confirm a payment: open the invoice to complete it.",
                        kind,
                    )
                    .await?;
                }
                (Some(_), PaymentOutcome::Succeeded) => {}
            }
        }
        other => {
            tracing::info!(event_id = %event.id, kind = other, "stripe event type not handled; acknowledged");
        }
    }
    Ok(changes)
}
