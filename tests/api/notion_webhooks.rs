//! Notion webhooks end to end, with real HMAC-SHA256 signatures: the endpoint and its
//! handshake, NOTION triggers, signed events queueing executions, dedupe by event id, bad
//! signatures, events that match nothing, malformed bodies and unknown tokens.

use nocron::notion::webhook_receive::sign;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    engine_support::spawn_manual_app,
    helpers::{TestApp, TestUser, problem},
    triggers_support::input_of,
};

const VERIFICATION: &str = "secret_3mzgFh9xQe8TkLp2VbN7wRy4Uc6Ad1Sj";
const DATABASE: &str = "0b0c2ee7-d6e4-4f4d-8ea3-bb0e6c5f0f1a";
const PAGE: &str = "153104cd-477e-809d-8dc4-ff2d96ae3090";

/// `POST /notion/webhook`: the endpoint's path.
async fn create_endpoint(app: &TestApp, user: &TestUser) -> String {
    let response = app
        .post_as(&user.access_token, "/notion/webhook", &json!({}))
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    let url = body["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("/webhooks/notion/nwh_"), "{url}");
    url
}

async fn post_raw(
    app: &TestApp,
    path: &str,
    body: &str,
    signature: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("x-notion-signature", signature);
    }
    request.send().await.expect("deliver")
}

/// An endpoint that has received Notion's handshake.
async fn verified_endpoint(app: &TestApp, user: &TestUser) -> String {
    let path = create_endpoint(app, user).await;
    let handshake = json!({"verification_token": VERIFICATION}).to_string();
    let response = post_raw(app, &path, &handshake, None).await;
    assert_eq!(response.status(), 200);
    path
}

/// A Notion event as Notion documents it.
fn event(id: &str, event_type: &str, entity: &str, parent: &str) -> String {
    json!({
        "id": id,
        "timestamp": "2026-12-03T16:00:00.000Z",
        "workspace_id": "13950b26-c203-4f3b-b97d-93ec06319565",
        "workspace_name": "Acme",
        "subscription_id": "29d75c0d-5546-4414-8459-7b7a92f1fc4b",
        "integration_id": "0ef2e755-4912-8096-91c1-00376a88a5ca",
        "type": event_type,
        "authors": [{"id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person"}],
        "attempt_number": 1,
        "entity": {"id": entity, "type": "page"},
        "data": {"parent": {"id": parent, "type": "database"}}
    })
    .to_string()
}

async fn add_trigger(app: &TestApp, user: &TestUser, task: Uuid, types: &[&str]) -> Value {
    let response = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{task}/notion-triggers"),
            &json!({"entity_type": "database", "entity_id": DATABASE.replace('-', ""), "event_types": types}),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

async fn executions_of(app: &TestApp, task: Uuid) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT id FROM executions WHERE task_id = $1 ORDER BY id")
        .bind(task)
        .fetch_all(&app.db)
        .await
        .expect("executions")
}

