//! Inbound triggers: what starts a task besides its schedule and its owner.
//!
//! - [`webhooks`]: inbound URLs `POST /hooks/{token}` (managed per task), with optional
//!   signature verification ([`signature`]), delivery dedupe and a per-token rate limit
//!   ([`inbound`] receives the deliveries).
//! - [`email`]: addresses `task-{token}@INBOUND_DOMAIN`, received by the built-in SMTP
//!   listener ([`smtp`]) or posted as HTTP by a mail provider; [`message`] turns a message
//!   into an execution input.
//! - [`chains`]: a task runs when another task's execution ends; the engine calls
//!   [`chains::enqueue_chained`] ([`chained`]) inside the transaction that records the
//!   ending, within the chain limits.
//!
//! Tokens ([`token`]) are stored hashed; a token is shown once, when created or rotated.

pub mod chained;
pub mod chains;
pub mod email;
pub mod inbound;
pub mod message;
pub mod payload;
pub mod secrets;
pub mod signature;
pub mod smtp;
pub mod token;
pub mod webhooks;

use std::{net::SocketAddr, sync::OnceLock};

use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::{
    auth::rate_limit::{self, KeyedLimiter},
    config::{Settings, TriggerSettings},
    state::AppState,
};

/// Routes that manage a task's triggers, relative to `/tasks` (`/{id}/webhooks`, …).
pub fn task_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(webhooks::router())
        .merge(chains::router())
        .merge(email::router())
}

/// Routes that receive deliveries, relative to `/hooks` (`/{token}`, `/email/{token}`).
pub fn hooks_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(inbound::router())
        .merge(email::inbound_router())
}

/// Process-wide trigger state: the per-token rate limiter and the bound SMTP address.
pub struct TriggerRuntime {
    /// Deliveries per webhook or email trigger id.
    pub limiter: KeyedLimiter<Uuid>,
    smtp_addr: OnceLock<SocketAddr>,
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

/// Starts what triggers run beside the server: the inbound SMTP listener (when
/// `INBOUND_SMTP_ADDR` is set) and the rate limiter's housekeeping.
pub async fn start(state: &AppState) -> anyhow::Result<()> {
    if let Some(addr) = state.settings.triggers.inbound_smtp_addr {
        let bound = smtp::start(state, addr).await?;
        let _ = state.triggers.smtp_addr.set(bound);
    }
    let triggers = state.triggers.clone();
    rate_limit::spawn_housekeeping(&state.tasks, state.shutdown.clone(), move || {
        triggers.limiter.forget_idle_keys()
    });
    Ok(())
}

/// `PUBLIC_URL` + `path`, or `path` alone when no public URL is configured.
pub(crate) fn public_url(settings: &Settings, path: &str) -> String {
    match &settings.public_url {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => path.to_owned(),
    }
}
