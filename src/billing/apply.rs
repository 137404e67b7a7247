//! What each Stripe event changes, written in the transaction that records the event id.
//! Subscription writes are ordered by the event's `created` time and then its kind, so an
//! older event never overwrites a newer state however late it arrives.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::{
    plan_code::{PlanCode, SubscriptionStatus},
    stripe_objects::{CheckoutSession, StripeInvoice, StripeSubscription},
};
use crate::{
    db::channels::NOTIFICATION_DELIVERIES,
    notifications::{
        compose::Content,
        model::{Channel, NotificationType},
        store::{self, NewNotification},
    },
};

/// Where an event kind stands among events of the same second.
pub fn rank_of(kind: &str) -> i16 {
    match kind {
        "checkout.session.completed" => 0,
        "customer.subscription.created" => 1,
        "customer.subscription.deleted" => 3,
        _ => 2,
    }
}

/// The user a Stripe customer or subscription belongs to.
pub async fn user_for(
    conn: &mut PgConnection,
    customer: Option<&str>,
    subscription: Option<&str>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT user_id FROM subscriptions
         WHERE stripe_subscription_id = $1 OR stripe_customer_id = $2
         ORDER BY (stripe_subscription_id = $1) DESC NULLS LAST LIMIT 1",
        subscription,
        customer
    )
    .fetch_optional(&mut *conn)
    .await
}

async fn user_exists(conn: &mut PgConnection, user_id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query_scalar!("SELECT id FROM users WHERE id = $1", user_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

/// `checkout.session.completed`: ties the customer and subscription to the user who checked
/// out; the plan is provisional (`incomplete`) until a subscription event says more.
pub async fn checkout_completed(
    conn: &mut PgConnection,
    session: &CheckoutSession,
    created: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let Some(user_id) = session.user_id else {
        return Ok(None);
    };
    if !user_exists(&mut *conn, user_id).await? {
        return Ok(None);
    }
    sqlx::query!(
        r#"INSERT INTO subscriptions (user_id, plan, status, stripe_customer_id,
                                      stripe_subscription_id, last_event_created, last_event_rank)
           VALUES ($1, $2, 'incomplete', $3, $4, $5, $6)
           ON CONFLICT (user_id) DO UPDATE SET
               stripe_customer_id = COALESCE(EXCLUDED.stripe_customer_id,
                                             subscriptions.stripe_customer_id),
               stripe_subscription_id = COALESCE(EXCLUDED.stripe_subscription_id,
                                                 subscriptions.stripe_subscription_id),
               updated_at = now()"#,
        user_id,
        session.plan.unwrap_or(PlanCode::Basic).as_str(),
        session.customer,
        session.subscription,
        created,
        rank_of("checkout.session.completed")
    )
    .execute(&mut *conn)
    .await?;
    Ok(Some(user_id))
}

/// `customer.subscription.created`, `.updated` and `.deleted`: the subscription's state,
/// unless the stored state comes from a newer event (or from another, current subscription).
/// Returns the user and whether the state was written.
pub async fn subscription_changed(
    conn: &mut PgConnection,
    subscription: &StripeSubscription,
    created: DateTime<Utc>,
    rank: i16,
) -> Result<Option<(Uuid, bool)>, sqlx::Error> {
    let user_id = match subscription.user_id {
        Some(id) if user_exists(&mut *conn, id).await? => Some(id),
        _ => {
            user_for(
                &mut *conn,
                subscription.customer.as_deref(),
                Some(&subscription.id),
            )
            .await?
        }
    };
    let Some(user_id) = user_id else {
        return Ok(None);
    };
    let written = sqlx::query_scalar!(
        r#"INSERT INTO subscriptions AS s (user_id, plan, status, stripe_customer_id,
               stripe_subscription_id, current_period_end, cancel_at_period_end, trial_end,
               past_due_since, last_event_created, last_event_rank)
           VALUES ($1, COALESCE($2, 'BASIC'), $3, $4, $5, $6, $7, $8,
                   CASE WHEN $3 = 'past_due' THEN $9::timestamptz END, $9, $10)
           ON CONFLICT (user_id) DO UPDATE SET
               plan = COALESCE($2, s.plan),
               status = EXCLUDED.status,
               stripe_customer_id = COALESCE(EXCLUDED.stripe_customer_id, s.stripe_customer_id),
               stripe_subscription_id = EXCLUDED.stripe_subscription_id,
               current_period_end = EXCLUDED.current_period_end,
               cancel_at_period_end = EXCLUDED.cancel_at_period_end,
               trial_end = EXCLUDED.trial_end,
               past_due_since = CASE WHEN EXCLUDED.status = 'past_due'
                                     THEN COALESCE(s.past_due_since, EXCLUDED.past_due_since) END,
               last_event_created = EXCLUDED.last_event_created,
               last_event_rank = EXCLUDED.last_event_rank,
               updated_at = now()
           WHERE (COALESCE(s.last_event_created, '-infinity'), COALESCE(s.last_event_rank, -1))
                 <= (EXCLUDED.last_event_created, EXCLUDED.last_event_rank)
             AND (s.stripe_subscription_id IS NULL
                  OR s.stripe_subscription_id = EXCLUDED.stripe_subscription_id
                  OR s.status IN ('canceled', 'incomplete', 'unpaid'))
           RETURNING user_id"#,
        user_id,
        subscription.plan.map(PlanCode::as_str),
        subscription.status.as_str(),
        subscription.customer,
        subscription.id,
        subscription.current_period_end,
        subscription.cancel_at_period_end,
        subscription.trial_end,
        created,
        rank
    )
    .fetch_optional(&mut *conn)
    .await?
    .is_some();
    Ok(Some((user_id, written)))
}

