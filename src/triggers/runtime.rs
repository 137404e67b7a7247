//! What inbound deliveries need at run time: the per-token rate limiter, the bound SMTP
//! address, and [`InboundState`], the part of the application state the receiving side
//! (webhook and email deliveries, the SMTP listener) uses.

use std::{net::SocketAddr, sync::Arc, sync::OnceLock};

use sqlx::PgPool;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use crate::{
    auth::rate_limit::KeyedLimiter, config::Settings, config::TriggerSettings,
    scheduler::engine::Engine, secrets::vault::Vault,
};

/// Process-wide trigger state: the per-token rate limiter and the bound SMTP address.
pub struct TriggerRuntime {
    /// Deliveries per webhook or email trigger id.
    pub limiter: KeyedLimiter<Uuid>,
    pub(super) smtp_addr: OnceLock<SocketAddr>,
}

impl TriggerRuntime {
    /// The runtime for these settings.
    pub fn new(settings: &TriggerSettings) -> Self {
        TriggerRuntime {
            limiter: KeyedLimiter::new(
                settings.webhook_rate_limit_per_minute,
                settings.webhook_rate_limit_burst,
            ),
            smtp_addr: OnceLock::new(),
        }
    }

    /// Where the inbound SMTP listener is bound, once it is (useful with port 0).
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp_addr.get().copied()
    }
}

/// What receiving a delivery takes: the database, the settings, the engine that queues the
/// execution, the vault that opens signing secrets, and the trigger runtime.
#[derive(Clone)]
pub struct InboundState {
    /// The database pool.
    pub db: PgPool,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Queues executions.
    pub engine: Engine,
    /// Opens sealed signing secrets.
    pub vault: Arc<Vault>,
    /// The per-token rate limiter and the SMTP address.
    pub runtime: Arc<TriggerRuntime>,
    /// Cancelled at shutdown; the SMTP listener watches it.
    pub shutdown: CancellationToken,
    /// Where the SMTP listener's sessions run.
    pub tasks: TaskTracker,
}
