//! Helpers for trigger tests: a signed-in user's task, chains saved through the API, a
//! task's ledger, draining the engine, reading an execution's input.

use nocron::{scheduler::worker, tasks::model::Task};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    engine_support::http_task,
    helpers::{TestApp, TestUser},
};

impl TestApp {
    /// A signed-in user and an `HTTP_REQUEST` task of theirs calling `url`.
    pub async fn user_with_task(&self, url: &str) -> (TestUser, Task) {
        let user = self.login_as("USER").await;
        let task = self.task_of(&user, url).await;
        (user, task)
    }

    /// Another `HTTP_REQUEST` task of `user`, calling `url`, without retries.
    pub async fn task_of(&self, user: &TestUser, url: &str) -> Task {
        let mut new = http_task(url);
        new.owner_id = user.id;
        new.retry.max_attempts = 1;
        self.create_task(&new).await
    }

    /// Another task of `user` calling `url`, without retries, that allows chain cycles.
    pub async fn cyclic_task_of(&self, user: &TestUser, url: &str) -> Task {
        let mut new = http_task(url);
        new.owner_id = user.id;
        new.retry.max_attempts = 1;
        new.allow_cycles = true;
        self.create_task(&new).await
    }

    /// `POST /tasks/{task}/chains`: `task` runs after `source` ends as `on` says.
    pub async fn chain(
        &self,
        user: &TestUser,
        task: Uuid,
        source: Uuid,
        on: &str,
    ) -> reqwest::Response {
        self.post_as(
            &user.access_token,
            &format!("/tasks/{task}/chains"),
            &json!({"source_task_id": source, "on": on}),
        )
        .await
    }

    /// The ledger entries of a task, as `GET /tasks/{id}/logs?status=SKIPPED` lists them.
    pub async fn skipped_entries(&self, user: &TestUser, task: Uuid) -> Vec<Value> {
        let page = self
            .get_json_as(
                &user.access_token,
                &format!("/tasks/{task}/logs?status=SKIPPED&limit=100"),
            )
            .await;
        page["items"].as_array().cloned().expect("items")
    }

    /// Runs queued executions batch after batch until none is left (at most `rounds`
    /// batches); returns how many ran.
    pub async fn drain(&self, rounds: usize) -> usize {
        let engine = self.engine();
        let mut ran = 0;
        for _ in 0..rounds {
            let batch = worker::run_batch(&engine, 10).await.expect("run a batch");
            if batch.is_empty() {
                return ran;
            }
            ran += batch.len();
        }
        panic!("executions still queued after {rounds} batches");
    }
}

/// An execution's trigger kind and input, as stored.
pub async fn input_of(app: &TestApp, execution_id: Uuid) -> (String, Value) {
    sqlx::query_as("SELECT trigger_kind, input FROM executions WHERE id = $1")
        .bind(execution_id)
        .fetch_one(&app.db)
        .await
        .expect("execution")
}

/// The execution id of an accepted delivery.
pub async fn accepted(response: reqwest::Response) -> (Uuid, bool) {
    assert_eq!(response.status(), 202, "delivery accepted");
    let body: Value = response.json().await.expect("json");
    (
        body["execution_id"]
            .as_str()
            .expect("execution_id")
            .parse()
            .expect("uuid"),
        body["duplicate"].as_bool().expect("duplicate"),
    )
}
