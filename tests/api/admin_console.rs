//! The admin console: `/admin/users`, `/admin/tasks`, `/admin/analytics` and `/admin/system`,
//! refused to users and working for admins, the SUPER_ADMIN rule, disabling that takes effect
//! at once, soft delete and purge, the owner told of an admin's pause, analytics checked
//! against executions the test wrote, and secrets masked in the system view.

use chrono::{Duration, DurationRound, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    analytics_fixtures::{QUIET, Run, create_task, insert_runs, percentile, spawn_quiet_app},
    helpers::{TEST_JWT_SECRET, TestApp, TestUser, spawn_app_with},
};

async fn status_of(response: reqwest::Response) -> StatusCode {
    response.status()
}

/// Every admin console operation, as (method, path) for `target` and `task`.
fn operations(target: Uuid, task: Uuid) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/admin/users".to_owned()),
        ("GET", format!("/admin/users/{target}")),
        ("PATCH", format!("/admin/users/{target}")),
        ("DELETE", format!("/admin/users/{target}")),
        ("POST", format!("/admin/users/{target}/sessions/revoke")),
        ("GET", "/admin/analytics".to_owned()),
        ("GET", "/admin/tasks".to_owned()),
        ("POST", format!("/admin/tasks/{task}/pause")),
        ("POST", format!("/admin/tasks/{task}/resume")),
        ("GET", "/admin/system".to_owned()),
    ]
}

async fn call(app: &TestApp, token: &str, method: &str, path: &str, body: &Value) -> StatusCode {
    let response = match method {
        "GET" => app.get_as(token, path).await,
        "PATCH" => app.patch_as(token, path, body).await,
        "DELETE" => app.delete_as(token, path).await,
        _ => app.post_as(token, path, body).await,
    };
    status_of(response).await
}

#[tokio::test]
async fn every_admin_operation_refuses_a_user_and_serves_an_admin() {
    let app = spawn_quiet_app().await;
    let user = app.login_as("USER").await;
    let other = app.login_as("USER").await;
    let admin = app.login_as("ADMIN").await;
    let task = create_task(&app, &other, "nightly", None).await;
    let body = json!({"status": "LOCKED", "reason": "investigation"});
    let reason = json!({"reason": "maintenance"});
    for (method, path) in operations(other.id, task) {
        let payload = if path.contains("/tasks/") {
            &reason
        } else {
            &body
        };
        assert_eq!(
            call(&app, &user.access_token, method, &path, payload).await,
            StatusCode::FORBIDDEN,
            "{method} {path} as a user"
        );
    }
    // The admin: the reads first, then the mutations in an order that keeps the target alive.
    for (method, path) in operations(other.id, task) {
        if method == "DELETE" {
            continue;
        }
        let payload = if path.contains("/tasks/") {
            &reason
        } else {
            &body
        };
        assert_eq!(
            call(&app, &admin.access_token, method, &path, payload).await,
            StatusCode::OK,
            "{method} {path} as an admin"
        );
    }
    let deleted = app
        .delete_as(&admin.access_token, &format!("/admin/users/{}", other.id))
        .await;
    assert_eq!(deleted.status(), 200);
    // Nothing leaks: unauthenticated callers get 401.
    assert_eq!(app.get("/admin/users").await.status(), 401);
}

#[tokio::test]
async fn only_a_super_admin_acts_on_another_admin_and_no_one_on_themselves() {
    let app = spawn_quiet_app().await;
    let admin = app.login_as("ADMIN").await;
    let other_admin = app.login_as("ADMIN").await;
    let root = app.login_as("SUPER_ADMIN").await;
    let lock = json!({"status": "LOCKED", "reason": "suspicious activity"});
    let path = format!("/admin/users/{}", other_admin.id);
    let refused = app.patch_as(&admin.access_token, &path, &lock).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        app.delete_as(&admin.access_token, &path).await.status(),
        403
    );
    assert_eq!(
        app.post_as(
            &admin.access_token,
            &format!("{path}/sessions/revoke"),
            &json!({})
        )
        .await
        .status(),
        403
    );
    let locked = app.patch_as(&root.access_token, &path, &lock).await;
    assert_eq!(locked.status(), 200);
    let locked: Value = locked.json().await.expect("json");
    assert_eq!(locked["status"], "LOCKED");
    assert_eq!(locked["status_reason"], "suspicious activity");

    // Nobody disables, locks or deletes themselves.
    let own = format!("/admin/users/{}", root.id);
    let disable_self = app
        .patch_as(
            &root.access_token,
            &own,
            &json!({"status": "DISABLED", "reason": "oops"}),
        )
        .await;
    assert_eq!(disable_self.status(), 422);
    assert_eq!(app.delete_as(&root.access_token, &own).await.status(), 409);
    // A status needs a reason; DELETED is not a status one sets.
    let no_reason = app
        .patch_as(&root.access_token, &path, &json!({"status": "ACTIVE"}))
        .await;
    assert_eq!(no_reason.status(), 422);
    let deleted = app
        .patch_as(
            &root.access_token,
            &path,
            &json!({"status": "DELETED", "reason": "x"}),
        )
        .await;
    assert_eq!(deleted.status(), 422);
    // With two super admins, one may lock the other (the last one could not be).
    let second_root = app.login_as("SUPER_ADMIN").await;
    let lock_root = app.patch_as(&second_root.access_token, &own, &lock).await;
    assert_eq!(
        lock_root.status(),
        200,
        "two super admins: one may lock the other"
    );
    let unlock = app
        .patch_as(
            &second_root.access_token,
            &own,
            &json!({"status": "ACTIVE", "reason": "cleared"}),
        )
        .await;
    assert_eq!(unlock.status(), 200);
}

