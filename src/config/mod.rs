//! Typed settings read once at start-up from the environment (and `.env`).
//!
//! Every variable is parsed here; a bad or missing value stops start-up with one line that
//! names the variable and says what was expected. Nothing else in the crate reads the
//! environment.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use lettre::message::Mailbox;

use crate::secrets::MasterKey;
use smtp::SmtpUrl;

mod audit;
mod billing;
mod chains;
mod exposure;
mod fairness;
mod inbound;
mod realtime_limits;
mod security_alerts;
pub mod smtp;
mod templates_mail;
mod values;
pub use audit::AuditSettings;
pub use billing::BillingSettings;
pub use chains::ChainSettings;
pub use exposure::ExposureSettings;
pub use fairness::FairnessSettings;
pub use inbound::TriggerSettings;
pub use realtime_limits::RealtimeLimits;
pub use security_alerts::SecurityAlertSettings;
pub use templates_mail::{TemplateLimits, TemplatesMailSettings};
use values::{
    auth_settings, boolean, bounded, invalid, notion_settings, parse, parse_cidrs, parse_origins,
    seconds,
};

/// Where the process runs; production refuses development conveniences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Local development: generated secrets are allowed (with a warning).
    Development,
    /// Automated tests.
    Test,
    /// Production: every secret must be configured explicitly.
    Production,
}

impl Environment {
    /// The lowercase name used in `NOCRON_ENV` and `/api/status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when the output is a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No cross-origin access (the default).
    None,
    /// Any origin, without credentials (`*`).
    Any,
    /// These exact origins, with credentials.
    List(Vec<String>),
}

