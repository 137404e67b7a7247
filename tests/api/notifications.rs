//! Notifications and alert rules end to end: executions driven to `DEAD` against a loopback
//! server, the outbox consumed into notifications, email through the real SMTP sink, the
//! in-app push through a Socket.IO client, and the `/notifications` and alert-rule API.

use std::time::Duration;

use axum::extract::FromRef;
use nocron::{
    executions::{self, model::TriggerKind},
    notifications::{Notifier, delivery, outbox},
    scheduler::worker,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    capture::CaptureServer,
    email::SmtpSink,
    engine_support::{spawn_engine_app, status_of, wait_until},
    helpers::{TestApp, TestUser, problem, problem_fields},
    sockets::connect,
};

/// The engine and the notification loops stopped: the test moves each step itself.
pub(crate) const MANUAL: &[(&str, &str)] = &[
    ("SCHEDULER_ENABLED", "false"),
    ("WORKERS_ENABLED", "false"),
    ("NOTIFICATIONS_ENABLED", "false"),
];

const PATIENCE: Duration = Duration::from_secs(20);

/// Creates an HTTP task whose n-th run answers as the n-th letter of `plan` says (`f` a
/// 503, `s` a 200), with one attempt per run, so a failure is `DEAD` at once.
pub(crate) async fn planned_task(
    app: &TestApp,
    user: &TestUser,
    server: &CaptureServer,
    plan: &str,
) -> Uuid {
    let key = Uuid::new_v4().simple().to_string();
    let created = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({"name": "Nightly report",
                    "action": {"type": "HTTP_REQUEST",
                               "config": {"url": server.url(&format!("/plan/{key}/{plan}"))}},
                    "retry": {"max_attempts": 1}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

/// Runs the task once through the API and the background engine, and waits for the end.
async fn run_through_engine(app: &TestApp, user: &TestUser, task_id: Uuid) -> String {
    let run = app.execute_as(&user.access_token, task_id).await;
    assert_eq!(run.status(), 202);
    let execution_id: Uuid = run.json::<Value>().await.expect("json")["execution_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let db = app.state.db.clone();
    wait_until(PATIENCE, "the execution to end", || {
        let db = db.clone();
        async move {
            matches!(
                status_of(&db, execution_id).await.as_str(),
                "SUCCEEDED" | "DEAD"
            )
        }
    })
    .await;
    status_of(&app.state.db, execution_id).await
}

/// Runs the task once by stepping the engine by hand.
pub(crate) async fn run_by_hand(app: &TestApp, task_id: Uuid, owner_id: Uuid) {
    let engine = app.engine();
    executions::control::enqueue(
        &engine,
        task_id,
        owner_id,
        TriggerKind::Manual,
        json!({}),
        None,
    )
    .await
    .expect("enqueue");
    let ran = worker::run_batch(&engine, 10).await.expect("run");
    assert_eq!(ran.len(), 1);
}

/// Waits until every outbox record was consumed by the background consumer.
async fn wait_consumed(app: &TestApp) {
    let db = app.state.db.clone();
    wait_until(PATIENCE, "the outbox to be consumed", || {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE processed_at IS NULL")
                .fetch_one(&db)
                .await
                .expect("count")
                == 0
        }
    })
    .await;
}

async fn list(app: &TestApp, user: &TestUser, query: &str) -> Value {
    app.get_json_as(&user.access_token, &format!("/notifications{query}"))
        .await
}

async fn unread(app: &TestApp, user: &TestUser) -> Value {
    app.get_json_as(&user.access_token, "/notifications/unread-count")
        .await["count"]
        .clone()
}

fn types(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["type"].as_str().expect("type").to_owned())
        .collect()
}

#[tokio::test]
async fn the_default_rules_send_one_alert_for_repeated_failures_then_one_recovery() {
    let app = spawn_engine_app(&[]).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let task_id = planned_task(&app, &user, &server, "fffss").await;
    let rules = app
        .get_json_as(&user.access_token, &format!("/tasks/{task_id}/alert-rules"))
        .await;
    let kinds: Vec<&str> = rules
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["CONSECUTIVE_FAILURES", "RECOVERY"]);
    assert_eq!(rules[0]["params"], json!({"count": 1}));

    for _ in 0..3 {
        assert_eq!(run_through_engine(&app, &user, task_id).await, "DEAD");
    }
    wait_consumed(&app).await;
    let page = list(&app, &user, "").await;
    assert_eq!(types(&page), ["TASK_FAILED"], "{page}");
    let failed = &page["items"][0];
    assert_eq!(failed["data"]["task_id"], task_id.to_string());
    assert_eq!(failed["category"], "TASKS");
    assert!(
        failed["title"]
            .as_str()
            .expect("title")
            .contains("Nightly report")
    );

    // Without SMTP the email is NOT_SENT, which is not a failure; in-app is delivered.
    let detail = app
        .get_json_as(
            &user.access_token,
            &format!("/notifications/{}", failed["id"].as_str().expect("id")),
        )
        .await;
    let deliveries = detail["deliveries"].as_array().expect("deliveries");
    let status = |channel: &str| {
        deliveries
            .iter()
            .find(|d| d["channel"] == channel)
            .map(|d| d["status"].clone())
    };
    assert_eq!(status("IN_APP"), Some(json!("DELIVERED")), "{detail}");
    assert_eq!(status("EMAIL"), Some(json!("NOT_SENT")), "{detail}");
    assert!(detail["seen_at"].is_string(), "opening records seen_at");

    for _ in 0..2 {
        assert_eq!(run_through_engine(&app, &user, task_id).await, "SUCCEEDED");
    }
    wait_consumed(&app).await;
    assert_eq!(
        types(&list(&app, &user, "").await),
        ["TASK_RECOVERED", "TASK_FAILED"]
    );
}

#[tokio::test]
async fn consecutive_failures_with_count_two_alerts_on_the_second_failure_only() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let task_id = planned_task(&app, &user, &server, "ffff").await;
    let rules = app
        .get_json_as(&user.access_token, &format!("/tasks/{task_id}/alert-rules"))
        .await;
    for rule in rules.as_array().expect("rules") {
        let id = rule["id"].as_str().expect("id");
        let deleted = app
            .delete_as(
                &user.access_token,
                &format!("/tasks/{task_id}/alert-rules/{id}"),
            )
            .await;
        assert_eq!(deleted.status(), 204);
    }
    let created = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{task_id}/alert-rules"),
            &json!({"kind": "CONSECUTIVE_FAILURES", "params": {"count": 3}, "channels": ["IN_APP"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let rule: Value = created.json().await.expect("json");
    let replaced = app
        .put_as(
            &user.access_token,
            &format!("/tasks/{task_id}/alert-rules/{}", rule["id"].as_str().expect("id")),
            &json!({"kind": "CONSECUTIVE_FAILURES", "params": {"count": 2}, "channels": ["IN_APP"]}),
        )
        .await;
    assert_eq!(replaced.status(), 200);
    assert_eq!(
        replaced.json::<Value>().await.expect("json")["params"],
        json!({"count": 2})
    );

    let notifier = Notifier::from_ref(&app.state);
    run_by_hand(&app, task_id, user.id).await;
    assert_eq!(outbox::drain(&notifier).await.expect("drain"), 1);
    assert!(
        types(&list(&app, &user, "").await).is_empty(),
        "one failure is not two"
    );
    for _ in 0..3 {
        run_by_hand(&app, task_id, user.id).await;
        outbox::drain(&notifier).await.expect("drain");
    }
    let page = list(&app, &user, "").await;
    assert_eq!(
        types(&page),
        ["TASK_FAILED"],
        "one alert while the failures go on"
    );
    assert!(
        page["items"][0]["body"]
            .as_str()
            .expect("body")
            .starts_with("2 failed executions")
    );
    let detail = app
        .get_json_as(
            &user.access_token,
            &format!(
                "/notifications/{}",
                page["items"][0]["id"].as_str().expect("id")
            ),
        )
        .await;
    assert_eq!(
        detail["deliveries"].as_array().expect("deliveries").len(),
        1,
        "IN_APP only"
    );
}

#[tokio::test]
async fn an_alert_email_reaches_the_smtp_server() {
    let mut smtp = SmtpSink::start(&[]).await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = spawn_engine_app(&[
        ("SMTP_URL", url.as_str()),
        ("SMTP_FROM", "Nocron <alerts@nocron.example>"),
    ])
    .await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let task_id = planned_task(&app, &user, &server, "f").await;
    assert_eq!(run_through_engine(&app, &user, task_id).await, "DEAD");

    let received = smtp.received().await;
    assert_eq!(received["mail_from"], "alerts@nocron.example");
    assert_eq!(received["rcpt_tos"], json!([user.email]));
    let data = received["data"].as_str().expect("data");
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(data.contains("Nightly report"), "{data}");
    assert!(
        data.contains(&format!("/tasks/{task_id}/executions/")),
        "{data}"
    );

    wait_consumed(&app).await;
    let id = list(&app, &user, "").await["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/notifications/{id}");
    wait_until(PATIENCE, "the email delivery to be recorded SENT", || {
        let (app, token, path) = (&app, user.access_token.clone(), path.clone());
        async move {
            let detail = app.get_json_as(&token, &path).await;
            detail["deliveries"].as_array().is_some_and(|d| {
                d.iter()
                    .any(|d| d["channel"] == "EMAIL" && d["status"] == "SENT")
            })
        }
    })
    .await;
    let detail = app.get_json_as(&user.access_token, &path).await;
    let email = detail["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["channel"] == "EMAIL")
        .expect("email")
        .clone();
    assert_eq!(email["attempts"], 1);
    assert!(email["sent_at"].is_string());
}

#[tokio::test]
async fn the_owner_socket_receives_the_notification_and_the_unread_count() {
    let app = spawn_engine_app(&[]).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let mut socket = connect(&app, &user.access_token).await;
    let task_id = planned_task(&app, &user, &server, "f").await;
    assert_eq!(run_through_engine(&app, &user, task_id).await, "DEAD");

    let pushed = socket.event("notification").await;
    assert_eq!(pushed["type"], "TASK_FAILED");
    assert_eq!(pushed["data"]["task_id"], task_id.to_string());
    assert!(
        pushed["title"]
            .as_str()
            .expect("title")
            .contains("Nightly report")
    );
    assert_eq!(socket.event("unread_count").await["count"], 1);

    let id = pushed["id"].as_str().expect("id");
    let read = app
        .patch_as(
            &user.access_token,
            &format!("/notifications/{id}/read"),
            &json!({}),
        )
        .await;
    assert_eq!(read.status(), 200);
    assert_eq!(socket.event("unread_count").await["count"], 0);
}

#[tokio::test]
async fn read_marks_read_all_delete_and_the_unread_count() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let notifier = Notifier::from_ref(&app.state);
    for _ in 0..3 {
        let task_id = planned_task(&app, &user, &server, "f").await;
        run_by_hand(&app, task_id, user.id).await;
    }
    assert_eq!(outbox::drain(&notifier).await.expect("drain"), 3);
    assert_eq!(unread(&app, &user).await, 3);

    let first_page = list(&app, &user, "?limit=2").await;
    assert_eq!(types(&first_page).len(), 2);
    let cursor = first_page["next_cursor"].as_str().expect("a next page");
    let second_page = list(&app, &user, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(types(&second_page).len(), 1);
    assert!(second_page["next_cursor"].is_null());

    let id = first_page["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let read = app
        .patch_as(
            &user.access_token,
            &format!("/notifications/{id}/read"),
            &json!({}),
        )
        .await;
    assert_eq!(read.status(), 200);
    assert!(read.json::<Value>().await.expect("json")["read_at"].is_string());
    assert_eq!(unread(&app, &user).await, 2);
    assert_eq!(types(&list(&app, &user, "?unread=true").await).len(), 2);
    assert_eq!(types(&list(&app, &user, "?unread=false").await).len(), 1);
    assert_eq!(
        types(&list(&app, &user, "?type=TASK_RECOVERED").await).len(),
        0
    );
    assert_eq!(
        types(
            &list(
                &app,
                &user,
                "?from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z"
            )
            .await
        )
        .len(),
        0
    );

    let all = app
        .post_as(&user.access_token, "/notifications/read-all", &json!({}))
        .await;
    assert_eq!(all.status(), 200);
    assert_eq!(all.json::<Value>().await.expect("json")["updated"], 2);
    assert_eq!(unread(&app, &user).await, 0);

    let deleted = app
        .delete_as(&user.access_token, &format!("/notifications/{id}"))
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(types(&list(&app, &user, "").await).len(), 2);
    let again = app
        .get_as(&user.access_token, &format!("/notifications/{id}"))
        .await;
    assert_eq!(again.status(), 404);

    let bad = app
        .get_as(&user.access_token, "/notifications?limit=1000")
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(problem_fields(&problem(bad).await), ["query.limit"]);
    let bad = app
        .get_as(
            &user.access_token,
            "/notifications?from=2001-01-01T00:00:00Z&to=2000-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(problem_fields(&problem(bad).await), ["query.to"]);
}

#[tokio::test]
async fn another_users_notifications_and_rules_are_not_found() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let owner = app.login_as("USER").await;
    let stranger = app.login_as("USER").await;
    let task_id = planned_task(&app, &owner, &server, "f").await;
    run_by_hand(&app, task_id, owner.id).await;
    outbox::drain(&Notifier::from_ref(&app.state))
        .await
        .expect("drain");
    let page = list(&app, &owner, "").await;
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();
    let rules = app
        .get_json_as(
            &owner.access_token,
            &format!("/tasks/{task_id}/alert-rules"),
        )
        .await;
    let rule_id = rules[0]["id"].as_str().expect("rule").to_owned();

    let token = &stranger.access_token;
    assert_eq!(
        app.get_as(token, &format!("/notifications/{id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.patch_as(token, &format!("/notifications/{id}/read"), &json!({}))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.delete_as(token, &format!("/notifications/{id}"))
            .await
            .status(),
        404
    );
    assert!(types(&list(&app, &stranger, "").await).is_empty());
    assert_eq!(
        app.get_as(token, &format!("/tasks/{task_id}/alert-rules"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.post_as(
            token,
            &format!("/tasks/{task_id}/alert-rules"),
            &json!({"kind": "SUCCESS"})
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        app.put_as(
            token,
            &format!("/tasks/{task_id}/alert-rules/{rule_id}"),
            &json!({"kind": "SUCCESS"})
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        app.delete_as(token, &format!("/tasks/{task_id}/alert-rules/{rule_id}"))
            .await
            .status(),
        404
    );
    // The owner still has both.
    assert_eq!(
        app.get_as(&owner.access_token, &format!("/notifications/{id}"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn alert_rules_are_validated_and_bounded() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let task_id = planned_task(&app, &user, &server, "s").await;
    let path = format!("/tasks/{task_id}/alert-rules");
    for (body, field) in [
        (json!({"kind": "CONSECUTIVE_FAILURES"}), "params.count"),
        (
            json!({"kind": "CONSECUTIVE_FAILURES", "params": {"count": 0}}),
            "params.count",
        ),
        (
            json!({"kind": "DURATION_OVER", "params": {"ms": 1, "x": 2}}),
            "params.x",
        ),
        (json!({"kind": "SUCCESS", "channels": []}), "channels"),
        (
            json!({"kind": "SUCCESS", "channels": ["EMAIL", "EMAIL"]}),
            "channels",
        ),
        (
            json!({"kind": "SUCCESS", "repeat_every_minutes": 0}),
            "repeat_every_minutes",
        ),
    ] {
        let response = app.post_as(&user.access_token, &path, &body).await;
        assert_eq!(response.status(), 422, "{body}");
        assert_eq!(problem_fields(&problem(response).await), [field], "{body}");
    }
    let unknown = app
        .post_as(&user.access_token, &path, &json!({"kind": "MISSED"}))
        .await;
    assert_eq!(unknown.status(), 422);
    // Two default rules, then up to twenty in all.
    for _ in 0..18 {
        let created = app
            .post_as(&user.access_token, &path, &json!({"kind": "SUCCESS"}))
            .await;
        assert_eq!(created.status(), 201);
    }
    let over = app
        .post_as(&user.access_token, &path, &json!({"kind": "SUCCESS"}))
        .await;
    assert_eq!(over.status(), 409);
}

#[tokio::test]
async fn api_keys_need_the_notification_scopes() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let task_id = planned_task(&app, &user, &server, "s").await;
    let reader = app
        .create_api_key(&user.access_token, &["notifications:read", "tasks:read"])
        .await["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let tasks_only = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await["key"]
        .as_str()
        .expect("key")
        .to_owned();
    assert_eq!(
        app.get_with_key(&reader, "/api/v1/notifications")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get_with_key(&reader, "/api/v1/notifications/unread-count")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get_with_key(&tasks_only, "/api/v1/notifications")
            .await
            .status(),
        403
    );
    let write = app
        .send_json_with_key(
            reqwest::Method::POST,
            &reader,
            "/api/v1/notifications/read-all",
            &json!({}),
        )
        .await;
    assert_eq!(write.status(), 403);
    assert_eq!(
        app.get_with_key(&tasks_only, &format!("/api/v1/tasks/{task_id}/alert-rules"))
            .await
            .status(),
        200
    );
    let add = app
        .send_json_with_key(
            reqwest::Method::POST,
            &tasks_only,
            &format!("/api/v1/tasks/{task_id}/alert-rules"),
            &json!({"kind": "SUCCESS"}),
        )
        .await;
    assert_eq!(add.status(), 403, "writing rules needs tasks:write");
}

#[tokio::test]
async fn racing_consumers_take_each_outbox_record_exactly_once() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let task_id = planned_task(&app, &user, &server, "ff").await;
        run_by_hand(&app, task_id, user.id).await;
        run_by_hand(&app, task_id, user.id).await;
        tasks.push(task_id);
    }
    let mut first = Notifier::from_ref(&app.state);
    first.instance_id = "consumer-a".into();
    let mut second = first.clone();
    second.instance_id = "consumer-b".into();
    let (a, b) = tokio::join!(
        tokio::spawn(async move { outbox::drain(&first).await.expect("drain a") }),
        tokio::spawn(async move { outbox::drain(&second).await.expect("drain b") }),
    );
    let consumed = a.expect("a") + b.expect("b");
    assert_eq!(consumed, 12, "twelve records, each consumed once");
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE processed_at IS NULL")
        .fetch_one(&app.state.db)
        .await
        .expect("count");
    assert_eq!(pending, 0);
    // Each task failed twice and alerted once: never doubled, never lost.
    let per_task: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT task_id, count(*) FROM notifications WHERE user_id = $1 GROUP BY task_id",
    )
    .bind(user.id)
    .fetch_all(&app.state.db)
    .await
    .expect("per task");
    assert_eq!(per_task.len(), tasks.len());
    assert!(per_task.iter().all(|(_, n)| *n == 1), "{per_task:?}");
}

/// The EMAIL delivery of the only notification of `user`: (status, attempts, last_error).
async fn email_delivery(app: &TestApp, user: &TestUser) -> (String, i32, Option<String>) {
    sqlx::query_as(
        "SELECT d.status, d.attempts, d.last_error FROM notification_deliveries d
         JOIN notifications n ON n.id = d.notification_id
         WHERE n.user_id = $1 AND d.channel = 'EMAIL'",
    )
    .bind(user.id)
    .fetch_one(&app.state.db)
    .await
    .expect("email delivery")
}

#[tokio::test]
async fn email_deliveries_retry_transient_failures_until_undelivered() {
    // A port nothing listens on: every attempt fails to connect, which may pass.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "smtp://127.0.0.1:{}",
        closed.local_addr().expect("addr").port()
    );
    drop(closed);
    let mut settings = MANUAL.to_vec();
    settings.extend([
        ("SMTP_URL", url.as_str()),
        ("SMTP_FROM", "n@nocron.example"),
    ]);
    let app = spawn_engine_app(&settings).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let notifier = Notifier::from_ref(&app.state);
    let task_id = planned_task(&app, &user, &server, "f").await;
    run_by_hand(&app, task_id, user.id).await;
    outbox::drain(&notifier).await.expect("drain");
    assert_eq!(email_delivery(&app, &user).await.0, "QUEUED");

    assert_eq!(delivery::deliver_due(&notifier).await.expect("deliver"), 1);
    let (status, attempts, error) = email_delivery(&app, &user).await;
    assert_eq!((status.as_str(), attempts), ("QUEUED", 1), "{error:?}");
    assert!(error.is_some());
    assert_eq!(
        delivery::deliver_due(&notifier).await.expect("deliver"),
        0,
        "the retry waits for its backoff"
    );

    // The last attempt fails too: the delivery is UNDELIVERED with the reason.
    sqlx::query("UPDATE notification_deliveries SET attempts = 4, next_attempt_at = now()")
        .execute(&app.state.db)
        .await
        .expect("skip ahead");
    assert_eq!(delivery::deliver_due(&notifier).await.expect("deliver"), 1);
    let (status, attempts, error) = email_delivery(&app, &user).await;
    assert_eq!((status.as_str(), attempts), ("UNDELIVERED", 5));
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("after 5 attempts")),
        "{error:?}"
    );
    // Forward only: it cannot be queued again.
    let back = sqlx::query("UPDATE notification_deliveries SET status = 'QUEUED'")
        .execute(&app.state.db)
        .await;
    assert!(back.is_err(), "a delivery status never moves back");
}

#[tokio::test]
async fn a_permanent_smtp_refusal_makes_the_email_undelivered_at_once() {
    let smtp = SmtpSink::start(&["--user", "mailer", "--password", "right-password"]).await;
    let url = format!("smtp://mailer:wrong-password@127.0.0.1:{}", smtp.port);
    let mut settings = MANUAL.to_vec();
    settings.extend([
        ("SMTP_URL", url.as_str()),
        ("SMTP_FROM", "n@nocron.example"),
    ]);
    let app = spawn_engine_app(&settings).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let notifier = Notifier::from_ref(&app.state);
    let task_id = planned_task(&app, &user, &server, "f").await;
    run_by_hand(&app, task_id, user.id).await;
    outbox::drain(&notifier).await.expect("drain");
    assert_eq!(delivery::deliver_due(&notifier).await.expect("deliver"), 1);
    let (status, attempts, error) = email_delivery(&app, &user).await;
    assert_eq!((status.as_str(), attempts), ("UNDELIVERED", 1), "{error:?}");
    assert!(
        error.as_deref().is_some_and(|e| e.contains("535")),
        "{error:?}"
    );
}

#[tokio::test]
async fn retention_prunes_old_processed_outbox_rows_and_never_pending_ones() {
    let app = spawn_engine_app(MANUAL).await;
    sqlx::query(
        "INSERT INTO outbox (kind, payload, created_at, processed_at) VALUES
             ('test', '{}', now() - interval '30 days', now() - interval '30 days'),
             ('test', '{}', now() - interval '30 days', NULL),
             ('test', '{}', now(), now())",
    )
    .execute(&app.state.db)
    .await
    .expect("rows");
    assert_eq!(
        outbox::prune_processed(&app.state.db).await.expect("prune"),
        1
    );
    let left: Vec<(Option<chrono::DateTime<chrono::Utc>>,)> =
        sqlx::query_as("SELECT processed_at FROM outbox ORDER BY id")
            .fetch_all(&app.state.db)
            .await
            .expect("left");
    assert_eq!(left.len(), 2);
    assert!(left[0].0.is_none(), "the pending row stays");
}
