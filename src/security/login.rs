//! The sign-in side of detection, called by the login handler.
//!
//! - Before the password is checked, [`refused_for`] says whether the (account, address) pair
//!   or the address is blocked (the handler answers 429 with `Retry-After`).
//! - After a failure, [`failed`] counts it for `FAILED_LOGINS` (per account) and
//!   `PASSWORD_SPRAY` (distinct accounts per address), and blocks: the pair after
//!   `block_after` failures, Keycloak style (60 s, doubling up to 15 minutes, failures
//!   forgotten 12 hours after the last one; never for good), and a spraying address for
//!   [`SPRAY_BLOCK`].
//! - After a success, [`succeeded`] forgets the pair's failures and checks `UNUSUAL_IP`.
//!
//! Evaluation problems are logged and never change the answer of the sign-in.

use std::{net::IpAddr, time::Duration};

use chrono::Utc;
use serde_json::json;
use sqlx::{PgPool, types::ipnetwork::IpNetwork};
use uuid::Uuid;

use super::{
    SecurityState,
    alerts::{self, Detection},
    model::RuleKind,
    notify,
    rules::{self, Rule},
    window,
};
use crate::notifications::compose::Content;

/// The first block of a pair; each next one doubles, up to [`MAX_BLOCK`].
pub const FIRST_BLOCK: Duration = Duration::from_secs(60);
/// The longest block.
pub const MAX_BLOCK: Duration = Duration::from_secs(15 * 60);
/// How long a spraying address is refused sign-ins.
pub const SPRAY_BLOCK: Duration = Duration::from_secs(15 * 60);
/// A pair's failures are forgotten this long after the last one.
pub const FAILURE_RESET_HOURS: i32 = 12;

/// The length of a pair's `block_number`-th block (0-based).
pub fn block_duration(block_number: i32) -> Duration {
    let factor = 1u32
        .checked_shl(u32::try_from(block_number.clamp(0, 16)).unwrap_or(16))
        .unwrap_or(u32::MAX);
    FIRST_BLOCK.saturating_mul(factor).min(MAX_BLOCK)
}

/// The network an address belongs to for `UNUSUAL_IP`: its /24 (IPv4) or /48 (IPv6).
pub fn network_of(ip: IpAddr) -> IpNetwork {
    let prefix = match ip.to_canonical() {
        IpAddr::V4(_) => 24,
        IpAddr::V6(_) => 48,
    };
    IpNetwork::new(ip.to_canonical(), prefix)
        .ok()
        .and_then(|net| IpNetwork::new(net.network(), prefix).ok())
        .unwrap_or_else(|| IpNetwork::from(ip))
}

/// How long sign-ins to `email` from `ip` stay refused, if they are.
pub async fn refused_for(
    db: &PgPool,
    email: &str,
    ip: Option<IpAddr>,
) -> Result<Option<Duration>, sqlx::Error> {
    let Some(ip) = ip else {
        return Ok(None);
    };
    let until = sqlx::query_scalar!(
        r#"SELECT max(blocked_until) FROM security_login_blocks
           WHERE ip = $2 AND (email = $1::text::citext OR email = '') AND blocked_until > now()"#,
        email,
        IpNetwork::from(ip.to_canonical())
    )
    .fetch_one(db)
    .await?;
    Ok(until
        .map(|until| until - Utc::now())
        .and_then(|left| left.to_std().ok())
        .filter(|left| !left.is_zero()))
}

/// Counts a failed sign-in to `email` from `ip`.
pub async fn failed(
    state: &SecurityState,
    email: &str,
    ip: Option<IpAddr>,
    audit_id: Option<Uuid>,
) {
    if let Err(err) = evaluate_failure(state, email, ip, audit_id).await {
        tracing::warn!(error = %err, "evaluating a failed sign-in failed");
    }
}

