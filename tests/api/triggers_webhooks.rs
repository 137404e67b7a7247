//! Webhook triggers end to end: management, deliveries becoming executions, signatures,
//! replay window, dedupe, size and rate limits, unknown and rotated tokens.

use std::time::Duration;

use chrono::Utc;
use nocron::{
    executions::model::ExecutionStatus,
    triggers::signature::{StandardWebhooksKey, sign_github},
};
use serde_json::{Value, json};

use crate::{
    capture::CaptureServer,
    engine_support::{has_status, spawn_engine_app, spawn_manual_app, wait_until},
    helpers::problem,
    triggers_support::{accepted, input_of},
};

async fn create_webhook(
    app: &crate::helpers::TestApp,
    token: &str,
    task_id: uuid::Uuid,
    body: Value,
) -> Value {
    let response = app
        .post_as(token, &format!("/tasks/{task_id}/webhooks"), &body)
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

#[tokio::test]
async fn a_delivery_runs_the_task_with_the_request_as_input() {
    let app = spawn_engine_app(&[]).await;
    let sink = CaptureServer::start().await;
    let (user, task) = app.user_with_task(&sink.url("/ok")).await;
    let created = create_webhook(&app, &user.access_token, task.id, json!({"name": "ci"})).await;
    let hook_token = created["token"].as_str().expect("token").to_owned();
    assert!(hook_token.starts_with("nwh_") && hook_token.len() >= 36);
    assert_eq!(created["url"], format!("/hooks/{hook_token}"));
    assert_eq!(created["signature"], "none");
    assert!(created.get("secret").is_none());

    let response = app
        .client
        .post(app.url(&format!("/hooks/{hook_token}?source=ci&tag=a&tag=b")))
        .header("authorization", "Bearer sender-credential")
        .header("cookie", "session=abc")
        .header("x-event", "build.finished")
        .json(&json!({"build": 42, "ok": true}))
        .send()
        .await
        .expect("deliver");
    let (execution_id, duplicate) = accepted(response).await;
    assert!(!duplicate);
    wait_until(Duration::from_secs(10), "the execution to succeed", || {
        has_status(&app.db, execution_id, ExecutionStatus::Succeeded)
    })
    .await;
    assert_eq!(sink.requests_to("/ok").len(), 1, "the task's action ran");

    let (kind, input) = input_of(&app, execution_id).await;
    assert_eq!(kind, "WEBHOOK");
    assert_eq!(input["body"], json!({"build": 42, "ok": true}));
    assert_eq!(input["query"], json!({"source": "ci", "tag": ["a", "b"]}));
    assert_eq!(input["content_type"], "application/json");
    assert_eq!(input["headers"]["x-event"], "build.finished");
    assert!(input["headers"].get("authorization").is_none());
    assert!(input["headers"].get("cookie").is_none());
    assert!(input["received_at"].is_string());

    // A form body arrives as an object, a text body as a string.
    let response = app
        .client
        .post(app.url(&format!("/hooks/{hook_token}")))
        .form(&[("event", "push"), ("ref", "main")])
        .send()
        .await
        .expect("deliver form");
    let (form_execution, _) = accepted(response).await;
    let (_, input) = input_of(&app, form_execution).await;
    assert_eq!(input["body"], json!({"event": "push", "ref": "main"}));
    let response = app
        .client
        .post(app.url(&format!("/hooks/{hook_token}")))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("deliver text");
    let (text_execution, _) = accepted(response).await;
    assert_eq!(input_of(&app, text_execution).await.1["body"], "hello");

    // The list shows the prefix and last use, never the token.
    let list: Value = app
        .get_as(&user.access_token, &format!("/tasks/{}/webhooks", task.id))
        .await
        .json()
        .await
        .expect("list");
    let text = list.to_string();
    assert!(!text.contains(&hook_token));
    assert_eq!(list[0]["token_prefix"], &hook_token[..12]);
    assert!(list[0]["last_used_at"].is_string());
}

#[tokio::test]
async fn management_is_owner_scoped_and_validated() {
    let app = spawn_manual_app().await;
    let (owner, task) = app.user_with_task("http://127.0.0.1:9/").await;
    let stranger = app.login_as("USER").await;
    let path = format!("/tasks/{}/webhooks", task.id);
    let response = app.post_as(&stranger.access_token, &path, &json!({})).await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        app.get_as(&stranger.access_token, &path).await.status(),
        404
    );

    let created = create_webhook(&app, &owner.access_token, task.id, json!({})).await;
    let id = created["id"].as_str().expect("id");
    let response = app
        .delete_as(&stranger.access_token, &format!("{path}/{id}"))
        .await;
    assert_eq!(response.status(), 404);
    let response = app
        .post_as(
            &stranger.access_token,
            &format!("{path}/{id}/rotate"),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 404);

    let response = app
        .post_as(
            &owner.access_token,
            &path,
            &json!({"signature": "github", "secret": "short", "replay_window_seconds": 60}),
        )
        .await;
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["secret", "replay_window_seconds"]);
    let response = app
        .post_as(&owner.access_token, &path, &json!({"signature": "hmac"}))
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(problem(response).await["errors"][0]["field"], "signature");

    // Rotation: the old token stops working at once, the new one works.
    let old_token = created["token"].as_str().expect("token").to_owned();
    let response = app
        .post_as(
            &owner.access_token,
            &format!("{path}/{id}/rotate"),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.expect("json");
    let token = rotated["token"].as_str().expect("token").to_owned();
    assert_ne!(token, old_token);
    assert_eq!(rotated["id"], created["id"]);
    assert!(rotated["rotated_at"].is_string());
    let response = app
        .post_json(&format!("/hooks/{old_token}"), &json!({}))
        .await;
    assert_eq!(response.status(), 404);
    accepted(
        app.post_json(&format!("/hooks/{token}"), &json!({"after": "rotation"}))
            .await,
    )
    .await;

    // Deleting makes the URL a plain 404.
    let response = app
        .delete_as(&owner.access_token, &format!("{path}/{id}"))
        .await;
    assert_eq!(response.status(), 204);
    let response = app.post_json(&format!("/hooks/{token}"), &json!({})).await;
    assert_eq!(response.status(), 404);
    problem(response).await;
}

