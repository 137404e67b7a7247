//! The configuration as `GET /admin/system` shows it: one entry per setting, named by its
//! environment variable, with every secret-bearing value masked. Secrets (the JWT secret,
//! master keys, Stripe keys, OAuth client secrets, the metrics token) appear only as
//! whether they are set; URLs that may carry credentials (the database, Redis, SMTP) keep
//! their host and lose their password. A setting added to [`Settings`] is not shown until it
//! is listed here, so nothing is exposed by default.

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::config::{CorsOrigins, Settings, smtp::SmtpSecurity};

/// What replaces a secret that is set.
pub const MASK: &str = "********";

/// One setting.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigEntry {
    /// The environment variable.
    pub name: String,
    /// The value in effect; `"********"` for a secret that is set, null when unset.
    #[schema(value_type = Object)]
    pub value: Value,
    /// Whether the value is secret (and so masked).
    pub secret: bool,
}

fn plain(name: &str, value: impl Serialize) -> ConfigEntry {
    ConfigEntry {
        name: name.to_owned(),
        value: serde_json::to_value(value).unwrap_or(Value::Null),
        secret: false,
    }
}

fn secret(name: &str, set: bool) -> ConfigEntry {
    ConfigEntry {
        name: name.to_owned(),
        value: if set { json!(MASK) } else { Value::Null },
        secret: true,
    }
}

/// A URL without its password (the whole value masked when it does not parse).
pub fn mask_url(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some(MASK));
            }
            // Query strings may carry passwords (`?password=`); drop them.
            if url.query().is_some() {
                url.set_query(Some(MASK));
            }
            url.to_string()
        }
        Err(_) => MASK.to_owned(),
    }
}

fn url_entry(name: &str, raw: Option<&str>) -> ConfigEntry {
    ConfigEntry {
        name: name.to_owned(),
        value: raw.map_or(Value::Null, |u| json!(mask_url(u))),
        secret: true,
    }
}

