//! The realtime event catalogue: every Socket.IO event the gateway sends, with its versioned
//! payload shape.
//!
//! Each payload carries `v`, the version of its shape. A change that removes or retypes a field
//! bumps `v` (and is announced in `docs/REALTIME.md`); adding an optional field does not. The
//! schemas are published in the OpenAPI components (see [`EventSchemas`]) even though no HTTP
//! path returns them, so clients can generate types from the one spec.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{ToSchema, openapi::OpenApi};
use uuid::Uuid;

/// The current version of every payload shape in this catalogue.
pub const PAYLOAD_VERSION: u32 = 1;

/// Event names, exactly as clients subscribe to them with `socket.on(name, …)`.
pub mod names {
    /// An execution was inserted and waits for a worker.
    pub const EXECUTION_QUEUED: &str = "execution.queued";
    /// A worker claimed an execution and started its action.
    pub const EXECUTION_STARTED: &str = "execution.started";
    /// A log line written while an execution runs.
    pub const EXECUTION_LOG: &str = "execution.log";
    /// An execution reached a final (or retry-pending) status.
    pub const EXECUTION_FINISHED: &str = "execution.finished";
    /// A planned run did not happen; the ledger entry says why.
    pub const EXECUTION_SKIPPED: &str = "execution.skipped";
    /// A task was created.
    pub const TASK_CREATED: &str = "task.created";
    /// A task's definition changed.
    pub const TASK_UPDATED: &str = "task.updated";
    /// A task was deleted.
    pub const TASK_DELETED: &str = "task.deleted";
    /// A task moved between ACTIVE, PAUSED, STOPPED and FAILED.
    pub const TASK_STATUS_CHANGED: &str = "task.status_changed";
    /// A notification for the user was created.
    pub const NOTIFICATION_CREATED: &str = "notification.created";
    /// A security or operations alert was raised.
    pub const ALERT_CREATED: &str = "alert.created";
    /// Live execution metrics for dashboards (system-wide, or one user's own).
    pub const DASHBOARD_METRICS: &str = "dashboard.metrics";
    /// Sent just before the server disconnects a socket whose credentials expired.
    pub const SESSION_EXPIRED: &str = "session.expired";
    /// A notification for the user was stored (the in-app channel).
    pub const NOTIFICATION: &str = "notification";
    /// The user's count of unread notifications.
    pub const UNREAD_COUNT: &str = "unread_count";
    /// A new HIGH or CRITICAL security alert (the `admin` room).
    pub const SECURITY_ALERT: &str = "security_alert";

    /// Names outside the dotted namespaces: the notification centre's two events, named as
    /// clients of notification services expect them, and the admin console's alert.
    pub const UNDOTTED: [&str; 3] = [NOTIFICATION, UNREAD_COUNT, SECURITY_ALERT];

    /// Every event name in the catalogue.
    pub const ALL: [&str; 16] = [
        EXECUTION_QUEUED,
        EXECUTION_STARTED,
        EXECUTION_LOG,
        EXECUTION_FINISHED,
        EXECUTION_SKIPPED,
        TASK_CREATED,
        TASK_UPDATED,
        TASK_DELETED,
        TASK_STATUS_CHANGED,
        NOTIFICATION_CREATED,
        ALERT_CREATED,
        DASHBOARD_METRICS,
        SESSION_EXPIRED,
        NOTIFICATION,
        UNREAD_COUNT,
        SECURITY_ALERT,
    ];
}

/// `execution.queued`: an execution row was inserted (`QUEUED`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionQueued {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The execution.
    pub execution_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// What started it: `SCHEDULE`, `MANUAL`, `API`, `WEBHOOK`, `EMAIL`, `CHAIN`, `RETRY`.
    #[schema(value_type = crate::executions::model::TriggerKind, example = "SCHEDULE")]
    pub trigger: String,
    /// The schedule slot it fills, for scheduled runs.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
}

