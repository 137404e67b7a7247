//! The PostgreSQL `NOTIFY` channels instances wake each other with.

/// `NOTIFY` channel: a task was created or changed; dispatchers re-read the earliest slot.
pub const TASKS_CHANGED: &str = "nocron_tasks_changed";
/// `NOTIFY` channel: executions were queued; idle workers claim.
pub const EXECUTIONS_QUEUED: &str = "nocron_executions_queued";
/// `NOTIFY` channel: outbox records were added; notification consumers claim them.
pub const OUTBOX: &str = "nocron_outbox";
/// `NOTIFY` channel: notification deliveries were queued; delivery workers claim them.
pub const NOTIFICATION_DELIVERIES: &str = "nocron_notification_deliveries";
/// `NOTIFY` channel: the payload is an execution id whose cancellation was requested.
pub const EXECUTION_CANCEL: &str = "nocron_execution_cancel";
/// `NOTIFY` channel (sent by a trigger on `sessions`): the payload is a session id whose
/// revocation, owner or expiry changed, or that was deleted.
pub const ACCESS_SESSIONS: &str = "nocron_access_sessions";
/// `NOTIFY` channel (sent by a trigger on `users`): the payload is a user id whose role,
/// status or token version changed, or who was deleted.
pub const ACCESS_USERS: &str = "nocron_access_users";
