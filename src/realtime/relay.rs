//! The relay from the domain-event bus to the gateway: which rooms each event goes to, and
//! the catalogue payload it becomes.
//!
//! Execution and task events go to the task's owner (`user:{owner}`), the task's room and
//! `admin`; notifications and unread counts only to their recipient's room; log lines only
//! to the task's room (they are many, and only a task view shows
//! them). A task's owner never changes, so it is cached after one lookup. Details the bus does
//! not carry (a finished execution's duration and error, a task's name) are read through the
//! scheduler's and the tasks module's own functions.

use std::{collections::HashMap, time::Duration};

use chrono::Utc;
use moka::future::Cache;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::{
    Emit, RealtimeState,
    events::{self, PAYLOAD_VERSION, names},
    rooms::{ADMIN, Room},
};
use crate::{events::DomainEvent, executions::control, tasks};

/// Relays bus events to the gateway until shutdown.
pub(super) async fn relay(state: RealtimeState) {
    let mut bus = state.events.subscribe();
    let mut relay = Relay {
        owners: Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(3600))
            .build(),
        log_lines: HashMap::new(),
        state,
    };
    loop {
        let event = tokio::select! {
            _ = relay.state.shutdown.cancelled() => break,
            event = bus.recv() => event,
        };
        match event {
            Ok(event) => {
                if let Some(emit) = relay.emit_for(event).await {
                    relay.state.realtime.emit(emit);
                }
            }
            Err(RecvError::Lagged(missed)) => {
                metrics::counter!("realtime_events_lagged_total").increment(missed);
            }
            Err(RecvError::Closed) => break,
        }
    }
}

struct Relay {
    state: RealtimeState,
    owners: Cache<Uuid, Uuid>,
    /// Lines relayed per running execution, for `seq`.
    log_lines: HashMap<Uuid, i64>,
}

impl Relay {
    async fn owner_of(&self, task_id: Uuid) -> Option<Uuid> {
        if let Some(owner) = self.owners.get(&task_id).await {
            return Some(owner);
        }
        let task = self.load_task(task_id).await?;
        self.owners.insert(task_id, task.owner_id).await;
        Some(task.owner_id)
    }

    async fn load_task(&self, task_id: Uuid) -> Option<tasks::model::Task> {
        let mut conn = self.state.db.acquire().await.ok()?;
        tasks::db::load_task(&mut conn, task_id).await.ok()?
    }

    /// `task:{id}`, `admin` and `user:{owner}`.
    async fn audience(&self, task_id: Uuid) -> Vec<String> {
        audience(task_id, self.owner_of(task_id).await)
    }

