//! Detection rules: each has a default ([`default_rule`]); an admin's change is stored in
//! `security_alert_rules` and replaces the default. Evaluation reads them with [`load`] (one
//! small query; every instance sees a change at once).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, types::ipnetwork::IpNetwork};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{RuleKind, Severity};

/// The most CIDRs in one rule's allow-list.
pub const MAX_ALLOW_CIDRS: usize = 100;
/// The longest window (90 days).
pub const MAX_WINDOW_SECONDS: i32 = 90 * 24 * 3600;
/// The largest threshold.
pub const MAX_THRESHOLD: i32 = 100_000;

/// Scanner user agents: a request whose `User-Agent` contains one (case-insensitively)
/// fires `SUSPICIOUS_USER_AGENT`.
pub const SCANNER_AGENTS: [&str; 10] = [
    "sqlmap",
    "nikto",
    "nmap",
    "masscan",
    "zgrab",
    "nuclei",
    "wpscan",
    "dirbuster",
    "gobuster",
    "acunetix",
];

/// A rule as evaluated and served.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Rule {
    /// Which rule.
    pub rule: RuleKind,
    /// The severity of its alerts.
    pub severity: Severity,
    /// What it detects, with the meaning of `threshold` and `window_seconds` for it.
    pub description: &'static str,
    /// Whether it is evaluated at all.
    pub enabled: bool,
    /// Alerts are recorded, but nobody is blocked or notified.
    pub monitor_only: bool,
    /// Client addresses inside these networks never count for this rule.
    #[schema(value_type = Vec<String>, example = json!(["10.0.0.0/8"]))]
    pub allow_cidrs: Vec<IpNetwork>,
    /// How many occurrences within the window raise an alert.
    pub threshold: i32,
    /// The sliding window, in seconds (`UNUSUAL_IP`: how long a network stays known).
    pub window_seconds: i32,
    /// `FAILED_LOGINS` only: failures of one (account, address) pair that block the pair
    /// (60 s, doubling up to 15 minutes; failures are forgotten after 12 hours).
    pub block_after: Option<i32>,
    /// When an admin last changed it (absent: the default).
    pub updated_at: Option<DateTime<Utc>>,
}

impl Rule {
    /// Whether `ip` is inside the allow-list.
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        ip.is_some_and(|ip| self.allow_cidrs.iter().any(|net| net.contains(ip)))
    }

    /// Whether the rule acts (blocks, notifies) rather than only recording.
    pub fn acts(&self) -> bool {
        self.enabled && !self.monitor_only
    }
}

/// The default of `kind`.
pub fn default_rule(kind: RuleKind) -> Rule {
    use RuleKind as K;
    let (severity, description, threshold, window_seconds, block_after) = match kind {
        K::FailedLogins => (
            Severity::Medium,
            "failed sign-ins on one account within the window; `block_after` failures of one \
             (account, address) pair block that pair progressively",
            5,
            15 * 60,
            Some(10),
        ),
        K::PasswordSpray => (
            Severity::High,
            "distinct accounts one address failed to sign in to within the window; the address \
             is then refused sign-ins (429) for 15 minutes",
            10,
            10 * 60,
            None,
        ),
        K::UnusualIp => (
            Severity::Low,
            "a successful sign-in from a network (/24 IPv4, /48 IPv6) the user has not used \
             within the window; the user is told",
            1,
            MAX_WINDOW_SECONDS,
            None,
        ),
        K::AdminBurst => (
            Severity::High,
            "admin requests (`/admin/…`) by one actor within the window",
            30,
            60,
            None,
        ),
        K::SuspiciousUserAgent => (
            Severity::Medium,
            "requests whose user agent names a scanner (sqlmap, nikto, nmap, masscan, zgrab, \
             nuclei, …), per address; the window groups them into one alert",
            1,
            3600,
            None,
        ),
        K::ApiKeyAbuse => (
            Severity::Medium,
            "401 and 403 answers to one API key within the window",
            50,
            5 * 60,
            None,
        ),
    };
    Rule {
        rule: kind,
        severity,
        description,
        enabled: true,
        monitor_only: false,
        allow_cidrs: Vec::new(),
        threshold,
        window_seconds,
        block_after,
        updated_at: None,
    }
}

