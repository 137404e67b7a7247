//! The audit queue and its writer. Requests hand their event to a bounded queue
//! ([`AuditSink::record`]); when the queue is full the request waits, so nothing is dropped.
//! One writer task takes what is queued in batches and inserts each batch with one
//! `INSERT … SELECT FROM UNNEST`; when the database fails it keeps the batch, backs off and
//! tries again. When the server has stopped ([`start`]'s `server_stopped`), it writes what is
//! left and ends, within the shutdown grace period.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use super::model::AuditEvent;

/// Events inserted per statement at most.
const BATCH: usize = 500;
/// First pause after a failed insert; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Where written batches go next (security alerts evaluate them); the writer waits while
/// it is full, so no written event is skipped.
pub type Observer = mpsc::Sender<Vec<AuditEvent>>;

/// Where events are queued. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditSink {
    sender: mpsc::Sender<AuditEvent>,
}

impl AuditSink {
    /// Queues an event, waiting while the queue is full. After the writer has ended (the
    /// server stopped) the event is logged and dropped.
    pub async fn record(&self, event: AuditEvent) {
        if let Err(err) = self.sender.send(event).await {
            tracing::warn!(action = %err.0.action, transaction_id = %err.0.transaction_id,
                "the audit writer has stopped; an event was not recorded");
        }
    }
}

/// A queue holding up to `capacity` events, and its receiving end for [`start`].
pub fn channel(capacity: usize) -> (AuditSink, mpsc::Receiver<AuditEvent>) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    (AuditSink { sender }, receiver)
}

/// Starts the writer on `tasks`. It ends when every sink is gone, or once `server_stopped`
/// is cancelled and the queue is empty.
pub fn start(
    db: PgPool,
    receiver: mpsc::Receiver<AuditEvent>,
    server_stopped: CancellationToken,
    tasks: &TaskTracker,
    observer: Option<Observer>,
) {
    tasks.spawn(run(db, receiver, server_stopped, observer));
}

async fn run(
    db: PgPool,
    mut receiver: mpsc::Receiver<AuditEvent>,
    server_stopped: CancellationToken,
    mut observer: Option<Observer>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            biased;
            received = receiver.recv_many(&mut batch, BATCH) => {
                if received == 0 {
                    break;
                }
            }
            _ = server_stopped.cancelled() => {
                while batch.len() < BATCH {
                    match receiver.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                if batch.is_empty() {
                    break;
                }
            }
        }
        write_until_done(&db, &batch).await;
        match &observer {
            // Handed over whole (no copy); the observer gone, the writer goes on alone.
            Some(next) => {
                let written = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if next.send(written).await.is_err() {
                    observer = None;
                }
            }
            None => batch.clear(),
        }
    }
    tracing::debug!("the audit writer stopped");
}

