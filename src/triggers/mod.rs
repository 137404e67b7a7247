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
//! - [`notion`]: NOTION triggers on a page or a database, fired by Notion webhook events
//!   (received by [`crate::notion::webhook_receive`]).
//!
//! Tokens ([`token`]) are stored hashed; a token is shown once, when created or rotated.

pub mod chained;
pub mod chains;
pub mod email;
pub mod inbound;
pub mod message;
pub mod notion;
pub mod payload;
pub mod runtime;
pub mod secrets;
pub mod signature;
pub mod smtp;
pub mod token;
pub mod webhooks;

pub use runtime::{InboundState, TriggerRuntime};

use crate::{auth::rate_limit, config::Settings};

/// Starts what triggers run beside the server: the inbound SMTP listener (when
/// `INBOUND_SMTP_ADDR` is set) and the rate limiter's housekeeping.
pub async fn start(state: &InboundState) -> anyhow::Result<()> {
    if let Some(addr) = state.settings.triggers.inbound_smtp_addr {
        let bound = smtp::start(state, addr).await?;
        let _ = state.runtime.smtp_addr.set(bound);
    }
    let triggers = state.runtime.clone();
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