/// `execution.started`: a worker claimed the execution (`RUNNING`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionStarted {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The execution.
    pub execution_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// Attempt number, from 1.
    #[schema(example = 1)]
    pub attempt: i32,
    /// When the action started.
    pub started_at: DateTime<Utc>,
    /// The Nocron instance running it.
    #[schema(example = "web-1-4242-a1b2c3")]
    pub instance_id: String,
}

/// `execution.log`: one structured log line of a running execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionLog {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The execution.
    pub execution_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// Position of the line within the execution, from 1; gaps mean lines were dropped.
    #[schema(example = 3)]
    pub seq: i64,
    /// When the line was written.
    pub at: DateTime<Utc>,
    /// `DEBUG`, `INFO`, `WARN` or `ERROR`.
    #[schema(example = "INFO")]
    pub level: String,
    /// The message.
    #[schema(example = "GET https://api.example.com/report -> 200 in 142 ms")]
    pub message: String,
}

/// What an execution produced, in brief (the full outcome is at `GET /executions/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OutcomeSummary {
    /// The HTTP status the action received, for HTTP actions.
    #[schema(example = 200)]
    pub http_status: Option<u16>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Whether another attempt is queued.
    pub will_retry: bool,
    /// The execution of the next attempt, if any.
    pub retry_execution_id: Option<Uuid>,
}

/// `execution.finished`: the attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionFinished {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The execution.
    pub execution_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// `SUCCEEDED`, `FAILED` (will retry), `DEAD`, `CANCELLED` or `TIMED_OUT`.
    #[schema(value_type = crate::executions::model::ExecutionStatus, example = "SUCCEEDED")]
    pub status: String,
    /// Attempt number, from 1.
    #[schema(example = 1)]
    pub attempt: i32,
    /// When the action started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Run time in milliseconds.
    #[schema(example = 142)]
    pub duration_ms: Option<i64>,
    /// The outcome in brief.
    pub summary: OutcomeSummary,
}

/// `execution.skipped`: a planned run that did not happen (a ledger entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionSkipped {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The task.
    pub task_id: Uuid,
    /// The slot that did not run.
    pub scheduled_for: DateTime<Utc>,
    /// Why: `SKIPPED_CONCURRENCY`, `OUTSIDE_CATCH_UP`, `PAUSED`, `AFTER_END`,
    /// `OWNER_INACTIVE`, `QUEUE_FULL`, `CHAIN_DEPTH`, `CHAIN_BUDGET` (for chain entries the
    /// slot is when the source execution finished).
    #[schema(value_type = crate::executions::model::SkipReason, example = "SKIPPED_CONCURRENCY")]
    pub reason: String,
    /// When the skip was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// `task.created` and `task.updated`: the task as it now is, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskChanged {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The task.
    pub task_id: Uuid,
    /// Its name.
    #[schema(example = "Nightly report")]
    pub name: String,
    /// `ACTIVE`, `PAUSED`, `STOPPED` or `FAILED`.
    #[schema(value_type = crate::tasks::model::TaskStatus, example = "ACTIVE")]
    pub status: String,
    /// The next scheduled run, if any.
    pub next_run_at: Option<DateTime<Utc>>,
    /// When the change happened.
    pub at: DateTime<Utc>,
}

/// `task.deleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskDeleted {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The task that no longer exists.
    pub task_id: Uuid,
    /// When it was deleted.
    pub at: DateTime<Utc>,
}

/// `task.status_changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskStatusChanged {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The task.
    pub task_id: Uuid,
    /// The previous status.
    #[schema(value_type = crate::tasks::model::TaskStatus, example = "ACTIVE")]
    pub from: String,
    /// The new status.
    #[schema(value_type = crate::tasks::model::TaskStatus, example = "FAILED")]
    pub to: String,
    /// Why, when the system changed it (e.g. `auto_pause_after_failures`).
    pub reason: Option<String>,
    /// When it changed.
    pub at: DateTime<Utc>,
}

