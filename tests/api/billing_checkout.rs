//! Stripe flows through async-stripe against a fake Stripe: checkout (one customer per
//! account even under concurrent calls, idempotency keys), plan changes with proration,
//! cancellation and resume, the Billing Portal, Stripe's errors; and the usage notices at
//! 80 % and 100 % of the monthly executions.

use std::collections::HashSet;

use nocron::billing::{PlanPolicy, notices::send_usage_notices, plan_code::PlanCode, signature};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    helpers::{TestApp, TestUser, problem, problem_fields, spawn_app, spawn_app_with},
    stripe_fake::{FakeStripe, SECRET_KEY},
};

const WEBHOOK_SECRET: &str = "whsec_checkout_tests";

async fn spawn_with_stripe(fake: &FakeStripe, key: &str) -> TestApp {
    spawn_app_with(&[
        ("STRIPE_SECRET_KEY", key),
        ("STRIPE_API_BASE", &fake.base),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("STRIPE_PRICE_PRO", "price_pro"),
        ("STRIPE_PRICE_ENTERPRISE", "price_ent"),
        (
            "BILLING_SUCCESS_URL",
            "https://app.example.com/billing/done",
        ),
        (
            "BILLING_CANCEL_URL",
            "https://app.example.com/billing/cancelled",
        ),
    ])
    .await
}

async fn deliver(app: &TestApp, id: &str, kind: &str, object: &Value) {
    let created = chrono::Utc::now().timestamp();
    let event = json!({"id": id, "object": "event", "type": kind, "created": created,
                       "livemode": false, "data": {"object": object}});
    let body = serde_json::to_vec(&event).expect("json");
    let header = signature::header_for(WEBHOOK_SECRET.as_bytes(), created, &body);
    let response = app
        .client
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", header)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("webhook");
    assert_eq!(response.status(), StatusCode::OK, "{kind}");
}

