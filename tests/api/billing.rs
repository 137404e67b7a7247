//! Billing: plans and limits (billing off and on), atomic enforcement under concurrency,
//! the 402 problem, the monthly execution counter on manual and scheduled runs.

use chrono::{Datelike, TimeZone, Utc};
use nocron::{
    scheduler::dispatcher,
    tasks::model::{CatchUpPolicy, ConcurrencyPolicy, ScheduleSpec},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    engine_support::{MANUAL_ENGINE, http_task},
    helpers::{TestApp, TestUser, problem, spawn_app, spawn_app_with},
};

/// Billing on (a test key; no Stripe call is made by these tests).
const BILLING_ON: &[(&str, &str)] = &[("STRIPE_SECRET_KEY", "sk_test_billing")];

fn task_body(name: &str, cron: Option<&str>) -> Value {
    let mut body = json!({
        "name": name,
        "action": {"type": "HTTP_REQUEST", "config": {"method": "GET", "url": "https://example.com/"}},
    });
    if let Some(cron) = cron {
        body["schedule"] = json!({"cron": cron, "timezone": "UTC"});
    }
    body
}

async fn create_task(app: &TestApp, user: &TestUser, name: &str) -> Uuid {
    let response = app
        .post_as(&user.access_token, "/tasks", &task_body(name, None))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("task");
    body["id"].as_str().expect("id").parse().expect("uuid")
}

async fn set_plan_limit(app: &TestApp, plan: &str, column: &str, value: i64) {
    sqlx::query(&format!("UPDATE plans SET {column} = $2 WHERE code = $1"))
        .bind(plan)
        .bind(value)
        .execute(&app.db)
        .await
        .expect("set the plan's limit");
}

fn usage_of<'a>(usage: &'a Value, name: &str) -> &'a Value {
    usage["usage"]
        .as_array()
        .expect("usage")
        .iter()
        .find(|item| item["name"] == name)
        .expect("limit listed")
}