    async fn emit_for(&mut self, event: DomainEvent) -> Option<Emit> {
        let now = Utc::now();
        let (name, payload, rooms) = match event {
            DomainEvent::ExecutionQueued {
                execution_id,
                task_id,
                scheduled_for,
                trigger,
            } => (
                names::EXECUTION_QUEUED,
                json(events::ExecutionQueued {
                    v: PAYLOAD_VERSION,
                    execution_id,
                    task_id,
                    trigger: trigger.as_str().to_owned(),
                    scheduled_for,
                    queued_at: now,
                })?,
                self.audience(task_id).await,
            ),
            DomainEvent::ExecutionStarted {
                execution_id,
                task_id,
                attempt,
                instance_id,
            } => (
                names::EXECUTION_STARTED,
                json(events::ExecutionStarted {
                    v: PAYLOAD_VERSION,
                    execution_id,
                    task_id,
                    attempt,
                    started_at: now,
                    instance_id,
                })?,
                self.audience(task_id).await,
            ),
            DomainEvent::ExecutionLog {
                execution_id,
                task_id,
                level,
                message,
            } => {
                let seq = self.log_lines.entry(execution_id).or_insert(0);
                *seq += 1;
                (
                    names::EXECUTION_LOG,
                    json(events::ExecutionLog {
                        v: PAYLOAD_VERSION,
                        execution_id,
                        task_id,
                        seq: *seq,
                        at: now,
                        level: level.as_str().to_owned(),
                        message,
                    })?,
                    vec![Room::task(task_id)],
                )
            }
            DomainEvent::ExecutionFinished {
                execution_id,
                task_id,
                status,
                attempt,
                retry_execution_id,
            } => {
                self.log_lines.remove(&execution_id);
                let owner = self.owner_of(task_id).await;
                let stored = match owner {
                    Some(owner) => control::load_execution(&self.state.engine, execution_id, owner)
                        .await
                        .ok()
                        .flatten(),
                    None => None,
                };
                let http_status = stored
                    .as_ref()
                    .and_then(|e| e.outcome.as_ref())
                    .and_then(|o| o.get("status"))
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok());
                (
                    names::EXECUTION_FINISHED,
                    json(events::ExecutionFinished {
                        v: PAYLOAD_VERSION,
                        execution_id,
                        task_id,
                        status: status.as_str().to_owned(),
                        attempt,
                        started_at: stored.as_ref().and_then(|e| e.started_at),
                        finished_at: stored.as_ref().and_then(|e| e.finished_at).unwrap_or(now),
                        duration_ms: stored.as_ref().and_then(|e| e.duration_ms),
                        summary: events::OutcomeSummary {
                            http_status,
                            error: stored.as_ref().and_then(|e| e.error.clone()),
                            will_retry: retry_execution_id.is_some(),
                            retry_execution_id,
                        },
                    })?,
                    self.audience(task_id).await,
                )
            }
            DomainEvent::ExecutionSkipped {
                task_id,
                scheduled_for,
                reason,
            } => (
                names::EXECUTION_SKIPPED,
                json(events::ExecutionSkipped {
                    v: PAYLOAD_VERSION,
                    task_id,
                    scheduled_for,
                    reason: reason.as_str().to_owned(),
                    recorded_at: now,
                })?,
                self.audience(task_id).await,
            ),
            DomainEvent::TaskCreated { task_id, owner_id } => {
                self.task_changed(names::TASK_CREATED, task_id, owner_id)
                    .await?
            }
            DomainEvent::TaskUpdated { task_id, owner_id } => {
                self.task_changed(names::TASK_UPDATED, task_id, owner_id)
                    .await?
            }
            DomainEvent::TaskDeleted { task_id, owner_id } => (
                names::TASK_DELETED,
                json(events::TaskDeleted {
                    v: PAYLOAD_VERSION,
                    task_id,
                    at: now,
                })?,
                audience(task_id, Some(owner_id)),
            ),
            DomainEvent::TaskStatusChanged {
                task_id,
                from,
                to,
                reason,
            } => (
                names::TASK_STATUS_CHANGED,
                json(events::TaskStatusChanged {
                    v: PAYLOAD_VERSION,
                    task_id,
                    from: from.as_str().to_owned(),
                    to: to.as_str().to_owned(),
                    reason,
                    at: now,
                })?,
                self.audience(task_id).await,
            ),
            DomainEvent::NotificationCreated {
                notification_id,
                user_id,
                kind,
                category,
                critical,
                title,
                body,
                link,
                data,
                created_at,
            } => (
                names::NOTIFICATION,
                json(events::NotificationPush {
                    v: PAYLOAD_VERSION,
                    id: notification_id,
                    kind,
                    category,
                    critical,
                    title,
                    body,
                    link,
                    data,
                    created_at,
                })?,
                vec![Room::user(user_id)],
            ),
            DomainEvent::UnreadCountChanged { user_id, count } => (
                names::UNREAD_COUNT,
                json(events::UnreadCountPush {
                    v: PAYLOAD_VERSION,
                    count,
                })?,
                vec![Room::user(user_id)],
            ),
            DomainEvent::SecurityAlertRaised {
                alert_id,
                rule,
                severity,
                subject,
                count,
                first_seen,
            } => (
                names::SECURITY_ALERT,
                json(events::SecurityAlertPush {
                    v: PAYLOAD_VERSION,
                    alert_id,
                    rule,
                    severity,
                    subject,
                    count,
                    first_seen,
                })?,
                vec![ADMIN.to_owned()],
            ),
        };
        Some(Emit {
            rooms,
            event: name.into(),
            payload,
        })
    }
}

impl Relay {
    async fn task_changed(
        &self,
        name: &'static str,
        task_id: Uuid,
        owner_id: Uuid,
    ) -> Option<(&'static str, serde_json::Value, Vec<String>)> {
        self.owners.insert(task_id, owner_id).await;
        let task = self.load_task(task_id).await?;
        let payload = json(events::TaskChanged {
            v: PAYLOAD_VERSION,
            task_id,
            name: task.name,
            status: task.status.to_string(),
            next_run_at: task.next_run_at,
            at: Utc::now(),
        })?;
        let rooms = audience(task_id, Some(owner_id));
        Some((name, payload, rooms))
    }
}

/// The rooms a task's events go to. The owner's room, usually the largest (every tab and
/// device of the user), comes last: the gateway sends each room's members what the rooms
/// before it did not reach, so the exclusion set it builds stays as small as the rooms before.
fn audience(task_id: Uuid, owner: Option<Uuid>) -> Vec<String> {
    let mut rooms = vec![Room::task(task_id), ADMIN.to_owned()];
    if let Some(owner) = owner {
        rooms.push(Room::user(owner));
    }
    rooms
}

fn json(payload: impl serde::Serialize) -> Option<serde_json::Value> {
    serde_json::to_value(payload).ok()
}
