//! Unit tests of settings parsing.

use super::*;
use std::collections::HashMap;

fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn defaults_are_local_and_safe() {
    let s = settings(&[]).expect("defaults parse");
    assert_eq!(s.host.to_string(), "127.0.0.1");
    assert_eq!(s.port, 3000);
    assert_eq!(s.cors_origins, CorsOrigins::None);
    assert_eq!(s.request_body_limit, 1024 * 1024);
    assert!(s.database_url.is_none());
}

#[test]
fn errors_name_the_variable() {
    for (name, value) in [
        ("PORT", "70000"),
        ("HOST", "nowhere"),
        ("LOG_FORMAT", "xml"),
        ("NOCRON_ENV", "staging"),
        ("DATABASE_URL", "mysql://x"),
        ("DATABASE_MAX_CONNECTIONS", "0"),
        ("JWT_SECRET", "short"),
        ("CORS_ORIGINS", "https://a.example/"),
        ("REQUEST_TIMEOUT_SECONDS", "0"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("REALTIME_REDIS_PREFIX", "a#b"),
        ("REALTIME_QUEUE_CAPACITY", "0"),
        ("REALTIME_QUEUE_CAPACITY", "many"),
        ("REALTIME_CLIENT_BUFFER", "2"),
        ("REALTIME_METRICS_INTERVAL_SECONDS", "0"),
        ("SCHEDULER_ENABLED", "maybe"),
        ("WORKERS_ENABLED", "2"),
        ("WORKER_CONCURRENCY", "0"),
        ("WORKER_BATCH_SIZE", "5000"),
        ("EXECUTION_LEASE_SECONDS", "1"),
        ("EXECUTION_RETENTION_DAYS", "-3"),
        ("OUTBOUND_ALLOW_CIDRS", "127.0.0.0/33"),
        ("OUTBOUND_ALLOW_CIDRS", "10.0.0.0/8,localhost"),
        ("ACCESS_TOKEN_TTL_SECONDS", "soon"),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "0"),
        ("API_KEY_RATE_LIMIT_BURST", "-1"),
        ("LOGIN_LOCKOUT_THRESHOLD", "0"),
        ("SESSION_IDLE_TTL_SECONDS", "99999999999"),
        ("SESSION_CLEANUP_CRON", "every full moon"),
        ("SESSION_CLEANUP_CRON", "*/15 * * * *"),
        ("NOCRON_MASTER_KEY", "not-base64"),
        ("NOCRON_MASTER_KEY", "c2hvcnQ="),
        ("NOCRON_OLD_MASTER_KEYS", "bad id:AAAA"),
        ("SMTP_URL", "http://mail.example.com"),
        ("SMTP_FROM", "not an address"),
        ("SMTP_TIMEOUT_SECONDS", "0"),
        ("SMTP_CA_FILE", "/nonexistent/ca.pem"),
    ] {
        let err = settings(&[(name, value)]).expect_err(name);
        assert_eq!(err.name, name);
        assert!(err.to_string().contains(name));
    }
}

#[test]
fn auth_defaults_follow_the_documented_values() {
    let auth = settings(&[]).expect("defaults").auth;
    assert_eq!(auth.access_token_ttl, Duration::from_secs(900));
    assert_eq!(
        auth.session_absolute_ttl,
        Duration::from_secs(30 * 24 * 3600)
    );
    assert_eq!(auth.auth_rate_limit_per_minute, 20);
    assert_eq!(auth.login_lockout_threshold, 5);
    let custom = settings(&[
        ("AUTH_RATE_LIMIT_PER_MINUTE", "3"),
        ("JWT_AUDIENCE", "tests"),
    ])
    .expect("custom")
    .auth;
    assert_eq!(custom.auth_rate_limit_per_minute, 3);
    assert_eq!(custom.jwt_audience, "tests");
}

