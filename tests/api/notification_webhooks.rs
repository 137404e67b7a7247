//! The WEBHOOK notification channel and test messages: endpoints of one's own (secret shown
//! once, rotation, SSRF guard, bounds, ownership), deliveries to a real loopback receiver
//! whose Standard Webhooks signature is checked here independently, retries into
//! `UNDELIVERED`, and an alert rule that posts a task's failure.

use axum::extract::FromRef;
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use hmac::{Hmac, Mac};
use nocron::notifications::{Notifier, outbox, webhook_delivery};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{
    capture::{CaptureServer, Captured},
    engine_support::spawn_engine_app,
    helpers::{TestApp, TestUser, problem, problem_fields},
    notifications::{MANUAL, planned_task, run_by_hand},
};

async fn add_endpoint(app: &TestApp, user: &TestUser, url: &str) -> Value {
    let created = app
        .post_as(
            &user.access_token,
            "/notifications/webhooks",
            &json!({"url": url, "description": "on-call"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    created.json().await.expect("json")
}

async fn send_test(app: &TestApp, user: &TestUser, channel: &str) -> reqwest::Response {
    app.post_as(
        &user.access_token,
        "/notifications/test",
        &json!({"channel": channel}),
    )
    .await
}

/// The webhook deliveries of the user's notifications: (status, attempts, last_error).
async fn webhook_deliveries(app: &TestApp, user: &TestUser) -> Vec<(String, i32, Option<String>)> {
    sqlx::query_as(
        "SELECT d.status, d.attempts, d.last_error FROM notification_deliveries d
         JOIN notifications n ON n.id = d.notification_id
         WHERE n.user_id = $1 AND d.channel = 'WEBHOOK' ORDER BY d.created_at, d.id",
    )
    .bind(user.id)
    .fetch_all(&app.state.db)
    .await
    .expect("deliveries")
}

/// Checks a request's Standard Webhooks signature against `secret`, as a receiver would.
fn verify(request: &Captured, secret: &str) -> bool {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let id = &request.headers["webhook-id"];
    let timestamp = &request.headers["webhook-timestamp"];
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().expect("timestamp");
    assert!(age.abs() < 300, "the timestamp is current: {age}");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{timestamp}.{}", request.body).as_bytes());
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    request.headers["webhook-signature"]
        .split(' ')
        .any(|signature| signature == expected)
}

#[tokio::test]
async fn a_test_notification_reaches_the_endpoint_signed_the_standard_webhooks_way() {
    let app = spawn_engine_app(MANUAL).await;
    let receiver = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let endpoint = add_endpoint(&app, &user, &receiver.url("/ok")).await;
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let listed = app
        .get_json_as(&user.access_token, "/notifications/webhooks")
        .await;
    assert_eq!(listed.as_array().expect("list").len(), 1);
    assert!(
        listed[0].get("secret").is_none(),
        "the secret is shown only once"
    );

    let sent = send_test(&app, &user, "WEBHOOK").await;
    assert_eq!(sent.status(), 202);
    let sent: Value = sent.json().await.expect("json");
    assert_eq!(sent["deliveries"][0]["status"], "QUEUED");
    let notifier = Notifier::from_ref(&app.state);
    assert_eq!(
        webhook_delivery::deliver_due(&notifier)
            .await
            .expect("deliver"),
        1
    );

    let requests = receiver.requests_to("/ok");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert!(verify(request, &secret), "the signature verifies");
    assert!(!verify(request, "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    let body: Value = serde_json::from_str(&request.body).expect("json body");
    assert_eq!(body["type"], "SYSTEM");
    assert_eq!(body["data"]["id"], sent["notification_id"]);
    assert_eq!(body["data"]["title"], "Test notification");

    let id = sent["notification_id"].as_str().expect("id");
    let detail = app
        .get_json_as(&user.access_token, &format!("/notifications/{id}"))
        .await;
    assert_eq!(detail["deliveries"][0]["channel"], "WEBHOOK");
    assert_eq!(detail["deliveries"][0]["status"], "DELIVERED");
    let listed = app
        .get_json_as(&user.access_token, "/notifications/webhooks")
        .await;
    assert!(listed[0]["last_success_at"].is_string());
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_until_undelivered_and_a_refusal_is_final() {
    let app = spawn_engine_app(MANUAL).await;
    let receiver = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    add_endpoint(&app, &user, &receiver.url("/status/503")).await;
    assert_eq!(send_test(&app, &user, "WEBHOOK").await.status(), 202);
    let notifier = Notifier::from_ref(&app.state);

    assert_eq!(
        webhook_delivery::deliver_due(&notifier)
            .await
            .expect("deliver"),
        1
    );
    let deliveries = webhook_deliveries(&app, &user).await;
    assert_eq!((deliveries[0].0.as_str(), deliveries[0].1), ("QUEUED", 1));
    assert!(
        deliveries[0]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 503")),
        "{deliveries:?}"
    );
    assert_eq!(
        webhook_delivery::deliver_due(&notifier)
            .await
            .expect("deliver"),
        0,
        "the retry waits for its backoff"
    );
    // The eighth attempt fails too.
    sqlx::query("UPDATE notification_deliveries SET attempts = 7, next_attempt_at = now()")
        .execute(&app.state.db)
        .await
        .expect("skip ahead");
    assert_eq!(
        webhook_delivery::deliver_due(&notifier)
            .await
            .expect("deliver"),
        1
    );
    let deliveries = webhook_deliveries(&app, &user).await;
    assert_eq!(
        (deliveries[0].0.as_str(), deliveries[0].1),
        ("UNDELIVERED", 8)
    );
    assert!(
        deliveries[0]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("after 8 attempts")),
        "{deliveries:?}"
    );
    assert_eq!(receiver.requests_to("/status/503").len(), 2);

    // A 410 is not retried.
    let other = app.login_as("USER").await;
    add_endpoint(&app, &other, &receiver.url("/status/410")).await;
    assert_eq!(send_test(&app, &other, "WEBHOOK").await.status(), 202);
    assert_eq!(
        webhook_delivery::deliver_due(&notifier)
            .await
            .expect("deliver"),
        1
    );
    let deliveries = webhook_deliveries(&app, &other).await;
    assert_eq!(
        (deliveries[0].0.as_str(), deliveries[0].1),
        ("UNDELIVERED", 1)
    );
}

#[tokio::test]
async fn an_alert_rule_with_the_webhook_channel_posts_the_failure_to_every_endpoint() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let first = add_endpoint(&app, &user, &server.url("/ok")).await;
    add_endpoint(&app, &user, &server.url("/json")).await;
    let task_id = planned_task(&app, &user, &server, "f").await;
    let rules = app
        .get_json_as(&user.access_token, &format!("/tasks/{task_id}/alert-rules"))
        .await;
    let failures = rules
        .as_array()
        .expect("rules")
        .iter()
        .find(|rule| rule["kind"] == "CONSECUTIVE_FAILURES")
        .expect("the default rule");
    let updated = app
        .put_as(
            &user.access_token,
            &format!(
                "/tasks/{task_id}/alert-rules/{}",
                failures["id"].as_str().expect("id")
            ),
            &json!({"kind": "CONSECUTIVE_FAILURES", "params": {"count": 1},
                    "channels": ["IN_APP", "WEBHOOK"]}),
        )
        .await;
    assert_eq!(updated.status(), 200);

    let notifier = Notifier::from_ref(&app.state);
    run_by_hand(&app, task_id, user.id).await;
    assert_eq!(outbox::drain(&notifier).await.expect("drain"), 1);
    assert_eq!(
        webhook_delivery::deliver_due(&notifier)
            .await
            .expect("deliver"),
        2,
        "one delivery per endpoint"
    );
    let posted = server.requests_to("/ok");
    assert_eq!(posted.len(), 1);
    assert!(verify(
        &posted[0],
        first["secret"].as_str().expect("secret")
    ));
    let body: Value = serde_json::from_str(&posted[0].body).expect("json");
    assert_eq!(body["type"], "TASK_FAILED");
    assert_eq!(body["data"]["task_id"], task_id.to_string());
    assert_eq!(server.requests_to("/json").len(), 1);
    let statuses: Vec<String> = webhook_deliveries(&app, &user)
        .await
        .into_iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(statuses, ["DELIVERED", "DELIVERED"]);
}

#[tokio::test]
async fn endpoints_are_validated_bounded_owned_and_rotated() {
    let app = spawn_engine_app(MANUAL).await;
    let receiver = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    for (url, why) in [
        ("ftp://example.com/x", "scheme"),
        ("http://10.1.2.3/hook", "private address"),
        ("http://169.254.169.254/latest", "metadata address"),
        ("not a url", "syntax"),
    ] {
        let refused = app
            .post_as(
                &user.access_token,
                "/notifications/webhooks",
                &json!({"url": url}),
            )
            .await;
        assert_eq!(refused.status(), 422, "{why}");
        assert_eq!(problem_fields(&problem(refused).await), ["url"], "{why}");
    }
    let long = app
        .post_as(
            &user.access_token,
            "/notifications/webhooks",
            &json!({"url": receiver.url("/ok"), "description": "x".repeat(201)}),
        )
        .await;
    assert_eq!(long.status(), 422);

    let first = add_endpoint(&app, &user, &receiver.url("/ok")).await;
    for _ in 1..5 {
        add_endpoint(&app, &user, &receiver.url("/ok")).await;
    }
    let sixth = app
        .post_as(
            &user.access_token,
            "/notifications/webhooks",
            &json!({"url": receiver.url("/ok")}),
        )
        .await;
    assert_eq!(sixth.status(), 409);

    let id = first["id"].as_str().expect("id");
    let stranger = app.login_as("USER").await;
    let theirs = app
        .delete_as(
            &stranger.access_token,
            &format!("/notifications/webhooks/{id}"),
        )
        .await;
    assert_eq!(theirs.status(), 404);
    let rotated = app
        .post_as(
            &stranger.access_token,
            &format!("/notifications/webhooks/{id}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(rotated.status(), 404);

    let rotated = app
        .post_as(
            &user.access_token,
            &format!("/notifications/webhooks/{id}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.expect("json");
    assert_ne!(rotated["secret"], first["secret"]);
    assert!(rotated["rotated_at"].is_string());

    // Deleting an endpoint ends its queued delivery as not sent.
    assert_eq!(send_test(&app, &user, "WEBHOOK").await.status(), 202);
    let deleted = app
        .delete_as(&user.access_token, &format!("/notifications/webhooks/{id}"))
        .await;
    assert_eq!(deleted.status(), 204);
    let notifier = Notifier::from_ref(&app.state);
    assert_eq!(
        webhook_delivery::deliver_due(&notifier)
            .await
            .expect("deliver"),
        5
    );
    let deliveries = webhook_deliveries(&app, &user).await;
    let not_sent: Vec<_> = deliveries.iter().filter(|d| d.0 == "NOT_SENT").collect();
    assert_eq!(not_sent.len(), 1, "{deliveries:?}");
    assert_eq!(
        not_sent[0].2.as_deref(),
        Some(webhook_delivery::ENDPOINT_DELETED)
    );
    // The four others were signed with their own secrets and delivered.
    assert_eq!(receiver.requests_to("/ok").len(), 4);
}

#[tokio::test]
async fn test_messages_report_unconfigured_channels_and_are_bounded() {
    let app = spawn_engine_app(MANUAL).await;
    let user = app.login_as("USER").await;
    let webhook = send_test(&app, &user, "WEBHOOK").await;
    assert_eq!(webhook.status(), 202);
    let webhook: Value = webhook.json().await.expect("json");
    assert_eq!(webhook["deliveries"][0]["status"], "NOT_SENT");
    assert!(
        webhook["deliveries"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no webhook endpoint"))
    );
    let email: Value = send_test(&app, &user, "EMAIL")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(email["deliveries"][0]["status"], "NOT_SENT", "no SMTP here");
    let in_app: Value = send_test(&app, &user, "IN_APP")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(in_app["deliveries"][0]["status"], "DELIVERED");

    let bad = send_test(&app, &user, "PIGEON").await;
    assert_eq!(bad.status(), 422);
    for _ in 3..10 {
        assert_eq!(send_test(&app, &user, "IN_APP").await.status(), 202);
    }
    let limited = send_test(&app, &user, "IN_APP").await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let page = app
        .get_json_as(&user.access_token, "/notifications?type=SYSTEM&limit=100")
        .await;
    assert_eq!(page["items"].as_array().expect("items").len(), 10);
}

#[tokio::test]
async fn endpoint_secrets_follow_a_master_key_rotation() {
    use nocron::secrets::{MasterKey, Vault};
    let old_key = MasterKey::generate();
    let new_key = MasterKey::generate();
    let old_config = old_key.to_config_string();
    let mut settings = MANUAL.to_vec();
    settings.push(("NOCRON_MASTER_KEY", &old_config));
    let app = spawn_engine_app(&settings).await;
    let receiver = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let endpoint = add_endpoint(&app, &user, &receiver.url("/ok")).await;
    let secret = endpoint["secret"].as_str().expect("secret");

    let both = Vault::new(
        MasterKey::parse(&new_key.to_config_string()).expect("new"),
        vec![MasterKey::parse(&old_config).expect("old")],
    );
    let report =
        nocron::notifications::secret_rotation::rotate_endpoint_secrets(&app.state.db, &both, 10)
            .await
            .expect("rotate");
    assert_eq!((report.rotated, report.failed.len()), (1, 0));

    // A sender that only knows the new key still signs with the endpoint's secret.
    let only_new = Vault::new(
        MasterKey::parse(&new_key.to_config_string()).expect("new"),
        Vec::new(),
    );
    let notifier = Notifier {
        vault: std::sync::Arc::new(only_new),
        ..Notifier::from_ref(&app.state)
    };
    assert_eq!(send_test(&app, &user, "WEBHOOK").await.status(), 202);
    assert_eq!(
        webhook_delivery::deliver_due(&notifier)
            .await
            .expect("deliver"),
        1
    );
    let posted = receiver.requests_to("/ok");
    assert_eq!(posted.len(), 1);
    assert!(verify(&posted[0], secret));
}