/// Every rule: the stored change, else the default.
pub async fn load_all(db: impl PgExecutor<'_>) -> Result<Vec<Rule>, sqlx::Error> {
    let stored = sqlx::query!(
        r#"SELECT rule AS "rule: RuleKind", enabled, monitor_only, allow_cidrs, threshold,
                  window_seconds, block_after, updated_at
           FROM security_alert_rules"#
    )
    .fetch_all(db)
    .await?;
    Ok(RuleKind::ALL
        .iter()
        .map(|kind| {
            let mut rule = default_rule(*kind);
            if let Some(row) = stored.iter().find(|row| row.rule == *kind) {
                rule.enabled = row.enabled;
                rule.monitor_only = row.monitor_only;
                rule.allow_cidrs = row.allow_cidrs.clone();
                rule.threshold = row.threshold;
                rule.window_seconds = row.window_seconds;
                rule.block_after = row.block_after;
                rule.updated_at = Some(row.updated_at);
            }
            rule
        })
        .collect())
}

/// One rule.
pub async fn load(db: impl PgExecutor<'_>, kind: RuleKind) -> Result<Rule, sqlx::Error> {
    let mut rule = default_rule(kind);
    if let Some(row) = sqlx::query!(
        r#"SELECT enabled, monitor_only, allow_cidrs, threshold, window_seconds, block_after,
                  updated_at
           FROM security_alert_rules WHERE rule = $1"#,
        kind.as_str()
    )
    .fetch_optional(db)
    .await?
    {
        rule.enabled = row.enabled;
        rule.monitor_only = row.monitor_only;
        rule.allow_cidrs = row.allow_cidrs;
        rule.threshold = row.threshold;
        rule.window_seconds = row.window_seconds;
        rule.block_after = row.block_after;
        rule.updated_at = Some(row.updated_at);
    }
    Ok(rule)
}

/// Stores an admin's version of a rule.
pub async fn save(db: impl PgExecutor<'_>, rule: &Rule, admin_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO security_alert_rules
               (rule, enabled, monitor_only, allow_cidrs, threshold, window_seconds, block_after,
                updated_by, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
           ON CONFLICT (rule) DO UPDATE SET
               enabled = EXCLUDED.enabled, monitor_only = EXCLUDED.monitor_only,
               allow_cidrs = EXCLUDED.allow_cidrs, threshold = EXCLUDED.threshold,
               window_seconds = EXCLUDED.window_seconds, block_after = EXCLUDED.block_after,
               updated_by = EXCLUDED.updated_by, updated_at = now()"#,
        rule.rule.as_str(),
        rule.enabled,
        rule.monitor_only,
        &rule.allow_cidrs,
        rule.threshold,
        rule.window_seconds,
        rule.block_after,
        admin_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Whether a user agent names a scanner.
pub fn is_scanner(user_agent: &str) -> bool {
    let lower = user_agent.to_ascii_lowercase();
    SCANNER_AGENTS.iter().any(|name| lower.contains(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_published_thresholds() {
        let failed = default_rule(RuleKind::FailedLogins);
        assert_eq!(
            (failed.threshold, failed.window_seconds, failed.block_after),
            (5, 900, Some(10))
        );
        assert_eq!(failed.severity, Severity::Medium);
        let spray = default_rule(RuleKind::PasswordSpray);
        assert_eq!(
            (spray.threshold, spray.window_seconds, spray.severity),
            (10, 600, Severity::High)
        );
        let burst = default_rule(RuleKind::AdminBurst);
        assert_eq!(
            (burst.threshold, burst.window_seconds, burst.severity),
            (30, 60, Severity::High)
        );
        let keys = default_rule(RuleKind::ApiKeyAbuse);
        assert_eq!((keys.threshold, keys.window_seconds), (50, 300));
        assert_eq!(default_rule(RuleKind::UnusualIp).severity, Severity::Low);
    }

    #[test]
    fn scanners_are_recognised_and_browsers_are_not() {
        assert!(is_scanner("sqlmap/1.7.2#stable (https://sqlmap.org)"));
        assert!(is_scanner("Mozilla/5.00 (Nikto/2.1.6)"));
        assert!(is_scanner("Nuclei - Open-source project"));
        assert!(!is_scanner("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"));
        assert!(!is_scanner("curl/8.5.0"));
    }

    #[test]
    fn the_allow_list_matches_networks() {
        let mut rule = default_rule(RuleKind::FailedLogins);
        rule.allow_cidrs = vec!["10.0.0.0/8".parse().expect("cidr")];
        assert!(rule.allows(Some("10.1.2.3".parse().expect("ip"))));
        assert!(!rule.allows(Some("192.0.2.1".parse().expect("ip"))));
        assert!(!rule.allows(None));
    }
}
