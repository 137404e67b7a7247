//! The request side of detection: the audit writer hands each batch it has written to
//! [`start`]'s task, which keeps what matters to the rules (admin requests, scanner user
//! agents, refused API keys), adds them up in memory per (rule, subject), and then bumps each
//! shared window once: one upsert per subject and batch, however many requests it had.

use std::collections::HashMap;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use super::{
    SecurityState,
    alerts::{self, Detection},
    model::RuleKind,
    rules::{self, Rule},
    window,
};
use crate::audit::AuditEvent;

/// Written batches waiting for evaluation; the writer waits when it is full.
pub const FEED_CAPACITY: usize = 64;

/// The sending end the audit writer is given.
pub type Feed = mpsc::Sender<Vec<AuditEvent>>;

/// What one batch adds to one (rule, subject).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    /// Requests that count.
    pub hits: i32,
    /// Their audit event ids (the first ones).
    pub event_ids: Vec<Uuid>,
    /// Details from the first of them.
    pub details: serde_json::Value,
}

/// A bounded feed and the task evaluating it; the task ends when every sender is gone or at
/// shutdown.
pub fn start(state: SecurityState, tasks: &TaskTracker, shutdown: CancellationToken) -> Feed {
    let (sender, receiver) = mpsc::channel(FEED_CAPACITY);
    tasks.spawn(run(state, receiver, shutdown));
    sender
}

async fn run(
    state: SecurityState,
    mut receiver: mpsc::Receiver<Vec<AuditEvent>>,
    shutdown: CancellationToken,
) {
    loop {
        let batch = tokio::select! {
            _ = shutdown.cancelled() => break,
            batch = receiver.recv() => match batch {
                Some(batch) => batch,
                None => break,
            },
        };
        let tallies = tally(&batch);
        if tallies.is_empty() {
            continue;
        }
        if let Err(err) = evaluate(&state, tallies).await {
            metrics::counter!("security_feed_failures_total").increment(1);
            tracing::warn!(error = %err, "evaluating audited requests for security alerts failed");
        }
    }
}

/// Groups the events that matter by (rule, subject).
pub fn tally(batch: &[AuditEvent]) -> HashMap<(RuleKind, String), Tally> {
    let mut tallies: HashMap<(RuleKind, String), Tally> = HashMap::new();
    let mut add =
        |rule: RuleKind, subject: String, event: &AuditEvent, details: serde_json::Value| {
            let tally = tallies.entry((rule, subject)).or_default();
            if tally.hits == 0 {
                tally.details = details;
            }
            tally.hits += 1;
            if tally.event_ids.len() < window::MAX_EVENT_IDS as usize {
                tally.event_ids.push(event.id);
            }
        };
    for event in batch {
        let ip = event.ip.map(|ip| ip.to_canonical().to_string());
        let admin_route = event
            .route
            .as_deref()
            .unwrap_or(&event.path)
            .starts_with("/admin");
        if admin_route && let Some(actor) = event.actor_id {
            add(
                RuleKind::AdminBurst,
                actor.to_string(),
                event,
                json!({ "user_id": actor, "ip": ip, "example": event.action }),
            );
        }
        if let Some(agent) = event
            .user_agent
            .as_deref()
            .filter(|ua| rules::is_scanner(ua))
        {
            add(
                RuleKind::SuspiciousUserAgent,
                ip.clone().unwrap_or_else(|| "unknown".to_owned()),
                event,
                json!({ "ip": ip, "user_agent": agent, "example": event.path }),
            );
        }
        if matches!(event.status, 401 | 403)
            && let Some(key) = event.api_key_id
        {
            add(
                RuleKind::ApiKeyAbuse,
                key.to_string(),
                event,
                json!({ "api_key_id": key, "user_id": event.actor_id, "ip": ip, "example": event.action }),
            );
        }
    }
    tallies
}

async fn evaluate(
    state: &SecurityState,
    tallies: HashMap<(RuleKind, String), Tally>,
) -> Result<(), sqlx::Error> {
    let rules = rules::load_all(&state.db).await?;
    for ((kind, subject), tally) in tallies {
        let Some(rule) = rules.iter().find(|rule| rule.rule == kind && rule.enabled) else {
            continue;
        };
        if allow_listed(rule, &tally) {
            continue;
        }
        let count = window::hit(
            &state.db,
            kind,
            &subject,
            rule.window_seconds,
            tally.hits,
            None,
            &tally.event_ids,
        )
        .await?;
        if count.estimate < i64::from(rule.threshold) {
            continue;
        }
        alerts::raise(
            state,
            Detection {
                rule,
                subject,
                window_start: count.window_start,
                count: count.estimate,
                new_hits: i64::from(tally.hits),
                event_ids: count.event_ids,
                new_event_ids: tally.event_ids,
                details: tally.details,
            },
        )
        .await?;
    }
    Ok(())
}

/// Whether the first request's address is in the rule's allow-list.
fn allow_listed(rule: &Rule, tally: &Tally) -> bool {
    let ip = tally
        .details
        .get("ip")
        .and_then(|ip| ip.as_str())
        .and_then(|ip| ip.parse().ok());
    rule.allows(ip)
}
