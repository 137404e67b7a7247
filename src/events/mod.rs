//! The in-process bus of typed domain events.
//!
//! The engine and the task functions publish what happened (an execution was queued, started,
//! logged a line, finished or a slot was skipped; a task was created, changed or deleted);
//! the realtime gateway subscribes. Notifications publish what they stored for a user's sockets. Publishing never blocks and never
//! fails: the bus is a `tokio::sync::broadcast` channel, so a subscriber that falls behind
//! loses the oldest events (it sees `Lagged`) and never slows the engine down.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::{
    executions::model::{ExecutionStatus, LogLevel, SkipReason, TriggerKind},
    tasks::status::TaskStatus,
};

/// Events buffered per subscriber before the slowest one starts losing the oldest.
pub const DEFAULT_CAPACITY: usize = 4096;

/// One thing that happened, as subscribers see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", content = "data")]
pub enum DomainEvent {
    /// An execution row was inserted and waits for a worker.
    #[serde(rename = "execution.queued")]
    ExecutionQueued {
        /// The execution.
        execution_id: Uuid,
        /// Its task.
        task_id: Uuid,
        /// The schedule slot, for scheduled runs.
        scheduled_for: Option<DateTime<Utc>>,
        /// What created it.
        trigger: TriggerKind,
    },
    /// A worker claimed the execution and started its action.
    #[serde(rename = "execution.started")]
    ExecutionStarted {
        /// The execution.
        execution_id: Uuid,
        /// Its task.
        task_id: Uuid,
        /// 1 for the first try.
        attempt: i32,
        /// The instance running it.
        instance_id: String,
    },
    /// The action wrote a log line.
    #[serde(rename = "execution.log")]
    ExecutionLog {
        /// The execution.
        execution_id: Uuid,
        /// Its task.
        task_id: Uuid,
        /// Its severity.
        level: LogLevel,
        /// The line.
        message: String,
    },
    /// The execution reached a final state for this attempt.
    #[serde(rename = "execution.finished")]
    ExecutionFinished {
        /// The execution.
        execution_id: Uuid,
        /// Its task.
        task_id: Uuid,
        /// `SUCCEEDED`, `FAILED`, `DEAD`, `CANCELLED` or `TIMED_OUT`.
        status: ExecutionStatus,
        /// The attempt that finished.
        attempt: i32,
        /// The next attempt, when one was queued.
        retry_execution_id: Option<Uuid>,
    },
    /// A schedule slot did not run; the planned-run ledger has the row.
    #[serde(rename = "execution.skipped")]
    ExecutionSkipped {
        /// The task.
        task_id: Uuid,
        /// The slot.
        scheduled_for: DateTime<Utc>,
        /// Why.
        reason: SkipReason,
    },
    /// A task was created.
    #[serde(rename = "task.created")]
    TaskCreated {
        /// The task.
        task_id: Uuid,
        /// Its owner.
        owner_id: Uuid,
    },
    /// A task's definition changed.
    #[serde(rename = "task.updated")]
    TaskUpdated {
        /// The task.
        task_id: Uuid,
        /// Its owner.
        owner_id: Uuid,
    },
    /// A task was deleted.
    #[serde(rename = "task.deleted")]
    TaskDeleted {
        /// The task.
        task_id: Uuid,
        /// Its owner.
        owner_id: Uuid,
    },
    /// A task's status changed (by its owner or by the engine, e.g. auto-pause).
    #[serde(rename = "task.status_changed")]
    TaskStatusChanged {
        /// The task.
        task_id: Uuid,
        /// The status before.
        from: TaskStatus,
        /// The status now.
        to: TaskStatus,
        /// Why, when the engine decided it.
        reason: Option<String>,
    },
    /// A notification was stored for a user.
    #[serde(rename = "notification.created")]
    NotificationCreated {
        /// The notification.
        notification_id: Uuid,
        /// Its recipient.
        user_id: Uuid,
        /// Its type, e.g. `TASK_FAILED`.
        kind: String,
        /// The type's category, e.g. `TASKS`.
        category: String,
        /// Whether it is critical.
        critical: bool,
        /// One line.
        title: String,
        /// The text.
        body: String,
        /// Where in the app it leads.
        link: Option<String>,
        /// Details.
        data: serde_json::Value,
        /// When it was stored.
        created_at: DateTime<Utc>,
    },
    /// A user's count of unread notifications changed (or may have).
    #[serde(rename = "notification.unread_count")]
    UnreadCountChanged {
        /// The user.
        user_id: Uuid,
        /// Unread, not deleted notifications.
        count: i64,
    },
    /// A new HIGH or CRITICAL security alert was raised.
    #[serde(rename = "security_alert")]
    SecurityAlertRaised {
        /// The alert.
        alert_id: Uuid,
        /// Its rule, e.g. `PASSWORD_SPRAY`.
        rule: String,
        /// `HIGH` or `CRITICAL`.
        severity: String,
        /// Who or what it is about.
        subject: String,
        /// Occurrences when it was raised.
        count: i32,
        /// The first occurrence.
        first_seen: DateTime<Utc>,
    },
}

/// The bus; cheap to clone, every clone publishes to the same subscribers.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<DomainEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl EventBus {
    /// A bus keeping up to `capacity` events per subscriber.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        EventBus { sender }
    }

    /// Publishes an event; a bus without subscribers drops it.
    pub fn publish(&self, event: DomainEvent) {
        // The only error is "no subscribers", which is not a failure for the publisher.
        let _ = self.sender.send(event);
    }

    /// A new subscription, starting with the next published event.
    pub fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created() -> DomainEvent {
        DomainEvent::TaskCreated {
            task_id: Uuid::nil(),
            owner_id: Uuid::nil(),
        }
    }

    #[test]
    fn publishing_without_subscribers_is_fine() {
        EventBus::new(4).publish(created());
    }

    #[tokio::test]
    async fn a_lagging_subscriber_loses_old_events_without_blocking_the_publisher() {
        let bus = EventBus::new(2);
        let mut slow = bus.subscribe();
        for _ in 0..10 {
            bus.publish(created());
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(8))
        ));
        assert_eq!(slow.recv().await.ok(), Some(created()));
    }

    #[test]
    fn events_serialize_with_their_dotted_type() {
        let json = serde_json::to_value(created()).expect("serialize");
        assert_eq!(json["type"], "task.created");
        assert_eq!(json["data"]["task_id"], Uuid::nil().to_string());
    }
}
