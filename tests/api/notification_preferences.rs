//! Notification preferences through the API: settings stored and resolved with their
//! source, a channel turned off recorded `NOT_SENT` with the reason, and quiet hours that
//! defer a webhook delivery until they end.

use axum::extract::FromRef;
use chrono::{Duration, Utc};
use nocron::notifications::{Notifier, webhook_delivery};
use serde_json::{Value, json};

use crate::{
    capture::CaptureServer,
    engine_support::spawn_engine_app,
    helpers::{TestApp, TestUser, problem, problem_fields},
    notifications::MANUAL,
};

async fn put_preferences(app: &TestApp, user: &TestUser, body: &Value) -> reqwest::Response {
    app.put_as(&user.access_token, "/notifications/preferences", body)
        .await
}

async fn test_webhook(app: &TestApp, user: &TestUser) -> Value {
    let sent = app
        .post_as(
            &user.access_token,
            "/notifications/test",
            &json!({"channel": "WEBHOOK"}),
        )
        .await;
    assert_eq!(sent.status(), 202);
    sent.json().await.expect("json")
}

#[tokio::test]
async fn preferences_are_stored_resolved_and_turn_a_channel_off() {
    let app = spawn_engine_app(MANUAL).await;
    let receiver = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let defaults = app
        .get_json_as(&user.access_token, "/notifications/preferences")
        .await;
    assert_eq!(defaults["channels"], json!([]));
    assert_eq!(defaults["quiet_hours"], Value::Null);

    let body = json!({
        "channels": [{"channel": "WEBHOOK", "enabled": false}],
        "types": [{"type": "SECURITY_ALERT", "channel": "EMAIL", "enabled": false},
                  {"type": "SYSTEM", "channel": "WEBHOOK", "enabled": true}],
    });
    let stored = put_preferences(&app, &user, &body).await;
    assert_eq!(stored.status(), 200);
    let read = app
        .get_json_as(&user.access_token, "/notifications/preferences")
        .await;
    assert_eq!(read["types"], body["types"]);

    let effective = app
        .get_json_as(&user.access_token, "/notifications/preferences/effective")
        .await;
    let find = |kind: &str, channel: &str| -> (bool, String) {
        let entry = effective["settings"]
            .as_array()
            .expect("settings")
            .iter()
            .find(|s| s["type"] == kind && s["channel"] == channel)
            .expect("entry");
        (
            entry["enabled"].as_bool().expect("enabled"),
            entry["source"].as_str().expect("source").to_owned(),
        )
    };
    assert_eq!(find("TASK_FAILED", "WEBHOOK"), (false, "CHANNEL".into()));
    assert_eq!(find("SYSTEM", "WEBHOOK"), (true, "TYPE".into()));
    assert_eq!(find("SECURITY_ALERT", "EMAIL"), (true, "CRITICAL".into()));
    assert_eq!(find("TASK_FAILED", "EMAIL"), (true, "DEFAULT".into()));

    // SYSTEM webhooks are on by type; turning that off leaves the delivery NOT_SENT.
    let endpoint = app
        .post_as(
            &user.access_token,
            "/notifications/webhooks",
            &json!({"url": receiver.url("/ok")}),
        )
        .await;
    assert_eq!(endpoint.status(), 201);
    assert_eq!(
        test_webhook(&app, &user).await["deliveries"][0]["status"],
        "QUEUED"
    );
    let off = put_preferences(
        &app,
        &user,
        &json!({"types": [{"type": "SYSTEM", "channel": "WEBHOOK", "enabled": false}]}),
    )
    .await;
    assert_eq!(off.status(), 200);
    let sent = test_webhook(&app, &user).await;
    assert_eq!(sent["deliveries"][0]["status"], "NOT_SENT");
    assert!(
        sent["deliveries"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("preferences")),
        "{sent}"
    );
}

#[tokio::test]
async fn quiet_hours_defer_a_webhook_delivery_until_they_end() {
    let app = spawn_engine_app(MANUAL).await;
    let receiver = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let endpoint = app
        .post_as(
            &user.access_token,
            "/notifications/webhooks",
            &json!({"url": receiver.url("/ok")}),
        )
        .await;
    assert_eq!(endpoint.status(), 201);
    let now = Utc::now();
    let start = (now - Duration::hours(1)).format("%H:%M").to_string();
    let end_at = now + Duration::hours(1);
    let end = end_at.format("%H:%M").to_string();
    let quiet = put_preferences(
        &app,
        &user,
        &json!({"quiet_hours": {"start": start, "end": end, "timezone": "UTC"}}),
    )
    .await;
    assert_eq!(quiet.status(), 200);

    assert_eq!(
        test_webhook(&app, &user).await["deliveries"][0]["status"],
        "QUEUED"
    );
    let notifier = Notifier::from_ref(&app.state);
    assert_eq!(
        webhook_delivery::deliver_due(&notifier)
            .await
            .expect("deliver"),
        0,
        "held during quiet hours"
    );
    let (held_until,): (chrono::DateTime<Utc>,) = sqlx::query_as(
        "SELECT d.next_attempt_at FROM notification_deliveries d
         JOIN notifications n ON n.id = d.notification_id
         WHERE n.user_id = $1 AND d.channel = 'WEBHOOK'",
    )
    .bind(user.id)
    .fetch_one(&app.state.db)
    .await
    .expect("delivery");
    let expected = end_at.format("%Y-%m-%dT%H:%M").to_string();
    assert_eq!(held_until.format("%Y-%m-%dT%H:%M").to_string(), expected);

    // When they end, it goes out: deferred, not dropped.
    sqlx::query("UPDATE notification_deliveries SET next_attempt_at = now()")
        .execute(&app.state.db)
        .await
        .expect("end the quiet hours");
    assert_eq!(
        webhook_delivery::deliver_due(&notifier)
            .await
            .expect("deliver"),
        1
    );
    assert_eq!(receiver.requests_to("/ok").len(), 1);
}

#[tokio::test]
async fn invalid_preferences_are_refused_naming_the_field() {
    let app = spawn_engine_app(MANUAL).await;
    let user = app.login_as("USER").await;
    for (body, field) in [
        (
            json!({"channels": [{"channel": "IN_APP", "enabled": false}]}),
            "channels[0].channel",
        ),
        (
            json!({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Base"}}),
            "quiet_hours.timezone",
        ),
        (
            json!({"quiet_hours": {"start": "9pm", "end": "07:00", "timezone": "UTC"}}),
            "quiet_hours.start",
        ),
        (
            json!({"categories": [{"category": "TASKS", "channel": "EMAIL", "enabled": false},
                                  {"category": "TASKS", "channel": "EMAIL", "enabled": true}]}),
            "categories[1]",
        ),
    ] {
        let refused = put_preferences(&app, &user, &body).await;
        assert_eq!(refused.status(), 422, "{body}");
        assert_eq!(problem_fields(&problem(refused).await), [field], "{body}");
    }
    let unknown = put_preferences(&app, &user, &json!({"digest": "DAILY"})).await;
    assert_eq!(unknown.status(), 422);
}
