//! Settings of security alerts: the optional webhook every HIGH and CRITICAL alert is posted
//! to, signed the Standard Webhooks way.

use super::{ConfigError, values::invalid};

/// Settings of security alerts.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecurityAlertSettings {
    /// `SECURITY_ALERT_WEBHOOK_URL`: where HIGH and CRITICAL alerts are posted (http or https;
    /// through the outbound address policy).
    pub webhook_url: Option<reqwest::Url>,
    /// `SECURITY_ALERT_WEBHOOK_SECRET`: the `whsec_…` signing secret (required with the URL).
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for SecurityAlertSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityAlertSettings")
            .field(
                "webhook_url",
                &self.webhook_url.as_ref().map(|u| u.as_str()),
            )
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

pub(super) fn security_alert_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<SecurityAlertSettings, ConfigError> {
    let webhook_url = var("SECURITY_ALERT_WEBHOOK_URL")
        .filter(|v| !v.trim().is_empty())
        .map(|text| {
            reqwest::Url::parse(text.trim())
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
                .ok_or_else(|| invalid("SECURITY_ALERT_WEBHOOK_URL", &text, "an http(s) URL"))
        })
        .transpose()?;
    let webhook_secret = var("SECURITY_ALERT_WEBHOOK_SECRET").filter(|v| !v.trim().is_empty());
    if let Some(secret) = &webhook_secret
        && crate::triggers::signature::StandardWebhooksKey::parse(secret).is_err()
    {
        return Err(invalid(
            "SECURITY_ALERT_WEBHOOK_SECRET",
            "[REDACTED]",
            "a Standard Webhooks secret (whsec_ followed by base64)",
        ));
    }
    if webhook_url.is_some() && webhook_secret.is_none() {
        return Err(ConfigError {
            name: "SECURITY_ALERT_WEBHOOK_SECRET",
            message: "is required when SECURITY_ALERT_WEBHOOK_URL is set".to_owned(),
        });
    }
    Ok(SecurityAlertSettings {
        webhook_url,
        webhook_secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_needs_a_valid_url_and_a_secret() {
        let none = |_: &str| None;
        assert_eq!(
            security_alert_settings(&none).expect("defaults"),
            SecurityAlertSettings::default()
        );
        let url_only = |name: &str| {
            (name == "SECURITY_ALERT_WEBHOOK_URL").then(|| "https://siem.example/hook".to_owned())
        };
        assert!(security_alert_settings(&url_only).is_err());
        let both = |name: &str| match name {
            "SECURITY_ALERT_WEBHOOK_URL" => Some("https://siem.example/hook".to_owned()),
            "SECURITY_ALERT_WEBHOOK_SECRET" => {
                Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned())
            }
            _ => None,
        };
        let settings = security_alert_settings(&both).expect("valid");
        assert!(settings.webhook_url.is_some());
        let ftp = |name: &str| (name == "SECURITY_ALERT_WEBHOOK_URL").then(|| "ftp://x".to_owned());
        assert!(security_alert_settings(&ftp).is_err());
    }
}
