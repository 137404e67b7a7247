//! Billing administration: granting plans by hand (a downgrade pauses the newest tasks past
//! the limit and tells the owner), listing subscriptions, and changing a plan's limits.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, problem, spawn_app_with};

const BILLING_ON: &[(&str, &str)] = &[("STRIPE_SECRET_KEY", "sk_test_billing")];

async fn create_task(app: &TestApp, user: &TestUser, name: &str) -> String {
    let response = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({
                "name": name,
                "action": {"type": "HTTP_REQUEST", "config": {"method": "GET", "url": "https://example.com/"}},
                "schedule": {"cron": "0 * * * *", "timezone": "UTC"},
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "{name}");
    let body: Value = response.json().await.expect("task");
    body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_downgrade_pauses_the_newest_tasks_over_the_limit_and_tells_the_owner() {
    let app = spawn_app_with(BILLING_ON).await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let granted = app
        .put_as(
            &admin.access_token,
            &format!("/admin/users/{}/plan", user.id),
            &json!({"plan": "PRO"}),
        )
        .await;
    assert_eq!(granted.status(), StatusCode::OK);
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(create_task(&app, &user, &format!("task {i:02}")).await);
    }
    let down = app
        .put_as(
            &admin.access_token,
            &format!("/admin/users/{}/plan", user.id),
            &json!({"plan": "BASIC"}),
        )
        .await;
    assert_eq!(down.status(), StatusCode::OK);
    let body: Value = down.json().await.expect("subscription");
    assert_eq!(body["plan"], "BASIC");
    let statuses: Vec<(String, String)> = sqlx::query_as(
        "SELECT id::text, status FROM tasks WHERE owner_id = $1 ORDER BY created_at",
    )
    .bind(user.id)
    .fetch_all(&app.db)
    .await
    .expect("tasks");
    let paused: Vec<&str> = statuses
        .iter()
        .filter(|(_, status)| status == "PAUSED")
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(
        paused,
        [ids[10].as_str(), ids[11].as_str()],
        "the two newest"
    );
    let notice: String = sqlx::query_scalar(
        "SELECT body FROM notifications WHERE user_id = $1 AND type = 'BILLING'",
    )
    .bind(user.id)
    .fetch_one(&app.db)
    .await
    .expect("the owner is told");
    assert!(
        notice.contains("task 10") && notice.contains("task 11"),
        "{notice}"
    );
    assert!(!notice.contains("task 09"), "{notice}");

    let list = app
        .get_json_as(&admin.access_token, "/admin/subscriptions?plan=BASIC")
        .await;
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
    assert_eq!(list["items"][0]["user_id"], user.id.to_string());
    let forbidden = app.get_as(&user.access_token, "/admin/subscriptions").await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_changes_a_plans_limits_and_they_apply_at_once() {
    let app = spawn_app_with(BILLING_ON).await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let mut plan = app
        .get_json_as(&admin.access_token, "/admin/plans/BASIC")
        .await;
    assert_eq!(plan["limits"]["max_tasks"], 10);
    plan.as_object_mut().expect("object").remove("code");
    plan["limits"]["max_tasks"] = json!(1);
    let changed = app
        .put_as(&admin.access_token, "/admin/plans/BASIC", &plan)
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    create_task(&app, &user, "only").await;
    let refused = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({"name": "second", "action": {"type": "HTTP_REQUEST", "config": {"method": "GET", "url": "https://example.com/"}}}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(problem(refused).await["limit"], 1);

    plan["limits"]["min_interval_seconds"] = json!(0);
    plan["currency"] = json!("USD");
    let invalid = app
        .put_as(&admin.access_token, "/admin/plans/BASIC", &plan)
        .await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields = crate::helpers::problem_fields(&problem(invalid).await);
    assert_eq!(fields, ["currency", "limits.min_interval_seconds"]);
    let not_admin = app
        .put_as(&user.access_token, "/admin/plans/BASIC", &plan)
        .await;
    assert_eq!(not_admin.status(), StatusCode::FORBIDDEN);
}