#[test]
fn engine_settings_have_defaults_and_parse() {
    let s = settings(&[]).expect("defaults parse");
    assert!(s.scheduler_enabled && s.workers_enabled);
    assert_eq!(s.worker_concurrency, 32);
    assert_eq!(s.worker_batch_size, 32);
    assert_eq!(s.execution_lease, Duration::from_secs(30));
    assert_eq!(s.execution_retention_days, 30);
    let s = settings(&[
        ("SCHEDULER_ENABLED", "false"),
        ("WORKERS_ENABLED", "0"),
        ("WORKER_CONCURRENCY", "200"),
        ("WORKER_BATCH_SIZE", "50"),
        ("EXECUTION_LEASE_SECONDS", "9"),
        ("EXECUTION_RETENTION_DAYS", "7"),
    ])
    .expect("parse");
    assert!(!s.scheduler_enabled && !s.workers_enabled);
    assert_eq!(s.worker_concurrency, 200);
    assert_eq!(s.worker_batch_size, 50);
    assert_eq!(s.execution_lease, Duration::from_secs(9));
    assert_eq!(s.execution_retention_days, 7);
}

#[test]
fn production_requires_a_jwt_secret() {
    let err = settings(&[("NOCRON_ENV", "production")]).expect_err("no secret");
    assert_eq!(err.name, "JWT_SECRET");
    let ok = settings(&[
        ("NOCRON_ENV", "production"),
        ("JWT_SECRET", &"x".repeat(32)),
        ("NOCRON_MASTER_KEY", MASTER_KEY),
    ]);
    assert!(ok.is_ok());
}

#[test]
fn smtp_needs_a_sender_and_parses_its_url() {
    let err = settings(&[("SMTP_URL", "smtp://127.0.0.1:2525")]).expect_err("no from");
    assert_eq!(err.name, "SMTP_FROM");
    let s = settings(&[
        ("SMTP_URL", "smtps://user:secret@mail.example.com"),
        ("SMTP_FROM", "Nocron <noreply@example.com>"),
        ("SMTP_TIMEOUT_SECONDS", "5"),
    ])
    .expect("parse");
    let url = s.smtp_url.expect("url");
    assert_eq!(url.port, 465);
    assert_eq!(
        s.smtp_from.expect("from").email.to_string(),
        "noreply@example.com"
    );
    assert_eq!(s.smtp_timeout, Duration::from_secs(5));
    let err = settings(&[("SMTP_URL", "ftp://user:secret@x")]).expect_err("scheme");
    assert!(!err.to_string().contains("secret"));
}

/// base64 of 32 bytes.
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[test]
fn production_requires_a_master_key() {
    let err = settings(&[
        ("NOCRON_ENV", "production"),
        ("JWT_SECRET", &"x".repeat(32)),
    ])
    .expect_err("no master key");
    assert_eq!(err.name, "NOCRON_MASTER_KEY");
    assert!(settings(&[]).expect("development").master_key.is_none());
}

#[test]
fn master_keys_parse_with_ids_and_old_keys_in_order() {
    let s = settings(&[
        ("NOCRON_MASTER_KEY", &format!("k2:{MASTER_KEY}")),
        (
            "NOCRON_OLD_MASTER_KEYS",
            &format!("k1:{MASTER_KEY}, {MASTER_KEY}"),
        ),
    ])
    .expect("parse");
    assert_eq!(s.master_key.expect("current").id(), "k2");
    let old: Vec<&str> = s.old_master_keys.iter().map(|k| k.id()).collect();
    assert_eq!(old.len(), 2);
    assert_eq!(old[0], "k1");
    assert_eq!(old[1].len(), 16, "an id derived from the key");
    let err = settings(&[("NOCRON_OLD_MASTER_KEYS", &format!("{MASTER_KEY},x"))])
        .expect_err("second key bad");
    assert!(err.message.contains("key 2"), "{}", err.message);
    assert!(
        !err.to_string().contains(MASTER_KEY),
        "keys never echo back"
    );
}

#[test]
fn cors_lists_are_parsed() {
    let s =
        settings(&[("CORS_ORIGINS", "https://a.example, http://localhost:5173")]).expect("parse");
    assert_eq!(
        s.cors_origins,
        CorsOrigins::List(vec![
            "https://a.example".into(),
            "http://localhost:5173".into()
        ])
    );
    assert_eq!(
        settings(&[("CORS_ORIGINS", "*")])
            .expect("any")
            .cors_origins,
        CorsOrigins::Any
    );
}

