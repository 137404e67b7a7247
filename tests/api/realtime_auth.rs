//! The realtime gateway as the application ships it: handshakes authenticated by the account
//! module (access tokens from `POST /auth/login`, API keys with `executions:read`), roles
//! from the database, and a socket that ends with its access token.

use std::time::Duration;

use nocron::realtime::{Emit, Room, events::names};
use rust_socketio::TransportType;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_app, spawn_app_with},
    sockets::{Seen, TestSocket, connect, open},
};

/// Opens a socket with `token` and returns the `connect_error` message saying `reason`.
async fn refusal(app: &TestApp, token: &str, reason: &str) -> String {
    let mut socket = open(app, Some(json!({ "token": token })), TransportType::Any).await;
    socket.refusal(reason).await
}

/// Emits to `user:{id}` through the gateway and asserts `socket` receives it.
async fn assert_reaches(app: &TestApp, socket: &mut TestSocket, user_id: uuid::Uuid) {
    let marker = json!({ "marker": uuid::Uuid::new_v4() });
    let emit = Emit::new(
        names::NOTIFICATION_CREATED,
        &marker,
        vec![Room::user(user_id)],
    )
    .expect("serializes");
    assert!(app.realtime.emit(emit));
    assert_eq!(socket.event(names::NOTIFICATION_CREATED).await, marker);
}

#[tokio::test]
async fn an_access_token_from_login_connects_to_its_user_room() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let login: Value = app
        .login(&user.email, &user.password)
        .await
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("access_token");
    let mut socket = connect(&app, token).await;
    assert_reaches(&app, &mut socket, user.id).await;
}

#[tokio::test]
async fn bad_tokens_are_refused_with_the_account_modules_reason() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    refusal(&app, "not-a-jwt", "the token is invalid").await;

    let mut tampered = user.access_token.clone();
    tampered.pop();
    tampered.push(if user.access_token.ends_with('A') {
        'B'
    } else {
        'A'
    });
    refusal(&app, &tampered, "the token is invalid").await;

    // A signed-out session's token is refused even though it has not expired.
    let logout = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("request");
    assert!(logout.status().is_success());
    refusal(&app, &user.access_token, "session").await;
}

#[tokio::test]
async fn api_keys_need_the_executions_read_scope() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let narrow = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    refusal(
        &app,
        narrow["key"].as_str().expect("key"),
        "executions:read",
    )
    .await;

    let reader = app
        .create_api_key(&user.access_token, &["executions:read"])
        .await;
    let key = reader["key"].as_str().expect("key").to_owned();
    let mut socket = connect(&app, &key).await;
    assert_reaches(&app, &mut socket, user.id).await;

    let revoke = app
        .delete_as(
            &user.access_token,
            &format!("/api-keys/{}", reader["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(revoke.status(), 204);
    refusal(&app, &key, "revoked").await;
}

#[tokio::test]
async fn the_admin_room_follows_the_role_in_the_database() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let admin = app.login_as("ADMIN").await;
    let user_socket = connect(&app, &user.access_token).await;
    let mut admin_socket = connect(&app, &admin.access_token).await;
    assert!(user_socket.subscribe("admin").await["error"].is_string());
    assert_eq!(admin_socket.subscribe("admin").await, json!({"ok": true}));

    let alert = json!({"v": 1, "kind": "BRUTE_FORCE"});
    let emit = Emit::new(names::ALERT_CREATED, &alert, vec!["admin".into()]).expect("json");
    assert!(app.realtime.emit(emit));
    assert_eq!(admin_socket.event(names::ALERT_CREATED).await, alert);
}

#[tokio::test]
async fn a_socket_ends_with_its_access_token() {
    // Long enough for the login and the connection, however slow the machine.
    let app = spawn_app_with(&[("ACCESS_TOKEN_TTL_SECONDS", "10")]).await;
    let user = app.login_as("USER").await;
    let mut socket = connect(&app, &user.access_token).await;
    let notice = tokio::time::timeout(
        Duration::from_secs(30),
        socket.event(names::SESSION_EXPIRED),
    )
    .await
    .expect("session.expired in time");
    assert_eq!(notice["v"], 1);
    loop {
        if socket.next().await == Seen::Closed {
            break;
        }
    }
}

#[tokio::test]
async fn a_login_on_one_instance_follows_events_from_another_through_redis() {
    let redis =
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("nocron-test-{}", uuid::Uuid::new_v4().simple());
    let settings = [
        ("REDIS_URL", redis.as_str()),
        ("REALTIME_REDIS_PREFIX", prefix.as_str()),
    ];
    let instance_a = spawn_app_with(&settings).await;
    let instance_b = instance_a.spawn_sibling(&settings).await;
    let user = instance_a.login_as("USER").await;

    // Signed in through A, connected to B, the event emitted on A.
    let mut on_b = crate::sockets::connect_at(&instance_b.address, &user.access_token).await;
    assert_reaches(&instance_a, &mut on_b, user.id).await;
}
