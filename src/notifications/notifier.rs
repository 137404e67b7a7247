//! [`Notifier`], the part of the application state the outbox consumer and the delivery
//! worker use.

use std::sync::Arc;

use sqlx::PgPool;

use super::tracker::Tracking;
use crate::{email::Mailer, events::EventBus, net::OutboundPolicy, secrets::vault::Vault};

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
    /// The SSRF-guarded client webhook deliveries go through (it follows no redirect).
    pub http: reqwest::Client,
    /// Which addresses webhook endpoints may have.
    pub outbound: Arc<OutboundPolicy>,
    /// Opens webhook endpoints' signing secrets.
    pub vault: Arc<Vault>,
    /// Signs the open and click tracking of emails; `None` without `PUBLIC_URL`.
    pub tracking: Option<Arc<Tracking>>,
}