/// All runtime settings. Built by [`Settings::from_env`] or directly by tests.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `NOCRON_ENV`: development (default), test or production.
    pub environment: Environment,
    /// `HOST`: address to bind (default 127.0.0.1).
    pub host: IpAddr,
    /// `PORT`: port to bind (default 3000; 0 picks a free one).
    pub port: u16,
    /// `DATABASE_URL`: PostgreSQL URL; unset starts the embedded local cluster.
    pub database_url: Option<String>,
    /// `DATABASE_MAX_CONNECTIONS`: pool size (default 10).
    pub database_max_connections: u32,
    /// `DATA_DIR`: where the embedded cluster and generated secrets live (default `./data`).
    pub data_dir: PathBuf,
    /// `JWT_SECRET`: HMAC key for access tokens (≥ 32 bytes); generated in development.
    pub jwt_secret: Option<String>,
    /// `CORS_ORIGINS`: comma-separated origins, `*`, or empty for none.
    pub cors_origins: CorsOrigins,
    /// `LOG_FORMAT`: pretty (default) or json.
    pub log_format: LogFormat,
    /// `REQUEST_BODY_LIMIT_BYTES`: largest accepted request body (default 1 MiB).
    pub request_body_limit: usize,
    /// `REQUEST_TIMEOUT_SECONDS`: requests running longer get 408 (default 30).
    pub request_timeout: Duration,
    /// `SHUTDOWN_GRACE_SECONDS`: how long in-flight requests may finish after a stop signal (default 30).
    pub shutdown_grace: Duration,
    /// `PUBLIC_URL`: the externally visible base URL; `https://` turns on HSTS.
    pub public_url: Option<String>,
    /// `REDIS_URL`: when set, Socket.IO rooms span every instance through Redis pub/sub.
    pub redis_url: Option<String>,
    /// `REALTIME_REDIS_PREFIX`: channel prefix of the Socket.IO Redis adapter; instances
    /// sharing rooms must use the same one (default `nocron-socket.io`).
    pub realtime_redis_prefix: String,
    /// `REALTIME_QUEUE_CAPACITY`: messages the gateway queue holds before new ones are
    /// dropped (default 10000).
    pub realtime_queue_capacity: usize,
    /// `REALTIME_CLIENT_BUFFER`: packets buffered per socket before that socket misses
    /// messages (default 256).
    pub realtime_client_buffer: usize,
    /// `REALTIME_METRICS_INTERVAL_SECONDS`: period of `dashboard.metrics` (default 5).
    pub realtime_metrics_interval: Duration,
    /// `REALTIME_COALESCE_MS`: how long the gateway gathers messages before sending them
    /// together, so each socket gets them in one write (default 2; 0 sends each at once).
    pub realtime_coalesce: Duration,
    /// `SCHEDULER_ENABLED`: run the dispatcher that turns due schedules into executions (default true).
    pub scheduler_enabled: bool,
    /// `WORKERS_ENABLED`: run workers that claim and execute queued executions (default true).
    pub workers_enabled: bool,
    /// `NOTIFICATIONS_ENABLED`: run the alert-rule consumer and the notification delivery
    /// worker (default true).
    pub notifications_enabled: bool,
    /// `WORKER_CONCURRENCY`: executions one instance runs at the same time (default 32).
    pub worker_concurrency: usize,
    /// `WORKER_BATCH_SIZE`: executions claimed per query (default 32).
    pub worker_batch_size: usize,
    /// `EXECUTION_LEASE_SECONDS`: how long a claim holds without a heartbeat before another
    /// instance rescues the execution (default 30).
    pub execution_lease: Duration,
    /// `EXECUTION_RETENTION_DAYS`: finished executions older than this are pruned (default 30).
    pub execution_retention_days: u32,
    /// `ACCOUNT_PURGE_GRACE_DAYS`: days between an admin's delete and the purge of the account
    /// (0–3650, default 30).
    pub account_purge_grace_days: u32,
    /// `OUTBOUND_ALLOW_CIDRS`: comma-separated ranges that user-configured requests may
    /// reach even though they are internal (self-hosted targets); empty by default.
    pub outbound_allow_cidrs: Vec<ipnet::IpNet>,
    /// `TRUSTED_PROXIES`: comma-separated ranges of reverse proxies whose `X-Forwarded-For`
    /// is believed; empty by default (the TCP peer is the client).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `NOCRON_MASTER_KEY`: the key secrets are encrypted under (`base64` or `id:base64` of
    /// 32 bytes); generated in development.
    pub master_key: Option<MasterKey>,
    /// `NOCRON_OLD_MASTER_KEYS`: comma-separated earlier keys, still accepted for decryption.
    pub old_master_keys: Vec<MasterKey>,
    /// `SMTP_URL`: outbound mail server (`smtp://`, `smtps://`, `smtp://…?tls=required`).
    pub smtp_url: Option<SmtpUrl>,
    /// `SMTP_FROM`: the sender of outgoing mail (`Nocron <noreply@example.com>`); required with `SMTP_URL`.
    pub smtp_from: Option<Mailbox>,
    /// `SMTP_TIMEOUT_SECONDS`: connect and command timeout (default 30).
    pub smtp_timeout: Duration,
    /// `SMTP_CA_FILE`: PEM certificates to trust in addition to the system's, for a private CA.
    pub smtp_ca_file: Option<PathBuf>,
    /// Extra trusted CA (PEM) for `DATABASE_QUERY` TLS connections (`DATABASE_QUERY_CA_FILE`).
    /// Tasks cannot name files on the server, so a private CA is the operator's to trust.
    pub database_query_ca_file: Option<PathBuf>,
    /// `DATABASE_QUERY_ALLOW_NOCRON_DB`: lets DATABASE_QUERY tasks reach Nocron's own
    /// database (off: such tasks fail).
    pub database_query_allow_nocron_db: bool,
    /// Identity and access settings (tokens, sessions, rate limits, lockout).
    pub auth: AuthSettings,
    /// Inbound trigger settings (webhooks, inbound email).
    pub triggers: TriggerSettings,
    /// Per-owner limits of the engine (running and queued executions).
    pub fairness: FairnessSettings,
    /// The audit trail (on/off, queue, sealing, retention).
    pub audit: AuditSettings,
    /// Security alerts (the optional alert webhook).
    pub security_alerts: SecurityAlertSettings,
    /// Task chaining limits (out-degree, depth, executions per root).
    pub chains: ChainSettings,
    /// The Notion integration (API base URL, OAuth client).
    pub notion: NotionSettings,
    /// Template bounds and outbound mail limits.
    pub templates_mail: TemplatesMailSettings,
    /// Who may scrape `/metrics` and on which address (`METRICS_TOKEN`, `METRICS_ADDR`).
    pub exposure: ExposureSettings,
    /// Per-connection limits of the realtime gateway.
    pub realtime_limits: RealtimeLimits,
    /// Billing: Stripe, the default plan and the grace after a failed payment.
    pub billing: BillingSettings,
}

