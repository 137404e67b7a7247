//! What the limit checks need from the configuration: the default plan, the grace after a
//! failed payment and where to upgrade. Handlers take it as a sub-state; the engine keeps a
//! copy in its configuration.

use std::sync::Arc;

use super::plan_code::PlanCode;
use crate::config::Settings;

/// How an account's effective plan is decided.
#[derive(Debug, Clone)]
pub struct PlanPolicy {
    /// The plan of accounts without a current subscription (`DEFAULT_PLAN`).
    pub default_plan: PlanCode,
    /// Days a `past_due` subscription keeps its plan (`BILLING_GRACE_DAYS`).
    pub grace_days: i32,
    /// Where a refusal sends the user to choose a larger plan.
    pub upgrade_url: Arc<str>,
    /// Whether billing (Stripe) is on.
    pub billing_enabled: bool,
}

impl PlanPolicy {
    /// The policy the settings describe.
    pub fn from_settings(settings: &Settings) -> Self {
        let base = settings
            .public_url
            .as_deref()
            .map(|url| url.trim_end_matches('/'))
            .unwrap_or("");
        PlanPolicy {
            default_plan: settings.billing.default_plan,
            grace_days: i32::try_from(settings.billing.grace_days).unwrap_or(i32::MAX),
            upgrade_url: format!("{base}/billing/plans").into(),
            billing_enabled: settings.billing.enabled(),
        }
    }
}

impl Default for PlanPolicy {
    /// Billing off: every account unlimited.
    fn default() -> Self {
        PlanPolicy {
            default_plan: PlanCode::Enterprise,
            grace_days: 7,
            upgrade_url: "/billing/plans".into(),
            billing_enabled: false,
        }
    }
}
