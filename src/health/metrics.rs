//! The Prometheus recorder (installed once per process) and the `/metrics` exposition, which
//! adds pool and process gauges at scrape time.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

use super::process;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds, from 1 ms to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the global recorder on first call and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                .and_then(|builder| builder.install_recorder());
            match recorder {
                Ok(handle) => handle,
                // Another recorder is already installed (e.g. by an embedding program):
                // keep a private one so /metrics still answers.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Renders the exposition text, refreshing the scrape-time gauges first.
pub fn render(handle: &PrometheusHandle, pool: &PgPool, started: std::time::Instant) -> String {
    metrics::gauge!("db_pool_connections").set(pool.size() as f64);
    metrics::gauge!("db_pool_idle_connections").set(pool.num_idle() as f64);
    let stats = process::snapshot();
    metrics::gauge!("process_resident_memory_bytes").set(stats.rss_bytes as f64);
    metrics::gauge!("process_virtual_memory_bytes").set(stats.virtual_bytes as f64);
    metrics::gauge!("process_cpu_seconds_total").set(stats.cpu_seconds);
    metrics::gauge!("process_open_fds").set(stats.open_fds as f64);
    metrics::gauge!("process_threads").set(stats.threads as f64);
    metrics::gauge!("process_uptime_seconds").set(started.elapsed().as_secs_f64());
    handle.render()
}
