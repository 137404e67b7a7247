//! Helpers for trigger tests: a signed-in user's task, reading an execution's input.

use nocron::tasks::model::Task;
use serde_json::Value;
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
