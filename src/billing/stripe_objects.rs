//! The parts of Stripe's event, subscription, checkout session and invoice objects that
//! billing reads, taken from the JSON as Stripe sends it (fields Stripe moved between API
//! versions are looked up in both places).

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::plan_code::{PlanCode, SubscriptionStatus};
use crate::config::BillingSettings;

/// An event's envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct StripeEvent {
    /// `evt_…`.
    pub id: String,
    /// E.g. `customer.subscription.updated`.
    pub kind: String,
    /// When Stripe created it (seconds).
    pub created: DateTime<Utc>,
    /// `data.object`.
    pub object: Value,
}

impl StripeEvent {
    /// Reads the envelope; `None` when `id`, `type`, `created` or `data.object` is missing.
    pub fn parse(event: &Value) -> Option<Self> {
        Some(StripeEvent {
            id: event["id"].as_str()?.to_owned(),
            kind: event["type"].as_str()?.to_owned(),
            created: DateTime::from_timestamp(event["created"].as_i64()?, 0)?,
            object: event["data"]["object"].clone(),
        })
        .filter(|e| e.object.is_object())
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// An id field that may be a string or an expanded object with an `id`.
fn id_of(value: &Value) -> Option<String> {
    text(value).or_else(|| text(&value["id"]))
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    value.as_i64().and_then(|t| DateTime::from_timestamp(t, 0))
}

/// A subscription object.
#[derive(Debug, Clone, PartialEq)]
pub struct StripeSubscription {
    /// `sub_…`.
    pub id: String,
    /// `cus_…`.
    pub customer: Option<String>,
    /// Its status.
    pub status: SubscriptionStatus,
    /// The plan its price stands for (`None`: a price this server does not know).
    pub plan: Option<PlanCode>,
    /// `metadata.user_id`, set when Nocron created the checkout.
    pub user_id: Option<Uuid>,
    /// The end of the current period (top level, or on the first item since 2025 API versions).
    pub current_period_end: Option<DateTime<Utc>>,
    /// Whether it ends at the period end.
    pub cancel_at_period_end: bool,
    /// When its trial ends.
    pub trial_end: Option<DateTime<Utc>>,
}

impl StripeSubscription {
    /// Reads a subscription object; `None` without an id or a known status.
    pub fn parse(object: &Value, settings: &BillingSettings) -> Option<Self> {
        let item = &object["items"]["data"][0];
        let price = id_of(&item["price"]);
        let plan = price
            .as_deref()
            .and_then(|price| {
                PlanCode::ALL
                    .iter()
                    .copied()
                    .find(|plan| settings.price_for(*plan) == Some(price))
            })
            .or_else(|| object["metadata"]["plan"].as_str()?.parse().ok());
        Some(StripeSubscription {
            id: text(&object["id"])?,
            customer: id_of(&object["customer"]),
            status: object["status"].as_str()?.parse().ok()?,
            plan,
            user_id: object["metadata"]["user_id"]
                .as_str()
                .and_then(|s| s.parse().ok()),
            current_period_end: time(&object["current_period_end"])
                .or_else(|| time(&item["current_period_end"])),
            cancel_at_period_end: object["cancel_at_period_end"].as_bool().unwrap_or(false),
            trial_end: time(&object["trial_end"]),
        })
    }
}

/// A completed checkout session.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutSession {
    /// `client_reference_id`: the user who checked out.
    pub user_id: Option<Uuid>,
    /// `cus_…`.
    pub customer: Option<String>,
    /// `sub_…`.
    pub subscription: Option<String>,
    /// `metadata.plan`.
    pub plan: Option<PlanCode>,
}

impl CheckoutSession {
    /// Reads a checkout session object.
    pub fn parse(object: &Value) -> Self {
        CheckoutSession {
            user_id: object["client_reference_id"]
                .as_str()
                .and_then(|s| s.parse().ok()),
            customer: id_of(&object["customer"]),
            subscription: id_of(&object["subscription"]),
            plan: object["metadata"]["plan"]
                .as_str()
                .and_then(|s| s.parse().ok()),
        }
    }
}

/// An invoice object.
#[derive(Debug, Clone, PartialEq)]
pub struct StripeInvoice {
    /// `in_…`.
    pub id: String,
    /// `cus_…`.
    pub customer: Option<String>,
    /// `sub_…` (top level, or under `parent.subscription_details` since 2025 API versions).
    pub subscription: Option<String>,
    /// Its number.
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    /// Due, in the currency's smallest unit.
    pub amount_due: i64,
    /// Paid, in the currency's smallest unit.
    pub amount_paid: i64,
    /// Lowercase ISO code.
    pub currency: String,
    /// The page where it can be paid.
    pub hosted_invoice_url: Option<String>,
    /// Its PDF.
    pub invoice_pdf: Option<String>,
    /// The period it bills.
    pub period_start: Option<DateTime<Utc>>,
    /// The period it bills.
    pub period_end: Option<DateTime<Utc>>,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
}

impl StripeInvoice {
    /// Reads an invoice object; `None` without an id.
    pub fn parse(object: &Value) -> Option<Self> {
        Some(StripeInvoice {
            id: text(&object["id"])?,
            customer: id_of(&object["customer"]),
            subscription: id_of(&object["subscription"])
                .or_else(|| id_of(&object["parent"]["subscription_details"]["subscription"])),
            number: text(&object["number"]),
            status: text(&object["status"]).unwrap_or_else(|| "open".to_owned()),
            amount_due: object["amount_due"].as_i64().unwrap_or(0),
            amount_paid: object["amount_paid"].as_i64().unwrap_or(0),
            currency: text(&object["currency"]).unwrap_or_else(|| "usd".to_owned()),
            hosted_invoice_url: text(&object["hosted_invoice_url"]),
            invoice_pdf: text(&object["invoice_pdf"]),
            period_start: time(&object["period_start"]),
            period_end: time(&object["period_end"]),
            created: time(&object["created"]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_subscription_maps_its_price_to_a_plan_and_reads_moved_fields() {
        let settings = BillingSettings {
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: "https://api.stripe.com".into(),
            price_pro: Some("price_pro".into()),
            price_enterprise: Some("price_ent".into()),
            default_plan: PlanCode::Basic,
            success_url: None,
            cancel_url: None,
            grace_days: 7,
        };
        let object = json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
            "cancel_at_period_end": true,
            "items": {"data": [{"price": {"id": "price_ent"}, "current_period_end": 1_900_000_000}]},
        });
        let sub = StripeSubscription::parse(&object, &settings).expect("parses");
        assert_eq!(sub.plan, Some(PlanCode::Enterprise));
        assert_eq!(sub.status, SubscriptionStatus::Active);
        assert!(sub.cancel_at_period_end);
        assert_eq!(
            sub.current_period_end,
            DateTime::from_timestamp(1_900_000_000, 0)
        );
        assert!(
            StripeSubscription::parse(&json!({"id": "sub_1", "status": "weird"}), &settings)
                .is_none()
        );
    }

    #[test]
    fn an_envelope_needs_its_id_type_time_and_object() {
        let ok =
            json!({"id": "evt_1", "type": "invoice.paid", "created": 1, "data": {"object": {}}});
        assert!(StripeEvent::parse(&ok).is_some());
        assert!(StripeEvent::parse(&json!({"id": "evt_1", "type": "x", "created": 1})).is_none());
    }
}
