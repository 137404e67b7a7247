//! Settings of inbound triggers: webhook body size and rate limits, the inbound SMTP
//! listener and its domain.

use std::{net::SocketAddr, time::Duration};

use super::{
    ConfigError,
    values::{bounded, invalid, parse, seconds},
};

/// Settings of the `triggers` module.
#[derive(Debug, Clone)]
pub struct TriggerSettings {
    /// `WEBHOOK_MAX_BODY_BYTES`: largest body `/hooks/{token}` accepts (default 256 KiB; the
    /// server-wide `REQUEST_BODY_LIMIT_BYTES` applies first).
    pub webhook_max_body_bytes: usize,
    /// `WEBHOOK_RATE_LIMIT_PER_MINUTE`: deliveries per webhook or email token (default 60).
    pub webhook_rate_limit_per_minute: u32,
    /// `WEBHOOK_RATE_LIMIT_BURST`: how many of them may come at once (default 20).
    pub webhook_rate_limit_burst: u32,
    /// `INBOUND_SMTP_ADDR`: where the inbound SMTP listener binds (off when unset).
    pub inbound_smtp_addr: Option<SocketAddr>,
    /// `INBOUND_DOMAIN`: the domain of email-trigger addresses (`task-{token}@DOMAIN`);
    /// required with `INBOUND_SMTP_ADDR`.
    pub inbound_domain: Option<String>,
    /// `INBOUND_EMAIL_MAX_BYTES`: largest message accepted, advertised as SMTP `SIZE`
    /// (default 10 MiB).
    pub inbound_email_max_bytes: usize,
    /// `INBOUND_SMTP_TIMEOUT_SECONDS`: idle time allowed between SMTP commands or data
    /// lines before the connection is closed (default 300).
    pub inbound_smtp_timeout: Duration,
    /// `INBOUND_SMTP_MAX_CONNECTIONS`: concurrent SMTP sessions (default 100).
    pub inbound_smtp_max_connections: usize,
}

pub(super) fn trigger_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<TriggerSettings, ConfigError> {
    let webhook_max_body_bytes = bounded(
        var("WEBHOOK_MAX_BODY_BYTES"),
        "WEBHOOK_MAX_BODY_BYTES",
        1..=(64 * 1024 * 1024),
        256 * 1024,
    )?;
    let webhook_rate_limit_per_minute = bounded(
        var("WEBHOOK_RATE_LIMIT_PER_MINUTE"),
        "WEBHOOK_RATE_LIMIT_PER_MINUTE",
        1..=1_000_000,
        60,
    )?;
    let webhook_rate_limit_burst = bounded(
        var("WEBHOOK_RATE_LIMIT_BURST"),
        "WEBHOOK_RATE_LIMIT_BURST",
        1..=1_000_000,
        20,
    )?;
    let inbound_smtp_addr = parse(
        var("INBOUND_SMTP_ADDR"),
        "INBOUND_SMTP_ADDR",
        "an address and port such as 0.0.0.0:2525",
    )?;
    let inbound_domain = var("INBOUND_DOMAIN").map(|d| d.to_ascii_lowercase());
    if let Some(domain) = &inbound_domain
        && (domain.is_empty()
            || domain.len() > 253
            || !domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
    {
        return Err(invalid(
            "INBOUND_DOMAIN",
            domain,
            "a domain name such as hooks.example.com",
        ));
    }
    if inbound_smtp_addr.is_some() && inbound_domain.is_none() {
        return Err(ConfigError {
            name: "INBOUND_DOMAIN",
            message: "is required when INBOUND_SMTP_ADDR is set (e.g. hooks.example.com)".into(),
        });
    }
    let inbound_email_max_bytes = bounded(
        var("INBOUND_EMAIL_MAX_BYTES"),
        "INBOUND_EMAIL_MAX_BYTES",
        1024..=(100 * 1024 * 1024),
        10 * 1024 * 1024,
    )?;
    let inbound_smtp_timeout = seconds(
        var("INBOUND_SMTP_TIMEOUT_SECONDS"),
        "INBOUND_SMTP_TIMEOUT_SECONDS",
        300,
    )?;
    let inbound_smtp_max_connections = bounded(
        var("INBOUND_SMTP_MAX_CONNECTIONS"),
        "INBOUND_SMTP_MAX_CONNECTIONS",
        1..=10_000,
        100,
    )?;
    Ok(TriggerSettings {
        webhook_max_body_bytes,
        webhook_rate_limit_per_minute,
        webhook_rate_limit_burst,
        inbound_smtp_addr,
        inbound_domain,
        inbound_email_max_bytes,
        inbound_smtp_timeout,
        inbound_smtp_max_connections,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<TriggerSettings, ConfigError> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        trigger_settings(&|name: &str| map.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn defaults_keep_the_smtp_listener_off() {
        let defaults = settings(&[]).expect("defaults");
        assert_eq!(defaults.webhook_max_body_bytes, 256 * 1024);
        assert_eq!(defaults.webhook_rate_limit_per_minute, 60);
        assert_eq!(defaults.webhook_rate_limit_burst, 20);
        assert!(defaults.inbound_smtp_addr.is_none());
        assert!(defaults.inbound_domain.is_none());
        assert_eq!(defaults.inbound_email_max_bytes, 10 * 1024 * 1024);
    }

    #[test]
    fn the_listener_needs_a_domain_and_values_are_checked() {
        let err = settings(&[("INBOUND_SMTP_ADDR", "127.0.0.1:2525")]).expect_err("no domain");
        assert_eq!(err.name, "INBOUND_DOMAIN");
        let on = settings(&[
            ("INBOUND_SMTP_ADDR", "0.0.0.0:2525"),
            ("INBOUND_DOMAIN", "Hooks.Example.com"),
        ])
        .expect("valid");
        assert_eq!(on.inbound_domain.as_deref(), Some("hooks.example.com"));
        for (name, value) in [
            ("INBOUND_SMTP_ADDR", "localhost"),
            ("INBOUND_DOMAIN", "not a domain"),
            ("WEBHOOK_MAX_BODY_BYTES", "0"),
            ("WEBHOOK_RATE_LIMIT_BURST", "many"),
            ("INBOUND_EMAIL_MAX_BYTES", "10"),
        ] {
            let err = settings(&[(name, value)]).expect_err(name);
            assert_eq!(err.name, name);
        }
    }
}
