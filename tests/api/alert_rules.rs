//! The `FAILURE_RATE`, `LATE_START` and `MISSED` alert rules end to end: executions run by
//! the engine against a loopback server, the outbox consumed, the periodic missed-run check
//! stepped by hand, and the notifications read back through the API.

use axum::extract::FromRef;
use nocron::{
    executions::{self, model::TriggerKind},
    notifications::{Notifier, missed, outbox},
    scheduler::worker,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    capture::CaptureServer,
    engine_support::spawn_engine_app,
    helpers::{TestApp, TestUser, problem, problem_fields},
    notifications::{MANUAL, planned_task, run_by_hand},
};

/// Replaces the task's rules with one rule of `kind` (in-app only); returns its id.
async fn only_rule(
    app: &TestApp,
    user: &TestUser,
    task_id: Uuid,
    kind: &str,
    params: Value,
) -> String {
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
            &json!({"kind": kind, "params": params, "channels": ["IN_APP"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn sent_types(app: &TestApp, user: &TestUser) -> Vec<String> {
    let page = app
        .get_json_as(&user.access_token, "/notifications?limit=100")
        .await;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["type"].as_str().expect("type").to_owned())
        .collect()
}

#[tokio::test]
async fn a_failure_rate_rule_alerts_when_two_of_the_last_three_runs_failed() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let task_id = planned_task(&app, &user, &server, "fsfs").await;
    only_rule(
        &app,
        &user,
        task_id,
        "FAILURE_RATE",
        json!({"failures": 2, "of_last": 3}),
    )
    .await;
    let notifier = Notifier::from_ref(&app.state);
    let mut after_each = Vec::new();
    for _ in 0..4 {
        run_by_hand(&app, task_id, user.id).await;
        assert_eq!(outbox::drain(&notifier).await.expect("drain"), 1);
        after_each.push(sent_types(&app, &user).await.len());
    }
    // Fail, succeed, fail (two of three: alert), succeed (still two of three: no repeat).
    assert_eq!(after_each, [0, 0, 1, 1]);
    assert_eq!(sent_types(&app, &user).await, ["TASK_FAILED"]);
}

#[tokio::test]
async fn a_late_start_rule_alerts_on_an_execution_that_started_late() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let task_id = planned_task(&app, &user, &server, "ss").await;
    only_rule(&app, &user, task_id, "LATE_START", json!({"ms": 5000})).await;
    let notifier = Notifier::from_ref(&app.state);

    // On time: nothing.
    run_by_hand(&app, task_id, user.id).await;
    outbox::drain(&notifier).await.expect("drain");
    assert!(sent_types(&app, &user).await.is_empty());

    // Due ten seconds ago when a worker takes it.
    let engine = app.engine();
    executions::control::enqueue(
        &engine,
        task_id,
        user.id,
        TriggerKind::Manual,
        json!({}),
        None,
    )
    .await
    .expect("enqueue");
    sqlx::query(
        "UPDATE executions SET run_after = now() - interval '10 seconds'
         WHERE task_id = $1 AND status = 'QUEUED'",
    )
    .bind(task_id)
    .execute(&app.state.db)
    .await
    .expect("backdate");
    assert_eq!(worker::run_batch(&engine, 10).await.expect("run").len(), 1);
    outbox::drain(&notifier).await.expect("drain");
    let page = app.get_json_as(&user.access_token, "/notifications").await;
    assert_eq!(page["items"][0]["type"], "TASK_LATE");
    assert!(
        page["items"][0]["data"]["lateness_ms"]
            .as_i64()
            .expect("lateness")
            >= 10_000
    );
}

/// Moves the start of the task's and its rules' missed-run window `minutes` back.
async fn backdate(app: &TestApp, task_id: Uuid, minutes: i32) {
    sqlx::query("UPDATE tasks SET updated_at = now() - make_interval(mins => $2) WHERE id = $1")
        .bind(task_id)
        .bind(minutes)
        .execute(&app.state.db)
        .await
        .expect("backdate task");
    sqlx::query(
        "UPDATE alert_rules SET updated_at = now() - make_interval(mins => $2)
         WHERE task_id = $1",
    )
    .bind(task_id)
    .bind(minutes)
    .execute(&app.state.db)
    .await
    .expect("backdate rules");
}

#[tokio::test]
async fn a_missed_rule_fires_once_without_a_success_and_a_success_clears_it() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let task_id = planned_task(&app, &user, &server, "s").await;
    let rule_id = only_rule(&app, &user, task_id, "MISSED", json!({"minutes": 5})).await;
    let notifier = Notifier::from_ref(&app.state);

    assert_eq!(
        missed::check(&notifier).await.expect("check"),
        0,
        "inside the window"
    );
    backdate(&app, task_id, 6).await;
    assert_eq!(missed::check(&notifier).await.expect("check"), 1);
    assert_eq!(
        missed::check(&notifier).await.expect("check"),
        0,
        "one alert, not one per check"
    );
    let page = app.get_json_as(&user.access_token, "/notifications").await;
    assert_eq!(page["items"][0]["type"], "TASK_MISSED");
    assert_eq!(page["items"][0]["data"]["minutes"], 5);

    // A success clears the rule; the window restarts from it.
    run_by_hand(&app, task_id, user.id).await;
    outbox::drain(&notifier).await.expect("drain");
    let rules = app
        .get_json_as(&user.access_token, &format!("/tasks/{task_id}/alert-rules"))
        .await;
    let rule = rules
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["id"] == rule_id.as_str())
        .expect("the rule");
    assert_eq!(rule["alerting"], false);
    backdate(&app, task_id, 6).await;
    assert_eq!(
        missed::check(&notifier).await.expect("check"),
        0,
        "the success is recent"
    );
}