async fn evaluate_failure(
    state: &SecurityState,
    email: &str,
    ip: Option<IpAddr>,
    audit_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    let rules = rules::load_all(&state.db).await?;
    let events: Vec<Uuid> = audit_id.into_iter().collect();
    let account = email.to_lowercase();
    let ip = ip.map(|ip| ip.to_canonical());
    let address = ip.map(|ip| ip.to_string());
    let details = json!({ "email": account, "ip": address });
    if let Some(rule) = active(&rules, RuleKind::FailedLogins, ip) {
        let count = window::hit(
            &state.db,
            rule.rule,
            &account,
            rule.window_seconds,
            1,
            None,
            &events,
        )
        .await?;
        if count.estimate >= i64::from(rule.threshold) {
            alerts::raise(
                state,
                detection(rule, account.clone(), count, &events, details.clone()),
            )
            .await?;
        }
        if let (Some(ip), Some(after), true) = (ip, rule.block_after, rule.acts()) {
            block_pair(&state.db, &account, ip, after).await?;
        }
    }
    if let (Some(rule), Some(ip), Some(address)) =
        (active(&rules, RuleKind::PasswordSpray, ip), ip, address)
    {
        let count = window::hit(
            &state.db,
            rule.rule,
            &address,
            rule.window_seconds,
            1,
            Some(&account),
            &events,
        )
        .await?;
        if count.estimate >= i64::from(rule.threshold) {
            alerts::raise(state, detection(rule, address, count, &events, details)).await?;
            if rule.acts() {
                block_address(&state.db, ip).await?;
            }
        }
    }
    Ok(())
}

/// Forgets the pair's failures and checks `UNUSUAL_IP` after a successful sign-in.
pub async fn succeeded(
    state: &SecurityState,
    user_id: Uuid,
    email: &str,
    ip: Option<IpAddr>,
    audit_id: Option<Uuid>,
) {
    if let Err(err) = evaluate_success(state, user_id, email, ip, audit_id).await {
        tracing::warn!(error = %err, "evaluating a successful sign-in failed");
    }
}

async fn evaluate_success(
    state: &SecurityState,
    user_id: Uuid,
    email: &str,
    ip: Option<IpAddr>,
    audit_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    let Some(ip) = ip.map(|ip| ip.to_canonical()) else {
        return Ok(());
    };
    sqlx::query!(
        "DELETE FROM security_login_blocks
         WHERE email = $1::text::citext AND ip = $2 AND (blocked_until IS NULL OR blocked_until <= now())",
        email,
        IpNetwork::from(ip)
    )
    .execute(&state.db)
    .await?;
    let rule = rules::load(&state.db, RuleKind::UnusualIp).await?;
    let network = network_of(ip);
    // The network is recorded whatever the rule says, so turning it on later has a history.
    let seen = sqlx::query!(
        r#"WITH before AS (
               SELECT count(*) AS known,
                      bool_or(network = $2 AND last_seen > now() - make_interval(secs => $3)) AS recent
               FROM security_login_networks WHERE user_id = $1),
           upsert AS (
               INSERT INTO security_login_networks (user_id, network) VALUES ($1, $2)
               ON CONFLICT (user_id, network) DO UPDATE SET last_seen = now())
           SELECT known AS "known!", COALESCE(recent, false) AS "recent!" FROM before"#,
        user_id,
        network,
        f64::from(rule.window_seconds)
    )
    .fetch_one(&state.db)
    .await?;
    // The first sign-in that is ever recorded sets the baseline.
    if !rule.enabled || rule.allows(Some(ip)) || seen.known == 0 || seen.recent {
        return Ok(());
    }
    let subject = format!("{user_id} {network}");
    let events: Vec<Uuid> = audit_id.into_iter().collect();
    let count = window::Count {
        estimate: 1,
        window_start: window::window_start(Utc::now(), 24 * 3600),
        event_ids: events.clone(),
    };
    let details = json!({ "user_id": user_id, "email": email, "ip": ip.to_string(), "network": network.to_string() });
    let raised = alerts::raise(state, detection(&rule, subject, count, &events, details)).await?;
    if raised.is_some() && rule.acts() {
        let content = Content {
            title: format!("New sign-in from {ip}"),
            body: format!(
                "Your account was signed in to from {ip} (network {network}), which it had not \
                 been used from lately. If it was not you, change your password and revoke your \
                 sessions."
            ),
            link: "/settings/sessions".to_owned(),
            data: json!({ "ip": ip.to_string(), "network": network.to_string() }),
        };
        notify::user_new_sign_in(state, user_id, &content).await;
    }
    Ok(())
}

