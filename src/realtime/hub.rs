//! The producer side of the realtime gateway: [`Gateway`], the handle domain code queues
//! [`Emit`]s on, and [`RealtimeState`], what the gateway's own tasks read.

use std::{
    borrow::Cow,
    sync::{Arc, OnceLock},
};

use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::redis_link::{LinkState, RealtimeHealth};
use crate::{
    auth::context::AuthState, config::Settings, events::EventBus, scheduler::engine::Engine,
};

/// One message for the gateway: an event and its payload, for the sockets in `rooms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Emit {
    /// Rooms to deliver to (a socket in several of them receives the message once). An empty
    /// list delivers to nobody: there is no "everyone".
    pub rooms: Vec<String>,
    /// The event name (see [`super::events::names`]).
    pub event: Cow<'static, str>,
    /// The JSON payload.
    pub payload: Value,
}

impl Emit {
    /// An emit of `payload` (serialized now, so the producer pays for its own encoding).
    pub fn new(
        event: &'static str,
        payload: &impl Serialize,
        rooms: Vec<String>,
    ) -> Result<Self, serde_json::Error> {
        Ok(Emit {
            rooms,
            event: Cow::Borrowed(event),
            payload: serde_json::to_value(payload)?,
        })
    }
}

/// The producer side of the gateway, cheap to clone; domain code queues emits here.
#[derive(Clone, Debug)]
pub struct Gateway {
    tx: mpsc::Sender<Emit>,
    /// The Redis adapter's link, once mounted with `REDIS_URL`.
    pub(super) link: Arc<OnceLock<LinkState>>,
}

impl Gateway {
    /// A gateway handle and the receiving end of its queue of `capacity` messages.
    pub fn channel(capacity: usize) -> (Gateway, mpsc::Receiver<Emit>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let link = Arc::default();
        (Gateway { tx, link }, rx)
    }

    /// Queues `emit` without waiting. Returns `false` when it was dropped because the queue
    /// is full (the delivery task is behind) or the gateway is not running.
    pub fn emit(&self, emit: Emit) -> bool {
        match self.tx.try_send(emit) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(dropped)) => {
                metrics::counter!("realtime_emits_dropped_total", "reason" => "queue_full")
                    .increment(1);
                tracing::debug!(event = %dropped.event, "realtime queue full: message dropped");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                metrics::counter!("realtime_emits_dropped_total", "reason" => "not_running")
                    .increment(1);
                false
            }
        }
    }

    /// Whether events reach every instance (`ok`), only this one's sockets because Redis is
    /// unreachable (`degraded`), or there is no Redis (`local`).
    pub fn health(&self) -> RealtimeHealth {
        match self.link.get() {
            None => RealtimeHealth::Local,
            Some(link) if link.is_up() => RealtimeHealth::Ok,
            Some(_) => RealtimeHealth::Degraded,
        }
    }

    /// Messages queued and not yet delivered.
    pub fn backlog(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// The part of the application state the gateway, its relay and its hooks use.
#[derive(Clone)]
pub struct RealtimeState {
    /// The database pool.
    pub db: PgPool,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// What authenticates a socket's token.
    pub auth: AuthState,
    /// The execution engine (cancel and retry requests from sockets).
    pub engine: Engine,
    /// The in-process bus the relay forwards from.
    pub events: EventBus,
    /// This gateway's own producer handle.
    pub realtime: Gateway,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
    /// Where the gateway's background tasks run.
    pub tasks: TaskTracker,
}