/// The settings in effect, secrets masked.
pub fn view(s: &Settings) -> Vec<ConfigEntry> {
    let cors = match &s.cors_origins {
        CorsOrigins::None => json!(null),
        CorsOrigins::Any => json!("*"),
        CorsOrigins::List(list) => json!(list),
    };
    let smtp = s.smtp_url.as_ref().map(|url| {
        let scheme = match url.security {
            SmtpSecurity::ImplicitTls => "smtps",
            SmtpSecurity::StartTls => "smtp+starttls",
            SmtpSecurity::None => "smtp",
        };
        let user = url
            .credentials
            .as_ref()
            .map(|(user, _)| format!("{user}:{MASK}@"))
            .unwrap_or_default();
        format!("{scheme}://{user}{}:{}", url.host, url.port)
    });
    let a = &s.auth;
    let b = &s.billing;
    vec![
        plain("NOCRON_ENV", s.environment.as_str()),
        plain("HOST", s.host.to_string()),
        plain("PORT", s.port),
        url_entry("DATABASE_URL", s.database_url.as_deref()),
        plain("DATABASE_MAX_CONNECTIONS", s.database_max_connections),
        plain("DATA_DIR", s.data_dir.display().to_string()),
        secret("JWT_SECRET", s.jwt_secret.is_some()),
        ConfigEntry {
            name: "CORS_ORIGINS".to_owned(),
            value: cors,
            secret: false,
        },
        plain("LOG_FORMAT", format!("{:?}", s.log_format).to_lowercase()),
        plain("REQUEST_BODY_LIMIT_BYTES", s.request_body_limit),
        plain("REQUEST_TIMEOUT_SECONDS", s.request_timeout.as_secs()),
        plain("SHUTDOWN_GRACE_SECONDS", s.shutdown_grace.as_secs()),
        plain("PUBLIC_URL", s.public_url.as_deref()),
        url_entry("REDIS_URL", s.redis_url.as_deref()),
        plain("SCHEDULER_ENABLED", s.scheduler_enabled),
        plain("WORKERS_ENABLED", s.workers_enabled),
        plain("NOTIFICATIONS_ENABLED", s.notifications_enabled),
        plain("WORKER_CONCURRENCY", s.worker_concurrency),
        plain("WORKER_BATCH_SIZE", s.worker_batch_size),
        plain("EXECUTION_LEASE_SECONDS", s.execution_lease.as_secs()),
        plain("EXECUTION_RETENTION_DAYS", s.execution_retention_days),
        plain("ACCOUNT_PURGE_GRACE_DAYS", s.account_purge_grace_days),
        plain(
            "OUTBOUND_ALLOW_CIDRS",
            s.outbound_allow_cidrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        ),
        plain(
            "TRUSTED_PROXIES",
            s.trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        ),
        secret("NOCRON_MASTER_KEY", s.master_key.is_some()),
        secret("NOCRON_OLD_MASTER_KEYS", !s.old_master_keys.is_empty()),
        ConfigEntry {
            name: "SMTP_URL".to_owned(),
            value: smtp.map_or(Value::Null, Value::String),
            secret: true,
        },
        plain("SMTP_FROM", s.smtp_from.as_ref().map(ToString::to_string)),
        plain("SMTP_TIMEOUT_SECONDS", s.smtp_timeout.as_secs()),
        plain("JWT_ISSUER", &a.jwt_issuer),
        plain("JWT_AUDIENCE", &a.jwt_audience),
        plain("ACCESS_TOKEN_TTL_SECONDS", a.access_token_ttl.as_secs()),
        plain("SESSION_IDLE_TTL_SECONDS", a.session_idle_ttl.as_secs()),
        plain(
            "SESSION_ABSOLUTE_TTL_SECONDS",
            a.session_absolute_ttl.as_secs(),
        ),
        plain("AUTH_RATE_LIMIT_PER_MINUTE", a.auth_rate_limit_per_minute),
        plain("AUTH_RATE_LIMIT_BURST", a.auth_rate_limit_burst),
        plain(
            "API_KEY_RATE_LIMIT_PER_MINUTE",
            a.api_key_rate_limit_per_minute,
        ),
        plain("API_KEY_RATE_LIMIT_BURST", a.api_key_rate_limit_burst),
        plain("LOGIN_LOCKOUT_THRESHOLD", a.login_lockout_threshold),
        plain(
            "REGISTRATION_EMAIL_VERIFICATION",
            a.registration_email_verification,
        ),
        plain("SESSION_CLEANUP_CRON", &a.session_cleanup_cron),
        plain("MAX_RUNNING_PER_OWNER", s.fairness.max_running_per_owner),
        plain("MAX_QUEUED_PER_OWNER", s.fairness.max_queued_per_owner),
        plain("AUDIT_ENABLED", s.audit.enabled),
        plain("AUDIT_QUEUE_CAPACITY", s.audit.queue_capacity),
        plain("AUDIT_RETENTION_DAYS", s.audit.retention_days),
        plain("CHAIN_MAX_DEPTH", s.chains.max_depth),
        plain("WEBHOOK_MAX_BODY_BYTES", s.triggers.webhook_max_body_bytes),
        plain("INBOUND_DOMAIN", s.triggers.inbound_domain.as_deref()),
        secret("METRICS_TOKEN", s.exposure.metrics_token.is_some()),
        plain(
            "METRICS_ADDR",
            s.exposure.metrics_addr.map(|a| a.to_string()),
        ),
        plain("NOTION_API_URL", s.notion.api_url.as_str()),
        secret("NOTION_CLIENT_SECRET", s.notion.oauth.is_some()),
        secret("STRIPE_SECRET_KEY", b.stripe_secret_key.is_some()),
        secret("STRIPE_WEBHOOK_SECRET", b.stripe_webhook_secret.is_some()),
        plain("STRIPE_API_BASE", &b.stripe_api_base),
        plain("DEFAULT_PLAN", b.default_plan.as_str()),
        plain("BILLING_GRACE_DAYS", b.grace_days),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords() {
        let masked = mask_url("postgres://app:hunter2@db.internal:5432/nocron?sslpassword=x");
        assert!(!masked.contains("hunter2"), "{masked}");
        assert!(!masked.contains("sslpassword"), "{masked}");
        assert!(masked.contains("db.internal"), "{masked}");
        assert_eq!(mask_url("not a url hunter2"), MASK);
    }

    #[test]
    fn secrets_are_masked() {
        let settings = Settings::from_lookup(|name| match name {
            "JWT_SECRET" => Some("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-42".to_owned()),
            "DATABASE_URL" => Some("postgres://u:pw-9f8e7d@localhost/db".to_owned()),
            _ => None,
        })
        .expect("settings");
        let text = serde_json::to_string(&view(&settings)).expect("json");
        assert!(!text.contains("s3cr3t"));
        assert!(!text.contains("pw-9f8e7d"));
        assert!(text.contains("\"JWT_SECRET\""));
    }
}