/// The rule when it is enabled and `ip` is not allow-listed.
fn active(rules: &[Rule], kind: RuleKind, ip: Option<IpAddr>) -> Option<&Rule> {
    rules
        .iter()
        .find(|rule| rule.rule == kind)
        .filter(|rule| rule.enabled && !rule.allows(ip))
}

fn detection<'a>(
    rule: &'a Rule,
    subject: String,
    count: window::Count,
    new_event_ids: &[Uuid],
    details: serde_json::Value,
) -> Detection<'a> {
    Detection {
        rule,
        subject,
        window_start: count.window_start,
        count: count.estimate,
        new_hits: 1,
        event_ids: count.event_ids,
        new_event_ids: new_event_ids.to_vec(),
        details,
    }
}

/// Counts a failure of the pair; every `after` failures it is blocked, each time longer.
async fn block_pair(db: &PgPool, email: &str, ip: IpAddr, after: i32) -> Result<(), sqlx::Error> {
    let row = sqlx::query!(
        r#"INSERT INTO security_login_blocks AS b (email, ip, failures) VALUES ($1::text::citext, $2, 1)
           ON CONFLICT (email, ip) DO UPDATE SET
               failures = CASE WHEN b.updated_at < now() - make_interval(hours => $3) THEN 1
                               ELSE b.failures + 1 END,
               block_count = CASE WHEN b.updated_at < now() - make_interval(hours => $3) THEN 0
                                  ELSE b.block_count END,
               updated_at = now()
           RETURNING failures, block_count"#,
        email,
        IpNetwork::from(ip),
        FAILURE_RESET_HOURS
    )
    .fetch_one(db)
    .await?;
    if row.failures < after {
        return Ok(());
    }
    let seconds = block_duration(row.block_count).as_secs_f64();
    sqlx::query!(
        "UPDATE security_login_blocks
         SET failures = 0, block_count = block_count + 1,
             blocked_until = now() + make_interval(secs => $3)
         WHERE email = $1::text::citext AND ip = $2",
        email,
        IpNetwork::from(ip),
        seconds
    )
    .execute(db)
    .await?;
    metrics::counter!("security_login_blocks_total", "kind" => "pair").increment(1);
    Ok(())
}

/// Refuses sign-ins from a spraying address for [`SPRAY_BLOCK`].
async fn block_address(db: &PgPool, ip: IpAddr) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO security_login_blocks (email, ip, blocked_until)
         VALUES ('', $1, now() + make_interval(secs => $2))
         ON CONFLICT (email, ip) DO UPDATE SET blocked_until = EXCLUDED.blocked_until, updated_at = now()",
        IpNetwork::from(ip),
        SPRAY_BLOCK.as_secs_f64()
    )
    .execute(db)
    .await?;
    metrics::counter!("security_login_blocks_total", "kind" => "address").increment(1);
    Ok(())
}

/// Deletes blocks that have ended and whose failures are forgotten.
pub async fn forget_stale(db: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM security_login_blocks
         WHERE updated_at < now() - make_interval(hours => $1)
           AND (blocked_until IS NULL OR blocked_until < now())",
        FAILURE_RESET_HOURS
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_double_from_a_minute_to_fifteen() {
        let lengths: Vec<u64> = (0..7).map(|n| block_duration(n).as_secs()).collect();
        assert_eq!(lengths, [60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(block_duration(i32::MAX), MAX_BLOCK);
    }

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        assert_eq!(
            network_of("203.0.113.77".parse().expect("ip")).to_string(),
            "203.0.113.0/24"
        );
        assert_eq!(
            network_of("2001:db8:1234:5678::1".parse().expect("ip")).to_string(),
            "2001:db8:1234::/48"
        );
        assert_eq!(
            network_of("::ffff:198.51.100.9".parse().expect("ip")).to_string(),
            "198.51.100.0/24"
        );
    }
}
