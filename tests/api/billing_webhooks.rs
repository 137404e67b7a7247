//! Stripe webhooks: signatures, duplicates, disorder, and a subscription's life cycle as the
//! events tell it (checkout, payment, failure, grace, recovery, cancellation).

use nocron::billing::signature;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, problem, spawn_app, spawn_app_with};

const SECRET: &str = "whsec_test_secret";

const STRIPE_ON: &[(&str, &str)] = &[
    ("STRIPE_SECRET_KEY", "sk_test_billing"),
    ("STRIPE_WEBHOOK_SECRET", SECRET),
    ("STRIPE_PRICE_PRO", "price_pro"),
    ("STRIPE_PRICE_ENTERPRISE", "price_ent"),
];

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Posts `event` signed as Stripe would, `age` seconds ago.
async fn post_signed(app: &TestApp, event: &Value, secret: &str, age: i64) -> reqwest::Response {
    let body = serde_json::to_vec(event).expect("json");
    let header = signature::header_for(secret.as_bytes(), now() - age, &body);
    app.client
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", header)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request")
}

async fn deliver(app: &TestApp, event: &Value) -> Value {
    let response = post_signed(app, event, SECRET, 0).await;
    assert_eq!(response.status(), StatusCode::OK, "{event}");
    response.json().await.expect("json")
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "created": created,
           "livemode": false, "data": {"object": object}})
}

fn subscription(status: &str, price: &str, user: &TestUser) -> Value {
    json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
        "cancel_at_period_end": false, "current_period_end": now() + 30 * 86_400,
        "trial_end": null, "metadata": {"user_id": user.id.to_string()},
        "items": {"object": "list", "data": [{"object": "subscription_item",
                  "price": {"object": "price", "id": price}}]},
    })
}

fn invoice(id: &str, status: &str, amount: i64) -> Value {
    json!({
        "id": id, "object": "invoice", "customer": "cus_1", "subscription": "sub_1",
        "number": format!("NC-{id}"), "status": status, "amount_due": amount,
        "amount_paid": if status == "paid" { amount } else { 0 }, "currency": "usd",
        "hosted_invoice_url": format!("https://invoice.stripe.com/i/{id}"),
        "invoice_pdf": format!("https://pay.stripe.com/invoice/{id}/pdf"),
        "period_start": now() - 86_400, "period_end": now() + 29 * 86_400, "created": now(),
    })
}

async fn plan_of(app: &TestApp, user: &TestUser) -> (Value, Value) {
    let sub = app
        .get_json_as(&user.access_token, "/billing/subscription")
        .await;
    (sub["plan"].clone(), sub["status"].clone())
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.db)
        .await
        .expect("count")
}

#[tokio::test]
async fn bad_or_stale_signatures_are_refused_and_change_nothing() {
    let app = spawn_app_with(STRIPE_ON).await;
    let ping = event("evt_sig", "customer.created", now(), json!({"id": "cus_9"}));
    let unsigned = app.post_json("/webhooks/stripe", &ping).await;
    assert_eq!(unsigned.status(), StatusCode::BAD_REQUEST);
    let wrong = post_signed(&app, &ping, "whsec_other", 0).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(wrong).await["code"], "BAD_REQUEST");
    let stale = post_signed(&app, &ping, SECRET, 301).await;
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    // Signed for one body, sent with another.
    let body = serde_json::to_vec(&ping).expect("json");
    let header = signature::header_for(SECRET.as_bytes(), now(), &body);
    let tampered = app
        .client
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", header)
        .body(
            String::from_utf8(body)
                .expect("utf8")
                .replace("cus_9", "cus_8"),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(tampered.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count(&app, "SELECT count(*) FROM stripe_events").await, 0);

    // A valid one within the tolerance passes; an unknown type is acknowledged.
    let answer = post_signed(&app, &ping, SECRET, 200).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(count(&app, "SELECT count(*) FROM stripe_events").await, 1);
}

