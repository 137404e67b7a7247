//! Settings of the audit trail: whether requests are recorded, how many events may wait to
//! be written, how often the hash chain is sealed and how long rows are kept.

use std::time::Duration;

use super::{
    ConfigError,
    values::{boolean, bounded},
};

/// Settings of the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSettings {
    /// `AUDIT_ENABLED`: record every HTTP request (default true).
    pub enabled: bool,
    /// `AUDIT_QUEUE_CAPACITY`: events waiting to be written; when full, requests wait
    /// (1–1,000,000, default 10,000).
    pub queue_capacity: usize,
    /// `AUDIT_SEAL_INTERVAL_SECONDS`: how often new rows are added to the hash chain
    /// (1–3600, default 5).
    pub seal_interval: Duration,
    /// `AUDIT_RETENTION_DAYS`: rows older than this are purged daily (1–36,500, default 365).
    pub retention_days: u32,
}

pub(super) fn audit_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<AuditSettings, ConfigError> {
    Ok(AuditSettings {
        enabled: boolean(var("AUDIT_ENABLED"), "AUDIT_ENABLED", true)?,
        queue_capacity: bounded(
            var("AUDIT_QUEUE_CAPACITY"),
            "AUDIT_QUEUE_CAPACITY",
            1..=1_000_000,
            10_000,
        )?,
        seal_interval: Duration::from_secs(bounded(
            var("AUDIT_SEAL_INTERVAL_SECONDS"),
            "AUDIT_SEAL_INTERVAL_SECONDS",
            1..=3600,
            5,
        )?),
        retention_days: bounded(
            var("AUDIT_RETENTION_DAYS"),
            "AUDIT_RETENTION_DAYS",
            1..=36_500,
            365,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let none = |_: &str| None;
        let settings = audit_settings(&none).expect("defaults");
        assert!(settings.enabled);
        assert_eq!(settings.queue_capacity, 10_000);
        assert_eq!(settings.retention_days, 365);
        let zero = |name: &str| (name == "AUDIT_QUEUE_CAPACITY").then(|| "0".to_owned());
        assert!(audit_settings(&zero).is_err());
    }
}
