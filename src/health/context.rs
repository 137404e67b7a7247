//! The part of the application state the health and metrics routes read.

use std::{sync::Arc, time::Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::{config::Settings, realtime::hub::Gateway};

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
}
