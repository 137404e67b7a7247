//! The engine handle every step function takes (handlers get it as a sub-state of the
//! application's state), its tuning, and the client actions use.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;

use crate::{
    actions::ActionServices,
    billing::PlanPolicy,
    config::{ChainSettings, Settings},
    events::EventBus,
    net::{
        OutboundPolicy,
        client::{SystemLookup, guarded_client_builder},
    },
    notion::NotionAccess,
};

pub use crate::db::channels::{EXECUTION_CANCEL, EXECUTIONS_QUEUED, TASKS_CHANGED};

/// Tuning of one instance's engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Executions run at the same time.
    pub worker_concurrency: usize,
    /// Executions claimed per query.
    pub worker_batch_size: usize,
    /// How long a claim holds without a heartbeat.
    pub lease: Duration,
    /// How long running executions may finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// Finished executions older than this many days are pruned.
    pub retention_days: u32,
    /// Executions of one owner running at once, over every instance.
    pub max_running_per_owner: usize,
    /// Executions of one owner waiting in the queue; more are refused (429, `QUEUE_FULL`).
    pub max_queued_per_owner: usize,
    /// Waiting that makes up for one level of priority, in seconds.
    pub priority_ageing_seconds: u32,
    /// Task chaining limits.
    pub chains: ChainSettings,
    /// How an owner's plan is decided, for the monthly execution limit.
    pub plans: PlanPolicy,
}

/// What the dispatcher, workers and maintenance jobs share. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    /// The database.
    pub db: PgPool,
    /// Where engine events are published.
    pub events: EventBus,
    /// The outbound HTTP client actions use: SSRF-guarded, redirects left to the action.
    pub http: reqwest::Client,
    /// Which addresses actions may reach; every redirect hop is checked against it.
    pub outbound: Arc<OutboundPolicy>,
    /// This instance's id, recorded on claimed executions.
    pub instance_id: Arc<str>,
    /// The vault, SMTP and database facts actions need.
    pub actions: Arc<ActionServices>,
    /// What NOTION_SYNC needs: the API's base URL and owners' stored connections.
    pub notion: Arc<NotionAccess>,
    /// Tuning.
    pub config: EngineConfig,
}

impl EngineConfig {
    /// The tuning the settings ask for.
    pub fn from_settings(settings: &Settings) -> Self {
        EngineConfig {
            worker_concurrency: settings.worker_concurrency,
            worker_batch_size: settings.worker_batch_size,
            lease: settings.execution_lease,
            // Leave part of the application's grace for handing work back.
            shutdown_grace: settings.shutdown_grace.mul_f64(0.8),
            retention_days: settings.execution_retention_days,
            max_running_per_owner: settings.fairness.max_running_per_owner,
            max_queued_per_owner: settings.fairness.max_queued_per_owner,
            priority_ageing_seconds: settings.fairness.priority_ageing_seconds,
            chains: settings.chains,
            plans: PlanPolicy::from_settings(settings),
        }
    }
}

/// The guarded client with redirects turned off: HTTP actions follow redirects themselves so
/// the limit is per task and each hop is checked and logged. Falls back to the shared client
/// (which follows up to its own cap) if building fails.
pub fn action_client(policy: &Arc<OutboundPolicy>, shared: &reqwest::Client) -> reqwest::Client {
    let user_agent = concat!("nocron/", env!("CARGO_PKG_VERSION")).to_owned();
    guarded_client_builder(policy.clone(), &user_agent, Arc::new(SystemLookup))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot build the action HTTP client; using the shared one");
            shared.clone()
        })
}
