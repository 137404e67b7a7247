//! Account lockout: failed logins are counted per email (registered or not, so a lock tells
//! nothing about whether an account exists). After `LOGIN_LOCKOUT_THRESHOLD` failures the
//! email is locked for `LOGIN_LOCKOUT_BASE_SECONDS`, each further lock within the hour twice
//! as long up to 15 minutes. With the defaults that allows at most about 40 failures an hour
//! (ASVS allows 100), and the owner can always log in once a lock has expired.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;

use crate::{config::AuthSettings, error::AppError};

/// The longest single lock.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);

/// The length of the `lock_number`-th lock (0-based) within an hour.
pub fn lock_duration(base: Duration, lock_number: u32) -> Duration {
    let factor = 1u32.checked_shl(lock_number.min(16)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(MAX_LOCK)
}

/// How long the email stays locked, if it is.
pub async fn locked_for(db: &PgPool, email: &str) -> Result<Option<Duration>, AppError> {
    let until = sqlx::query_scalar!(
        "SELECT locked_until FROM login_throttle WHERE email = $1::text::citext",
        email
    )
    .fetch_optional(db)
    .await?
    .flatten();
    Ok(until
        .map(|until| until - Utc::now())
        .and_then(|left| left.to_std().ok())
        .filter(|left| !left.is_zero()))
}

/// Counts a failure; returns the new lock's length when this failure locked the email.
pub async fn record_failure(
    db: &PgPool,
    email: &str,
    settings: &AuthSettings,
) -> Result<Option<Duration>, AppError> {
    // Counts reset an hour after the last failure.
    let row = sqlx::query!(
        r#"INSERT INTO login_throttle (email, failures, updated_at) VALUES ($1::text::citext, 1, now())
           ON CONFLICT (email) DO UPDATE SET
             failures = CASE WHEN login_throttle.updated_at < now() - interval '1 hour'
                             THEN 1 ELSE login_throttle.failures + 1 END,
             lock_count = CASE WHEN login_throttle.updated_at < now() - interval '1 hour'
                               THEN 0 ELSE login_throttle.lock_count END,
             updated_at = now()
           RETURNING failures, lock_count"#,
        email
    )
    .fetch_one(db)
    .await?;
    if row.failures < settings.login_lockout_threshold as i32 {
        return Ok(None);
    }
    let duration = lock_duration(settings.login_lockout_base, row.lock_count.max(0) as u32);
    let until =
        Utc::now() + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::minutes(15));
    sqlx::query!(
        "UPDATE login_throttle SET failures = 0, lock_count = lock_count + 1, locked_until = $2
         WHERE email = $1::text::citext",
        email,
        until
    )
    .execute(db)
    .await?;
    Ok(Some(duration))
}

/// Forgets the failures of an email after a successful login.
pub async fn clear(db: &PgPool, email: &str) -> Result<(), AppError> {
    sqlx::query!(
        "DELETE FROM login_throttle WHERE email = $1::text::citext",
        email
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes throttle rows untouched for an hour (run by the cleanup job).
pub async fn forget_stale(db: &PgPool) -> Result<u64, sqlx::Error> {
    let result = sqlx::query!(
        "DELETE FROM login_throttle WHERE updated_at < now() - interval '1 hour'
           AND (locked_until IS NULL OR locked_until < now())"
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_double_up_to_fifteen_minutes() {
        let base = Duration::from_secs(60);
        let lengths: Vec<u64> = (0..7).map(|n| lock_duration(base, n).as_secs()).collect();
        assert_eq!(lengths, [60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(lock_duration(base, 1000), MAX_LOCK);
    }

    #[test]
    fn default_policy_stays_under_a_hundred_failures_an_hour() {
        // Worst case: an attacker fails `threshold` times each time a lock expires.
        let (threshold, base) = (5u64, Duration::from_secs(60));
        let (mut elapsed, mut failures, mut lock) = (Duration::ZERO, 0u64, 0u32);
        while elapsed < Duration::from_secs(3600) {
            failures += threshold;
            elapsed += lock_duration(base, lock);
            lock += 1;
        }
        assert!(failures <= 100, "{failures} failures an hour");
    }
}
