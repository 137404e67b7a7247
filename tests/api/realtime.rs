//! The realtime gateway through a real Socket.IO client: handshake authentication, rooms and
//! their permissions, delivery to the right sockets only, expiry, dashboard metrics, the
//! long-polling transport under the request timeout, and rooms spanning two instances
//! through Redis.

use std::time::Duration;

use chrono::Utc;
use nocron::auth::Role;
use nocron::realtime::{Emit, Room, SocketIdentity, events::names};
use rust_socketio::TransportType;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::sockets::{Directory, Seen, connect, connect_at, open, spawn_realtime_app};

fn emit(event: &'static str, payload: Value, rooms: &[String]) -> Emit {
    Emit::new(event, &payload, rooms.to_vec()).expect("payload serializes")
}

#[tokio::test]
async fn a_handshake_without_a_token_is_refused_with_the_reason() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[]).await;
    for auth in [None, Some(json!({})), Some(json!({"token": "  "}))] {
        let mut socket = open(&app, auth.clone(), TransportType::Any).await;
        socket.refusal("authentication required").await;
    }
}

#[tokio::test]
async fn unknown_and_expired_tokens_are_refused_with_the_reason() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[]).await;
    let mut socket = open(&app, Some(json!({"token": "nope"})), TransportType::Any).await;
    socket.refusal("invalid token").await;

    let expired = directory.token_for(SocketIdentity {
        user_id: Uuid::new_v4(),
        role: Role::User,
        expires_at: Some(Utc::now() - chrono::Duration::seconds(1)),
    });
    let mut socket = open(&app, Some(json!({"token": expired})), TransportType::Any).await;
    socket.refusal("token expired").await;
}

#[tokio::test]
async fn events_reach_the_users_own_room_only() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[]).await;
    let (alice_token, alice) = directory.user(Role::User, None);
    let (bob_token, bob) = directory.user(Role::User, None);
    let mut alice_socket = connect(&app, &alice_token).await;
    let mut bob_socket = connect(&app, &bob_token).await;

    let for_alice = json!({"v": 1, "task_id": Uuid::new_v4(), "at": Utc::now()});
    assert!(app.realtime.emit(emit(
        names::TASK_DELETED,
        for_alice.clone(),
        &[Room::user(alice.user_id)]
    )));
    // Emitted after, through the same ordered queue: once Bob has it, Alice's would be there.
    let for_bob = json!({"v": 1, "task_id": Uuid::new_v4(), "at": Utc::now()});
    assert!(app.realtime.emit(emit(
        names::TASK_DELETED,
        for_bob.clone(),
        &[Room::user(bob.user_id)]
    )));

    assert_eq!(alice_socket.event(names::TASK_DELETED).await, for_alice);
    assert_eq!(bob_socket.event(names::TASK_DELETED).await, for_bob);
    assert!(!bob_socket.has_seen(names::TASK_DELETED, &for_alice));
}

#[tokio::test]
async fn task_rooms_are_for_their_owner_and_nothing_leaks() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[]).await;
    let (owner_token, owner) = directory.user(Role::User, None);
    let (other_token, other) = directory.user(Role::User, None);
    let task = directory.task_of(owner.user_id);
    let missing = Uuid::new_v4();
    let mut owner_socket = connect(&app, &owner_token).await;
    let mut other_socket = connect(&app, &other_token).await;

    assert_eq!(
        owner_socket.subscribe(&Room::task(task)).await,
        json!({"ok": true})
    );
    let refused = other_socket.subscribe(&Room::task(task)).await;
    let unknown = other_socket.subscribe(&Room::task(missing)).await;
    assert_eq!(refused, json!({"error": format!("task {task} not found")}));
    assert_eq!(
        unknown,
        json!({"error": format!("task {missing} not found")}),
        "another owner's task and a missing one are refused alike"
    );

    let line = json!({"v": 1, "task_id": task, "message": "hello"});
    assert!(app.realtime.emit(emit(
        names::EXECUTION_LOG,
        line.clone(),
        &[Room::task(task)]
    )));
    let fence = json!({"fence": true});
    assert!(app.realtime.emit(emit(
        names::TASK_DELETED,
        fence.clone(),
        &[Room::user(other.user_id)]
    )));
    assert_eq!(owner_socket.event(names::EXECUTION_LOG).await, line);
    assert_eq!(other_socket.event(names::TASK_DELETED).await, fence);
    assert!(!other_socket.has_seen(names::EXECUTION_LOG, &line));
}