#[tokio::test]
async fn the_webhook_is_off_without_billing() {
    let app = spawn_app().await;
    let response = post_signed(
        &app,
        &event("evt_x", "invoice.paid", now(), json!({})),
        SECRET,
        0,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await["code"], "BILLING_DISABLED");
}

#[tokio::test]
async fn a_late_created_event_never_overwrites_a_newer_update_and_duplicates_change_nothing() {
    let app = spawn_app_with(STRIPE_ON).await;
    let user = app.login_as("USER").await;
    let t = now() - 60;
    deliver(
        &app,
        &event(
            "evt_upd",
            "customer.subscription.updated",
            t + 5,
            subscription("active", "price_pro", &user),
        ),
    )
    .await;
    assert_eq!(plan_of(&app, &user).await, (json!("PRO"), json!("active")));
    // Stripe created the subscription first, but its event arrives last.
    let late = deliver(
        &app,
        &event(
            "evt_cre",
            "customer.subscription.created",
            t,
            subscription("incomplete", "price_pro", &user),
        ),
    )
    .await;
    assert_eq!(late["duplicate"], false);
    assert_eq!(plan_of(&app, &user).await, (json!("PRO"), json!("active")));
    // The same second: `.created` still ranks below `.updated`.
    deliver(
        &app,
        &event(
            "evt_cre2",
            "customer.subscription.created",
            t + 5,
            subscription("incomplete", "price_pro", &user),
        ),
    )
    .await;
    assert_eq!(plan_of(&app, &user).await, (json!("PRO"), json!("active")));

    // A redelivered payment is applied once.
    let paid = event(
        "evt_paid",
        "invoice.paid",
        t + 6,
        invoice("in_1", "paid", 2900),
    );
    assert_eq!(deliver(&app, &paid).await["duplicate"], false);
    assert_eq!(deliver(&app, &paid).await["duplicate"], true);
    assert_eq!(count(&app, "SELECT count(*) FROM payments").await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM stripe_events WHERE id = 'evt_paid'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_subscription_life_cycle_from_checkout_to_cancellation() {
    let app = spawn_app_with(STRIPE_ON).await;
    let user = app.login_as("USER").await;
    let t = now() - 600;
    assert_eq!(plan_of(&app, &user).await, (json!("BASIC"), Value::Null));

    deliver(
        &app,
        &event(
            "evt_co",
            "checkout.session.completed",
            t,
            json!({
                "id": "cs_1", "object": "checkout.session", "mode": "subscription",
                "client_reference_id": user.id.to_string(), "customer": "cus_1",
                "subscription": "sub_1", "metadata": {"plan": "PRO"}, "payment_status": "paid",
            }),
        ),
    )
    .await;
    // Provisioned, not yet active: the default plan still applies.
    assert_eq!(
        plan_of(&app, &user).await,
        (json!("BASIC"), json!("incomplete"))
    );
    deliver(
        &app,
        &event(
            "evt_c",
            "customer.subscription.created",
            t + 1,
            subscription("active", "price_pro", &user),
        ),
    )
    .await;
    assert_eq!(plan_of(&app, &user).await, (json!("PRO"), json!("active")));
    deliver(
        &app,
        &event(
            "evt_p1",
            "invoice.paid",
            t + 2,
            invoice("in_1", "paid", 2900),
        ),
    )
    .await;

    // Upgrade.
    deliver(
        &app,
        &event(
            "evt_u1",
            "customer.subscription.updated",
            t + 10,
            subscription("active", "price_ent", &user),
        ),
    )
    .await;
    assert_eq!(
        plan_of(&app, &user).await,
        (json!("ENTERPRISE"), json!("active"))
    );

    // A failed payment: past_due, the plan kept during the grace, the owner told.
    deliver(
        &app,
        &event(
            "evt_f",
            "invoice.payment_failed",
            t + 20,
            invoice("in_2", "open", 19900),
        ),
    )
    .await;
    assert_eq!(
        plan_of(&app, &user).await,
        (json!("ENTERPRISE"), json!("past_due"))
    );
    let billing_notices = format!(
        "SELECT count(*) FROM notifications WHERE user_id = '{}' AND type = 'BILLING'",
        user.id
    );
    assert_eq!(count(&app, &billing_notices).await, 1);
    // The notice goes by email too, and the applied event is a system action on the record.
    let emailed = format!(
        "SELECT count(*) FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE n.user_id = '{}' AND n.type = 'BILLING' AND d.channel = 'EMAIL'",
        user.id
    );
    assert_eq!(count(&app, &emailed).await, 1);
    let audited = "SELECT count(*) FROM audit_events
         WHERE actor_type = 'SYSTEM' AND action = 'billing.stripe.invoice.payment_failed'
           AND action_class = 'BILLING' AND critical
           AND targets @> '[{\"type\": \"stripe_event\", \"id\": \"evt_f\"}]'";
    assert_eq!(count(&app, audited).await, 1);
    sqlx::query("UPDATE subscriptions SET past_due_since = now() - interval '8 days'")
        .execute(&app.db)
        .await
        .expect("past the grace");
    assert_eq!(
        plan_of(&app, &user).await,
        (json!("BASIC"), json!("past_due"))
    );
    // Recovery.
    deliver(
        &app,
        &event(
            "evt_p2",
            "invoice.paid",
            t + 30,
            invoice("in_2", "paid", 19900),
        ),
    )
    .await;
    assert_eq!(
        plan_of(&app, &user).await,
        (json!("ENTERPRISE"), json!("active"))
    );

    let invoices = app
        .get_json_as(&user.access_token, "/billing/invoices")
        .await;
    let items = invoices["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let second = items.iter().find(|i| i["id"] == "in_2").expect("in_2");
    assert_eq!(second["status"], "paid", "the newer event's state is kept");
    assert_eq!(second["amount_paid"], 19900);
    assert_eq!(
        second["invoice_pdf"],
        "https://pay.stripe.com/invoice/in_2/pdf"
    );
    let payments = app
        .get_json_as(&user.access_token, "/billing/payments?limit=2")
        .await;
    assert_eq!(payments["items"].as_array().expect("items").len(), 2);
    let cursor = payments["next_cursor"].as_str().expect("a next page");
    let rest = app
        .get_json_as(
            &user.access_token,
            &format!("/billing/payments?cursor={cursor}"),
        )
        .await;
    assert_eq!(rest["items"].as_array().expect("items").len(), 1);
    assert_eq!(rest["items"][0]["outcome"], "succeeded");
    let failed = app
        .get_json_as(&user.access_token, "/billing/payments?status=failed")
        .await;
    assert_eq!(failed["items"].as_array().expect("items").len(), 1);
    let bad = app
        .get_as(&user.access_token, "/billing/payments?status=lost")
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Cancellation at the period end, then the end.
    let mut cancelling = subscription("active", "price_ent", &user);
    cancelling["cancel_at_period_end"] = json!(true);
    deliver(
        &app,
        &event(
            "evt_u2",
            "customer.subscription.updated",
            t + 40,
            cancelling,
        ),
    )
    .await;
    let sub = app
        .get_json_as(&user.access_token, "/billing/subscription")
        .await;
    assert_eq!(sub["cancel_at_period_end"], true);
    deliver(
        &app,
        &event(
            "evt_d",
            "customer.subscription.deleted",
            t + 50,
            subscription("canceled", "price_ent", &user),
        ),
    )
    .await;
    assert_eq!(
        plan_of(&app, &user).await,
        (json!("BASIC"), json!("canceled"))
    );

    // Another user sees none of it.
    let other = app.login_as("USER").await;
    let theirs = app
        .get_json_as(&other.access_token, "/billing/invoices")
        .await;
    assert_eq!(theirs["items"], json!([]));
}
