//! Priority queues: within an account, workers start higher priorities first, a manual run
//! may carry its own priority, and a lower priority that has waited long enough is reached
//! all the same (ageing).

use nocron::{executions::model::ExecutionStatus, scheduler::worker};
use serde_json::json;
use uuid::Uuid;

use crate::{
    engine_support::{MANUAL_ENGINE, count_in, http_task, queue_many, spawn_engine_app},
    helpers::problem,
};

/// Claims one execution and answers its id.
async fn next_to_start(engine: &nocron::scheduler::engine::Engine) -> Uuid {
    let claimed = worker::claim(engine, 1).await.expect("claim");
    assert_eq!(claimed.len(), 1, "one execution is due");
    claimed[0].id
}

#[tokio::test]
async fn with_the_queue_full_of_priority_one_work_a_priority_nine_execution_is_the_next_to_start() {
    let app = spawn_engine_app(MANUAL_ENGINE).await;
    let (user, low) = app.user_with_task("https://example.com/").await;
    // The backlog: 2,000 executions of a priority-1 task, queued first.
    let changed = app
        .patch_as(
            &user.access_token,
            &format!("/tasks/{}", low.id),
            &json!({"priority": 1}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let changed: serde_json::Value = changed.json().await.expect("task");
    assert_eq!(changed["priority"], 1);
    queue_many(&app.db, low.id, 2_000).await;
    // Then a priority-9 task of the same account, created through the API, runs once.
    let created = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({"name": "urgent", "priority": 9,
                    "action": {"type": "HTTP_REQUEST", "config": {"url": "https://example.com/"}}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let high: serde_json::Value = created.json().await.expect("task");
    assert_eq!(high["priority"], 9);
    let high_id: Uuid = high["id"].as_str().expect("id").parse().expect("uuid");
    let queued = app.execute_as(&user.access_token, high_id).await;
    assert_eq!(queued.status(), 202);
    let queued: serde_json::Value = queued.json().await.expect("enqueued");

    let engine = app.engine();
    assert_eq!(
        next_to_start(&engine).await.to_string(),
        queued["execution_id"].as_str().expect("id")
    );
    // After it, the backlog in its order.
    next_to_start(&engine).await;
    assert_eq!(count_in(&app.db, low.id, ExecutionStatus::Running).await, 1);
}

#[tokio::test]
async fn a_manual_run_can_jump_its_own_tasks_queue_with_a_priority_of_its_own() {
    let app = spawn_engine_app(MANUAL_ENGINE).await;
    let (user, task) = app.user_with_task("https://example.com/").await;
    queue_many(&app.db, task.id, 100).await;
    let queued = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/execute", task.id),
            &json!({"priority": 9}),
        )
        .await;
    assert_eq!(queued.status(), 202);
    let queued: serde_json::Value = queued.json().await.expect("enqueued");
    let id = queued["execution_id"].as_str().expect("id").to_owned();
    let detail = app
        .get_json_as(&user.access_token, &format!("/executions/{id}"))
        .await;
    assert_eq!(detail["priority"], 9);
    assert_eq!(next_to_start(&app.engine()).await.to_string(), id);
}

#[tokio::test]
async fn a_low_priority_execution_that_waited_long_enough_goes_before_a_fresh_high_one() {
    // One level of priority is worth 60 s of waiting: nine levels, nine minutes.
    let app =
        spawn_engine_app(&[MANUAL_ENGINE, &[("PRIORITY_AGEING_SECONDS", "60")]].concat()).await;
    let mut low = http_task("https://example.com/");
    low.priority = 0;
    let low = app.create_task(&low).await;
    let mut high = http_task("https://example.com/");
    high.owner_id = low.owner_id;
    high.priority = 9;
    let high = app.create_task(&high).await;
    let waited_ten_minutes = app.trigger(&low).await;
    sqlx::query("UPDATE executions SET run_after = now() - interval '10 minutes' WHERE id = $1")
        .bind(waited_ten_minutes)
        .execute(&app.db)
        .await
        .expect("age");
    let waited_eight_minutes = app.trigger(&low).await;
    sqlx::query("UPDATE executions SET run_after = now() - interval '8 minutes' WHERE id = $1")
        .bind(waited_eight_minutes)
        .execute(&app.db)
        .await
        .expect("age");
    let fresh = app.trigger(&high).await;
    let engine = app.engine();
    assert_eq!(next_to_start(&engine).await, waited_ten_minutes);
    assert_eq!(next_to_start(&engine).await, fresh);
    assert_eq!(next_to_start(&engine).await, waited_eight_minutes);
}

#[tokio::test]
async fn a_priority_outside_zero_to_nine_is_refused_naming_the_field() {
    let app = spawn_engine_app(MANUAL_ENGINE).await;
    let (user, task) = app.user_with_task("https://example.com/").await;
    let created = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({"name": "too high", "priority": 10,
                    "action": {"type": "HTTP_REQUEST", "config": {"url": "https://example.com/"}}}),
        )
        .await;
    assert_eq!(created.status(), 422);
    let body = problem(created).await;
    assert_eq!(body["errors"][0]["field"], "priority");
    let run = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/execute", task.id),
            &json!({"priority": -1}),
        )
        .await;
    assert_eq!(run.status(), 422);
    let body = problem(run).await;
    assert_eq!(body["errors"][0]["field"], "priority");
    assert_eq!(count_in(&app.db, task.id, ExecutionStatus::Queued).await, 0);
}