#[tokio::test]
async fn billing_off_every_account_is_enterprise_and_unlimited() {
    let app = spawn_app().await;
    let plans: Value = app.get("/billing/plans").await.json().await.expect("plans");
    assert_eq!(plans["billing_enabled"], false);
    assert_eq!(plans["default_plan"], "ENTERPRISE");
    let codes: Vec<&str> = plans["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, ["BASIC", "PRO", "ENTERPRISE"]);
    assert_eq!(plans["items"][0]["limits"]["max_tasks"], 10);
    assert_eq!(plans["items"][1]["limits"]["executions_per_month"], 200_000);
    assert_eq!(plans["items"][2]["limits"]["max_tasks"], Value::Null);
    assert_eq!(plans["items"][0]["purchasable"], false);

    let user = app.login_as("USER").await;
    // Past every BASIC limit: nothing refuses.
    for i in 0..12 {
        create_task(&app, &user, &format!("task {i}")).await;
    }
    let fast = app
        .post_as(
            &user.access_token,
            "/tasks",
            &task_body("fast", Some("* * * * * *")),
        )
        .await;
    assert_eq!(fast.status(), StatusCode::CREATED);
    for _ in 0..3 {
        app.create_api_key(&user.access_token, &["tasks:read"])
            .await;
    }
    let usage = app.get_json_as(&user.access_token, "/billing/usage").await;
    assert_eq!(usage["plan"], "ENTERPRISE");
    assert_eq!(usage["billing_enabled"], false);
    assert_eq!(usage_of(&usage, "max_tasks")["used"], 13);
    assert_eq!(usage_of(&usage, "max_tasks")["limit"], Value::Null);
    assert_eq!(usage_of(&usage, "max_api_keys")["used"], 3);

    let subscription = app
        .get_as(&user.access_token, "/billing/subscription")
        .await;
    assert_eq!(subscription.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(subscription).await["code"], "BILLING_DISABLED");
}

#[tokio::test]
async fn fifty_concurrent_creates_at_the_limit_never_pass_it() {
    let app = spawn_app_with(BILLING_ON).await;
    let user = app.login_as("USER").await;
    let bodies: Vec<Value> = (0..50)
        .map(|i| task_body(&format!("task {i}"), Some("*/5 * * * *")))
        .collect();
    let requests = bodies
        .iter()
        .map(|body| app.post_as(&user.access_token, "/tasks", body));
    let responses = futures::future::join_all(requests).await;
    let mut created = 0;
    let mut refused = Vec::new();
    for response in responses {
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::PAYMENT_REQUIRED => refused.push(problem(response).await),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 10, "BASIC allows 10 tasks");
    assert_eq!(refused.len(), 40);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE owner_id = $1")
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(stored, 10);

    let refusal = &refused[0];
    assert_eq!(refusal["status"], 402);
    assert_eq!(refusal["code"], "PLAN_LIMIT_REACHED");
    assert_eq!(refusal["limit_name"], "max_tasks");
    assert_eq!(refusal["limit"], 10);
    assert_eq!(refusal["used"], 10);
    assert_eq!(refusal["plan"], "BASIC");
    assert_eq!(refusal["upgrade_url"], "/billing/plans");
    assert!(refusal.get("resets_at").is_none(), "{refusal}");
}

#[tokio::test]
async fn schedules_more_frequent_than_the_plan_allows_are_refused() {
    let app = spawn_app_with(BILLING_ON).await;
    let user = app.login_as("USER").await;
    let fast = app
        .post_as(
            &user.access_token,
            "/tasks",
            &task_body("fast", Some("*/10 * * * * *")),
        )
        .await;
    assert_eq!(fast.status(), StatusCode::PAYMENT_REQUIRED);
    let body = problem(fast).await;
    assert_eq!(body["limit_name"], "min_interval_seconds");
    assert_eq!(body["limit"], 60);
    assert_eq!(body["used"], 10);

    let id = create_task(&app, &user, "slow").await;
    let patched = app
        .patch_as(
            &user.access_token,
            &format!("/tasks/{id}"),
            &json!({"schedule": {"cron": "*/30 * * * * *", "timezone": "UTC"}}),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::PAYMENT_REQUIRED);
    let every_minute = app
        .patch_as(
            &user.access_token,
            &format!("/tasks/{id}"),
            &json!({"schedule": {"cron": "* * * * *", "timezone": "UTC"}}),
        )
        .await;
    assert_eq!(every_minute.status(), StatusCode::OK);
}

#[tokio::test]
async fn api_keys_and_alert_rules_follow_the_plan() {
    let app = spawn_app_with(BILLING_ON).await;
    let user = app.login_as("USER").await;
    for _ in 0..2 {
        app.create_api_key(&user.access_token, &["tasks:read"])
            .await;
    }
    let third = app
        .post_as(
            &user.access_token,
            "/api-keys",
            &json!({"name": "third", "scopes": ["tasks:read"]}),
        )
        .await;
    assert_eq!(third.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(problem(third).await["limit_name"], "max_api_keys");

    // A new task has its two default rules: BASIC's two are used.
    let task = create_task(&app, &user, "watched").await;
    let rule = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{task}/alert-rules"),
            &json!({"kind": "SUCCESS"}),
        )
        .await;
    assert_eq!(rule.status(), StatusCode::PAYMENT_REQUIRED);
    let body = problem(rule).await;
    assert_eq!(body["limit_name"], "max_alert_rules_per_task");
    assert_eq!(body["used"], 2);
}

#[tokio::test]
async fn the_subscription_decides_the_plan_and_past_due_keeps_it_only_during_the_grace() {
    let app = spawn_app_with(BILLING_ON).await;
    let user = app.login_as("USER").await;
    async fn plan(app: &TestApp, token: String) -> Value {
        app.get_json_as(&token, "/billing/usage").await["plan"].clone()
    }
    assert_eq!(plan(&app, user.access_token.clone()).await, "BASIC");
    sqlx::query("INSERT INTO subscriptions (user_id, plan, status) VALUES ($1, 'PRO', 'active')")
        .bind(user.id)
        .execute(&app.db)
        .await
        .expect("subscribe");
    assert_eq!(plan(&app, user.access_token.clone()).await, "PRO");
    sqlx::query(
        "UPDATE subscriptions SET status = 'past_due', past_due_since = now() - interval '2 days'
         WHERE user_id = $1",
    )
    .bind(user.id)
    .execute(&app.db)
    .await
    .expect("past due");
    assert_eq!(plan(&app, user.access_token.clone()).await, "PRO");
    sqlx::query(
        "UPDATE subscriptions SET past_due_since = now() - interval '8 days' WHERE user_id = $1",
    )
    .bind(user.id)
    .execute(&app.db)
    .await
    .expect("past the grace");
    assert_eq!(plan(&app, user.access_token.clone()).await, "BASIC");

    let subscription = app
        .get_json_as(&user.access_token, "/billing/subscription")
        .await;
    assert_eq!(subscription["plan"], "BASIC");
    assert_eq!(subscription["subscribed_plan"], "PRO");
    assert_eq!(subscription["status"], "past_due");
}

#[tokio::test]
async fn manual_runs_over_the_monthly_limit_get_402_with_resets_at_even_when_concurrent() {
    let app = spawn_app_with(&[
        ("STRIPE_SECRET_KEY", "sk_test_billing"),
        ("SCHEDULER_ENABLED", "false"),
        ("WORKERS_ENABLED", "false"),
    ])
    .await;
    set_plan_limit(&app, "BASIC", "executions_per_month", 3).await;
    let user = app.login_as("USER").await;
    let task = create_task(&app, &user, "manual").await;
    let runs = (0..12).map(|_| app.execute_as(&user.access_token, task));
    let responses = futures::future::join_all(runs).await;
    let mut accepted = 0;
    let mut refusal = None;
    for response in responses {
        match response.status() {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::PAYMENT_REQUIRED => refusal = Some(problem(response).await),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(accepted, 3);
    let refusal = refusal.expect("a refusal");
    assert_eq!(refusal["limit_name"], "executions_per_month");
    assert_eq!(refusal["limit"], 3);
    assert_eq!(refusal["used"], 3);
    let now = Utc::now();
    let next_month = if now.month() == 12 {
        Utc.with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 0)
    } else {
        Utc.with_ymd_and_hms(now.year(), now.month() + 1, 1, 0, 0, 0)
    }
    .single()
    .expect("date");
    let resets_at: chrono::DateTime<Utc> = refusal["resets_at"]
        .as_str()
        .expect("resets_at")
        .parse()
        .expect("time");
    assert_eq!(resets_at, next_month);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM executions WHERE task_id = $1")
        .bind(task)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(stored, 3);
    let usage = app.get_json_as(&user.access_token, "/billing/usage").await;
    assert_eq!(usage_of(&usage, "executions_per_month")["used"], 3);
}

#[tokio::test]
async fn scheduled_slots_over_the_monthly_limit_are_ledgered_plan_limit() {
    let mut overrides = MANUAL_ENGINE.to_vec();
    overrides.extend_from_slice(BILLING_ON);
    let app = spawn_app_with(&overrides).await;
    set_plan_limit(&app, "BASIC", "executions_per_month", 2).await;
    let user = app.login_as("USER").await;
    let mut new = http_task("https://example.com/");
    new.owner_id = user.id;
    new.schedule = Some(ScheduleSpec::cron("0 0 * * *"));
    new.catch_up_policy = CatchUpPolicy::All;
    new.catch_up_max = 10;
    new.concurrency_policy = ConcurrencyPolicy::Allow;
    let task = app.create_task(&new).await;
    sqlx::query(
        "UPDATE tasks SET next_run_at = date_trunc('day', now()) - interval '4 days' WHERE id = $1",
    )
    .bind(task.id)
    .execute(&app.db)
    .await
    .expect("rewind");

    let report = dispatcher::dispatch_due(&app.engine()).await.expect("tick");
    assert_eq!(report.queued, 2, "two executions are left this month");
    let ledgered: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM planned_runs WHERE task_id = $1 ORDER BY scheduled_for",
    )
    .bind(task.id)
    .fetch_all(&app.db)
    .await
    .expect("ledger");
    assert_eq!(ledgered, ["PLAN_LIMIT", "PLAN_LIMIT", "PLAN_LIMIT"]);
    let counted: i64 =
        sqlx::query_scalar("SELECT executions FROM usage_counters WHERE owner_id = $1")
            .bind(user.id)
            .fetch_one(&app.db)
            .await
            .expect("counter");
    assert_eq!(counted, 2);
}
