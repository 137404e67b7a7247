//! Security alerts on top of the audit trail and the sign-in path.
//!
//! - [`rules`]: the six detection rules, their defaults and an admin's changes
//!   ([`rules_api`] serves `GET/PUT /admin/security-alert-rules`);
//! - [`login`]: failed and successful sign-ins (`FAILED_LOGINS` with the progressive block of
//!   an account/address pair, `PASSWORD_SPRAY`, `UNUSUAL_IP`), called by the login handler;
//! - [`feed`]: audited requests, handed over by the audit writer (`ADMIN_BURST`,
//!   `SUSPICIOUS_USER_AGENT`, `API_KEY_ABUSE`);
//! - [`window`]: sliding windows counted in the database, so every instance agrees;
//! - [`alerts`]: one deduplicated alert per burst, and [`notify`]: admins told of HIGH and
//!   CRITICAL ones (notifications, Socket.IO `admin` room, the alert webhook);
//! - [`routes`]: `/admin/security-alerts` and the alert life cycle.

pub mod alerts;
pub mod feed;
pub mod login;
pub mod model;
pub mod notify;
pub mod routes;
pub mod rules;
pub mod rules_api;
pub mod window;

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;
use tokio_util::task::TaskTracker;

use crate::{
    notifications::Notifier,
    state::AppState,
    system_jobs::{JobContext, SystemJob},
    triggers::signature::StandardWebhooksKey,
};

pub use notify::AlertWebhook;

/// What detection and announcing need.
#[derive(Clone, Debug)]
pub struct SecurityState {
    /// The pool.
    pub db: PgPool,
    /// Notifications, the event bus and the guarded HTTP client.
    pub notifier: Notifier,
    /// `SECURITY_ALERT_WEBHOOK_URL` with its signing key, when set.
    pub webhook: Option<AlertWebhook>,
    /// Where webhook posts run, so shutdown waits for them.
    pub tasks: TaskTracker,
}

impl FromRef<AppState> for SecurityState {
    fn from_ref(state: &AppState) -> Self {
        let settings = &state.settings.security_alerts;
        let webhook = match (&settings.webhook_url, &settings.webhook_secret) {
            (Some(url), Some(secret)) => {
                StandardWebhooksKey::parse(secret)
                    .ok()
                    .map(|key| AlertWebhook {
                        url: url.clone(),
                        key: Arc::new(key),
                    })
            }
            _ => None,
        };
        SecurityState {
            db: state.db.clone(),
            notifier: Notifier::from_ref(state),
            webhook,
            tasks: state.tasks.clone(),
        }
    }
}

/// Every route of the module.
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    routes::router().merge(rules_api::router())
}

/// Hourly: forget counters no window reaches and blocks that have ended.
pub fn system_jobs() -> Vec<SystemJob> {
    vec![SystemJob::new(
        "security-alert-cleanup",
        "0 41 * * * *",
        |state: JobContext| async move {
            let counters = window::forget_expired(&state.db).await?;
            let blocks = login::forget_stale(&state.db).await?;
            sqlx::query!("DELETE FROM security_suppressions WHERE until < now()")
                .execute(&state.db)
                .await?;
            tracing::debug!(
                counters,
                blocks,
                "forgot expired security counters and blocks"
            );
            Ok(())
        },
    )]
}
