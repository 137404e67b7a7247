//! The audit trail: one event per HTTP request (and per refused Socket.IO handshake), with
//! its actor, a dotted action, its class and outcome, targets, client and redacted bodies.
//!
//! - [`layer`]: the middleware that builds each event after the response and queues it;
//! - [`writer`]: the bounded queue (requests wait when it is full) and the batch writer,
//!   flushed when the server stops;
//! - [`chain`]: the hash chain (sealer, verification, retention purge with an anchor);
//! - [`routes`] and [`export`]: reading, for admins and for each user's own history;
//! - [`classify`] and [`redact`]: naming requests and hiding credentials.
//!
//! The actor comes from [`crate::auth::actor_slot`], filled by the caller extractors.

pub mod chain;
pub mod classify;
pub mod export;
pub mod layer;
pub mod model;
pub mod redact;
pub mod routes;
pub mod writer;

use chrono::Utc;
use sqlx::PgPool;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

pub use model::{ActionClass, ActorType, AuditEvent, AuditEventId, Outcome, system_event};
pub use writer::AuditSink;

use crate::{
    config::AuditSettings,
    realtime::identity::RefusedHandshake,
    system_jobs::{JobContext, SystemJob},
};

/// The running audit pipeline, held by the application (not by its state, so the queue's
/// senders go away with the server).
#[derive(Debug)]
pub struct AuditPipeline {
    /// Where requests queue their events.
    pub sink: AuditSink,
    server_stopped: CancellationToken,
}

impl AuditPipeline {
    /// Starts the writer and the sealer on `tasks`; each written batch is then handed to
    /// `observer` (security alerts) when given.
    pub fn start(
        db: &PgPool,
        settings: &AuditSettings,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
        observer: Option<writer::Observer>,
    ) -> Self {
        let (sink, receiver) = writer::channel(settings.queue_capacity);
        let server_stopped = CancellationToken::new();
        writer::start(
            db.clone(),
            receiver,
            server_stopped.clone(),
            tasks,
            observer,
        );
        chain::start_sealer(db.clone(), settings.seal_interval, shutdown.clone(), tasks);
        AuditPipeline {
            sink,
            server_stopped,
        }
    }

    /// Tells the writer the server has stopped: it writes what is queued and ends.
    pub fn server_stopped(&self) {
        self.server_stopped.cancel();
    }
}

/// The event of a refused Socket.IO handshake: `realtime.connect.failed`, `SECURITY`, 401.
pub fn refused_handshake_event(refused: RefusedHandshake) -> AuditEvent {
    AuditEvent {
        id: Uuid::now_v7(),
        occurred_at: Utc::now(),
        transaction_id: refused.transaction_id,
        actor_type: ActorType::Anonymous,
        actor_id: None,
        api_key_id: None,
        action: "realtime.connect.failed".to_owned(),
        action_class: ActionClass::Security,
        critical: false,
        method: "WS".to_owned(),
        route: Some("/socket.io".to_owned()),
        path: refused.path,
        status: 401,
        outcome: Outcome::Denied,
        targets: Vec::new(),
        ip: refused.ip,
        user_agent: refused.user_agent,
        latency_ms: 0,
        request_body: None,
        response_body: Some(serde_json::json!({ "reason": refused.reason })),
    }
}

/// The retention purge (`AUDIT_RETENTION_DAYS`), daily at 03:17 UTC, itself recorded as a
/// `SYSTEM` event.
pub fn system_jobs() -> Vec<SystemJob> {
    vec![SystemJob::new(
        "audit-retention",
        "0 17 3 * * *",
        |state: JobContext| async move {
            let days = state.settings.audit.retention_days;
            let deleted = chain::purge_expired(&state.db, days).await?;
            if deleted > 0 {
                tracing::info!(deleted, days, "purged expired audit events");
                writer::insert(&state.db, &[purge_event(deleted, days)]).await?;
            }
            Ok(())
        },
    )]
}

fn purge_event(deleted: u64, days: u32) -> AuditEvent {
    system_event(
        "audit.retention.purge",
        ActionClass::Delete,
        false,
        "audit_events",
        Vec::new(),
        serde_json::json!({ "deleted": deleted, "retention_days": days }),
    )
}