#[tokio::test]
async fn standard_webhooks_signatures_and_the_replay_window_are_enforced() {
    let app = spawn_manual_app().await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/").await;
    let created = create_webhook(
        &app,
        &user.access_token,
        task.id,
        json!({"signature": "standard_webhooks", "replay_window_seconds": 60}),
    )
    .await;
    let secret = created["secret"].as_str().expect("secret is shown once");
    assert!(secret.starts_with("whsec_"));
    let key = StandardWebhooksKey::parse(secret).expect("key");
    let url = app.url(&format!(
        "/hooks/{}",
        created["token"].as_str().expect("token")
    ));
    let body = br#"{"type":"invoice.paid"}"#;
    let send = |id: &'static str, timestamp: i64, signature: String| {
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
    };
    let now = Utc::now().timestamp();

    let (first, duplicate) = accepted(
        send("msg_1", now, key.sign("msg_1", now, body))
            .await
            .expect("send"),
    )
    .await;
    assert!(!duplicate);
    let (_, input) = input_of(&app, first).await;
    assert_eq!(input["body"]["type"], "invoice.paid");

    // The same delivery again (a sender's retry) answers the same execution.
    let (again, duplicate) = accepted(
        send("msg_1", now, key.sign("msg_1", now, body))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(again, first);
    assert!(duplicate);

    // A wrong signature, a missing one, and a correctly signed but old delivery: 401.
    let wrong = StandardWebhooksKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
    let response = send("msg_2", now, wrong.sign("msg_2", now, body))
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    assert_eq!(problem(response).await["code"], "UNAUTHORIZED");
    let response = app
        .client
        .post(&url)
        .json(&json!({"type": "invoice.paid"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    let old = now - 120;
    let response = send("msg_3", old, key.sign("msg_3", old, body))
        .await
        .expect("send");
    assert_eq!(response.status(), 401, "outside the 60 s replay window");

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM executions WHERE task_id = $1")
        .bind(task.id)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

#[tokio::test]
async fn github_signatures_are_verified_and_deliveries_deduplicated() {
    let app = spawn_manual_app().await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/").await;
    let secret = "a-github-webhook-secret-0123456789";
    let created = create_webhook(
        &app,
        &user.access_token,
        task.id,
        json!({"signature": "github", "secret": secret}),
    )
    .await;
    assert_eq!(created["secret"], secret);
    let url = app.url(&format!(
        "/hooks/{}",
        created["token"].as_str().expect("token")
    ));
    let body = br#"{"ref":"refs/heads/main"}"#;
    let send = |delivery: &'static str, signature: String| {
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", signature)
            .body(body.to_vec())
            .send()
    };
    let good = sign_github(secret.as_bytes(), body);
    let (first, _) = accepted(send("d-1", good.clone()).await.expect("send")).await;
    let (again, duplicate) = accepted(send("d-1", good.clone()).await.expect("send")).await;
    assert_eq!((again, duplicate), (first, true));
    // Another delivery (another signed body) is a new execution.
    let other_body = br#"{"ref":"refs/heads/dev"}"#;
    let other = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("x-github-delivery", "d-2")
        .header(
            "x-hub-signature-256",
            sign_github(secret.as_bytes(), other_body),
        )
        .body(other_body.to_vec())
        .send()
        .await
        .expect("send");
    let (other, duplicate) = accepted(other).await;
    assert_ne!(other, first);
    assert!(!duplicate);
    let bad = sign_github(b"another-secret-entirely", body);
    assert_eq!(send("d-3", bad).await.expect("send").status(), 401);
}

/// A captured GitHub delivery replayed as is, under a forged `X-GitHub-Delivery`, or without
/// one, is the same delivery: it gets what a replayed Standard Webhooks delivery gets (202,
/// `duplicate: true`, the first execution) and queues nothing.
#[tokio::test]
async fn a_replayed_github_delivery_queues_nothing_even_under_another_delivery_id() {
    let app = spawn_manual_app().await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/").await;
    let secret = "a-github-webhook-secret-0123456789";
    let github = create_webhook(
        &app,
        &user.access_token,
        task.id,
        json!({"signature": "github", "secret": secret}),
    )
    .await;
    let github_url = app.url(&format!(
        "/hooks/{}",
        github["token"].as_str().expect("token")
    ));
    let body = br#"{"action":"opened","number":7}"#;
    let signature = sign_github(secret.as_bytes(), body);
    let send = |delivery: Option<&'static str>| {
        let mut request = app
            .client
            .post(&github_url)
            .header("content-type", "application/json")
            .header("x-github-event", "pull_request")
            .header("x-hub-signature-256", signature.clone());
        if let Some(delivery) = delivery {
            request = request.header("x-github-delivery", delivery);
        }
        request.body(body.to_vec()).send()
    };
    let first = send(Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"))
        .await
        .expect("send");
    assert_eq!(first.status(), 202);
    let (first, duplicate) = accepted(first).await;
    assert!(!duplicate);

    // What a replayed Standard Webhooks delivery gets, on another task of the same user.
    let other_task = app.task_of(&user, "http://127.0.0.1:9/").await;
    let standard = create_webhook(
        &app,
        &user.access_token,
        other_task.id,
        json!({"signature": "standard_webhooks"}),
    )
    .await;
    let key =
        StandardWebhooksKey::parse(standard["secret"].as_str().expect("secret")).expect("key");
    let standard_url = app.url(&format!(
        "/hooks/{}",
        standard["token"].as_str().expect("token")
    ));
    let now = Utc::now().timestamp();
    let send_standard = || {
        app.client
            .post(&standard_url)
            .header("content-type", "application/json")
            .header("webhook-id", "msg_replayed")
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", key.sign("msg_replayed", now, body))
            .body(body.to_vec())
            .send()
    };
    accepted(send_standard().await.expect("send")).await;
    let standard_replay = send_standard().await.expect("send");
    let standard_status = standard_replay.status();
    let (_, standard_duplicate) = accepted(standard_replay).await;
    assert!(standard_duplicate);

    for delivery in [
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        Some("forged-delivery-id-1"),
        Some("forged-delivery-id-2"),
        None,
    ] {
        let replay = send(delivery).await.expect("send");
        assert_eq!(replay.status(), standard_status, "{delivery:?}");
        let (execution, duplicate) = accepted(replay).await;
        assert_eq!((execution, duplicate), (first, true), "{delivery:?}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM executions WHERE task_id = $1")
        .bind(task.id)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 1, "the replays queued nothing");
}

#[tokio::test]
async fn size_and_rate_limits_paused_tasks_and_unknown_tokens() {
    let app = spawn_manual_app_with(&[
        ("WEBHOOK_MAX_BODY_BYTES", "1024"),
        ("WEBHOOK_RATE_LIMIT_PER_MINUTE", "1"),
        ("WEBHOOK_RATE_LIMIT_BURST", "3"),
    ])
    .await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/").await;
    let created = create_webhook(&app, &user.access_token, task.id, json!({})).await;
    let hook_token = created["token"].as_str().expect("token").to_owned();
    let deliver = |token: String, body: String| {
        app.client
            .post(app.url(&format!("/hooks/{token}")))
            .header("content-type", "text/plain")
            .body(body)
            .send()
    };

    // 1: too large.
    let response = deliver(hook_token.clone(), "x".repeat(2048))
        .await
        .expect("send");
    assert_eq!(response.status(), 413);
    assert_eq!(problem(response).await["code"], "PAYLOAD_TOO_LARGE");
    // 2: the task is paused.
    let response = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/pause", task.id),
            &json!({}),
        )
        .await;
    assert!(
        response.status().is_success(),
        "paused: {}",
        response.status()
    );
    let response = deliver(hook_token.clone(), "hi".into())
        .await
        .expect("send");
    assert_eq!(response.status(), 409);
    problem(response).await;
    let response = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/resume", task.id),
            &json!({}),
        )
        .await;
    assert!(
        response.status().is_success(),
        "resumed: {}",
        response.status()
    );
    // 3: accepted; 4: over the burst of 3.
    accepted(
        deliver(hook_token.clone(), "hi".into())
            .await
            .expect("send"),
    )
    .await;
    let response = deliver(hook_token.clone(), "hi".into())
        .await
        .expect("send");
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1);
    problem(response).await;

    // A disabled account's hooks are unknown.
    sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
        .bind(user.id)
        .execute(&app.db)
        .await
        .expect("disable");
    let response = deliver(hook_token.clone(), "hi".into())
        .await
        .expect("send");
    assert_eq!(response.status(), 404);

    // Unknown tokens, well-formed or not, are a plain 404.
    for token in ["nwh_0123456789abcdefABCDEF0123456789", "whatever"] {
        let response = deliver(token.into(), "hi".into()).await.expect("send");
        assert_eq!(response.status(), 404);
        problem(response).await;
    }
}