#[tokio::test]
async fn admin_and_dashboard_rooms_need_an_admin_role() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[]).await;
    let (user_token, user) = directory.user(Role::User, None);
    let (admin_token, _) = directory.user(Role::Admin, None);
    let (super_token, _) = directory.user(Role::SuperAdmin, None);
    let user_socket = connect(&app, &user_token).await;
    let admin_socket = connect(&app, &admin_token).await;
    let super_socket = connect(&app, &super_token).await;

    for room in ["admin", "dashboard"] {
        let refused = user_socket.subscribe(room).await;
        assert!(
            refused["error"]
                .as_str()
                .is_some_and(|e| e.contains("ADMIN")),
            "{room}: {refused}"
        );
        assert_eq!(admin_socket.subscribe(room).await, json!({"ok": true}));
        assert_eq!(super_socket.subscribe(room).await, json!({"ok": true}));
    }
    // Malformed requests and the user rooms are refused with a reason, not ignored.
    for (request, needle) in [
        (json!("task:42"), "not a UUID"),
        (json!("everyone"), "unknown room"),
        (json!(42), "expected a room name"),
        (json!(Room::user(user.user_id)), "joined automatically"),
    ] {
        let reply = user_socket.ask("subscribe", request.clone()).await;
        assert!(
            reply["error"].as_str().is_some_and(|e| e.contains(needle)),
            "{request}: {reply}"
        );
    }
    let object_form = user_socket.ask("subscribe", json!({"room": "admin"})).await;
    assert!(object_form["error"].is_string(), "{object_form}");
}

#[tokio::test]
async fn admins_receive_admin_room_events_and_users_do_not() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[]).await;
    let (user_token, user) = directory.user(Role::User, None);
    let (admin_token, _) = directory.user(Role::Admin, None);
    let mut user_socket = connect(&app, &user_token).await;
    let mut admin_socket = connect(&app, &admin_token).await;
    assert_eq!(admin_socket.subscribe("admin").await, json!({"ok": true}));
    let _ = user_socket.subscribe("admin").await;

    let alert = json!({"v": 1, "alert_id": Uuid::new_v4(), "severity": "WARNING"});
    assert!(app.realtime.emit(emit(
        names::ALERT_CREATED,
        alert.clone(),
        &["admin".to_owned()]
    )));
    let fence = json!({"fence": 1});
    assert!(app.realtime.emit(emit(
        names::TASK_DELETED,
        fence.clone(),
        &[Room::user(user.user_id)]
    )));
    assert_eq!(admin_socket.event(names::ALERT_CREATED).await, alert);
    assert_eq!(user_socket.event(names::TASK_DELETED).await, fence);
    assert!(!user_socket.has_seen(names::ALERT_CREATED, &alert));
}

#[tokio::test]
async fn a_socket_in_several_rooms_receives_a_message_once_and_can_unsubscribe() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[]).await;
    let (token, owner) = directory.user(Role::User, None);
    let task = directory.task_of(owner.user_id);
    let mut socket = connect(&app, &token).await;
    assert_eq!(
        socket.subscribe(&Room::task(task)).await,
        json!({"ok": true})
    );

    let both = [Room::user(owner.user_id), Room::task(task)];
    assert!(
        app.realtime
            .emit(emit(names::TASK_DELETED, json!(1), &both))
    );
    assert!(
        app.realtime
            .emit(emit(names::TASK_DELETED, json!(2), &both))
    );
    assert_eq!(socket.event(names::TASK_DELETED).await, json!(1));
    assert_eq!(
        socket.event(names::TASK_DELETED).await,
        json!(2),
        "1 came once"
    );

    assert_eq!(
        socket.ask("unsubscribe", json!(Room::task(task))).await,
        json!({"ok": true})
    );
    assert!(
        app.realtime
            .emit(emit(names::TASK_DELETED, json!(3), &[Room::task(task)]))
    );
    assert!(app.realtime.emit(emit(
        names::TASK_DELETED,
        json!(4),
        &[Room::user(owner.user_id)]
    )));
    assert_eq!(socket.event(names::TASK_DELETED).await, json!(4));
    assert!(!socket.has_seen(names::TASK_DELETED, &json!(3)));
    assert!(
        socket
            .ask("unsubscribe", json!(Room::user(owner.user_id)))
            .await["error"]
            .is_string()
    );
}