/// Settings of the Notion integration.
#[derive(Debug, Clone)]
pub struct NotionSettings {
    /// `NOTION_API_URL`: the Notion API's base URL (default `https://api.notion.com`).
    pub api_url: reqwest::Url,
    /// `NOTION_CLIENT_ID`, `NOTION_CLIENT_SECRET`, `NOTION_REDIRECT_URI`: the public OAuth
    /// integration users connect through; all three or none.
    pub oauth: Option<NotionOAuthSettings>,
}

/// The OAuth client of a public Notion integration.
#[derive(Debug, Clone)]
pub struct NotionOAuthSettings {
    /// `NOTION_CLIENT_ID`.
    pub client_id: String,
    /// `NOTION_CLIENT_SECRET` (never shown by `Debug`).
    pub client_secret: crate::secrets::SecretValue,
    /// `NOTION_REDIRECT_URI`: where Notion sends the browser back (`…/notion/oauth/callback`).
    pub redirect_uri: String,
}

/// Settings of the `auth` and `api_keys` modules.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `JWT_ISSUER`: the `iss` of access tokens (default `nocron`).
    pub jwt_issuer: String,
    /// `JWT_AUDIENCE`: the `aud` of access tokens (default `nocron-api`).
    pub jwt_audience: String,
    /// `ACCESS_TOKEN_TTL_SECONDS`: access-token lifetime (default 900).
    pub access_token_ttl: Duration,
    /// `SESSION_IDLE_TTL_SECONDS`: a session unused this long ends (default 7 days).
    pub session_idle_ttl: Duration,
    /// `SESSION_ABSOLUTE_TTL_SECONDS`: a session ends this long after login (default 30 days).
    pub session_absolute_ttl: Duration,
    /// `AUTH_RATE_LIMIT_PER_MINUTE`: register/login/refresh requests per client IP (default 20).
    pub auth_rate_limit_per_minute: u32,
    /// `AUTH_RATE_LIMIT_BURST`: how many of them may come at once (default 10).
    pub auth_rate_limit_burst: u32,
    /// `API_KEY_RATE_LIMIT_PER_MINUTE`: `/api/v1` requests per API key or user (default 600).
    pub api_key_rate_limit_per_minute: u32,
    /// `API_KEY_RATE_LIMIT_BURST`: how many of them may come at once (default 100).
    pub api_key_rate_limit_burst: u32,
    /// `LOGIN_LOCKOUT_THRESHOLD`: failed logins on one email before it is locked (default 5).
    pub login_lockout_threshold: u32,
    /// `LOGIN_LOCKOUT_BASE_SECONDS`: the first lock's length; each further lock doubles it,
    /// up to 15 minutes (default 60).
    pub login_lockout_base: Duration,
    /// `REGISTRATION_EMAIL_VERIFICATION`: registration answers 202 for every email and
    /// mails a verification token; the account exists once the token is presented (default
    /// on when `SMTP_URL` is set, off otherwise).
    pub registration_email_verification: bool,
    /// `REGISTRATION_TOKEN_TTL_SECONDS`: how long a verification token works (default 24 h).
    pub registration_token_ttl: Duration,
    /// `SESSION_CLEANUP_CRON`: when expired sessions are deleted (six-field cron, default
    /// every 15 minutes).
    pub session_cleanup_cron: String,
}

/// A setting that could not be parsed; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {name}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub name: &'static str,
    /// What was wrong and what is expected.
    pub message: String,
}