#[tokio::test]
async fn a_paused_task_is_not_missed_and_rule_params_are_checked() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let task_id = planned_task(&app, &user, &server, "s").await;
    only_rule(&app, &user, task_id, "MISSED", json!({"minutes": 1})).await;
    let paused = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{task_id}/pause"),
            &json!({}),
        )
        .await;
    assert_eq!(paused.status(), 200);
    backdate(&app, task_id, 10).await;
    let notifier = Notifier::from_ref(&app.state);
    assert_eq!(missed::check(&notifier).await.expect("check"), 0);

    for (kind, params, field) in [
        (
            "FAILURE_RATE",
            json!({"failures": 4, "of_last": 3}),
            "params.failures",
        ),
        (
            "FAILURE_RATE",
            json!({"failures": 1, "of_last": 1000}),
            "params.of_last",
        ),
        ("MISSED", json!({"minutes": 0}), "params.minutes"),
        ("LATE_START", json!({"ms": "soon"}), "params.ms"),
    ] {
        let refused = app
            .post_as(
                &user.access_token,
                &format!("/tasks/{task_id}/alert-rules"),
                &json!({"kind": kind, "params": params}),
            )
            .await;
        assert_eq!(refused.status(), 422, "{kind} {params}");
        assert_eq!(problem_fields(&problem(refused).await), [field]);
    }
}

#[tokio::test]
async fn the_owner_is_told_once_when_the_engine_pauses_a_failing_task() {
    let app = spawn_engine_app(MANUAL).await;
    let server = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let created = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({"name": "Flaky sync",
                    "action": {"type": "HTTP_REQUEST",
                               "config": {"url": server.url("/status/503")}},
                    "retry": {"max_attempts": 1},
                    "auto_pause_after_failures": 2}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let task_id: Uuid = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let notifier = Notifier::from_ref(&app.state);
    run_by_hand(&app, task_id, user.id).await;
    run_by_hand(&app, task_id, user.id).await;
    outbox::drain(&notifier).await.expect("drain");

    let task = app
        .get_json_as(&user.access_token, &format!("/tasks/{task_id}"))
        .await;
    assert_eq!(task["status"], "FAILED");
    let types = sent_types(&app, &user).await;
    assert_eq!(
        types.iter().filter(|t| *t == "TASK_AUTO_PAUSED").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "TASK_FAILED").count(),
        1,
        "the default rule alerts once: {types:?}"
    );
    let page = app
        .get_json_as(&user.access_token, "/notifications?type=TASK_AUTO_PAUSED")
        .await;
    assert_eq!(page["items"][0]["data"]["consecutive_failures"], 2);
    assert_eq!(page["items"][0]["task_id"], task_id.to_string());
}