#[tokio::test]
async fn a_socket_is_told_and_disconnected_when_its_token_expires() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[]).await;
    // Long enough for the connection however slow the machine, short enough to wait for.
    let (token, _) = directory.user(Role::User, Some(Duration::from_secs(5)));
    let mut socket = connect(&app, &token).await;
    let notice = socket.event(names::SESSION_EXPIRED).await;
    assert_eq!(notice["v"], 1);
    let expired_at: chrono::DateTime<Utc> =
        serde_json::from_value(notice["expired_at"].clone()).expect("a timestamp");
    assert!(expired_at <= Utc::now());
    loop {
        if socket.next().await == Seen::Closed {
            break;
        }
    }
}

#[tokio::test]
async fn dashboard_subscribers_get_metrics_every_interval() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[("REALTIME_METRICS_INTERVAL_SECONDS", "1")]).await;
    let (token, _) = directory.user(Role::Admin, None);
    let mut socket = connect(&app, &token).await;
    assert_eq!(socket.subscribe("dashboard").await, json!({"ok": true}));
    let first = socket.event(names::DASHBOARD_METRICS).await;
    let second = socket.event(names::DASHBOARD_METRICS).await;
    for metrics in [&first, &second] {
        assert_eq!(metrics["v"], 1);
        for field in [
            "at",
            "running",
            "queued",
            "succeeded_last_hour",
            "failed_last_hour",
            "p95_duration_ms",
            "scheduler_lag_ms",
        ] {
            assert!(metrics.get(field).is_some(), "{field} in {metrics}");
        }
    }
    let (a, b) = (first["running"].as_i64(), second["running"].as_i64());
    assert!(a < b, "each tick computes afresh: {a:?} then {b:?}");
}

#[tokio::test]
async fn long_polling_outlives_the_request_timeout() {
    let directory = Directory::default();
    // A one-second request timeout would cut every long-poll if it applied to Socket.IO.
    let app = spawn_realtime_app(&directory, &[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let (token, user) = directory.user(Role::User, None);
    let mut socket = open(&app, Some(json!({"token": token})), TransportType::Polling).await;
    assert_eq!(socket.next().await, Seen::Connected);
    // Stay idle past the timeout so the pending poll is older than it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(app.realtime.emit(emit(
        names::TASK_DELETED,
        json!("after"),
        &[Room::user(user.user_id)]
    )));
    assert_eq!(socket.event(names::TASK_DELETED).await, json!("after"));
    assert!(
        !socket
            .history
            .iter()
            .any(|s| matches!(s, Seen::Error(_) | Seen::Closed))
    );
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn the_websocket_transport_works_alone() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[]).await;
    let (token, user) = directory.user(Role::User, None);
    let mut socket = open(
        &app,
        Some(json!({"token": token})),
        TransportType::Websocket,
    )
    .await;
    assert_eq!(socket.next().await, Seen::Connected);
    assert!(app.realtime.emit(emit(
        names::NOTIFICATION_CREATED,
        json!({"v": 1}),
        &[Room::user(user.user_id)]
    )));
    assert_eq!(
        socket.event(names::NOTIFICATION_CREATED).await,
        json!({"v": 1})
    );
}

#[tokio::test]
async fn rooms_span_instances_through_redis() {
    let directory = Directory::default();
    // scripts/test makes sure a Redis answers there.
    let redis =
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    // A prefix of its own, so tests running at the same time never share rooms.
    let prefix = format!("nocron-test-{}", Uuid::new_v4().simple());
    let settings = [
        ("REDIS_URL", redis.as_str()),
        ("REALTIME_REDIS_PREFIX", prefix.as_str()),
    ];
    let instance_a = spawn_realtime_app(&directory, &settings).await;
    let instance_b = spawn_realtime_app(&directory, &settings).await;
    let (owner_token, owner) = directory.user(Role::User, None);
    let (admin_token, _) = directory.user(Role::Admin, None);
    let task = directory.task_of(owner.user_id);
    let mut on_a = connect_at(&instance_a.address, &owner_token).await;
    let mut admin_on_b = connect_at(&instance_b.address, &admin_token).await;
    assert_eq!(on_a.subscribe(&Room::task(task)).await, json!({"ok": true}));
    assert_eq!(admin_on_b.subscribe("admin").await, json!({"ok": true}));

    // Emitted on B (where the execution would run), received by the socket on A.
    let finished = json!({"v": 1, "task_id": task, "status": "SUCCEEDED"});
    assert!(instance_b.realtime.emit(emit(
        names::EXECUTION_FINISHED,
        finished.clone(),
        &[Room::task(task), "admin".to_owned()]
    )));
    assert_eq!(on_a.event(names::EXECUTION_FINISHED).await, finished);
    assert_eq!(admin_on_b.event(names::EXECUTION_FINISHED).await, finished);

    // And the other way, to the user room.
    assert!(instance_a.realtime.emit(emit(
        names::TASK_DELETED,
        json!("from a"),
        &[Room::user(owner.user_id)]
    )));
    assert_eq!(on_a.event(names::TASK_DELETED).await, json!("from a"));
}

