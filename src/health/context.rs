//! The part of the application state the health and metrics routes read.

use std::{sync::Arc, time::Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use super::probes::Probes;
use crate::{
    config::Settings, email::Mailer, realtime::hub::Gateway, triggers::runtime::TriggerRuntime,
};

/// What liveness, readiness, status and the metrics exposition need.
#[derive(Clone)]
pub struct HealthState {
    /// The database pool (checked, and its gauges exported).
    pub db: PgPool,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// This process's id.
    pub instance_id: Arc<str>,
    /// The Prometheus recorder handle.
    pub metrics: PrometheusHandle,
    /// When the process started serving.
    pub started_at: Instant,
    /// The realtime gateway, whose Redis link readiness reports.
    pub realtime: Gateway,
    /// The cached checks of external services.
    pub probes: Arc<Probes>,
    /// The server's mailer (`SMTP_URL`), whose relay the details page checks.
    pub mailer: Option<Mailer>,
    /// The inbound SMTP listener's address.
    pub triggers: Arc<TriggerRuntime>,
}
