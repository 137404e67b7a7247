//! Settings of billing: Stripe's keys and prices, the default plan and the grace after a
//! failed payment. Without `STRIPE_SECRET_KEY` billing is off and every account has the
//! default plan (`ENTERPRISE`, unlimited, unless `DEFAULT_PLAN` says otherwise).

use super::{ConfigError, values::bounded, values::invalid};
use crate::{billing::plan_code::PlanCode, secrets::SecretValue};

/// The billing settings.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    /// `STRIPE_SECRET_KEY` (`sk_live_…`/`sk_test_…`): when set, billing is on.
    pub stripe_secret_key: Option<SecretValue>,
    /// `STRIPE_WEBHOOK_SECRET` (`whsec_…`): the key Stripe signs webhook events with.
    pub stripe_webhook_secret: Option<SecretValue>,
    /// `STRIPE_API_BASE`: Stripe's API address (default `https://api.stripe.com`).
    pub stripe_api_base: String,
    /// `STRIPE_PRICE_PRO`: the Stripe price id of the PRO plan.
    pub price_pro: Option<String>,
    /// `STRIPE_PRICE_ENTERPRISE`: the Stripe price id of the ENTERPRISE plan.
    pub price_enterprise: Option<String>,
    /// `DEFAULT_PLAN`: the plan of accounts without a current subscription (default
    /// `ENTERPRISE` when billing is off, `BASIC` when it is on).
    pub default_plan: PlanCode,
    /// `BILLING_SUCCESS_URL`: where Checkout sends the browser after paying.
    pub success_url: Option<String>,
    /// `BILLING_CANCEL_URL`: where Checkout sends the browser when the user gives up.
    pub cancel_url: Option<String>,
    /// `BILLING_GRACE_DAYS`: how long a `past_due` subscription keeps its plan (0–60,
    /// default 7).
    pub grace_days: u32,
}

impl BillingSettings {
    /// Whether billing is on (`STRIPE_SECRET_KEY` is set).
    pub fn enabled(&self) -> bool {
        self.stripe_secret_key.is_some()
    }

    /// The Stripe price id configured for `plan` (BASIC has none: it is free).
    pub fn price_for(&self, plan: PlanCode) -> Option<&str> {
        match plan {
            PlanCode::Basic => None,
            PlanCode::Pro => self.price_pro.as_deref(),
            PlanCode::Enterprise => self.price_enterprise.as_deref(),
        }
    }
}

fn url(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<String>, ConfigError> {
    match var(name) {
        Some(value) if !(value.starts_with("http://") || value.starts_with("https://")) => {
            Err(invalid(name, &value, "an http:// or https:// URL"))
        }
        other => Ok(other),
    }
}

pub(super) fn billing_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<BillingSettings, ConfigError> {
    let stripe_secret_key = var("STRIPE_SECRET_KEY");
    if let Some(key) = &stripe_secret_key
        && !(key.starts_with("sk_") || key.starts_with("rk_"))
    {
        return Err(ConfigError {
            name: "STRIPE_SECRET_KEY",
            message: "expected a Stripe secret key (sk_live_…, sk_test_… or rk_…)".into(),
        });
    }
    let enabled = stripe_secret_key.is_some();
    let default_plan = match var("DEFAULT_PLAN") {
        Some(text) => text
            .parse::<PlanCode>()
            .map_err(|_| invalid("DEFAULT_PLAN", &text, "BASIC, PRO or ENTERPRISE"))?,
        None if enabled => PlanCode::Basic,
        None => PlanCode::Enterprise,
    };
    Ok(BillingSettings {
        stripe_secret_key: stripe_secret_key.map(SecretValue::new),
        stripe_webhook_secret: var("STRIPE_WEBHOOK_SECRET").map(SecretValue::new),
        stripe_api_base: url(var, "STRIPE_API_BASE")?
            .unwrap_or_else(|| "https://api.stripe.com".to_owned()),
        price_pro: var("STRIPE_PRICE_PRO"),
        price_enterprise: var("STRIPE_PRICE_ENTERPRISE"),
        default_plan,
        success_url: url(var, "BILLING_SUCCESS_URL")?,
        cancel_url: url(var, "BILLING_CANCEL_URL")?,
        grace_days: bounded(var("BILLING_GRACE_DAYS"), "BILLING_GRACE_DAYS", 0..=60, 7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<BillingSettings, ConfigError> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        billing_settings(&|name: &str| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn off_by_default_with_the_unlimited_plan() {
        let settings = read(&[]).expect("defaults");
        assert!(!settings.enabled());
        assert_eq!(settings.default_plan, PlanCode::Enterprise);
        assert_eq!(settings.grace_days, 7);
    }

    #[test]
    fn a_secret_key_turns_billing_on_with_basic_as_default() {
        let settings = read(&[("STRIPE_SECRET_KEY", "sk_test_abc")]).expect("on");
        assert!(settings.enabled());
        assert_eq!(settings.default_plan, PlanCode::Basic);
        let pro = read(&[
            ("STRIPE_SECRET_KEY", "sk_test_abc"),
            ("DEFAULT_PLAN", "PRO"),
        ])
        .expect("pro");
        assert_eq!(pro.default_plan, PlanCode::Pro);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("STRIPE_SECRET_KEY", "pk_test_abc"),
            ("DEFAULT_PLAN", "GOLD"),
            ("BILLING_GRACE_DAYS", "61"),
            ("STRIPE_API_BASE", "ftp://stripe"),
            ("BILLING_SUCCESS_URL", "nope"),
        ] {
            let err = read(&[(name, value)]).expect_err(value);
            assert_eq!(err.name, name);
        }
    }
}