/// How an invoice event ended for its payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// `invoice.paid`.
    Succeeded,
    /// `invoice.payment_failed`.
    Failed,
    /// `invoice.payment_action_required`.
    ActionRequired,
}

impl PaymentOutcome {
    fn as_str(self) -> &'static str {
        match self {
            PaymentOutcome::Succeeded => "succeeded",
            PaymentOutcome::Failed => "failed",
            PaymentOutcome::ActionRequired => "action_required",
        }
    }
}

/// `invoice.paid`, `.payment_failed` and `.payment_action_required`: keeps the invoice (an
/// older event never overwrites it), records the payment outcome, and moves the subscription
/// to `past_due` on a failure or back to `active` on a payment. Returns the user.
pub async fn invoice_event(
    conn: &mut PgConnection,
    invoice: &StripeInvoice,
    outcome: PaymentOutcome,
    event_id: &str,
    created: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let Some(user_id) = user_for(
        &mut *conn,
        invoice.customer.as_deref(),
        invoice.subscription.as_deref(),
    )
    .await?
    else {
        return Ok(None);
    };
    sqlx::query!(
        r#"INSERT INTO invoices AS i (id, user_id, stripe_subscription_id, number, status,
               amount_due, amount_paid, currency, hosted_invoice_url, invoice_pdf, period_start,
               period_end, created, last_event_created)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                   COALESCE($13::timestamptz, $14::timestamptz), $14)
           ON CONFLICT (id) DO UPDATE SET
               number = EXCLUDED.number, status = EXCLUDED.status,
               amount_due = EXCLUDED.amount_due, amount_paid = EXCLUDED.amount_paid,
               hosted_invoice_url = EXCLUDED.hosted_invoice_url,
               invoice_pdf = EXCLUDED.invoice_pdf,
               last_event_created = EXCLUDED.last_event_created, updated_at = now()
           WHERE i.last_event_created <= EXCLUDED.last_event_created AND i.user_id = $2"#,
        invoice.id,
        user_id,
        invoice.subscription,
        invoice.number,
        invoice.status,
        invoice.amount_due,
        invoice.amount_paid,
        invoice.currency,
        invoice.hosted_invoice_url,
        invoice.invoice_pdf,
        invoice.period_start,
        invoice.period_end,
        invoice.created,
        created
    )
    .execute(&mut *conn)
    .await?;
    let amount = match outcome {
        PaymentOutcome::Succeeded => invoice.amount_paid,
        _ => invoice.amount_due,
    };
    sqlx::query!(
        "INSERT INTO payments (id, user_id, invoice_id, stripe_event_id, outcome, amount,
                               currency, created)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        Uuid::now_v7(),
        user_id,
        invoice.id,
        event_id,
        outcome.as_str(),
        amount,
        invoice.currency,
        created
    )
    .execute(&mut *conn)
    .await?;
    let status = match outcome {
        PaymentOutcome::Failed => Some(SubscriptionStatus::PastDue),
        PaymentOutcome::Succeeded => Some(SubscriptionStatus::Active),
        PaymentOutcome::ActionRequired => None,
    };
    if let Some(status) = status {
        // Only between active and past_due, for the current subscription, and never over a
        // newer event's state.
        sqlx::query!(
            r#"UPDATE subscriptions s SET
                   status = $2,
                   past_due_since = CASE WHEN $2 = 'past_due'
                                         THEN COALESCE(s.past_due_since, $3) END,
                   last_event_created = $3, last_event_rank = 2, updated_at = now()
               WHERE s.user_id = $1
                 AND s.status IN ('active', 'past_due') AND s.status <> $2
                 AND ($4::text IS NULL OR s.stripe_subscription_id = $4)
                 AND (COALESCE(s.last_event_created, '-infinity'), COALESCE(s.last_event_rank, -1))
                     <= ($3, 2::smallint)"#,
            user_id,
            status.as_str(),
            created,
            invoice.subscription
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(Some(user_id))
}

/// Tells the owner about their billing, in the app and by email (type `BILLING`; the email
/// follows the owner's preferences, and is `NOT_SENT` on a server without SMTP).
pub async fn notify(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
    title: &str,
    body: &str,
    event_type: &str,
) -> Result<(), sqlx::Error> {
    let content = Content {
        title: title.to_owned(),
        body: body.to_owned(),
        link: "/billing/subscription".to_owned(),
        data: json!({ "stripe_event": event_type }),
    };
    store::insert(
        tx,
        &NewNotification {
            user_id,
            kind: NotificationType::Billing,
            content: &content,
            task_id: None,
            rule_id: None,
            channels: &[Channel::InApp, Channel::Email],
            // The delivery worker records `NOT_SENT` when the server has no SMTP.
            email_ready: true,
        },
    )
    .await?;
    sqlx::query!("SELECT pg_notify($1, '')", NOTIFICATION_DELIVERIES)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
