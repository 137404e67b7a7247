//! Checks of the external services the health details page reports: the SMTP relay (a real
//! connection: greeting, EHLO, STARTTLS and login as configured, then NOOP) and Stripe's API
//! address (a TCP connection). Each result is cached for [`PROBE_TTL`], and concurrent
//! requests wait for the one probe in flight, so the page cannot be used to hammer a relay.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::email::Mailer;

/// How long a probe's result is reused.
pub const PROBE_TTL: Duration = Duration::from_secs(5);
/// How long one probe may take before the service counts as unreachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest error text shown.
const MAX_ERROR_LEN: usize = 300;

/// The state of one dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    /// Reachable and answering.
    Ok,
    /// Configured but unreachable or failing: the server keeps serving without it.
    Degraded,
    /// Not configured on this server.
    NotConfigured,
}

/// The outcome of one check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceCheck {
    /// `ok`, `degraded` or `not_configured`.
    pub status: ServiceStatus,
    /// How long the check took, in milliseconds (absent when not configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Why the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the check ran (results are reused for 5 seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
}

impl ServiceCheck {
    /// The result for a service the server is not configured to use.
    pub fn not_configured() -> Self {
        ServiceCheck {
            status: ServiceStatus::NotConfigured,
            latency_ms: None,
            error: None,
            checked_at: None,
        }
    }

    /// Runs `check` within [`PROBE_TIMEOUT`] and times it.
    pub async fn run<F>(check: F) -> Self
    where
        F: Future<Output = Result<(), String>>,
    {
        let started = Instant::now();
        let outcome = tokio::time::timeout(PROBE_TIMEOUT, check).await;
        let latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        let error = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(truncate(err)),
            Err(_) => Some(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        };
        ServiceCheck {
            status: if error.is_none() {
                ServiceStatus::Ok
            } else {
                ServiceStatus::Degraded
            },
            latency_ms,
            error,
            checked_at: Some(Utc::now()),
        }
    }
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// One cached probe result.
#[derive(Default)]
struct Slot(Mutex<Option<(Instant, ServiceCheck)>>);

impl Slot {
    async fn get_or_run<F>(&self, check: F) -> ServiceCheck
    where
        F: Future<Output = ServiceCheck>,
    {
        // Held across the probe: concurrent callers wait for it and reuse its result.
        let mut slot = self.0.lock().await;
        if let Some((at, result)) = slot.as_ref()
            && at.elapsed() < PROBE_TTL
        {
            return result.clone();
        }
        let result = check.await;
        *slot = Some((Instant::now(), result.clone()));
        result
    }
}

/// The cached probes of one application.
#[derive(Default)]
pub struct Probes {
    smtp: Slot,
    stripe: Slot,
}

impl Probes {
    /// The SMTP relay's state, probed at most every [`PROBE_TTL`].
    pub async fn smtp(&self, mailer: Option<&Mailer>) -> ServiceCheck {
        let Some(mailer) = mailer else {
            return ServiceCheck::not_configured();
        };
        self.smtp
            .get_or_run(ServiceCheck::run(async {
                mailer.check().await.map_err(|err| err.to_string())
            }))
            .await
    }

    /// Whether Stripe's API address (`STRIPE_API_BASE`) accepts a TCP connection, when
    /// billing is configured.
    pub async fn stripe(&self, api_base: Option<&str>) -> ServiceCheck {
        let Some(api_base) = api_base else {
            return ServiceCheck::not_configured();
        };
        self.stripe
            .get_or_run(ServiceCheck::run(tcp_reachable(api_base.to_owned())))
            .await
    }
}

/// Opens (and drops) a TCP connection to the host and port of `url`.
async fn tcp_reachable(url: String) -> Result<(), String> {
    let parsed = reqwest::Url::parse(&url).map_err(|err| format!("bad URL: {err}"))?;
    let host = parsed.host_str().ok_or("the URL has no host")?.to_owned();
    let port = parsed
        .port_or_known_default()
        .ok_or("the URL has no port")?;
    tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map(drop)
        .map_err(|err| format!("cannot connect: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_degraded_and_an_open_one_ok() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let open = format!("http://{}", listener.local_addr().expect("addr"));
        let closed = {
            let spare = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}", spare.local_addr().expect("addr"))
        };
        let probes = Probes::default();
        assert_eq!(probes.stripe(Some(&open)).await.status, ServiceStatus::Ok);
        let fresh = Probes::default();
        let down = fresh.stripe(Some(&closed)).await;
        assert_eq!(down.status, ServiceStatus::Degraded);
        assert!(down.error.is_some());
        assert_eq!(
            fresh.stripe(None).await.status,
            ServiceStatus::NotConfigured
        );
    }

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let cut = truncate("é".repeat(400));
        assert!(cut.len() <= MAX_ERROR_LEN + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }
}
