//! Typed helpers for execution-engine tests: apps with the engine loops off (to drive it
//! step by step) or on, extra instances on the same database, an instance that can be killed
//! like a crashed process, task creation, and bounded waiting on database conditions.

use std::{future::Future, time::Duration};

use axum::extract::FromRef;

use nocron::{
    app::Application,
    executions::model::{ExecutionStatus, TriggerKind},
    scheduler::engine::Engine,
    tasks::{
        self,
        model::{ActionType, NewTask, Task},
    },
};
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{TestApp, TestDatabase, spawn_app_with, test_settings};

/// Settings that switch the background engine off, so a test drives it step by step.
pub const MANUAL_ENGINE: &[(&str, &str)] =
    &[("SCHEDULER_ENABLED", "false"), ("WORKERS_ENABLED", "false")];

/// The tests' capture servers listen on loopback, which the SSRF guard refuses by default.
const LOOPBACK_ALLOWED: (&str, &str) = ("OUTBOUND_ALLOW_CIDRS", "127.0.0.0/8");

fn with_loopback<'a>(overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut settings = vec![LOOPBACK_ALLOWED];
    settings.extend_from_slice(overrides);
    settings
}

/// An app whose engine only moves when the test calls its step functions.
pub async fn spawn_manual_app() -> TestApp {
    spawn_engine_app(MANUAL_ENGINE).await
}

/// An app whose actions may reach the loopback capture servers.
pub async fn spawn_engine_app(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_with(&with_loopback(overrides)).await
}

impl TestApp {
    /// The engine of this app.
    pub fn engine(&self) -> Engine {
        Engine::from_ref(&self.state)
    }

    /// Creates a task through the engine's own function (and its owner's account, when the
    /// task names an owner that does not exist yet).
    pub async fn create_task(&self, new: &NewTask) -> Task {
        ensure_owner(&self.state.db, new.owner_id).await;
        tasks::db::create_task(&self.state.db, &self.state.events, new)
            .await
            .expect("create task")
    }

    /// Queues a manual execution of a task and returns its id.
    pub async fn trigger(&self, task: &Task) -> Uuid {
        nocron::executions::control::enqueue(
            &self.engine(),
            task.id,
            task.owner_id,
            TriggerKind::Manual,
            json!({}),
            None,
        )
        .await
        .expect("enqueue")
        .execution_id
    }
}

/// Creates a bare account with this id unless one exists, so engine tests can use fresh
/// owner ids without going through registration.
pub async fn ensure_owner(db: &PgPool, owner_id: Uuid) {
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, 'engine test', '!')
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(owner_id)
    .bind(format!("owner-{owner_id}@example.test"))
    .execute(db)
    .await
    .expect("create the task's owner");
}

/// A task calling `url` with `HTTP_REQUEST`, otherwise defaults.
pub fn http_task(url: &str) -> NewTask {
    NewTask::new(
        Uuid::new_v4(),
        "test task",
        ActionType::HttpRequest,
        json!({ "url": url }),
    )
}

/// One execution's status, attempt and error, read from the database.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: Uuid,
    pub status: String,
    pub attempt: i32,
    pub trigger_kind: String,
    pub error: Option<String>,
    pub outcome: Option<serde_json::Value>,
    pub instance_id: Option<String>,
    pub retry_of: Option<Uuid>,
}

/// Every execution of a task, oldest first.
pub async fn executions(db: &PgPool, task_id: Uuid) -> Vec<Row> {
    sqlx::query_as::<
        _,
        (
            Uuid,
            String,
            i32,
            String,
            Option<String>,
            Option<serde_json::Value>,
            Option<String>,
            Option<Uuid>,
        ),
    >(
        "SELECT id, status, attempt, trigger_kind, error, outcome, instance_id, retry_of
         FROM executions WHERE task_id = $1 ORDER BY queued_at, id",
    )
    .bind(task_id)
    .fetch_all(db)
    .await
    .expect("executions")
    .into_iter()
    .map(
        |(id, status, attempt, trigger_kind, error, outcome, instance_id, retry_of)| Row {
            id,
            status,
            attempt,
            trigger_kind,
            error,
            outcome,
            instance_id,
            retry_of,
        },
    )
    .collect()
}

/// Queues `count` executions of a task in one statement (as a flood of API calls would),
/// bypassing the queue cap.
pub async fn queue_many(db: &PgPool, task_id: Uuid, count: i64) {
    sqlx::query(
        "INSERT INTO executions (id, task_id, trigger_kind)
         SELECT gen_random_uuid(), $1, 'API' FROM generate_series(1, $2)",
    )
    .bind(task_id)
    .bind(count)
    .execute(db)
    .await
    .expect("queue executions");
}

/// How many executions of a task are in `status`.
pub async fn count_in(db: &PgPool, task_id: Uuid, status: ExecutionStatus) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM executions WHERE task_id = $1 AND status = $2")
        .bind(task_id)
        .bind(status.as_str())
        .fetch_one(db)
        .await
        .expect("count executions")
}

/// One execution's status.
pub async fn status_of(db: &PgPool, execution_id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM executions WHERE id = $1")
        .bind(execution_id)
        .fetch_one(db)
        .await
        .expect("execution status")
}

/// The ledger of a task as (reason, count).
pub async fn ledger(db: &PgPool, task_id: Uuid) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT reason, count(*) FROM planned_runs WHERE task_id = $1 GROUP BY reason ORDER BY reason",
    )
    .bind(task_id)
    .fetch_all(db)
    .await
    .expect("ledger")
}

/// Polls `condition` every 25 ms until it holds, failing the test after `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Whether an execution has reached `status`.
pub async fn has_status(db: &PgPool, execution_id: Uuid, status: ExecutionStatus) -> bool {
    status_of(db, execution_id).await == status.as_str()
}

/// Another instance of the application on an existing database.
pub struct Instance {
    pub state: nocron::state::AppState,
    pub shutdown: CancellationToken,
    pub server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Instance {
    /// Starts an instance on `database` with these settings.
    pub async fn start(database: &TestDatabase, overrides: &[(&str, &str)]) -> Self {
        let application =
            Application::build(test_settings(&database.url(), &with_loopback(overrides)))
                .await
                .expect("build an instance");
        let state = application.state().clone();
        let shutdown = application.shutdown_token();
        Instance {
            state,
            shutdown,
            server: Some(tokio::spawn(application.run_until_stopped())),
        }
    }

    /// Stops it gracefully and waits.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("join")
                .expect("instance stopped cleanly");
        }
    }
}

/// An instance running on its own runtime and thread, so it can be killed like a crashed
/// process: its tasks stop mid-flight, nothing is handed back, its connections drop.
pub struct KillableInstance {
    pub instance_id: String,
    kill: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KillableInstance {
    /// Starts an instance on `database` in its own runtime.
    pub fn start(database: &TestDatabase, overrides: &[(&str, &str)]) -> Self {
        let settings = test_settings(&database.url(), &with_loopback(overrides));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let application = Application::build(settings).await.expect("build");
                ready_tx
                    .send(application.state().instance_id.to_string())
                    .expect("ready");
                tokio::spawn(application.run_until_stopped());
            });
            let _ = kill_rx.recv();
            // Like SIGKILL: every task is dropped where it stands.
            runtime.shutdown_background();
        });
        let instance_id = ready_rx.recv().expect("instance started");
        KillableInstance {
            instance_id,
            kill: Some(kill_tx),
            thread: Some(thread),
        }
    }

    /// Kills the instance.
    pub fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for KillableInstance {
    fn drop(&mut self) {
        self.kill();
    }
}