/// `notification.created`: a notification addressed to the user. Reserved: nothing sends it
/// until the notifications module exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationCreated {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The notification.
    pub notification_id: Uuid,
    /// Its kind, e.g. `EXECUTION_FAILED`.
    #[schema(example = "EXECUTION_FAILED")]
    pub kind: String,
    /// A one-line title.
    pub title: String,
    /// The text.
    pub body: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// `notification`: a notification stored for the user (`user:{recipient}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationPush {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The notification.
    pub id: Uuid,
    /// Its type, e.g. `TASK_FAILED`.
    #[serde(rename = "type")]
    #[schema(value_type = crate::notifications::model::NotificationType, example = "TASK_FAILED")]
    pub kind: String,
    /// The type's category, e.g. `TASKS`.
    #[schema(value_type = crate::notifications::model::NotificationCategory, example = "TASKS")]
    pub category: String,
    /// Whether it is critical.
    pub critical: bool,
    /// One line.
    pub title: String,
    /// The text.
    pub body: String,
    /// Where in the app it leads.
    pub link: Option<String>,
    /// Details (task, execution, status, …).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// `unread_count`: the user's unread notifications, after each change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnreadCountPush {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// Unread, not deleted notifications.
    pub count: i64,
}

/// `security_alert`: a new HIGH or CRITICAL security alert, sent to the `admin` room (which
/// admins join when they connect). `GET /admin/security-alerts/{alert_id}` has the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecurityAlertPush {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The alert.
    pub alert_id: Uuid,
    /// The rule, e.g. `PASSWORD_SPRAY`.
    #[schema(example = "PASSWORD_SPRAY")]
    pub rule: String,
    /// `HIGH` or `CRITICAL`.
    #[schema(example = "HIGH")]
    pub severity: String,
    /// Who or what it is about (an address, an email, a user or key id).
    pub subject: String,
    /// Occurrences when it was raised.
    pub count: i32,
    /// The first occurrence.
    pub first_seen: DateTime<Utc>,
}

/// `alert.created`: a security or operations alert (admin room). Reserved: security alerts
/// are sent as `security_alert`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertCreated {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// The alert.
    pub alert_id: Uuid,
    /// `INFO`, `WARNING` or `CRITICAL`.
    #[schema(example = "WARNING")]
    pub severity: String,
    /// What was detected, e.g. `BRUTE_FORCE`.
    #[schema(example = "BRUTE_FORCE")]
    pub kind: String,
    /// A human-readable description.
    pub message: String,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
}

/// `dashboard.metrics`: live execution numbers, the figures of `GET /dashboard/metrics`.
/// System-wide in the `dashboard` room (administrators), one user's own in
/// `dashboard:{user_id}`; computed once per instance per tick and pushed when they change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DashboardMetrics {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// When the numbers were taken.
    pub at: DateTime<Utc>,
    /// `system` for every user's executions, `user` for the caller's own.
    #[schema(value_type = crate::dashboard::scope::DashboardScope, example = "user")]
    pub scope: String,
    /// Executions running now.
    pub running: i64,
    /// Executions waiting for a worker.
    pub queued: i64,
    /// Executions that succeeded in the last hour.
    pub succeeded_last_hour: i64,
    /// Executions that failed (any failed final status) in the last hour.
    pub failed_last_hour: i64,
    /// 95th percentile run time of executions finished in the last hour, in milliseconds.
    pub p95_duration_ms: Option<f64>,
    /// How late queued scheduled executions are: now − the oldest `scheduled_for` still
    /// queued, in milliseconds (0 when none is late).
    pub scheduler_lag_ms: Option<f64>,
    /// Executions that ended (any final status) in the last 5 minutes.
    pub finished_last_5m: i64,
    /// `finished_last_5m` per minute.
    pub throughput_per_minute: f64,
    /// 99th percentile start lateness (how long after it was due a worker started it) of
    /// executions started in the last hour, in milliseconds.
    pub p99_lateness_ms: Option<f64>,
    /// The last hour minute by minute (60 points, oldest first; the last is the current,
    /// partial minute).
    pub per_minute: Vec<MinuteFigures>,
}

