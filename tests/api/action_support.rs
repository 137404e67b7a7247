//! Helpers for the action tests: secrets created through the API, a task owned by a real
//! user, one worker batch run by the engine, and the execution as stored (row and logs).

use nocron::{
    executions::model::TriggerKind,
    scheduler::worker,
    tasks::model::{ActionType, NewTask, Task},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser};

/// An execution as the database holds it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub id: Uuid,
    pub status: String,
    pub outcome: Value,
    pub error: Option<String>,
    /// `LEVEL message` per log line, in order.
    pub logs: Vec<String>,
    /// The whole row and its log lines as text, for searching.
    pub text: String,
}

/// Stores a secret for `user` through `POST /secrets`.
pub async fn create_secret(app: &TestApp, user: &TestUser, name: &str, value: &str) -> Value {
    let response = app
        .post_as(
            &user.access_token,
            "/secrets",
            &json!({"name": name, "value": value}),
        )
        .await;
    assert_eq!(response.status(), 201, "create secret {name}");
    response.json().await.expect("json")
}

/// A task of `user` with this action, one attempt, a `timeout_seconds` limit.
pub async fn create_action_task(
    app: &TestApp,
    user: &TestUser,
    action_type: ActionType,
    config: Value,
    timeout_seconds: i32,
) -> Task {
    let mut new = NewTask::new(user.id, "action test", action_type, config);
    new.retry.max_attempts = 1;
    new.timeout_seconds = timeout_seconds;
    app.create_task(&new).await
}

/// Queues a manual execution with `input`.
pub async fn trigger_with(app: &TestApp, task: &Task, input: Value) -> Uuid {
    nocron::executions::control::enqueue(
        &app.engine(),
        task.id,
        task.owner_id,
        TriggerKind::Manual,
        input,
        None,
    )
    .await
    .expect("enqueue")
    .execution_id
}

/// Runs one worker batch and returns the recorded execution.
pub async fn run_one(app: &TestApp, execution_id: Uuid) -> Recorded {
    let ran = worker::run_batch(&app.engine(), 10)
        .await
        .expect("run batch");
    assert_eq!(ran, vec![execution_id], "the worker ran the execution");
    recorded(app, execution_id).await
}

/// Creates a task, triggers it with `input` and runs it once.
pub async fn run_action(
    app: &TestApp,
    user: &TestUser,
    action_type: ActionType,
    config: Value,
    input: Value,
) -> Recorded {
    let task = create_action_task(app, user, action_type, config, 30).await;
    let id = trigger_with(app, &task, input).await;
    run_one(app, id).await
}

/// The stored execution.
pub async fn recorded(app: &TestApp, execution_id: Uuid) -> Recorded {
    let (status, outcome, error, row): (String, Option<Value>, Option<String>, String) =
        sqlx::query_as(
            "SELECT status, outcome, error, to_jsonb(e)::text FROM executions e WHERE id = $1",
        )
        .bind(execution_id)
        .fetch_one(&app.db)
        .await
        .expect("execution");
    let lines: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT level, message, fields::text FROM execution_logs WHERE execution_id = $1 ORDER BY id",
    )
    .bind(execution_id)
    .fetch_all(&app.db)
    .await
    .expect("logs");
    let mut text = row;
    for (level, message, fields) in &lines {
        text.push_str(&format!("\n{level} {message} {fields}"));
    }
    Recorded {
        id: execution_id,
        status,
        outcome: outcome.unwrap_or(Value::Null),
        error,
        logs: lines
            .into_iter()
            .map(|(level, message, _)| format!("{level} {message}"))
            .collect(),
        text,
    }
}
