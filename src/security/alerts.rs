//! Raising alerts. A detection becomes an alert unless its subject is suppressed; one alert
//! stands for a whole burst: while an `OPEN` or `ACKNOWLEDGED` alert of the same rule and
//! subject was seen within the rule's window, a new hit adds to its `count` and `last_seen`.
//! Otherwise the deduplication key (rule, subject, window start) makes one row even when
//! several instances detect the same burst at once. A new alert that acts is announced
//! ([`super::notify`]).

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{
    SecurityState,
    model::{AlertOut, AlertStatus, RuleKind, Severity},
    notify,
    rules::Rule,
    window::MAX_EVENT_IDS,
};

/// What a rule saw.
#[derive(Debug, Clone)]
pub struct Detection<'a> {
    /// The rule that fired.
    pub rule: &'a Rule,
    /// Who or what it is about (an email, an address, a user, a key).
    pub subject: String,
    /// The start of the window the alert is keyed on.
    pub window_start: DateTime<Utc>,
    /// Occurrences in the window so far (a new alert's `count`).
    pub count: i64,
    /// Occurrences this hit adds to an alert that is already open.
    pub new_hits: i64,
    /// The audit events behind it so far (a new alert's `event_ids`).
    pub event_ids: Vec<Uuid>,
    /// The audit events of this hit (added to an alert that is already open).
    pub new_event_ids: Vec<Uuid>,
    /// Details for the reader (email, address, user agent, …).
    pub details: Value,
}

/// Turns a detection into an alert (or into more of an open one); returns the alert when
/// it is new.
pub async fn raise(
    state: &SecurityState,
    detection: Detection<'_>,
) -> Result<Option<AlertOut>, sqlx::Error> {
    let rule = detection.rule;
    if suppressed(&state.db, rule.rule, &detection.subject).await? {
        return Ok(None);
    }
    let window = Duration::seconds(i64::from(rule.window_seconds));
    let added = sqlx::query_scalar!(
        r#"UPDATE security_alerts
           SET count = LEAST(count::bigint + $4, 2147483647)::int, last_seen = now(),
               event_ids = (event_ids || $5::uuid[])[1:$6], updated_at = now()
           WHERE id = (SELECT id FROM security_alerts
                       WHERE rule = $1 AND subject = $2 AND last_seen > now() - $3::interval
                         AND status IN ('OPEN', 'ACKNOWLEDGED')
                       ORDER BY last_seen DESC LIMIT 1)
           RETURNING id"#,
        rule.rule.as_str(),
        detection.subject,
        sqlx::postgres::types::PgInterval::try_from(window).unwrap_or_default(),
        detection.new_hits,
        &detection.new_event_ids,
        MAX_EVENT_IDS
    )
    .fetch_optional(&state.db)
    .await?;
    if added.is_some() {
        return Ok(None);
    }
    let first_seen = Utc::now();
    let row = sqlx::query!(
        r#"INSERT INTO security_alerts AS a
               (id, rule, severity, subject, window_start, count, first_seen, last_seen,
                event_ids, details, monitor_only)
           VALUES ($1, $2, $3, $4, $5, LEAST($6::int8, 2147483647)::int, $7, $7, ($8::uuid[])[1:$9],
                   $10, $11)
           ON CONFLICT (rule, subject, window_start) DO UPDATE SET
               count = LEAST(a.count::bigint + $12, 2147483647)::int, last_seen = now(),
               event_ids = (a.event_ids || $13::uuid[])[1:$9], updated_at = now()
           RETURNING id, rule AS "rule: RuleKind", severity AS "severity: Severity", subject,
                     count, first_seen, last_seen, event_ids, details, monitor_only,
                     status AS "status: AlertStatus", created_at, updated_at,
                     (xmax = 0) AS "inserted!""#,
        Uuid::now_v7(),
        rule.rule.as_str(),
        rule.severity.as_str(),
        detection.subject,
        detection.window_start,
        detection.count,
        first_seen,
        &detection.event_ids,
        MAX_EVENT_IDS,
        detection.details,
        rule.monitor_only,
        detection.new_hits,
        &detection.new_event_ids
    )
    .fetch_one(&state.db)
    .await?;
    if !row.inserted {
        return Ok(None);
    }
    let alert = AlertOut {
        id: row.id,
        rule: row.rule,
        severity: row.severity,
        subject: row.subject,
        count: row.count,
        first_seen: row.first_seen,
        last_seen: row.last_seen,
        event_ids: row.event_ids,
        details: row.details,
        monitor_only: row.monitor_only,
        status: row.status,
        created_at: row.created_at,
        updated_at: row.updated_at,
    };
    metrics::counter!("security_alerts_raised_total", "rule" => alert.rule.as_str()).increment(1);
    tracing::warn!(alert_id = %alert.id, rule = %alert.rule, severity = %alert.severity,
        subject = %alert.subject, count = alert.count, "security alert raised");
    if rule.acts() && alert.severity.notifies_admins() {
        notify::admins(state, &alert).await;
    }
    Ok(Some(alert))
}

/// Whether a false positive suppressed `subject` for `rule`.
async fn suppressed(
    db: impl PgExecutor<'_>,
    rule: RuleKind,
    subject: &str,
) -> Result<bool, sqlx::Error> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM security_suppressions
                          WHERE rule = $1 AND subject = $2 AND until > now()) AS "found!""#,
        rule.as_str(),
        subject
    )
    .fetch_one(db)
    .await?;
    Ok(found)
}