async fn checkout(app: &TestApp, user: &TestUser, plan: &str) -> Value {
    let response = app
        .post_as(
            &user.access_token,
            "/billing/subscription",
            &json!({ "plan": plan }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("checkout")
}

/// Subscribes `user` to PRO through checkout and the events Stripe sends; returns the
/// subscription id.
async fn subscribe(app: &TestApp, fake: &FakeStripe, user: &TestUser) -> String {
    let session = checkout(app, user, "PRO").await;
    let session_id = session["session_id"].as_str().expect("session id");
    let (completed, subscription) = fake.complete_checkout(session_id);
    let sub_id = subscription["id"].as_str().expect("sub id").to_owned();
    deliver(
        app,
        &format!("evt_co_{sub_id}"),
        "checkout.session.completed",
        &completed,
    )
    .await;
    deliver(
        app,
        &format!("evt_cr_{sub_id}"),
        "customer.subscription.created",
        &subscription,
    )
    .await;
    let sub = app
        .get_json_as(&user.access_token, "/billing/subscription")
        .await;
    assert_eq!(
        (sub["plan"].clone(), sub["status"].clone()),
        (json!("PRO"), json!("active"))
    );
    sub_id
}

#[tokio::test]
async fn checkout_creates_one_customer_under_concurrent_calls_and_sends_idempotency_keys() {
    let fake = FakeStripe::start().await;
    let app = spawn_with_stripe(&fake, SECRET_KEY).await;
    let user = app.login_as("USER").await;

    let calls = (0..8).map(|_| checkout(&app, &user, "PRO"));
    let answers = futures::future::join_all(calls).await;
    let mut sessions = HashSet::new();
    for answer in &answers {
        let id = answer["session_id"].as_str().expect("session id");
        assert!(id.starts_with("cs_test_"), "{answer}");
        assert_eq!(
            answer["checkout_url"],
            json!(format!("https://checkout.stripe.com/c/pay/{id}"))
        );
        sessions.insert(id.to_owned());
    }
    assert_eq!(sessions.len(), 8);

    // One customer, created once, with the account id in its metadata.
    let customers = fake.customers();
    assert_eq!(customers.len(), 1, "{customers:?}");
    let customer = customers[0]["id"].as_str().expect("customer id").to_owned();
    assert_eq!(
        customers[0]["metadata"]["user_id"],
        json!(user.id.to_string())
    );
    assert_eq!(customers[0]["email"], json!(user.email));
    let creations = fake.requests_to("POST", "/v1/customers");
    assert_eq!(creations.len(), 1);
    assert_eq!(
        creations[0].idempotency_key.as_deref(),
        Some(format!("nocron-customer-{}", user.id).as_str())
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stripe_customers WHERE user_id = $1 AND customer_id = $2",
    )
    .bind(user.id)
    .bind(&customer)
    .fetch_one(&app.db)
    .await
    .expect("count");
    assert_eq!(stored, 1);

    // Every Checkout Session: subscription mode, the plan's price, the account, the URLs,
    // and its own idempotency key.
    let requests = fake.requests_to("POST", "/v1/checkout/sessions");
    assert_eq!(requests.len(), 8);
    let mut keys = HashSet::new();
    for request in &requests {
        let form = &request.form;
        assert_eq!(form["mode"], "subscription");
        assert_eq!(form["line_items"][0]["price"], "price_pro");
        assert_eq!(form["line_items"][0]["quantity"], "1");
        assert_eq!(form["client_reference_id"], json!(user.id.to_string()));
        assert_eq!(form["customer"], json!(customer));
        assert_eq!(form["success_url"], "https://app.example.com/billing/done");
        assert_eq!(
            form["cancel_url"],
            "https://app.example.com/billing/cancelled"
        );
        assert_eq!(
            form["subscription_data"]["metadata"]["user_id"],
            json!(user.id.to_string())
        );
        assert_eq!(form["subscription_data"]["metadata"]["plan"], "PRO");
        let key = request.idempotency_key.clone().expect("idempotency key");
        assert!(
            key.starts_with(&format!("nocron-checkout-{}-", user.id)),
            "{key}"
        );
        keys.insert(key);
    }
    assert_eq!(keys.len(), 8);

    // A later checkout reuses the customer.
    checkout(&app, &user, "ENTERPRISE").await;
    assert_eq!(fake.requests_to("POST", "/v1/customers").len(), 1);
    let last = fake.requests_to("POST", "/v1/checkout/sessions");
    assert_eq!(last[8].form["line_items"][0]["price"], "price_ent");
}

#[tokio::test]
async fn plan_change_cancel_and_resume_go_through_stripe() {
    let fake = FakeStripe::start().await;
    let app = spawn_with_stripe(&fake, SECRET_KEY).await;
    let user = app.login_as("USER").await;

    // Nothing to change before subscribing.
    let response = app
        .put_as(
            &user.access_token,
            "/billing/subscription",
            &json!({"plan": "ENTERPRISE"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    let sub_id = subscribe(&app, &fake, &user).await;
    let item_id = fake.subscription(&sub_id)["items"]["data"][0]["id"]
        .as_str()
        .expect("item")
        .to_owned();
    // A second checkout while subscribed is refused.
    let response = app
        .post_as(
            &user.access_token,
            "/billing/subscription",
            &json!({"plan": "PRO"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // Upgrade: the item's price changes, prorated.
    let response = app
        .put_as(
            &user.access_token,
            "/billing/subscription",
            &json!({"plan": "ENTERPRISE"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.expect("json");
    assert_eq!(changed["plan"], "ENTERPRISE");
    assert_eq!(changed["subscription_id"], json!(sub_id));
    assert_eq!(changed["status"], "active");
    let path = format!("/v1/subscriptions/{sub_id}");
    let updates = fake.requests_to("POST", &path);
    assert_eq!(updates.len(), 1);
    let form = &updates[0].form;
    assert_eq!(form["items"][0]["id"], json!(item_id));
    assert_eq!(form["items"][0]["price"], "price_ent");
    assert_eq!(form["proration_behavior"], "create_prorations");
    assert_eq!(form["metadata"]["plan"], "ENTERPRISE");
    assert!(updates[0].idempotency_key.is_some());
    deliver(
        &app,
        "evt_up1",
        "customer.subscription.updated",
        &fake.subscription(&sub_id),
    )
    .await;
    let sub = app
        .get_json_as(&user.access_token, "/billing/subscription")
        .await;
    assert_eq!(sub["plan"], "ENTERPRISE");

    // BASIC is free: not a price change.
    let response = app
        .put_as(
            &user.access_token,
            "/billing/subscription",
            &json!({"plan": "BASIC"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem(response).await), vec!["plan"]);

    // Cancel at the period end, then keep it.
    let response = app
        .delete_as(&user.access_token, "/billing/subscription")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: Value = response.json().await.expect("json");
    assert_eq!(cancelled["cancel_at_period_end"], true);
    assert_eq!(cancelled["status"], "active");
    let updates = fake.requests_to("POST", &path);
    assert_eq!(updates[1].form["cancel_at_period_end"], "true");
    deliver(
        &app,
        "evt_up2",
        "customer.subscription.updated",
        &fake.subscription(&sub_id),
    )
    .await;
    let sub = app
        .get_json_as(&user.access_token, "/billing/subscription")
        .await;
    assert_eq!(sub["cancel_at_period_end"], true);

    let response = app
        .post_as(
            &user.access_token,
            "/billing/subscription/resume",
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let resumed: Value = response.json().await.expect("json");
    assert_eq!(resumed["cancel_at_period_end"], false);
    let updates = fake.requests_to("POST", &path);
    assert_eq!(updates[2].form["cancel_at_period_end"], "false");
    let keys: HashSet<_> = updates.iter().map(|r| r.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), 3, "each change has its own key");

    // Cancel now.
    let response = app
        .delete_as(&user.access_token, "/billing/subscription?immediately=true")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let ended: Value = response.json().await.expect("json");
    assert_eq!(ended["status"], "canceled");
    assert_eq!(fake.requests_to("DELETE", &path).len(), 1);
    deliver(
        &app,
        "evt_del",
        "customer.subscription.deleted",
        &fake.subscription(&sub_id),
    )
    .await;
    let sub = app
        .get_json_as(&user.access_token, "/billing/subscription")
        .await;
    assert_eq!(
        (sub["plan"].clone(), sub["status"].clone()),
        (json!("BASIC"), json!("canceled"))
    );
    let response = app
        .post_as(
            &user.access_token,
            "/billing/subscription/resume",
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    let response = app
        .delete_as(
            &user.access_token,
            "/billing/subscription?immediately=maybe",
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_billing_portal_opens_for_a_customer() {
    let fake = FakeStripe::start().await;
    let app = spawn_with_stripe(&fake, SECRET_KEY).await;
    let user = app.login_as("USER").await;

    let response = app
        .post_as(&user.access_token, "/billing/portal", &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    subscribe(&app, &fake, &user).await;
    let response = app
        .post_as(&user.access_token, "/billing/portal", &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let portal: Value = response.json().await.expect("json");
    let url = portal["url"].as_str().expect("url");
    assert!(
        url.starts_with("https://billing.stripe.com/p/session/"),
        "{url}"
    );
    let requests = fake.requests_to("POST", "/v1/billing_portal/sessions");
    assert_eq!(requests.len(), 1);
    let customer = fake.customers()[0]["id"].clone();
    assert_eq!(requests[0].form["customer"], customer);
    assert!(requests[0].idempotency_key.is_some());
}

#[tokio::test]
async fn stripe_errors_become_clear_problems_without_the_key() {
    let fake = FakeStripe::start().await;
    let app = spawn_with_stripe(&fake, SECRET_KEY).await;
    let user = app.login_as("USER").await;

    // Stripe refuses (a price that does not exist there).
    fake.fail_next(
        "/v1/checkout/sessions",
        400,
        "invalid_request_error",
        "resource_missing",
        "No such price: 'price_pro'",
    );
    let response = app
        .post_as(
            &user.access_token,
            "/billing/subscription",
            &json!({"plan": "PRO"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = problem(response).await;
    assert_eq!(body["code"], "EXTERNAL_SERVICE_ERROR");
    let detail = body["detail"].as_str().expect("detail");
    assert!(detail.contains("No such price: 'price_pro'"), "{detail}");
    assert!(detail.contains("resource_missing"), "{detail}");

    // A plan without a price, and BASIC, are refused before Stripe is called.
    let response = app
        .post_as(
            &user.access_token,
            "/billing/subscription",
            &json!({"plan": "BASIC"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem(response).await), vec!["plan"]);
    let response = app
        .post_as(
            &user.access_token,
            "/billing/subscription",
            &json!({"plan": "GOLD"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A key Stripe refuses: 502, and the key is never shown.
    let wrong = "sk_test_wrong_key_9876";
    let other = spawn_with_stripe(&fake, wrong).await;
    let someone = other.login_as("USER").await;
    let response = other
        .post_as(
            &someone.access_token,
            "/billing/subscription",
            &json!({"plan": "PRO"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let text = response.text().await.expect("body");
    assert!(text.contains("API key"), "{text}");
    assert!(
        !text.contains("sk_test") && !text.contains("9876"),
        "{text}"
    );

    // Stripe unreachable.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let away = spawn_app_with(&[
        ("STRIPE_SECRET_KEY", SECRET_KEY),
        ("STRIPE_API_BASE", &format!("http://127.0.0.1:{closed}")),
        ("STRIPE_PRICE_PRO", "price_pro"),
        ("BILLING_SUCCESS_URL", "https://app.example.com/ok"),
        ("BILLING_CANCEL_URL", "https://app.example.com/no"),
    ])
    .await;
    let lone = away.login_as("USER").await;
    let response = away
        .post_as(
            &lone.access_token,
            "/billing/subscription",
            &json!({"plan": "PRO"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        problem(response).await["detail"],
        "Stripe could not be reached"
    );
}

#[tokio::test]
async fn the_stripe_routes_are_off_without_billing() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let body = json!({"plan": "PRO"});
    let answers = [
        app.post_as(&user.access_token, "/billing/subscription", &body)
            .await,
        app.put_as(&user.access_token, "/billing/subscription", &body)
            .await,
        app.delete_as(&user.access_token, "/billing/subscription")
            .await,
        app.post_as(
            &user.access_token,
            "/billing/subscription/resume",
            &json!({}),
        )
        .await,
        app.post_as(&user.access_token, "/billing/portal", &json!({}))
            .await,
    ];
    for response in answers {
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(problem(response).await["code"], "BILLING_DISABLED");
    }
}

async fn set_usage(app: &TestApp, user: Uuid, executions: i64) {
    sqlx::query(
        "INSERT INTO usage_counters (owner_id, period_start, executions)
         VALUES ($1, (date_trunc('month', now() AT TIME ZONE 'UTC'))::date, $2)
         ON CONFLICT (owner_id, period_start) DO UPDATE SET executions = EXCLUDED.executions",
    )
    .bind(user)
    .bind(executions)
    .execute(&app.db)
    .await
    .expect("usage");
}

async fn usage_notices(app: &TestApp, user: Uuid) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT (data->>'usage_threshold')::bigint FROM notifications
         WHERE user_id = $1 AND type = 'BILLING' ORDER BY created_at, id",
    )
    .bind(user)
    .fetch_all(&app.db)
    .await
    .expect("notices")
}

#[tokio::test]
async fn usage_notices_go_out_once_at_80_and_once_at_100_percent() {
    let app = spawn_app_with(&[("STRIPE_SECRET_KEY", "sk_test_usage")]).await;
    let policy = PlanPolicy {
        default_plan: PlanCode::Basic,
        grace_days: 7,
        upgrade_url: "https://nocron.example.com/billing/plans".into(),
        billing_enabled: true,
    };
    let user = app.login_as("USER").await;
    let jumper = app.login_as("USER").await;

    // BASIC allows 2,000 a month: 80 % is 1,600.
    set_usage(&app, user.id, 1599).await;
    send_usage_notices(&app.db, &policy).await.expect("check");
    assert!(usage_notices(&app, user.id).await.is_empty());

    set_usage(&app, user.id, 1600).await;
    send_usage_notices(&app.db, &policy).await.expect("check");
    send_usage_notices(&app.db, &policy).await.expect("check");
    assert_eq!(usage_notices(&app, user.id).await, vec![80]);

    set_usage(&app, user.id, 1999).await;
    send_usage_notices(&app.db, &policy).await.expect("check");
    assert_eq!(usage_notices(&app, user.id).await, vec![80]);

    set_usage(&app, user.id, 2000).await;
    let (a, b) = tokio::join!(
        send_usage_notices(&app.db, &policy),
        send_usage_notices(&app.db, &policy)
    );
    a.expect("check");
    b.expect("check");
    send_usage_notices(&app.db, &policy).await.expect("check");
    assert_eq!(usage_notices(&app, user.id).await, vec![80, 100]);
    let notice = app
        .get_json_as(&user.access_token, "/notifications?type=BILLING")
        .await;
    let titles: Vec<_> = notice["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(titles.iter().any(|t| t.contains("80 %")), "{titles:?}");
    assert!(
        titles.iter().any(|t| t.contains("all of this month")),
        "{titles:?}"
    );

    // Straight past both thresholds: one notice (100 %), both recorded.
    set_usage(&app, jumper.id, 2500).await;
    send_usage_notices(&app.db, &policy).await.expect("check");
    send_usage_notices(&app.db, &policy).await.expect("check");
    assert_eq!(usage_notices(&app, jumper.id).await, vec![100]);
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_notices WHERE user_id = $1")
        .bind(jumper.id)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(recorded, 2);

    // Unlimited plans are never told.
    let unlimited = PlanPolicy {
        default_plan: PlanCode::Enterprise,
        ..policy
    };
    let rich = app.login_as("USER").await;
    set_usage(&app, rich.id, 1_000_000).await;
    send_usage_notices(&app.db, &unlimited)
        .await
        .expect("check");
    assert!(usage_notices(&app, rich.id).await.is_empty());
}
