//! Notifications and alert rules.
//!
//! When an execution ends, the transaction that records it adds an outbox row
//! ([`outbox::record_ended`]). The consumer ([`outbox`]) evaluates the task's alert rules
//! ([`rules`]) and stores notifications ([`store`]) with one delivery per channel: `IN_APP`
//! is stored and pushed over Socket.IO (through the event bus), `EMAIL` is queued for the
//! delivery worker ([`delivery`]). [`routes`] serves `/notifications`, [`rules_api`] serves
//! `/tasks/{id}/alert-rules`; both have `/api/v1` twins.

pub mod compose;
pub mod delivery;
pub mod model;
pub mod outbox;
pub mod routes;
pub mod rules;
pub mod rules_api;
mod runner;
pub mod store;

use std::sync::Arc;

use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;

pub use runner::{start, system_jobs};

use crate::{email::Mailer, events::EventBus, state::AppState};

/// What the consumer and the delivery worker need.
#[derive(Clone, Debug)]
pub struct Notifier {
    /// The pool.
    pub db: PgPool,
    /// The bus pushes go through.
    pub events: EventBus,
    /// This instance, recorded on the rows it consumes.
    pub instance_id: Arc<str>,
    /// The server's SMTP, when configured.
    pub mailer: Option<Mailer>,
    /// `EMAIL_MAX_PER_HOUR`, the owner's hourly mail quota.
    pub email_max_per_hour: u32,
}

/// `/notifications` routes, relative to that prefix.
pub fn router() -> OpenApiRouter<AppState> {
    routes::router()
}

/// `/tasks/{id}/alert-rules` routes, relative to `/tasks`.
pub fn task_router() -> OpenApiRouter<AppState> {
    rules_api::router()
}
