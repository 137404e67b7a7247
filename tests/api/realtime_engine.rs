//! End to end: a task created and run through the HTTP API is watched live by a Socket.IO
//! client signed in as the task's owner.

use nocron::realtime::{Room, events::names};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    capture::CaptureServer,
    engine_support::{http_task, spawn_engine_app},
    sockets::{Seen, connect},
};

#[tokio::test]
async fn the_owner_sees_queued_started_logs_and_finished() {
    let app = spawn_engine_app(&[]).await;
    let sink = CaptureServer::start().await;
    let owner = app.login_as("USER").await;
    let mut socket = connect(&app, &owner.access_token).await;
    let created = app
        .post_as(
            &owner.access_token,
            "/tasks",
            &json!({"name": "Watched", "action": {"type": "HTTP_REQUEST",
                    "config": {"url": sink.url("/ok")}}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let task_id: Uuid = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let task_created = socket.event(names::TASK_CREATED).await;
    assert_eq!(task_created["task_id"], task_id.to_string());

    assert_eq!(
        socket.subscribe(&Room::task(task_id)).await,
        json!({"ok": true})
    );
    let stranger = app.login_as("USER").await;
    let other = connect(&app, &stranger.access_token).await;
    assert_eq!(
        other.subscribe(&Room::task(task_id)).await,
        json!({"error": format!("task {task_id} not found")}),
        "another user's task is not found"
    );

    let run = app
        .post_as(
            &owner.access_token,
            &format!("/tasks/{task_id}/execute"),
            &json!({"input": {"n": 1}}),
        )
        .await;
    assert_eq!(run.status(), 202);
    let execution_id = run.json::<Value>().await.expect("json")["execution_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let queued = socket.event(names::EXECUTION_QUEUED).await;
    assert_eq!(queued["execution_id"], execution_id);
    assert_eq!(queued["task_id"], task_id.to_string());
    assert_eq!(queued["trigger"], "MANUAL");
    let started = socket.event(names::EXECUTION_STARTED).await;
    assert_eq!(started["execution_id"], execution_id);
    assert_eq!(started["attempt"], 1);
    let finished = socket.event(names::EXECUTION_FINISHED).await;
    assert_eq!(finished["execution_id"], execution_id);
    assert_eq!(finished["status"], "SUCCEEDED", "{finished}");
    assert!(finished["duration_ms"].is_i64(), "{finished}");
    assert_eq!(finished["summary"]["will_retry"], false);

    // The order on the wire: queued, started, log lines, finished; each execution event once.
    let order: Vec<&str> = socket
        .history
        .iter()
        .filter_map(|seen| match seen {
            Seen::Event(name, payload) if payload["execution_id"] == execution_id => {
                Some(name.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(order.first(), Some(&names::EXECUTION_QUEUED), "{order:?}");
    assert_eq!(order.get(1), Some(&names::EXECUTION_STARTED), "{order:?}");
    assert_eq!(order.last(), Some(&names::EXECUTION_FINISHED), "{order:?}");
    assert!(
        order[2..order.len() - 1]
            .iter()
            .all(|name| *name == names::EXECUTION_LOG),
        "{order:?}"
    );
    let seqs: Vec<i64> = socket
        .history
        .iter()
        .filter_map(|seen| match seen {
            Seen::Event(name, payload) if name == names::EXECUTION_LOG => payload["seq"].as_i64(),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    assert_eq!(sink.requests_to("/ok").len(), 1);
}

#[tokio::test]
async fn dashboard_metrics_count_executions_from_the_database() {
    let app = spawn_engine_app(&[("REALTIME_METRICS_INTERVAL_SECONDS", "1")]).await;
    let sink = CaptureServer::start().await;
    let owner = app.login_as("USER").await;
    let admin = app.login_as("ADMIN").await;
    let mut succeeding = http_task(&sink.url("/ok"));
    succeeding.owner_id = owner.id;
    let succeeding = app.create_task(&succeeding).await;

    let mut socket = connect(&app, &admin.access_token).await;
    assert_eq!(socket.subscribe("dashboard").await, json!({"ok": true}));
    let user = connect(&app, &owner.access_token).await;
    assert!(user.subscribe("dashboard").await["error"].is_string());

    let before = socket.event(names::DASHBOARD_METRICS).await;
    assert_eq!(before["succeeded_last_hour"], 0, "{before}");
    app.trigger(&succeeding).await;
    // Ticks keep coming; wait (boundedly) for one that counts the finished execution.
    for _ in 0..15 {
        let metrics = socket.event(names::DASHBOARD_METRICS).await;
        if metrics["succeeded_last_hour"] == 1 {
            assert_eq!(metrics["failed_last_hour"], 0, "{metrics}");
            assert!(metrics["p95_duration_ms"].is_number(), "{metrics}");
            assert_eq!(metrics["running"], 0, "{metrics}");
            return;
        }
    }
    panic!("no dashboard.metrics counted the succeeded execution");
}