#[test]
fn realtime_settings_have_defaults_and_overrides() {
    let s = settings(&[]).expect("defaults");
    assert_eq!(s.redis_url, None);
    assert_eq!(s.realtime_redis_prefix, "nocron-socket.io");
    assert_eq!(s.realtime_queue_capacity, 10_000);
    assert_eq!(s.realtime_client_buffer, 256);
    assert_eq!(s.realtime_metrics_interval, Duration::from_secs(5));
    assert_eq!(s.realtime_coalesce, Duration::from_millis(2));
    let s = settings(&[
        ("REDIS_URL", "redis://127.0.0.1:6379/0"),
        ("REALTIME_REDIS_PREFIX", "blue"),
        ("REALTIME_QUEUE_CAPACITY", "50"),
        ("REALTIME_CLIENT_BUFFER", "1024"),
        ("REALTIME_METRICS_INTERVAL_SECONDS", "2"),
        ("REALTIME_COALESCE_MS", "0"),
    ])
    .expect("overrides");
    assert_eq!(s.redis_url.as_deref(), Some("redis://127.0.0.1:6379/0"));
    assert_eq!(s.realtime_redis_prefix, "blue");
    assert_eq!(s.realtime_queue_capacity, 50);
    assert_eq!(s.realtime_client_buffer, 1024);
    assert_eq!(s.realtime_metrics_interval, Duration::from_secs(2));
    assert_eq!(s.realtime_coalesce, Duration::ZERO);
    assert!(settings(&[("REALTIME_COALESCE_MS", "5000")]).is_err());
}

#[test]
fn outbound_allow_cidrs_are_parsed() {
    assert!(
        settings(&[])
            .expect("defaults")
            .outbound_allow_cidrs
            .is_empty()
    );
    let s = settings(&[(
        "OUTBOUND_ALLOW_CIDRS",
        "127.0.0.0/8, ::1/128,10.1.2.3,192.168.1.9/24",
    )])
    .expect("parse");
    let ranges: Vec<String> = s
        .outbound_allow_cidrs
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        ranges,
        ["127.0.0.0/8", "::1/128", "10.1.2.3/32", "192.168.1.0/24"]
    );
}

#[test]
fn registration_verification_follows_smtp_and_needs_it() {
    let off = settings(&[]).expect("defaults");
    assert!(!off.auth.registration_email_verification);
    let smtp = [
        ("SMTP_URL", "smtp://127.0.0.1:2525"),
        ("SMTP_FROM", "Nocron <noreply@example.com>"),
    ];
    let on = settings(&smtp).expect("smtp");
    assert!(on.auth.registration_email_verification);
    assert_eq!(on.auth.registration_token_ttl, Duration::from_secs(86_400));
    let mut explicit_off = smtp.to_vec();
    explicit_off.push(("REGISTRATION_EMAIL_VERIFICATION", "false"));
    assert!(
        !settings(&explicit_off)
            .expect("off")
            .auth
            .registration_email_verification
    );
    let err = settings(&[("REGISTRATION_EMAIL_VERIFICATION", "true")]).expect_err("no smtp");
    assert_eq!(err.name, "REGISTRATION_EMAIL_VERIFICATION");
}

#[test]
fn trusted_proxies_are_parsed_and_named_in_errors() {
    assert!(settings(&[]).expect("defaults").trusted_proxies.is_empty());
    let s = settings(&[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")]).expect("parse");
    assert_eq!(s.trusted_proxies.len(), 2);
    let err = settings(&[("TRUSTED_PROXIES", "proxy.internal")]).expect_err("bad");
    assert_eq!(err.name, "TRUSTED_PROXIES");
}

#[test]
fn notion_oauth_settings_come_as_a_set() {
    let s = settings(&[]).expect("defaults");
    assert_eq!(s.notion.api_url.as_str(), "https://api.notion.com/");
    assert!(s.notion.oauth.is_none());
    let err = settings(&[("NOTION_CLIENT_ID", "abc")]).expect_err("partial");
    assert_eq!(err.name, "NOTION_CLIENT_SECRET");
    let s = settings(&[
        ("NOTION_API_URL", "http://127.0.0.1:9999"),
        ("NOTION_CLIENT_ID", "abc"),
        ("NOTION_CLIENT_SECRET", "very secret"),
        (
            "NOTION_REDIRECT_URI",
            "https://nocron.example/notion/oauth/callback",
        ),
    ])
    .expect("complete");
    let oauth = s.notion.oauth.expect("oauth");
    assert_eq!(oauth.client_id, "abc");
    assert!(!format!("{oauth:?}").contains("very secret"));
    let err = settings(&[("NOTION_API_URL", "ftp://x")]).expect_err("scheme");
    assert_eq!(err.name, "NOTION_API_URL");
}