#[tokio::test]
async fn the_handshake_stores_the_token_sealed_and_shows_it_to_the_owner_only() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let path = create_endpoint(&app, &user).await;
    let before = app.get_json_as(&user.access_token, "/notion/webhook").await;
    assert_eq!(before["verified"], false);
    assert!(before["verification_token"].is_null());

    let handshake = json!({"verification_token": VERIFICATION}).to_string();
    let response = post_raw(&app, &path, &handshake, None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["kind"], "verification");

    let after = app.get_json_as(&user.access_token, "/notion/webhook").await;
    assert_eq!(after["verified"], true);
    assert_eq!(after["verification_token"], VERIFICATION);
    // Stored sealed, never in the clear.
    let stored: Vec<u8> = sqlx::query_scalar(
        "SELECT verification_token FROM notion_webhook_endpoints WHERE owner_id = $1",
    )
    .bind(user.id)
    .fetch_one(&app.db)
    .await
    .expect("row");
    assert!(
        !stored
            .windows(VERIFICATION.len())
            .any(|w| w == VERIFICATION.as_bytes())
    );

    // A second handshake cannot replace the token.
    let again = json!({"verification_token": "secret_attacker"}).to_string();
    assert_eq!(post_raw(&app, &path, &again, None).await.status(), 409);
    let other = app.login_as("USER").await;
    assert_eq!(
        app.get_as(&other.access_token, "/notion/webhook")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn a_signed_event_queues_one_execution_with_the_event_as_input_once_per_event_id() {
    let app = spawn_manual_app().await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/unused").await;
    let trigger = add_trigger(
        &app,
        &user,
        task.id,
        &["page.created", "page.properties_updated"],
    )
    .await;
    assert_eq!(trigger["entity_id"], DATABASE);
    let path = verified_endpoint(&app, &user).await;

    let body = event("e-0001", "page.created", PAGE, DATABASE);
    let signature = sign(VERIFICATION, body.as_bytes());
    let response = post_raw(&app, &path, &body, Some(&signature)).await;
    assert_eq!(response.status(), 200);
    let accepted: Value = response.json().await.expect("json");
    assert_eq!(accepted["duplicate"], false);
    let executions = executions_of(&app, task.id).await;
    assert_eq!(executions.len(), 1);
    assert_eq!(accepted["executions"][0], executions[0].to_string());
    let (kind, input) = input_of(&app, executions[0]).await;
    assert_eq!(kind, "NOTION");
    assert_eq!(input["event"]["id"], "e-0001");
    assert_eq!(input["event"]["entity"]["id"], PAGE);
    assert_eq!(input["trigger"]["id"], trigger["id"]);

    // Notion redelivers the same event: nothing new is queued.
    let response = post_raw(&app, &path, &body, Some(&signature)).await;
    assert_eq!(response.status(), 200);
    let again: Value = response.json().await.expect("json");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["executions"][0], executions[0].to_string());
    assert_eq!(executions_of(&app, task.id).await.len(), 1);

    // Another event id is another execution.
    let next = event("e-0002", "page.properties_updated", PAGE, DATABASE);
    let response = post_raw(
        &app,
        &path,
        &next,
        Some(&sign(VERIFICATION, next.as_bytes())),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(executions_of(&app, task.id).await.len(), 2);
}

#[tokio::test]
async fn a_wrong_or_missing_signature_is_401_and_queues_nothing() {
    let app = spawn_manual_app().await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/unused").await;
    add_trigger(&app, &user, task.id, &["page.created"]).await;
    let unverified = create_endpoint(&app, &user).await;
    let body = event("e-1", "page.created", PAGE, DATABASE);
    // Before the handshake nothing can be verified.
    let early = post_raw(
        &app,
        &unverified,
        &body,
        Some(&sign(VERIFICATION, body.as_bytes())),
    )
    .await;
    assert_eq!(early.status(), 401);

    let path = verified_endpoint(&app, &user).await;
    let forged = sign("secret_guess", body.as_bytes());
    assert_eq!(
        post_raw(&app, &path, &body, Some(&forged)).await.status(),
        401
    );
    assert_eq!(post_raw(&app, &path, &body, None).await.status(), 401);
    // A signature of another body.
    let other = sign(VERIFICATION, b"{}");
    let response = post_raw(&app, &path, &body, Some(&other)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(problem(response).await["status"], 401);
    assert!(executions_of(&app, task.id).await.is_empty());
    // The replaced endpoint's old URL is gone.
    assert_eq!(post_raw(&app, &unverified, &body, None).await.status(), 404);
}

#[tokio::test]
async fn events_of_other_types_or_entities_queue_nothing() {
    let app = spawn_manual_app().await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/unused").await;
    add_trigger(&app, &user, task.id, &["page.created"]).await;
    let path = verified_endpoint(&app, &user).await;
    for body in [
        event("e-a", "page.deleted", PAGE, DATABASE),
        event(
            "e-b",
            "page.created",
            PAGE,
            "2f3c4d5e-6f70-4a1b-9c2d-3e4f5a6b7c8d",
        ),
    ] {
        let response = post_raw(
            &app,
            &path,
            &body,
            Some(&sign(VERIFICATION, body.as_bytes())),
        )
        .await;
        assert_eq!(response.status(), 200);
        let accepted: Value = response.json().await.expect("json");
        assert_eq!(accepted["executions"], json!([]));
    }
    assert!(executions_of(&app, task.id).await.is_empty());
}

#[tokio::test]
async fn malformed_bodies_are_400_unknown_tokens_404_and_triggers_are_owned() {
    let app = spawn_manual_app().await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/unused").await;
    let path = verified_endpoint(&app, &user).await;
    assert_eq!(post_raw(&app, &path, "not json", None).await.status(), 400);
    assert_eq!(post_raw(&app, &path, "[1]", None).await.status(), 400);
    let no_entity = json!({"id": "e", "type": "page.created"}).to_string();
    let response = post_raw(
        &app,
        &path,
        &no_entity,
        Some(&sign(VERIFICATION, no_entity.as_bytes())),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(problem(response).await["errors"][0]["field"], "entity.id");
    let unknown = "/webhooks/notion/nwh_00000000000000000000000000000000";
    assert_eq!(post_raw(&app, unknown, "{}", None).await.status(), 404);

    let bad = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/notion-triggers", task.id),
            &json!({"entity_type": "page", "entity_id": "x", "event_types": ["page.exploded"]}),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let trigger = add_trigger(&app, &user, task.id, &["page.created"]).await;
    let other = app.login_as("USER").await;
    let id = trigger["id"].as_str().expect("id");
    let path = format!("/tasks/{}/notion-triggers/{id}", task.id);
    assert_eq!(
        app.delete_as(&other.access_token, &path).await.status(),
        404
    );
    let listed = app
        .get_json_as(
            &user.access_token,
            &format!("/tasks/{}/notion-triggers", task.id),
        )
        .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(app.delete_as(&user.access_token, &path).await.status(), 204);
}
