//! Typed executions: their status, what triggered them, and the stored row.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::text_enum;

/// Severity of an execution log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogLevel {
    /// Detail.
    Debug,
    /// Progress.
    Info,
    /// Something unusual.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }
}

text_enum! {
    /// Why a planned slot did not produce an execution.
    pub enum SkipReason {
        /// The concurrency policy refused an overlapping run.
        SkippedConcurrency = "SKIPPED_CONCURRENCY",
        /// Missed during downtime and not run under the catch-up policy.
        OutsideCatchUp = "OUTSIDE_CATCH_UP",
        /// The task was paused (or stopped) at the time.
        Paused = "PAUSED",
        /// The slot falls after the schedule's `end_at`.
        AfterEnd = "AFTER_END",
        /// The task's owner's account was disabled or deleted at the time.
        OwnerInactive = "OWNER_INACTIVE",
        /// The owner already had `MAX_QUEUED_PER_OWNER` executions waiting.
        QueueFull = "QUEUE_FULL",
        /// The owner's plan's `executions_per_month` was used up.
        PlanLimit = "PLAN_LIMIT",
        /// A chained run would have been more than `CHAIN_MAX_DEPTH` links from its root.
        ChainDepth = "CHAIN_DEPTH",
        /// A chained run would have taken its root past `CHAIN_MAX_EXECUTIONS_PER_ROOT`
        /// executions.
        ChainBudget = "CHAIN_BUDGET",
    }
}

text_enum! {
    /// Where an execution is in its life.
    pub enum ExecutionStatus {
        /// Waiting for a worker (or for `run_after`).
        Queued = "QUEUED",
        /// A worker holds its lease and runs the action.
        Running = "RUNNING",
        /// The action succeeded.
        Succeeded = "SUCCEEDED",
        /// The attempt failed and a retry is queued.
        Failed = "FAILED",
        /// The last attempt failed: dead-lettered, retryable by hand.
        Dead = "DEAD",
        /// Cancelled before it finished.
        Cancelled = "CANCELLED",
        /// The attempt ran past the task's timeout.
        TimedOut = "TIMED_OUT",
    }
}

impl ExecutionStatus {
    /// Whether no worker will touch the execution again.
    pub fn is_final(self) -> bool {
        !matches!(self, ExecutionStatus::Queued | ExecutionStatus::Running)
    }
}

text_enum! {
    /// What created an execution.
    pub enum TriggerKind {
        /// A schedule slot.
        Schedule = "SCHEDULE",
        /// A person, from the dashboard.
        Manual = "MANUAL",
        /// An API client.
        Api = "API",
        /// An inbound webhook.
        Webhook = "WEBHOOK",
        /// An inbound email.
        Email = "EMAIL",
        /// Another task's execution finished.
        Chain = "CHAIN",
        /// A Notion webhook event.
        Notion = "NOTION",
        /// A retry of a failed attempt.
        Retry = "RETRY",
    }
}

/// A stored execution.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Execution {
    /// UUID v7.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// What created it.
    pub trigger_kind: TriggerKind,
    /// The schedule slot, for scheduled runs.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Where it is.
    pub status: ExecutionStatus,
    /// 1 for the first try.
    pub attempt: i32,
    /// The attempt this one retries.
    pub retry_of: Option<Uuid>,
    /// Not claimed before this.
    pub run_after: DateTime<Utc>,
    /// Inserted.
    pub queued_at: DateTime<Utc>,
    /// Claimed by a worker.
    pub started_at: Option<DateTime<Utc>>,
    /// Reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// Wall time of the attempt.
    pub duration_ms: Option<i64>,
    /// How long after it was due (`run_after`) a worker started it.
    pub lateness_ms: Option<i64>,
    /// The instance that ran (or runs) it.
    pub instance_id: Option<String>,
    /// The claim holds until this, unless renewed.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The trigger's input.
    pub input: serde_json::Value,
    /// What the action produced.
    pub outcome: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// The caller's idempotency key, for API triggers.
    pub idempotency_key: Option<String>,
    /// The execution that started this one's chain; `null` on a root (an execution not
    /// started by a chain, or a retry of one). Retries keep their attempt's root.
    pub root_execution_id: Option<Uuid>,
    /// Chain links from the root: 0 on a root, the source's depth + 1 on a chained
    /// execution; retries keep their attempt's depth.
    pub chain_depth: i32,
    /// 0 (lowest) to 9: the task's, unless the run was started with another.
    pub priority: i16,
}