async fn spawn_manual_app_with(overrides: &[(&str, &str)]) -> crate::helpers::TestApp {
    let mut settings = crate::engine_support::MANUAL_ENGINE.to_vec();
    settings.extend_from_slice(overrides);
    spawn_engine_app(&settings).await
}

#[tokio::test]
async fn signing_secrets_follow_a_master_key_rotation() {
    use nocron::secrets::{MasterKey, Vault};
    let old_key = MasterKey::generate();
    let new_key = MasterKey::generate();
    let app = spawn_manual_app_with(&[("NOCRON_MASTER_KEY", &old_key.to_config_string())]).await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/").await;
    let created = create_webhook(
        &app,
        &user.access_token,
        task.id,
        json!({"signature": "github"}),
    )
    .await;
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let token = created["token"].as_str().expect("token").to_owned();

    let vault = Vault::new(
        MasterKey::parse(&new_key.to_config_string()).expect("new"),
        vec![MasterKey::parse(&old_key.to_config_string()).expect("old")],
    );
    let report = nocron::triggers::secrets::rotate_webhook_secrets(&app.db, &vault, 10)
        .await
        .expect("rotate");
    assert_eq!((report.rotated, report.failed.len()), (1, 0));

    // An instance that only knows the new key verifies deliveries.
    let mut settings = crate::engine_support::MANUAL_ENGINE.to_vec();
    let new_config = new_key.to_config_string();
    settings.push(("NOCRON_MASTER_KEY", &new_config));
    let sibling = app.spawn_sibling(&settings).await;
    let body = br#"{"after":"rotation"}"#;
    let response = sibling
        .client
        .post(format!("{}/hooks/{token}", sibling.address))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign_github(secret.as_bytes(), body))
        .body(body.to_vec())
        .send()
        .await
        .expect("deliver");
    accepted(response).await;
}