impl Settings {
    /// Reads `.env` (if present) and the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is not.
        if let Err(err) = dotenvy::dotenv()
            && !err.not_found()
        {
            return Err(ConfigError {
                name: ".env",
                message: err.to_string(),
            });
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds settings from any variable source; `from_env` uses the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let environment = match var("NOCRON_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("test") => Environment::Test,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "NOCRON_ENV",
                    other,
                    "development, test or production",
                ));
            }
        };
        let host = parse(
            var("HOST"),
            "HOST",
            "an IP address such as 127.0.0.1 or 0.0.0.0",
        )?
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let port = parse(var("PORT"), "PORT", "a port number 0-65535")?.unwrap_or(3000);
        let database_max_connections = parse::<u32>(
            var("DATABASE_MAX_CONNECTIONS"),
            "DATABASE_MAX_CONNECTIONS",
            "a whole number from 1 to 1000",
        )?
        .unwrap_or(10);
        if !(1..=1000).contains(&database_max_connections) {
            return Err(invalid(
                "DATABASE_MAX_CONNECTIONS",
                &database_max_connections.to_string(),
                "a whole number from 1 to 1000",
            ));
        }
        let database_url = var("DATABASE_URL");
        if let Some(url) = &database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                name: "DATABASE_URL",
                message: "expected a postgres:// or postgresql:// URL".into(),
            });
        }
        let jwt_secret = var("JWT_SECRET");
        match &jwt_secret {
            Some(secret) if secret.len() < 32 => {
                return Err(ConfigError {
                    name: "JWT_SECRET",
                    message: format!("must be at least 32 bytes, got {}", secret.len()),
                });
            }
            None if environment == Environment::Production => {
                return Err(ConfigError {
                    name: "JWT_SECRET",
                    message: "is required when NOCRON_ENV=production (at least 32 random bytes)"
                        .into(),
                });
            }
            _ => {}
        }
        let cors_origins = match var("CORS_ORIGINS").as_deref() {
            None => CorsOrigins::None,
            Some("*") => CorsOrigins::Any,
            Some(list) => CorsOrigins::List(parse_origins(list)?),
        };
        let log_format = match var("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("LOG_FORMAT", other, "pretty or json")),
        };
        let request_body_limit = parse(
            var("REQUEST_BODY_LIMIT_BYTES"),
            "REQUEST_BODY_LIMIT_BYTES",
            "a number of bytes",
        )?
        .unwrap_or(1024 * 1024);
        let request_timeout = seconds(
            var("REQUEST_TIMEOUT_SECONDS"),
            "REQUEST_TIMEOUT_SECONDS",
            30,
        )?;
        let shutdown_grace = seconds(var("SHUTDOWN_GRACE_SECONDS"), "SHUTDOWN_GRACE_SECONDS", 30)?;
        let public_url = var("PUBLIC_URL");
        if let Some(url) = &public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid("PUBLIC_URL", url, "an http:// or https:// URL"));
        }
        let redis_url = var("REDIS_URL");
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(ConfigError {
                name: "REDIS_URL",
                message: "expected a redis:// or rediss:// URL".into(),
            });
        }
        let realtime_redis_prefix =
            var("REALTIME_REDIS_PREFIX").unwrap_or_else(|| "nocron-socket.io".to_owned());
        if realtime_redis_prefix.contains(['#', ' ']) {
            return Err(invalid(
                "REALTIME_REDIS_PREFIX",
                &realtime_redis_prefix,
                "a name without spaces or '#'",
            ));
        }
        let realtime_queue_capacity = bounded(
            var("REALTIME_QUEUE_CAPACITY"),
            "REALTIME_QUEUE_CAPACITY",
            1..=10_000_000,
            10_000,
        )?;
        let realtime_client_buffer = bounded(
            var("REALTIME_CLIENT_BUFFER"),
            "REALTIME_CLIENT_BUFFER",
            8..=1_000_000,
            256,
        )?;
        let realtime_metrics_interval = seconds(
            var("REALTIME_METRICS_INTERVAL_SECONDS"),
            "REALTIME_METRICS_INTERVAL_SECONDS",
            5,
        )?;
        let realtime_coalesce = Duration::from_millis(bounded(
            var("REALTIME_COALESCE_MS"),
            "REALTIME_COALESCE_MS",
            0..=1_000,
            2,
        )?);
        let scheduler_enabled = boolean(var("SCHEDULER_ENABLED"), "SCHEDULER_ENABLED", true)?;
        let workers_enabled = boolean(var("WORKERS_ENABLED"), "WORKERS_ENABLED", true)?;
        let notifications_enabled =
            boolean(var("NOTIFICATIONS_ENABLED"), "NOTIFICATIONS_ENABLED", true)?;
        let worker_concurrency = bounded(
            var("WORKER_CONCURRENCY"),
            "WORKER_CONCURRENCY",
            1..=10_000,
            32,
        )?;
        let worker_batch_size =
            bounded(var("WORKER_BATCH_SIZE"), "WORKER_BATCH_SIZE", 1..=1000, 32)?;
        let execution_lease = seconds(
            var("EXECUTION_LEASE_SECONDS"),
            "EXECUTION_LEASE_SECONDS",
            30,
        )?;
        if execution_lease < Duration::from_secs(3) {
            return Err(invalid(
                "EXECUTION_LEASE_SECONDS",
                &execution_lease.as_secs().to_string(),
                "at least 3 seconds (heartbeats run every third of it)",
            ));
        }
        let execution_retention_days = bounded(
            var("EXECUTION_RETENTION_DAYS"),
            "EXECUTION_RETENTION_DAYS",
            1..=36_500,
            30,
        )?;
        let account_purge_grace_days = bounded(
            var("ACCOUNT_PURGE_GRACE_DAYS"),
            "ACCOUNT_PURGE_GRACE_DAYS",
            0..=3650,
            30,
        )?;
        let outbound_allow_cidrs = match var("OUTBOUND_ALLOW_CIDRS") {
            Some(list) => parse_cidrs(&list, "OUTBOUND_ALLOW_CIDRS")?,
            None => Vec::new(),
        };
        let trusted_proxies = match var("TRUSTED_PROXIES") {
            Some(list) => parse_cidrs(&list, "TRUSTED_PROXIES")?,
            None => Vec::new(),
        };
        let auth = auth_settings(&var)?;
        let triggers = inbound::trigger_settings(&var)?;
        let fairness = fairness::fairness_settings(&var, worker_concurrency)?;
        let audit = audit::audit_settings(&var)?;
        let security_alerts = security_alerts::security_alert_settings(&var)?;
        let chains = chains::chain_settings(&var)?;
        let realtime_limits = realtime_limits::realtime_limits(&var)?;
        let notion = notion_settings(&var)?;
        let templates_mail = templates_mail::templates_mail_settings(&var)?;
        let exposure = exposure::exposure_settings(&var)?;
        let billing = billing::billing_settings(&var)?;
        let master_key = var("NOCRON_MASTER_KEY")
            .map(|text| {
                MasterKey::parse(&text).map_err(|message| ConfigError {
                    name: "NOCRON_MASTER_KEY",
                    message,
                })
            })
            .transpose()?;
        if master_key.is_none() && environment == Environment::Production {
            return Err(ConfigError {
                name: "NOCRON_MASTER_KEY",
                message: "is required when NOCRON_ENV=production (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)".into(),
            });
        }
        let old_master_keys = var("NOCRON_OLD_MASTER_KEYS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .enumerate()
                    .map(|(i, item)| {
                        MasterKey::parse(item).map_err(|message| ConfigError {
                            name: "NOCRON_OLD_MASTER_KEYS",
                            message: format!("key {}: {message}", i + 1),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let smtp_url = var("SMTP_URL")
            .map(|text| {
                SmtpUrl::parse(&text).map_err(|message| ConfigError {
                    name: "SMTP_URL",
                    message,
                })
            })
            .transpose()?;
        let smtp_from = var("SMTP_FROM")
            .map(|text| {
                text.parse::<Mailbox>().map_err(|_| {
                    invalid(
                        "SMTP_FROM",
                        &text,
                        "an address like Nocron <noreply@example.com>",
                    )
                })
            })
            .transpose()?;
        if auth.registration_email_verification && smtp_url.is_none() {
            return Err(ConfigError {
                name: "REGISTRATION_EMAIL_VERIFICATION",
                message: "needs SMTP_URL: verification tokens are sent by email".into(),
            });
        }
        if smtp_url.is_some() && smtp_from.is_none() {
            return Err(ConfigError {
                name: "SMTP_FROM",
                message: "is required when SMTP_URL is set (e.g. Nocron <noreply@example.com>)"
                    .into(),
            });
        }
        let smtp_timeout = seconds(var("SMTP_TIMEOUT_SECONDS"), "SMTP_TIMEOUT_SECONDS", 30)?;
        let database_query_ca_file = var("DATABASE_QUERY_CA_FILE").map(PathBuf::from);
        if let Some(path) = &database_query_ca_file
            && !path.is_file()
        {
            return Err(invalid(
                "DATABASE_QUERY_CA_FILE",
                &path.display().to_string(),
                "a readable PEM file",
            ));
        }
        let smtp_ca_file = var("SMTP_CA_FILE").map(PathBuf::from);
        if let Some(path) = &smtp_ca_file
            && !path.is_file()
        {
            return Err(invalid(
                "SMTP_CA_FILE",
                &path.display().to_string(),
                "a readable PEM file",
            ));
        }
        let database_query_allow_nocron_db = boolean(
            var("DATABASE_QUERY_ALLOW_NOCRON_DB"),
            "DATABASE_QUERY_ALLOW_NOCRON_DB",
            false,
        )?;
        Ok(Settings {
            auth,
            notion,
            environment,
            host,
            port,
            database_url,
            database_max_connections,
            data_dir: var("DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("data")),
            jwt_secret,
            cors_origins,
            log_format,
            request_body_limit,
            request_timeout,
            shutdown_grace,
            public_url,
            redis_url,
            realtime_redis_prefix,
            realtime_queue_capacity,
            realtime_client_buffer,
            realtime_coalesce,
            realtime_metrics_interval,
            scheduler_enabled,
            workers_enabled,
            notifications_enabled,
            worker_concurrency,
            worker_batch_size,
            execution_lease,
            execution_retention_days,
            account_purge_grace_days,
            outbound_allow_cidrs,
            trusted_proxies,
            master_key,
            old_master_keys,
            smtp_url,
            smtp_from,
            smtp_timeout,
            smtp_ca_file,
            database_query_ca_file,
            database_query_allow_nocron_db,
            triggers,
            templates_mail,
            exposure,
            fairness,
            audit,
            security_alerts,
            chains,
            realtime_limits,
            billing,
        })
    }

    /// Whether responses should carry `Strict-Transport-Security` regardless of the request.
    pub fn always_hsts(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
    }
}

/// The JWT signing secret: `JWT_SECRET` when set; otherwise (never in production, which
/// `from_lookup` refuses) a random secret generated once and kept in `DATA_DIR/jwt_secret`
/// (mode 0600), so tokens survive restarts.
pub fn resolve_jwt_secret(settings: &Settings) -> anyhow::Result<String> {
    use anyhow::Context;
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    if let Some(secret) = &settings.jwt_secret {
        return Ok(secret.clone());
    }
    let path = settings.data_dir.join("jwt_secret");
    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing.trim().len() >= 32
    {
        return Ok(existing.trim().to_owned());
    }
    tracing::warn!(
        path = %path.display(),
        "JWT_SECRET is not set: using a generated development secret (set JWT_SECRET in production)"
    );
    let mut bytes = [0u8; 48];
    rand::Rng::fill(&mut rand::rng(), &mut bytes[..]);
    let secret = hex::encode(bytes);
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create DATA_DIR {}", settings.data_dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    Ok(secret)
}

#[cfg(test)]
mod tests;
