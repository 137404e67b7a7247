//! `subscribe` under pressure: sent the instant a socket connects (the documented pattern),
//! sent by the thousand from one socket, and past the per-connection room limit.

use std::time::{Duration, Instant};

use nocron::auth::Role;
use serde_json::{Value, json};
use tokio::process::Command;
use uuid::Uuid;

use crate::{
    helpers::spawn_app,
    realtime_node::client_dir,
    sockets::{Directory, connect, spawn_realtime_app},
};

/// Runs `burst.js`: `count` official clients, each subscribing to `room` in its `connect`
/// handler; the totals it prints.
async fn burst(url: &str, token: &str, room: &str, count: usize) -> Value {
    let output = tokio::time::timeout(
        Duration::from_secs(150),
        Command::new("node")
            .arg("burst.js")
            .args([url, token, room, &count.to_string()])
            .current_dir(client_dir().await)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the burst settled in time")
    .expect("node runs");
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("one JSON line")
}

#[tokio::test]
async fn a_subscribe_sent_the_moment_a_socket_connects_is_never_dropped() {
    // Handshakes answered from the test directory, so the database's pool does not decide
    // the outcome of a thousand simultaneous connections; each token check still takes as
    // long as a database lookup. A gateway that confirmed the connection before its handlers
    // were in place (authenticating after `CONNECT`) would lose every one of these.
    let directory = Directory::default();
    directory.delay_authentication(Duration::from_millis(20));
    let app = spawn_realtime_app(&directory, &[]).await;
    let (token, _) = directory.user(Role::Admin, None);
    for run in 1..=3 {
        let totals = burst(&app.address, &token, "admin", 1000).await;
        assert_eq!(
            totals,
            json!({"acked": 1000, "refused": 0, "lost": 0, "connect_errors": 0, "unsettled": 0, "first_error": null}),
            "run {run}"
        );
    }
}

#[tokio::test]
async fn a_thousand_rapid_subscribes_leave_the_rest_api_answering() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let socket = connect(&app, &user.access_token).await;

    // Every one names a task that does not exist, so each that passed would cost an owner
    // lookup in the database.
    let rooms: Vec<String> = (0..1000)
        .map(|_| format!("task:{}", Uuid::new_v4()))
        .collect();
    // Back to back, each sent the moment the previous one is answered (the test client
    // loses acknowledgements when hundreds are in flight at once).
    let started = Instant::now();
    let flood = async {
        let mut replies = Vec::new();
        for room in &rooms {
            replies.push(socket.subscribe(room).await);
        }
        replies
    };
    let rest = async {
        let mut slowest = Duration::ZERO;
        for _ in 0..10 {
            let started = Instant::now();
            let me = app.get_as(&user.access_token, "/auth/me").await;
            assert_eq!(me.status(), 200);
            slowest = slowest.max(started.elapsed());
        }
        slowest
    };
    let (replies, slowest) = tokio::join!(flood, rest);

    let too_fast = replies
        .iter()
        .filter(|reply| {
            reply["error"]
                .as_str()
                .is_some_and(|e| e.contains("slow down"))
        })
        .count();
    let not_found = replies
        .iter()
        .filter(|reply| {
            reply["error"]
                .as_str()
                .is_some_and(|e| e.contains("not found"))
        })
        .count();
    assert_eq!(
        too_fast + not_found,
        1000,
        "every one answered: {replies:?}"
    );
    // The defaults: bursts of 20, then 10 a second.
    let allowed = 20 + 10 * (started.elapsed().as_secs() as usize + 1);
    assert!(
        too_fast > 0 && not_found <= allowed,
        "{too_fast} refused for the rate, {not_found} looked up (at most {allowed} allowed)"
    );
    assert!(
        slowest < Duration::from_secs(2),
        "the REST API took {slowest:?}"
    );
}

#[tokio::test]
async fn a_socket_subscribing_past_the_room_limit_is_refused() {
    let directory = Directory::default();
    let app = spawn_realtime_app(&directory, &[("REALTIME_MAX_ROOMS_PER_SOCKET", "3")]).await;
    let (token, identity) = directory.user(Role::User, None);
    let tasks: Vec<Uuid> = (0..4)
        .map(|_| directory.task_of(identity.user_id))
        .collect();
    let socket = connect(&app, &token).await;
    for task in &tasks[..3] {
        assert_eq!(
            socket.subscribe(&format!("task:{task}")).await,
            json!({"ok": true})
        );
    }
    // Subscribing again to a room it is in costs nothing.
    assert_eq!(
        socket.subscribe(&format!("task:{}", tasks[0])).await,
        json!({"ok": true})
    );
    let refused = socket.subscribe(&format!("task:{}", tasks[3])).await;
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("3 rooms")),
        "{refused}"
    );
    assert_eq!(
        socket
            .ask("unsubscribe", json!(format!("task:{}", tasks[0])))
            .await,
        json!({"ok": true})
    );
    assert_eq!(
        socket.subscribe(&format!("task:{}", tasks[3])).await,
        json!({"ok": true})
    );
}
