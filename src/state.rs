//! The application's state, and the sub-states handlers take from it through `FromRef`:
//! the pool, the settings, the engine, the event bus, the realtime hub and what the caller
//! extractors need. Handlers name the part they use, so domain code does not depend on
//! the whole state.

use std::{sync::Arc, time::Instant};

use axum::extract::FromRef;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    actions::ActionServices,
    auth::context::{AuthContext, AuthState},
    billing::{PlanPolicy, StripeApi},
    config::Settings,
    events::EventBus,
    health::{context::HealthState, probes::Probes},
    net::OutboundPolicy,
    notifications::{notifier::Notifier, tracker::Tracking},
    notion::access::{NotionAccess, NotionState},
    realtime::hub::{Gateway, RealtimeState},
    scheduler::engine::{Engine, EngineConfig},
    secrets::vault::Vault,
    triggers::runtime::{InboundState, TriggerRuntime},
};

/// Shared application state, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub db: PgPool,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// This process's id in logs, leases and metrics.
    pub instance_id: Arc<str>,
    /// The Prometheus recorder handle.
    pub metrics: PrometheusHandle,
    /// When the process started serving.
    pub started_at: Instant,
    /// Cancelled when the process begins shutting down; background work watches it.
    pub shutdown: CancellationToken,
    /// Background tasks to wait for on shutdown.
    pub tasks: TaskTracker,
    /// The realtime gateway's input: domain code queues Socket.IO emits here.
    pub realtime: Gateway,
    /// The in-process bus of domain events.
    pub events: EventBus,
    /// Which addresses user-configured requests may reach (`OUTBOUND_ALLOW_CIDRS`).
    pub outbound: Arc<OutboundPolicy>,
    /// The shared, SSRF-guarded client for user-configured requests.
    pub outbound_http: reqwest::Client,
    /// The client actions use: the guarded one with redirects left to the action.
    pub action_http: reqwest::Client,
    /// What actions share (vault, SMTP transport, Nocron's own database), built once.
    pub action_services: Arc<ActionServices>,
    /// The Notion API's base URL and owners' stored connections, for NOTION_SYNC.
    pub notion: Arc<NotionAccess>,
    /// JWT keys, rate limiters and the API-key cache.
    pub auth: Arc<AuthContext>,
    /// The master keys secrets are sealed and opened with.
    pub vault: Arc<Vault>,
    /// Inbound triggers' rate limiter and SMTP listener address.
    pub triggers: Arc<TriggerRuntime>,
    /// Stripe's API client (present when billing is on).
    pub stripe: StripeApi,
    /// The health details page's cached checks of external services.
    pub health_probes: Arc<Probes>,
}

impl FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

impl FromRef<AppState> for Arc<Settings> {
    fn from_ref(state: &AppState) -> Self {
        state.settings.clone()
    }
}

impl FromRef<AppState> for PlanPolicy {
    fn from_ref(state: &AppState) -> Self {
        PlanPolicy::from_settings(&state.settings)
    }
}

impl FromRef<AppState> for StripeApi {
    fn from_ref(state: &AppState) -> Self {
        state.stripe.clone()
    }
}

impl FromRef<AppState> for EventBus {
    fn from_ref(state: &AppState) -> Self {
        state.events.clone()
    }
}

impl FromRef<AppState> for Gateway {
    fn from_ref(state: &AppState) -> Self {
        state.realtime.clone()
    }
}

impl FromRef<AppState> for Arc<Vault> {
    fn from_ref(state: &AppState) -> Self {
        state.vault.clone()
    }
}

impl FromRef<AppState> for Engine {
    fn from_ref(state: &AppState) -> Self {
        Engine {
            db: state.db.clone(),
            events: state.events.clone(),
            http: state.action_http.clone(),
            outbound: state.outbound.clone(),
            instance_id: state.instance_id.clone(),
            actions: state.action_services.clone(),
            notion: state.notion.clone(),
            config: EngineConfig::from_settings(&state.settings),
        }
    }
}

impl FromRef<AppState> for Notifier {
    fn from_ref(state: &AppState) -> Self {
        Notifier {
            db: state.db.clone(),
            events: state.events.clone(),
            instance_id: state.instance_id.clone(),
            mailer: state.action_services.mailer.clone(),
            email_max_per_hour: state.action_services.templates_mail.email_max_per_hour,
            http: state.action_http.clone(),
            outbound: state.outbound.clone(),
            vault: state.vault.clone(),
            tracking: email_tracking(state),
        }
    }
}

/// The email tracking signer, when `PUBLIC_URL` says where tracked links lead.
fn email_tracking(state: &AppState) -> Option<Arc<Tracking>> {
    let base = state.settings.public_url.as_deref()?;
    let mac = state.auth.mac().ok()?;
    Some(Arc::new(Tracking::new(base, mac)))
}

impl FromRef<AppState> for Arc<AuthContext> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<AppState> for AuthState {
    fn from_ref(state: &AppState) -> Self {
        AuthState {
            db: state.db.clone(),
            auth: state.auth.clone(),
            tasks: state.tasks.clone(),
        }
    }
}

impl FromRef<AppState> for InboundState {
    fn from_ref(state: &AppState) -> Self {
        InboundState {
            db: state.db.clone(),
            settings: state.settings.clone(),
            engine: Engine::from_ref(state),
            vault: state.vault.clone(),
            runtime: state.triggers.clone(),
            shutdown: state.shutdown.clone(),
            tasks: state.tasks.clone(),
        }
    }
}

impl FromRef<AppState> for NotionState {
    fn from_ref(state: &AppState) -> Self {
        NotionState {
            db: state.db.clone(),
            settings: state.settings.clone(),
            vault: state.vault.clone(),
            http: state.outbound_http.clone(),
            auth: state.auth.clone(),
        }
    }
}

impl FromRef<AppState> for HealthState {
    fn from_ref(state: &AppState) -> Self {
        HealthState {
            db: state.db.clone(),
            settings: state.settings.clone(),
            instance_id: state.instance_id.clone(),
            metrics: state.metrics.clone(),
            started_at: state.started_at,
            realtime: state.realtime.clone(),
            probes: state.health_probes.clone(),
            mailer: state.action_services.mailer.clone(),
            triggers: state.triggers.clone(),
        }
    }
}

impl FromRef<AppState> for RealtimeState {
    fn from_ref(state: &AppState) -> Self {
        RealtimeState {
            db: state.db.clone(),
            settings: state.settings.clone(),
            auth: AuthState::from_ref(state),
            engine: Engine::from_ref(state),
            events: state.events.clone(),
            realtime: state.realtime.clone(),
            shutdown: state.shutdown.clone(),
            tasks: state.tasks.clone(),
        }
    }
}