/// Inserts `batch`, trying again with backoff until the database takes it.
async fn write_until_done(db: &PgPool, batch: &[AuditEvent]) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match insert(db, batch).await {
            Ok(()) => return,
            Err(err) => {
                metrics::counter!("audit_write_failures_total").increment(1);
                tracing::warn!(error = %err, events = batch.len(), retry_in_ms = backoff.as_millis() as u64,
                    "writing audit events failed; keeping them and trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Inserts a batch in one statement, in queue order (so `seq` follows it). Absent values
/// travel as sentinels (`''`, the nil UUID, JSON `null`) because arrays of the statement are
/// not nullable. An event already stored (a retry after a lost commit reply) is skipped.
/// `db` may be a transaction, so a system action is recorded with its effects.
pub async fn insert<'e>(
    db: impl sqlx::PgExecutor<'e>,
    batch: &[AuditEvent],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = batch.iter().map(|e| e.id).collect();
    let occurred: Vec<DateTime<Utc>> = batch.iter().map(|e| e.occurred_at).collect();
    let transactions: Vec<String> = batch.iter().map(|e| e.transaction_id.clone()).collect();
    let actor_types: Vec<String> = batch.iter().map(|e| e.actor_type.as_str().into()).collect();
    let actors: Vec<Uuid> = batch
        .iter()
        .map(|e| e.actor_id.unwrap_or_else(Uuid::nil))
        .collect();
    let keys: Vec<Uuid> = batch
        .iter()
        .map(|e| e.api_key_id.unwrap_or_else(Uuid::nil))
        .collect();
    let actions: Vec<String> = batch.iter().map(|e| e.action.clone()).collect();
    let classes: Vec<String> = batch
        .iter()
        .map(|e| e.action_class.as_str().into())
        .collect();
    let critical: Vec<bool> = batch.iter().map(|e| e.critical).collect();
    let methods: Vec<String> = batch.iter().map(|e| e.method.clone()).collect();
    let routes: Vec<String> = batch
        .iter()
        .map(|e| e.route.clone().unwrap_or_default())
        .collect();
    let paths: Vec<String> = batch.iter().map(|e| e.path.clone()).collect();
    let statuses: Vec<i32> = batch.iter().map(|e| i32::from(e.status)).collect();
    let outcomes: Vec<String> = batch.iter().map(|e| e.outcome.as_str().into()).collect();
    let targets: Vec<Value> = batch
        .iter()
        .map(|e| serde_json::to_value(&e.targets).unwrap_or_else(|_| Value::Array(Vec::new())))
        .collect();
    let ips: Vec<String> = batch
        .iter()
        .map(|e| e.ip.map(|ip| ip.to_string()).unwrap_or_default())
        .collect();
    let agents: Vec<String> = batch
        .iter()
        .map(|e| e.user_agent.clone().unwrap_or_default())
        .collect();
    let latencies: Vec<i32> = batch.iter().map(|e| e.latency_ms).collect();
    let requests: Vec<Value> = batch
        .iter()
        .map(|e| e.request_body.clone().unwrap_or(Value::Null))
        .collect();
    let responses: Vec<Value> = batch
        .iter()
        .map(|e| e.response_body.clone().unwrap_or(Value::Null))
        .collect();
    sqlx::query!(
        r#"INSERT INTO audit_events
               (id, occurred_at, transaction_id, actor_type, actor_id, actor_email, api_key_id,
                action, action_class, critical, method, route, path, status, outcome, targets,
                ip, user_agent, latency_ms, request_body, response_body)
           SELECT e.id, e.occurred_at, e.transaction_id, e.actor_type,
                  NULLIF(e.actor_id, '00000000-0000-0000-0000-000000000000'::uuid), u.email,
                  NULLIF(e.api_key_id, '00000000-0000-0000-0000-000000000000'::uuid),
                  e.action, e.action_class, e.critical, e.method, NULLIF(e.route, ''), e.path,
                  e.status, e.outcome, e.targets, NULLIF(e.ip, '')::inet,
                  NULLIF(e.user_agent, ''), e.latency_ms,
                  NULLIF(e.request_body, 'null'::jsonb), NULLIF(e.response_body, 'null'::jsonb)
           FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::uuid[],
                       $6::uuid[], $7::text[], $8::text[], $9::bool[], $10::text[], $11::text[],
                       $12::text[], $13::int4[], $14::text[], $15::jsonb[], $16::text[],
                       $17::text[], $18::int4[], $19::jsonb[], $20::jsonb[]) WITH ORDINALITY
                AS e(id, occurred_at, transaction_id, actor_type, actor_id, api_key_id, action,
                     action_class, critical, method, route, path, status, outcome, targets, ip,
                     user_agent, latency_ms, request_body, response_body, ord)
           LEFT JOIN users u ON u.id = e.actor_id
           ORDER BY e.ord
           ON CONFLICT (id) DO NOTHING"#,
        &ids,
        &occurred,
        &transactions,
        &actor_types,
        &actors,
        &keys,
        &actions,
        &classes,
        &critical,
        &methods,
        &routes,
        &paths,
        &statuses,
        &outcomes,
        &targets,
        &ips,
        &agents,
        &latencies,
        &requests,
        &responses
    )
    .execute(db)
    .await?;
    Ok(())
}
