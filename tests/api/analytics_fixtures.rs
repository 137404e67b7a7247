//! Fixtures for the analytics and dashboard tests: tasks created through the API, and
//! executions and notifications written straight into the tables with the times, statuses,
//! run times and lateness the test chooses, plus the arithmetic the tests check the server
//! against (counted here, independently of the server's SQL).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, spawn_app_with};

/// The engine off: nothing runs but what the test inserts.
pub const QUIET: &[(&str, &str)] = &[
    ("SCHEDULER_ENABLED", "false"),
    ("WORKERS_ENABLED", "false"),
    ("NOTIFICATIONS_ENABLED", "false"),
];

/// An app whose engine never runs anything by itself.
pub async fn spawn_quiet_app() -> TestApp {
    spawn_app_with(QUIET).await
}

/// Every execution status, as stored.
pub const STATUSES: [&str; 7] = [
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "DEAD",
    "CANCELLED",
    "TIMED_OUT",
];

/// Creates a task of `user` through the API (no schedule unless `cron` is given).
pub async fn create_task(app: &TestApp, user: &TestUser, name: &str, cron: Option<&str>) -> Uuid {
    let mut body = json!({"name": name,
                          "action": {"type": "HTTP_REQUEST",
                                     "config": {"url": "https://example.com/hook"}}});
    if let Some(cron) = cron {
        body["schedule"] = json!({"cron": cron, "timezone": "UTC"});
    }
    let created = app.post_as(&user.access_token, "/tasks", &body).await;
    assert_eq!(created.status(), 201, "create {name}");
    created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

/// One execution to insert.
#[derive(Debug, Clone)]
pub struct Run {
    /// Its task.
    pub task_id: Uuid,
    /// Its status.
    pub status: &'static str,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// Its run time (ended runs).
    pub duration_ms: Option<i64>,
    /// How late it started (started runs).
    pub lateness_ms: Option<i64>,
}

impl Run {
    /// Whether it reached a final status.
    pub fn ended(&self) -> bool {
        !matches!(self.status, "QUEUED" | "RUNNING")
    }

    /// When it started: `lateness_ms` after it was queued, if it started.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        (self.status != "QUEUED")
            .then(|| self.queued_at + Duration::milliseconds(self.lateness_ms.unwrap_or(0)))
    }

    /// When it ended.
    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        if !self.ended() {
            return None;
        }
        self.started_at()
            .map(|start| start + Duration::milliseconds(self.duration_ms.unwrap_or(0)))
    }

    /// Whether it counts as a failure.
    pub fn failed(&self) -> bool {
        matches!(self.status, "FAILED" | "DEAD" | "TIMED_OUT")
    }
}

/// Inserts `runs` as executions rows.
pub async fn insert_runs(db: &PgPool, runs: &[Run]) {
    for run in runs {
        sqlx::query(
            "INSERT INTO executions (id, task_id, trigger_kind, status, queued_at, run_after,
                                     started_at, finished_at, duration_ms, lateness_ms)
             VALUES ($1, $2, 'MANUAL', $3, $4, $4, $5, $6, $7, $8)",
        )
        .bind(Uuid::now_v7())
        .bind(run.task_id)
        .bind(run.status)
        .bind(run.queued_at)
        .bind(run.started_at())
        .bind(run.finished_at())
        .bind(run.ended().then_some(run.duration_ms).flatten())
        .bind(
            (run.status != "QUEUED")
                .then_some(run.lateness_ms)
                .flatten(),
        )
        .execute(db)
        .await
        .expect("insert an execution");
    }
}

/// Inserts a notification for `user_id` created at `at`, read or not.
pub async fn insert_notification(db: &PgPool, user_id: Uuid, at: DateTime<Utc>, read: bool) {
    sqlx::query(
        "INSERT INTO notifications (id, user_id, type, category, title, body, created_at, read_at)
         VALUES ($1, $2, 'TASK_FAILED', 'TASKS', 'failed', 'it failed', $3,
                 CASE WHEN $4 THEN $3 END)",
    )
    .bind(Uuid::new_v4())
    .bind(user_id)
    .bind(at)
    .bind(read)
    .execute(db)
    .await
    .expect("insert a notification");
}

/// A small deterministic generator, so fixtures vary without being random.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number below `bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }

    /// One of the statuses.
    pub fn status(&mut self) -> &'static str {
        STATUSES[self.below(STATUSES.len() as u64) as usize]
    }
}

/// `runs` counted by status, as the API's `ExecutionCounts` object.
pub fn counts(runs: &[&Run]) -> Value {
    let n = |status: &str| runs.iter().filter(|r| r.status == status).count();
    json!({
        "total": runs.len(),
        "queued": n("QUEUED"),
        "running": n("RUNNING"),
        "succeeded": n("SUCCEEDED"),
        "failed": n("FAILED"),
        "dead": n("DEAD"),
        "cancelled": n("CANCELLED"),
        "timed_out": n("TIMED_OUT"),
    })
}

/// `succeeded / (succeeded + failures)`, or null.
pub fn success_rate(runs: &[&Run]) -> Value {
    let succeeded = runs.iter().filter(|r| r.status == "SUCCEEDED").count();
    let failures = runs.iter().filter(|r| r.failed()).count();
    if succeeded + failures == 0 {
        Value::Null
    } else {
        json!(succeeded as f64 / (succeeded + failures) as f64)
    }
}

/// The continuous percentile `p` (linear interpolation between the closest ranks), or
/// `None` without values.
pub fn percentile(values: &[i64], p: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let last = sorted.len().checked_sub(1)?;
    let position = p * last as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let (a, b) = (sorted[low] as f64, sorted[high] as f64);
    Some(a + (b - a) * (position - low as f64))
}

/// Asserts that a percentile object holds p50, p95 and p99 of `values`.
pub fn assert_percentiles(actual: &Value, values: &[i64], what: &str) {
    for (key, p) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
        assert_close(
            &actual[key],
            percentile(values, p),
            &format!("{what}.{key}"),
        );
    }
}

/// Asserts a JSON number (or null) equals `expected` within rounding.
pub fn assert_close(actual: &Value, expected: Option<f64>, what: &str) {
    match expected {
        None => assert!(actual.is_null(), "{what}: expected null, got {actual}"),
        Some(expected) => {
            let actual = actual
                .as_f64()
                .unwrap_or_else(|| panic!("{what}: expected {expected}, got {actual}"));
            assert!(
                (actual - expected).abs() < 1e-6,
                "{what}: expected {expected}, got {actual}"
            );
        }
    }
}
