//! Live sockets lose what their principal lost, observed with the official socket.io-client:
//! a revoked API key, a demoted admin, a disabled user and a changed password each end (or
//! shrink) the connection as soon as the change's notice arrives, on every instance.

use std::time::{Duration, Instant};

use nocron::realtime::{Emit, Room, events::names};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_app},
    realtime_node::NodeClient,
};

/// How long a change may take to reach a live socket. Nothing else would end these sockets
/// in that time (no periodic re-check, tokens live 15 minutes), so a generous bound still
/// proves the notice did it, and a busy machine does not fail the test.
const WITHIN: Duration = Duration::from_secs(20);

/// A socket on `url` with a fresh `executions:read` key of `token`'s user; the key's id.
async fn key_socket(
    app: &TestApp,
    url: &str,
    token: &str,
    room: Option<&str>,
) -> (NodeClient, String) {
    let created = app.create_api_key(token, &["executions:read"]).await;
    let key = created["key"].as_str().expect("key");
    let mut client = NodeClient::start(url, key, room).await;
    assert_eq!(client.next().await, json!({"type": "connect"}));
    if room.is_some() {
        assert_eq!(client.until("ack").await["reply"], json!({"ok": true}));
    }
    (client, created["id"].as_str().expect("id").to_owned())
}

/// A socket with `token` (an access token) connected and subscribed to `room`.
async fn token_socket(app: &TestApp, token: &str, room: Option<&str>) -> NodeClient {
    let mut client = NodeClient::start(&app.address, token, room).await;
    assert_eq!(client.next().await, json!({"type": "connect"}));
    if room.is_some() {
        assert_eq!(client.until("ack").await["reply"], json!({"ok": true}));
    }
    client
}

/// Waits for the server to disconnect `client` and checks it happened within [`WITHIN`] of
/// `since`.
async fn assert_disconnected(client: &mut NodeClient, since: Instant) {
    let line = client.until("disconnect").await;
    assert_eq!(line["reason"], "io server disconnect", "{line}");
    let took = since.elapsed();
    assert!(took <= WITHIN, "disconnected after {took:?}");
}

#[tokio::test]
async fn a_revoked_api_key_loses_its_live_socket() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let (mut client, key_id) = key_socket(&app, &app.address, &user.access_token, None).await;

    let since = Instant::now();
    let revoke = app
        .delete_as(&user.access_token, &format!("/api-keys/{key_id}"))
        .await;
    assert_eq!(revoke.status(), 204);
    assert_disconnected(&mut client, since).await;
}

#[tokio::test]
async fn a_key_revoked_through_one_instance_loses_its_socket_on_another() {
    let app = spawn_app().await;
    let sibling = app.spawn_sibling(&[]).await;
    let user = app.login_as("USER").await;
    let (mut client, key_id) = key_socket(&app, &sibling.address, &user.access_token, None).await;

    let since = Instant::now();
    let revoke = app
        .delete_as(&user.access_token, &format!("/api-keys/{key_id}"))
        .await;
    assert_eq!(revoke.status(), 204);
    assert_disconnected(&mut client, since).await;
}

#[tokio::test]
async fn a_demoted_admin_loses_its_live_socket() {
    let app = spawn_app().await;
    let boss = app.login_as("SUPER_ADMIN").await;
    let admin = app.login_as("ADMIN").await;
    let mut client = token_socket(&app, &admin.access_token, Some("admin")).await;

    let since = Instant::now();
    let demote = app
        .delete_as(
            &boss.access_token,
            &format!("/admin/roles/{}/ADMIN", admin.id),
        )
        .await;
    assert_eq!(demote.status(), 200);
    assert_disconnected(&mut client, since).await;
}

#[tokio::test]
async fn a_demoted_admins_api_key_socket_leaves_the_admin_room() {
    let app = spawn_app().await;
    let boss = app.login_as("SUPER_ADMIN").await;
    let admin = app.login_as("ADMIN").await;
    let (mut client, _) = key_socket(&app, &app.address, &admin.access_token, Some("admin")).await;

    let since = Instant::now();
    let demote = app
        .delete_as(
            &boss.access_token,
            &format!("/admin/roles/{}/ADMIN", admin.id),
        )
        .await;
    assert_eq!(demote.status(), 200);
    // The key stays valid (its owner is still a user), but admin events stop reaching it:
    // each round sends one to `admin` and then a marker to the user's own room, delivered in
    // that order; the first round whose marker arrives alone proves the socket left.
    let mut round = 0;
    loop {
        round += 1;
        let alert = json!({"v": 1, "round": round});
        let marker = json!({"v": 1, "title": format!("marker {round}")});
        for (event, payload, room) in [
            (names::ALERT_CREATED, &alert, "admin".to_owned()),
            (names::NOTIFICATION_CREATED, &marker, Room::user(admin.id)),
        ] {
            let emit = Emit::new(event, payload, vec![room]).expect("json");
            assert!(app.realtime.emit(emit));
        }
        let mut saw_alert = false;
        loop {
            let line = client.next().await;
            assert_ne!(line["type"], "disconnect", "the key still holds: {line}");
            if line["name"] == names::ALERT_CREATED && line["payload"] == alert {
                saw_alert = true;
            }
            if line["name"] == names::NOTIFICATION_CREATED && line["payload"] == marker {
                break;
            }
        }
        if !saw_alert {
            break;
        }
        assert!(
            since.elapsed() <= WITHIN,
            "still in the admin room after {:?}",
            since.elapsed()
        );
    }
    let took = since.elapsed();
    assert!(took <= WITHIN, "left the admin room after {took:?}");
}

#[tokio::test]
async fn a_disabled_user_loses_its_live_socket() {
    let app = spawn_app().await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let mut client = token_socket(&app, &user.access_token, None).await;

    let since = Instant::now();
    let disable = app
        .patch_as(
            &admin.access_token,
            &format!("/users/{}", user.id),
            &json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(disable.status(), 200);
    assert_disconnected(&mut client, since).await;
}

#[tokio::test]
async fn a_password_change_ends_the_accounts_live_sockets() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let mut client = token_socket(&app, &user.access_token, None).await;

    let since = Instant::now();
    let change = app
        .post_json_as(
            &user.access_token,
            "/auth/change-password",
            &json!({"current_password": user.password, "new_password": "a brand new passphrase 42"}),
        )
        .await;
    assert!(change["access_token"].is_string(), "{change}");
    assert_disconnected(&mut client, since).await;
}

#[tokio::test]
async fn a_change_that_grants_nothing_less_keeps_the_socket() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let mut client = token_socket(&app, &user.access_token, None).await;
    // A rename is not a change of rights: no notification, the socket stays and still
    // receives its events.
    let rename = app
        .patch_as(
            &user.access_token,
            &format!("/users/{}", user.id),
            &json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(rename.status(), 200);
    let payload: Value = json!({"v": 1, "title": "still here"});
    let emit = Emit::new(
        names::NOTIFICATION_CREATED,
        &payload,
        vec![Room::user(user.id)],
    )
    .expect("json");
    assert!(app.realtime.emit(emit));
    let line = client.next().await;
    assert_eq!(line["payload"], payload, "{line}");
}
