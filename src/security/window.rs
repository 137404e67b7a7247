//! Sliding windows shared by every instance. Each (rule, subject) has one counter row per
//! fixed window in `security_counters`, bumped with one upsert; the estimate of the sliding
//! window weighs the previous window by how much of it still overlaps (the approach of
//! Cloudflare's rate limiter), so a burst across a boundary still counts. A counter can count
//! distinct members instead (the accounts one address tried); it keeps at most
//! [`MAX_MEMBERS`] of them and the first [`MAX_EVENT_IDS`] audit event ids.

use chrono::{DateTime, Duration, TimeZone, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::model::RuleKind;

/// Audit event ids kept per counter and per alert.
pub const MAX_EVENT_IDS: i32 = 50;
/// Distinct members kept per counter.
pub const MAX_MEMBERS: i32 = 1000;

/// A counter after a hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Count {
    /// The sliding-window estimate (current window plus the overlapping part of the last).
    pub estimate: i64,
    /// The start of the current fixed window.
    pub window_start: DateTime<Utc>,
    /// The first audit events of the current window.
    pub event_ids: Vec<Uuid>,
}

/// The start of the fixed window of `seconds` that holds `at`.
pub fn window_start(at: DateTime<Utc>, seconds: i32) -> DateTime<Utc> {
    let seconds = i64::from(seconds.max(1));
    let start = at.timestamp().div_euclid(seconds) * seconds;
    Utc.timestamp_opt(start, 0).single().unwrap_or(at)
}

/// The sliding estimate from the current and previous windows' counts.
pub fn estimate(
    current: i64,
    previous: i64,
    at: DateTime<Utc>,
    start: DateTime<Utc>,
    seconds: i32,
) -> i64 {
    let seconds = f64::from(seconds.max(1));
    let elapsed = (at - start).num_milliseconds() as f64 / 1000.0;
    let overlap = (1.0 - elapsed / seconds).clamp(0.0, 1.0);
    current + (previous as f64 * overlap).floor() as i64
}

/// Adds `n` occurrences (or the distinct `member`, once) to the counter of `rule` and
/// `subject`, and returns the sliding estimate.
pub async fn hit(
    db: impl PgExecutor<'_>,
    rule: RuleKind,
    subject: &str,
    seconds: i32,
    n: i32,
    member: Option<&str>,
    event_ids: &[Uuid],
) -> Result<Count, sqlx::Error> {
    let now = Utc::now();
    let start = window_start(now, seconds);
    let previous_start = start - Duration::seconds(i64::from(seconds));
    let expires_at = start + Duration::seconds(2 * i64::from(seconds));
    let row = sqlx::query!(
        r#"WITH hit AS (
               INSERT INTO security_counters AS c
                   (rule, subject, window_start, count, members, event_ids, expires_at)
               VALUES ($1, $2, $3, CASE WHEN $5::text IS NULL THEN $4 ELSE 1 END,
                       CASE WHEN $5::text IS NULL THEN '{}'::text[] ELSE ARRAY[$5::text] END,
                       ($6::uuid[])[1:$8], $7)
               ON CONFLICT (rule, subject, window_start) DO UPDATE SET
                   count = CASE WHEN $5::text IS NULL THEN c.count + $4
                                WHEN $5::text = ANY (c.members) THEN c.count
                                ELSE c.count + 1 END,
                   members = CASE WHEN $5::text IS NULL OR $5::text = ANY (c.members)
                                       OR cardinality(c.members) >= $9 THEN c.members
                                  ELSE c.members || $5::text END,
                   event_ids = (c.event_ids || $6::uuid[])[1:$8]
               RETURNING c.count, c.event_ids)
           SELECT hit.count AS "count!", hit.event_ids AS "event_ids!",
                  (SELECT p.count FROM security_counters p
                   WHERE p.rule = $1 AND p.subject = $2 AND p.window_start = $10) AS previous
           FROM hit"#,
        rule.as_str(),
        subject,
        start,
        n,
        member,
        event_ids,
        expires_at,
        MAX_EVENT_IDS,
        MAX_MEMBERS,
        previous_start
    )
    .fetch_one(db)
    .await?;
    Ok(Count {
        estimate: estimate(
            i64::from(row.count),
            i64::from(row.previous.unwrap_or(0)),
            now,
            start,
            seconds,
        ),
        window_start: start,
        event_ids: row.event_ids,
    })
}

/// Deletes counters no window can reach any more.
pub async fn forget_expired(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!("DELETE FROM security_counters WHERE expires_at < now()")
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn windows_are_aligned() {
        let start = window_start(at(75), 60);
        assert_eq!(start.timestamp() % 60, 0);
        assert!(start <= at(75) && at(75) < start + Duration::seconds(60));
    }

    #[test]
    fn the_previous_window_fades_out() {
        let start = window_start(at(0), 60);
        assert_eq!(estimate(3, 10, start, start, 60), 13);
        assert_eq!(estimate(3, 10, start + Duration::seconds(30), start, 60), 8);
        assert_eq!(estimate(3, 10, start + Duration::seconds(60), start, 60), 3);
    }
}