async fn me(app: &TestApp, user: &TestUser) -> StatusCode {
    app.get_as(&user.access_token, "/auth/me").await.status()
}

#[tokio::test]
async fn a_disabled_or_locked_account_loses_its_tokens_and_keys_at_once() {
    let app = spawn_quiet_app().await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let key = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await["key"]
        .as_str()
        .expect("key")
        .to_owned();
    // Warm every cache: the token and the key were accepted just now.
    assert_eq!(me(&app, &user).await, 200);
    assert_eq!(app.get_with_key(&key, "/api/v1/me").await.status(), 200);
    let path = format!("/admin/users/{}", user.id);
    for status in ["DISABLED", "LOCKED"] {
        let changed = app
            .patch_as(
                &admin.access_token,
                &path,
                &json!({"status": status, "reason": "abuse report"}),
            )
            .await;
        assert_eq!(changed.status(), 200, "{status}");
        assert_eq!(me(&app, &user).await, 401, "access token after {status}");
        assert_eq!(
            app.get_with_key(&key, "/api/v1/me").await.status(),
            401,
            "API key after {status}"
        );
        assert_eq!(
            app.login(&user.email, &user.password).await.status(),
            403,
            "sign-in after {status}"
        );
    }
    let active = app
        .patch_as(
            &admin.access_token,
            &path,
            &json!({"status": "ACTIVE", "reason": "resolved"}),
        )
        .await;
    assert_eq!(active.status(), 200);
    assert_eq!(app.login(&user.email, &user.password).await.status(), 200);
    assert_eq!(app.get_with_key(&key, "/api/v1/me").await.status(), 200);

    // A forced password reset and a session revocation end the sessions too.
    let fresh = app.login(&user.email, &user.password).await;
    let token = fresh.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(app.get_as(&token, "/auth/me").await.status(), 200);
    let forced = app
        .patch_as(
            &admin.access_token,
            &path,
            &json!({"force_password_reset": true}),
        )
        .await;
    assert_eq!(forced.status(), 200);
    assert_eq!(
        forced.json::<Value>().await.expect("json")["force_password_reset"],
        true
    );
    assert_eq!(app.get_as(&token, "/auth/me").await.status(), 401);

    let again = app.login(&user.email, &user.password).await;
    let token = again.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(app.get_as(&token, "/auth/me").await.status(), 200);
    let revoked = app
        .post_as(
            &admin.access_token,
            &format!("{path}/sessions/revoke"),
            &json!({}),
        )
        .await;
    assert_eq!(revoked.status(), 200);
    assert!(revoked.json::<Value>().await.expect("json")["revoked"].as_u64() >= Some(1));
    assert_eq!(app.get_as(&token, "/auth/me").await.status(), 401);

    let detail = app.get_json_as(&admin.access_token, &path).await;
    assert!(detail["sessions"].as_array().expect("sessions").len() >= 3);
    let keys = detail["api_keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let text = detail.to_string();
    assert!(!text.contains(&key), "the key's secret is never shown");
    assert!(keys[0].get("secret_hash").is_none());
}

#[tokio::test]
async fn a_disabled_account_is_refused_by_another_instance_too() {
    let app = spawn_quiet_app().await;
    let sibling = app.spawn_sibling(QUIET).await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let on_sibling = |token: String| {
        let client = sibling.client.clone();
        let url = format!("{}/auth/me", sibling.address);
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(on_sibling(user.access_token.clone()).await, 200);
    let changed = app
        .patch_as(
            &admin.access_token,
            &format!("/admin/users/{}", user.id),
            &json!({"status": "DISABLED", "reason": "fraud"}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    // The sibling drops its cached entry when the database's notice arrives: wait for that
    // event (bounded), not for a fixed time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = on_sibling(user.access_token.clone()).await;
        if status == 401 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sibling still accepts the token"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn admin_delete_is_soft_and_the_purge_removes_the_account_later() {
    let app = spawn_quiet_app().await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let task = create_task(&app, &user, "to be purged", None).await;
    let deleted = app
        .delete_as(&admin.access_token, &format!("/admin/users/{}", user.id))
        .await;
    assert_eq!(deleted.status(), 200);
    let deleted: Value = deleted.json().await.expect("json");
    assert_eq!(deleted["status"], "DELETED");
    let purge_after: chrono::DateTime<Utc> = deleted["purge_after"]
        .as_str()
        .expect("purge_after")
        .parse()
        .expect("time");
    let grace = purge_after - Utc::now();
    assert!(
        grace > Duration::days(29) && grace <= Duration::days(30),
        "{grace}"
    );
    assert_eq!(me(&app, &user).await, 401);
    // Soft: the row and the task are still there, and the purge leaves them for now.
    assert_eq!(
        nocron::admin::purge::purge_due(&app.db)
            .await
            .expect("purge"),
        0
    );
    let tasks: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE id = $1")
        .bind(task)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(tasks, 1);
    // Once the grace period has passed, the purge removes the account and what it owned.
    sqlx::query("UPDATE users SET purge_after = now() - interval '1 second' WHERE id = $1")
        .bind(user.id)
        .execute(&app.db)
        .await
        .expect("age the deletion");
    assert_eq!(
        nocron::admin::purge::purge_due(&app.db)
            .await
            .expect("purge"),
        1
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM users WHERE id = $1) + (SELECT count(*) FROM tasks WHERE id = $2)",
    )
    .bind(user.id)
    .bind(task)
    .fetch_one(&app.db)
    .await
    .expect("count");
    assert_eq!(left, 0);
    let gone = app
        .get_as(&admin.access_token, &format!("/admin/users/{}", user.id))
        .await;
    assert_eq!(gone.status(), 404);
    // The admin itself is untouched.
    assert_eq!(me(&app, &admin).await, 200);
}

#[tokio::test]
async fn an_admin_pause_and_resume_tell_the_owner_why() {
    let app = spawn_quiet_app().await;
    let admin = app.login_as("ADMIN").await;
    let owner = app.login_as("USER").await;
    let task = create_task(&app, &owner, "hourly report", Some("0 * * * *")).await;
    let paused = app
        .post_as(
            &admin.access_token,
            &format!("/admin/tasks/{task}/pause"),
            &json!({"reason": "it floods an upstream API"}),
        )
        .await;
    assert_eq!(paused.status(), 200);
    let paused: Value = paused.json().await.expect("json");
    assert_eq!(paused["status"], "PAUSED");
    assert!(paused["notification_id"].is_string());
    let seen = app
        .get_json_as(&owner.access_token, &format!("/tasks/{task}"))
        .await;
    assert_eq!(seen["status"], "PAUSED");
    let inbox = app.get_json_as(&owner.access_token, "/notifications").await;
    let items = inbox["items"].as_array().expect("items");
    let told = items
        .iter()
        .find(|n| n["id"] == paused["notification_id"])
        .expect("the owner's notification");
    assert_eq!(told["type"], "SYSTEM");
    assert!(
        told["body"]
            .as_str()
            .expect("body")
            .contains("it floods an upstream API"),
        "{told}"
    );
    // Pausing again changes nothing and tells no one.
    let again = app
        .post_as(
            &admin.access_token,
            &format!("/admin/tasks/{task}/pause"),
            &json!({"reason": "again"}),
        )
        .await;
    assert_eq!(
        again.json::<Value>().await.expect("json")["notification_id"],
        Value::Null
    );
    let resumed = app
        .post_as(
            &admin.access_token,
            &format!("/admin/tasks/{task}/resume"),
            &json!({"reason": "the upstream limit was raised"}),
        )
        .await;
    assert_eq!(resumed.status(), 200);
    let inbox = app.get_json_as(&owner.access_token, "/notifications").await;
    assert_eq!(inbox["items"].as_array().expect("items").len(), 2);
    // A reason is required, and an unknown task is a 404.
    let blank = app
        .post_as(
            &admin.access_token,
            &format!("/admin/tasks/{task}/pause"),
            &json!({"reason": " "}),
        )
        .await;
    assert_eq!(blank.status(), 422);
    let missing = app
        .post_as(
            &admin.access_token,
            &format!("/admin/tasks/{}/pause", Uuid::now_v7()),
            &json!({"reason": "x"}),
        )
        .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn admin_lists_search_filter_sort_and_page() {
    let app = spawn_quiet_app().await;
    let admin = app.login_as("ADMIN").await;
    let alice = app.login_as("USER").await;
    let bob = app.login_as("USER").await;
    let a1 = create_task(&app, &alice, "alpha one", None).await;
    create_task(&app, &alice, "alpha two", None).await;
    create_task(&app, &bob, "beta", None).await;
    sqlx::query("UPDATE tasks SET tags = '{nightly,billing}' WHERE id = $1")
        .bind(a1)
        .execute(&app.db)
        .await
        .expect("tag");

    let found = app
        .get_json_as(
            &admin.access_token,
            &format!("/admin/users?q={}", &alice.email[..12]),
        )
        .await;
    let items = found["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], json!(alice.id));
    assert_eq!(items[0]["task_count"], 2);
    assert!(items[0]["last_login_at"].is_string());
    assert_eq!(items[0]["plan"], "ENTERPRISE");

    let admins = app
        .get_json_as(&admin.access_token, "/admin/users?role=ADMIN")
        .await;
    assert_eq!(admins["items"].as_array().expect("items").len(), 1);

    let by_tasks = app
        .get_json_as(
            &admin.access_token,
            "/admin/users?sort=task_count&order=desc&limit=1",
        )
        .await;
    assert_eq!(by_tasks["items"][0]["id"], json!(alice.id));
    let next = by_tasks["next_cursor"].as_str().expect("cursor");
    let second = app
        .get_json_as(
            &admin.access_token,
            &format!("/admin/users?sort=task_count&order=desc&limit=1&cursor={next}"),
        )
        .await;
    assert_eq!(second["items"][0]["id"], json!(bob.id));

    let bad_sort = app
        .get_as(&admin.access_token, "/admin/users?sort=password_hash")
        .await;
    assert_eq!(bad_sort.status(), 400);
    let bad_limit = app
        .get_as(&admin.access_token, "/admin/users?limit=0")
        .await;
    assert_eq!(bad_limit.status(), 422);

    let tagged = app
        .get_json_as(&admin.access_token, "/admin/tasks?tags=nightly,billing")
        .await;
    assert_eq!(tagged["items"].as_array().expect("items").len(), 1);
    assert_eq!(tagged["items"][0]["owner_email"], json!(alice.email));
    let of_bob = app
        .get_json_as(
            &admin.access_token,
            &format!("/admin/tasks?owner_id={}", bob.id),
        )
        .await;
    assert_eq!(of_bob["items"].as_array().expect("items").len(), 1);
    let paged = app
        .get_json_as(&admin.access_token, "/admin/tasks?q=alpha&limit=1")
        .await;
    assert_eq!(paged["items"].as_array().expect("items").len(), 1);
    let rest = app
        .get_json_as(
            &admin.access_token,
            &format!(
                "/admin/tasks?q=alpha&limit=1&cursor={}",
                paged["next_cursor"].as_str().expect("cursor")
            ),
        )
        .await;
    assert_eq!(rest["items"].as_array().expect("items").len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    assert_ne!(rest["items"][0]["id"], paged["items"][0]["id"]);
}

#[tokio::test]
async fn admin_analytics_match_the_executions_that_ran() {
    let app = spawn_quiet_app().await;
    let admin = app.login_as("ADMIN").await;
    let alice = app.login_as("USER").await;
    let bob = app.login_as("USER").await;
    let flaky = create_task(&app, &alice, "flaky", None).await;
    let steady = create_task(&app, &bob, "steady", None).await;
    let today = Utc::now()
        .duration_trunc(Duration::days(1))
        .expect("midnight");
    let yesterday = today - Duration::days(1);
    let run = |task_id, status, at, duration, lateness| Run {
        task_id,
        status,
        queued_at: at,
        duration_ms: Some(duration),
        lateness_ms: Some(lateness),
    };
    let at = yesterday + Duration::hours(10);
    let runs = vec![
        run(flaky, "FAILED", at, 100, 5),
        run(flaky, "DEAD", at, 200, 15),
        run(flaky, "TIMED_OUT", at, 300, 25),
        run(flaky, "SUCCEEDED", at, 400, 35),
        run(steady, "SUCCEEDED", at, 50, 1),
        run(steady, "SUCCEEDED", at, 60, 2),
        run(steady, "FAILED", at, 70, 3),
    ];
    insert_runs(&app.db, &runs).await;
    let from = (yesterday).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (today + Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let report = app
        .get_json_as(
            &admin.access_token,
            &format!("/admin/analytics?from={from}&to={to}&tz=UTC"),
        )
        .await;
    let days = report["days"].as_array().expect("days");
    assert_eq!(days.len(), 2, "{report}");
    let first = &days[0];
    assert_eq!(first["executions"]["total"], 7);
    assert_eq!(first["executions"]["succeeded"], 3);
    assert_eq!(first["executions"]["failed"], 2);
    assert_eq!(first["executions"]["dead"], 1);
    assert_eq!(first["executions"]["timed_out"], 1);
    let rate = first["success_rate"].as_f64().expect("rate");
    assert!((rate - 3.0 / 7.0).abs() < 1e-9, "{rate}");
    let durations: Vec<i64> = runs.iter().filter_map(|r| r.duration_ms).collect();
    let lateness: Vec<i64> = runs.iter().filter_map(|r| r.lateness_ms).collect();
    let p95 = first["duration_p95_ms"].as_f64().expect("p95");
    assert!(
        (p95 - percentile(&durations, 0.95).expect("p95")).abs() < 1e-6,
        "{p95}"
    );
    let late = first["lateness_p95_ms"].as_f64().expect("p95");
    assert!(
        (late - percentile(&lateness, 0.95).expect("p95")).abs() < 1e-6,
        "{late}"
    );
    // The accounts were all created today, so yesterday had none.
    assert_eq!(first["users"]["total"], 0);
    let second = &days[1];
    assert_eq!(second["users"]["total"], 3);
    assert_eq!(second["users"]["new"], 3);
    assert_eq!(second["users"]["active"], 3);
    assert_eq!(second["executions"]["total"], 0);
    assert_eq!(report["top_failing_tasks"][0]["task_id"], json!(flaky));
    assert_eq!(report["top_failing_tasks"][0]["failures"], 3);
    assert_eq!(report["top_failing_tasks"][1]["failures"], 1);
    assert_eq!(
        report["top_failing_accounts"][0]["user_id"],
        json!(alice.id)
    );
    assert_eq!(report["top_failing_accounts"][0]["failures"], 3);
    assert_eq!(report["queue_now"]["queued"], 0);

    let bad_tz = app
        .get_as(&admin.access_token, "/admin/analytics?tz=Mars/Olympus")
        .await;
    assert_eq!(bad_tz.status(), 422);
}

#[tokio::test]
async fn the_system_view_masks_every_secret() {
    let metrics_token = "metrics-token-known-to-the-test-7c1d";
    let app = spawn_app_with(&[
        ("SCHEDULER_ENABLED", "false"),
        ("WORKERS_ENABLED", "false"),
        ("METRICS_TOKEN", metrics_token),
    ])
    .await;
    let admin = app.login_as("ADMIN").await;
    let response = app.get_as(&admin.access_token, "/admin/system").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    assert!(!text.contains(TEST_JWT_SECRET), "the JWT secret leaked");
    assert!(!text.contains(metrics_token), "the metrics token leaked");
    let body: Value = serde_json::from_str(&text).expect("json");
    let entry = |name: &str| {
        body["config"]
            .as_array()
            .expect("config")
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    assert_eq!(entry("JWT_SECRET")["value"], "********");
    assert_eq!(entry("JWT_SECRET")["secret"], true);
    assert_eq!(entry("METRICS_TOKEN")["value"], "********");
    assert_eq!(entry("WORKERS_ENABLED")["value"], false);
    assert!(
        body["migrations"]
            .as_array()
            .expect("migrations")
            .iter()
            .any(|m| m["version"] == 20261205040001_i64),
        "the admin console's migration is listed"
    );
    let instance = body["instance_id"].as_str().expect("instance");
    let live = body["instances"].as_array().expect("instances");
    let me = live
        .iter()
        .find(|i| i["id"] == instance)
        .expect("this instance is live");
    let roles = me["roles"].as_array().expect("roles");
    assert!(roles.contains(&json!("api")));
    assert!(!roles.contains(&json!("worker")));
    assert!(body["version"].is_string());
}