#[tokio::test]
async fn every_trigger_endpoint_is_documented() {
    let app = crate::helpers::spawn_app().await;
    let spec: Value = app.get("/api-json").await.json().await.expect("spec");
    for (path, method) in [
        ("/tasks/{id}/webhooks", "post"),
        ("/tasks/{id}/webhooks", "get"),
        ("/tasks/{id}/webhooks/{webhook_id}", "delete"),
        ("/tasks/{id}/webhooks/{webhook_id}/rotate", "post"),
        ("/hooks/{token}", "post"),
        ("/tasks/{id}/chains", "post"),
        ("/tasks/{id}/chains", "get"),
        ("/tasks/{id}/chains/{chain_id}", "delete"),
        ("/tasks/{id}/email-triggers", "post"),
        ("/tasks/{id}/email-triggers", "get"),
        ("/tasks/{id}/email-triggers/{trigger_id}", "delete"),
        ("/hooks/email/{token}", "post"),
    ] {
        let operation = &spec["paths"][path][method];
        assert_eq!(operation["tags"][0], "triggers", "{method} {path}");
        assert!(
            operation["responses"]["404"].is_object(),
            "{method} {path} documents its 404"
        );
    }
    let delivery = &spec["paths"]["/hooks/{token}"]["post"];
    assert!(
        delivery.get("security").is_none(),
        "deliveries need no sign-in"
    );
    for status in ["202", "401", "409", "413", "429"] {
        assert!(
            delivery["responses"][status].is_object(),
            "delivery documents {status}"
        );
    }
}