#[tokio::test]
async fn the_event_catalogue_is_in_the_openapi_components() {
    let app = crate::helpers::spawn_app().await;
    let spec: Value = app.get("/api-json").await.json().await.expect("spec");
    let schemas = &spec["components"]["schemas"];
    for name in [
        "ExecutionQueued",
        "ExecutionStarted",
        "ExecutionLog",
        "ExecutionFinished",
        "ExecutionSkipped",
        "TaskChanged",
        "TaskDeleted",
        "TaskStatusChanged",
        "NotificationCreated",
        "AlertCreated",
        "DashboardMetrics",
        "SessionExpired",
        "SubscribeRequest",
        "SubscribeAck",
    ] {
        let schema = &schemas[name];
        assert!(schema.is_object(), "{name} is in components.schemas");
        if name != "SubscribeRequest" && name != "SubscribeAck" {
            assert!(schema["properties"]["v"].is_object(), "{name} is versioned");
        }
    }
    assert_eq!(
        schemas["ExecutionFinished"]["properties"]["summary"]["$ref"],
        "#/components/schemas/OutcomeSummary"
    );
}

/// A client that completes the handshake over WebSocket and then never reads again.
async fn stalled_client(
    address: &str,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        address.replacen("http://", "ws://", 1)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket");
    let open = socket.next().await.expect("open").expect("frame");
    assert!(open.to_text().expect("text").starts_with('0'), "{open}");
    socket
        .send(Message::text(format!("40{}", json!({ "token": token }))))
        .await
        .expect("send CONNECT");
    loop {
        let frame = socket.next().await.expect("reply").expect("frame");
        let text = frame.to_text().expect("text");
        if text.starts_with("40") {
            break;
        }
        assert_eq!(text, "2", "only a ping may come before the CONNECT reply");
        socket.send(Message::text("3")).await.expect("pong");
    }
    // The caller keeps the connection open without reading: the server's writes pile up.
    socket
}

#[tokio::test]
async fn a_client_that_stops_reading_does_not_hold_up_anyone_else() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[("REALTIME_CLIENT_BUFFER", "8")]).await;
    let (stalled_token, stalled) = directory.user(Role::User, None);
    let (healthy_token, healthy) = directory.user(Role::User, None);
    let _stalled = stalled_client(&app.address, &stalled_token).await;
    let mut healthy_socket = connect(&app, &healthy_token).await;

    // ~25 MB for the stalled client: more than the kernel buffers and its 8 packets hold.
    let chunk = "x".repeat(64 * 1024);
    for seq in 0..400 {
        let flood = emit(
            names::EXECUTION_LOG,
            json!({ "seq": seq, "message": chunk }),
            &[Room::user(stalled.user_id)],
        );
        while !app.realtime.emit(flood.clone()) {
            tokio::task::yield_now().await;
        }
    }
    // Queued behind the whole flood: it arrives only if delivery never waited for the
    // stalled socket.
    assert!(app.realtime.emit(emit(
        names::TASK_DELETED,
        json!("still flowing"),
        &[Room::user(healthy.user_id)]
    )));
    assert_eq!(
        healthy_socket.event(names::TASK_DELETED).await,
        json!("still flowing")
    );
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    let dropped: f64 = metrics
        .lines()
        .find(|line| line.starts_with("realtime_client_drops_total"))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0);
    assert!(
        dropped > 0.0,
        "the stalled socket's buffer overflowed and it missed messages"
    );
}
