//! The security-alert vocabulary: rules, severities and alert states, spelled as on the wire
//! and in the database, and the life cycle's one rule (states only move forward).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::text_enum;

text_enum! {
    /// A detection rule.
    #[schema(as = SecurityRuleKind)]
    pub enum RuleKind {
        /// Failed sign-ins on one account (and the progressive block of an account/IP pair).
        FailedLogins = "FAILED_LOGINS",
        /// One address failing against many accounts.
        PasswordSpray = "PASSWORD_SPRAY",
        /// A successful sign-in from a network the user has not used lately.
        UnusualIp = "UNUSUAL_IP",
        /// Many admin requests by one actor.
        AdminBurst = "ADMIN_BURST",
        /// A scanner's user agent.
        SuspiciousUserAgent = "SUSPICIOUS_USER_AGENT",
        /// Many 401/403 answers to one API key.
        ApiKeyAbuse = "API_KEY_ABUSE",
    }
}

text_enum! {
    /// How serious an alert is.
    pub enum Severity {
        /// Worth a look.
        Low = "LOW",
        /// Likely hostile.
        Medium = "MEDIUM",
        /// Hostile; admins are notified.
        High = "HIGH",
        /// Hostile and damaging; admins are notified.
        Critical = "CRITICAL",
    }
}

impl Severity {
    /// Whether admins are notified (in-app, email, Socket.IO and the alert webhook).
    pub fn notifies_admins(self) -> bool {
        matches!(self, Severity::High | Severity::Critical)
    }
}

text_enum! {
    /// Where an alert is in its life cycle.
    pub enum AlertStatus {
        /// Raised, nobody has looked yet.
        Open = "OPEN",
        /// An admin is on it.
        Acknowledged = "ACKNOWLEDGED",
        /// Dealt with.
        Resolved = "RESOLVED",
        /// Not an attack.
        FalsePositive = "FALSE_POSITIVE",
    }
}

impl AlertStatus {
    /// Whether an alert may move from `self` to `to`: `OPEN → ACKNOWLEDGED`, and from
    /// either to `RESOLVED` or `FALSE_POSITIVE`. Final states never move.
    pub fn may_become(self, to: AlertStatus) -> bool {
        use AlertStatus as S;
        matches!(
            (self, to),
            (S::Open, S::Acknowledged)
                | (S::Open | S::Acknowledged, S::Resolved | S::FalsePositive)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_only_move_forward() {
        use AlertStatus as S;
        let allowed: Vec<(S, S)> = S::ALL
            .iter()
            .flat_map(|from| S::ALL.iter().map(move |to| (*from, *to)))
            .filter(|(from, to)| from.may_become(*to))
            .collect();
        assert_eq!(
            allowed,
            [
                (S::Open, S::Acknowledged),
                (S::Open, S::Resolved),
                (S::Open, S::FalsePositive),
                (S::Acknowledged, S::Resolved),
                (S::Acknowledged, S::FalsePositive),
            ]
        );
    }

    #[test]
    fn only_high_and_critical_notify_admins() {
        let notifying: Vec<_> = Severity::ALL
            .iter()
            .filter(|s| s.notifies_admins())
            .collect();
        assert_eq!(notifying, [&Severity::High, &Severity::Critical]);
    }
}

/// One alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertOut {
    /// UUIDv7.
    pub id: Uuid,
    /// The rule that raised it.
    pub rule: RuleKind,
    /// How serious it is.
    pub severity: Severity,
    /// Who or what it is about: an email (`FAILED_LOGINS`), an address (`PASSWORD_SPRAY`,
    /// `SUSPICIOUS_USER_AGENT`), `{user id} {network}` (`UNUSUAL_IP`), a user id
    /// (`ADMIN_BURST`) or an API key id (`API_KEY_ABUSE`).
    pub subject: String,
    /// Occurrences folded into it.
    pub count: i32,
    /// The first occurrence.
    pub first_seen: DateTime<Utc>,
    /// The latest occurrence.
    pub last_seen: DateTime<Utc>,
    /// The audit events that caused it (the first 50).
    pub event_ids: Vec<Uuid>,
    /// Details (email, address, user agent, …).
    #[schema(value_type = Object)]
    pub details: Value,
    /// Raised while the rule was monitor-only: nobody was blocked or notified.
    pub monitor_only: bool,
    /// Where it is in its life cycle.
    pub status: AlertStatus,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}