/// Executions that ended in one minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MinuteFigures {
    /// The minute's start.
    pub minute: DateTime<Utc>,
    /// Executions that ended in it (any final status).
    pub finished: i64,
    /// Those that succeeded.
    pub succeeded: i64,
    /// Those that failed (`FAILED`, `DEAD`, `TIMED_OUT`).
    pub failed: i64,
}

/// `session.expired`: sent right before the server disconnects a socket at its token's expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionExpired {
    /// Payload version (1).
    #[schema(example = 1)]
    pub v: u32,
    /// When the credentials expired.
    pub expired_at: DateTime<Utc>,
}

/// The body of a `subscribe` or `unsubscribe` event: a room name, bare or in an object.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SubscribeRequest {
    /// `"task:7f1c…"`.
    Name(String),
    /// `{"room": "task:7f1c…"}`.
    Object {
        /// The room.
        room: String,
    },
}

impl SubscribeRequest {
    /// The requested room name.
    pub fn room(&self) -> &str {
        match self {
            SubscribeRequest::Name(room) | SubscribeRequest::Object { room } => room,
        }
    }
}

/// The acknowledgement of `subscribe`/`unsubscribe`: `{"ok": true}` or `{"error": "…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SubscribeAck {
    /// Done.
    Ok {
        /// Always `true`.
        ok: bool,
    },
    /// Refused; the message says why.
    Error {
        /// Why.
        error: String,
    },
}

impl SubscribeAck {
    /// `{"ok": true}`.
    pub fn ok() -> Self {
        SubscribeAck::Ok { ok: true }
    }

    /// `{"error": message}`.
    pub fn error(message: impl Into<String>) -> Self {
        SubscribeAck::Error {
            error: message.into(),
        }
    }
}

/// Adds every catalogue schema to the OpenAPI components.
pub struct EventSchemas;

impl utoipa::Modify for EventSchemas {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let schemas = [
            schema::<ExecutionQueued>(),
            schema::<ExecutionStarted>(),
            schema::<ExecutionLog>(),
            schema::<OutcomeSummary>(),
            schema::<ExecutionFinished>(),
            schema::<ExecutionSkipped>(),
            schema::<TaskChanged>(),
            schema::<TaskDeleted>(),
            schema::<TaskStatusChanged>(),
            schema::<NotificationCreated>(),
            schema::<NotificationPush>(),
            schema::<UnreadCountPush>(),
            schema::<AlertCreated>(),
            schema::<SecurityAlertPush>(),
            schema::<DashboardMetrics>(),
            schema::<MinuteFigures>(),
            schema::<SessionExpired>(),
            schema::<SubscribeRequest>(),
            schema::<SubscribeAck>(),
        ];
        for (name, schema) in schemas {
            components.schemas.insert(name, schema);
        }
    }
}

fn schema<T: ToSchema>() -> (
    String,
    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
) {
    (T::name().into_owned(), T::schema())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_have_the_documented_shapes() {
        assert_eq!(
            serde_json::to_value(SubscribeAck::ok()).expect("json"),
            serde_json::json!({"ok": true})
        );
        assert_eq!(
            serde_json::to_value(SubscribeAck::error("no")).expect("json"),
            serde_json::json!({"error": "no"})
        );
    }

    #[test]
    fn subscribe_accepts_a_name_or_an_object() {
        let bare: SubscribeRequest = serde_json::from_str("\"admin\"").expect("bare");
        let object: SubscribeRequest = serde_json::from_str(r#"{"room":"admin"}"#).expect("obj");
        assert_eq!(bare.room(), "admin");
        assert_eq!(object.room(), "admin");
        assert!(serde_json::from_str::<SubscribeRequest>("42").is_err());
    }

    #[test]
    fn event_names_are_unique_and_dotted() {
        let mut seen = std::collections::HashSet::new();
        for name in names::ALL {
            assert!(seen.insert(name), "{name} twice");
            assert!(
                name.contains('.') || names::UNDOTTED.contains(&name),
                "{name} is namespaced"
            );
        }
    }
}
