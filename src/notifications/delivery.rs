//! The delivery queue, and its email sender: due `QUEUED` deliveries are claimed with `SKIP LOCKED` (the
//! claim counts an attempt and holds the row for [`CLAIM_LEASE`], so a crashed sender's row
//! comes back), sent through the server's SMTP within the owner's hourly mail quota, and
//! end `SENT`, are retried with exponential backoff and jitter, or end `UNDELIVERED` with the
//! reason. Without SMTP they end `NOT_SENT`, which is not a failure.

use std::time::Duration;

use rand::Rng;
use uuid::Uuid;

use super::{
    Notifier, compose,
    model::{Channel, DeliveryStatus, SMTP_NOT_CONFIGURED},
};
use crate::email::{EmailError, quota};

/// Attempts an email delivery gets, the first included.
pub const EMAIL_MAX_ATTEMPTS: i32 = 5;
/// How long a claimed delivery is held before another sender may take it again.
pub const CLAIM_LEASE: Duration = Duration::from_secs(300);
/// Deliveries one pass claims.
pub const BATCH_SIZE: i64 = 20;

/// Attempts a webhook delivery gets, the first included (about 21 minutes of retries).
pub const WEBHOOK_MAX_ATTEMPTS: i32 = 8;

/// Delay before the attempt after `attempt`: 30 s doubling to at most an hour, spread by
/// ±20 %.
pub fn retry_delay(attempt: i32, rng: &mut impl Rng) -> Duration {
    backoff(30.0, 3600.0, attempt, rng)
}

/// Delay before a webhook's attempt after `attempt`: 10 s doubling to at most 15 minutes,
/// spread by ±20 %.
pub fn webhook_retry_delay(attempt: i32, rng: &mut impl Rng) -> Duration {
    backoff(10.0, 900.0, attempt, rng)
}

fn backoff(first: f64, cap: f64, attempt: i32, rng: &mut impl Rng) -> Duration {
    let exponent = attempt.saturating_sub(1).clamp(0, 16);
    let base = (first * 2f64.powi(exponent)).min(cap);
    Duration::from_secs_f64(base * rng.random_range(0.8..=1.2))
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Attempt {
    /// The provider took it (with its message id).
    Sent(Option<String>),
    /// The recipient has it (a webhook endpoint answered 2xx).
    Delivered,
    /// A transient failure: try again after a backoff, until the attempts run out.
    Retry(String),
    /// A permanent outcome.
    Final(DeliveryStatus, String),
}

/// Claims due email deliveries and sends them; returns how many were handled.
pub async fn deliver_due(notifier: &Notifier) -> Result<usize, sqlx::Error> {
    let claimed = sqlx::query!(
        r#"WITH claimed AS (
               UPDATE notification_deliveries d
               SET attempts = d.attempts + 1, updated_at = now(),
                   next_attempt_at = now() + $2 * interval '1 second'
               WHERE d.id IN (SELECT id FROM notification_deliveries
                              WHERE status = 'QUEUED' AND channel = 'EMAIL'
                                AND next_attempt_at <= now()
                              ORDER BY next_attempt_at
                              LIMIT $1
                              FOR UPDATE SKIP LOCKED)
               RETURNING d.id, d.attempts, d.notification_id)
           SELECT c.id, c.attempts, n.user_id, n.title, n.body, n.link, n.critical, u.email
           FROM claimed c
           JOIN notifications n ON n.id = c.notification_id
           JOIN users u ON u.id = n.user_id"#,
        BATCH_SIZE,
        CLAIM_LEASE.as_secs_f64()
    )
    .fetch_all(&notifier.db)
    .await?;
    for delivery in &claimed {
        let attempt = send(
            notifier,
            &Outgoing {
                delivery_id: delivery.id,
                user_id: delivery.user_id,
                critical: delivery.critical,
                recipient: &delivery.email,
                title: &delivery.title,
                body: &delivery.body,
                link: delivery.link.as_deref(),
            },
        )
        .await;
        record(
            notifier,
            Channel::Email,
            delivery.id,
            delivery.attempts,
            attempt,
        )
        .await?;
    }
    Ok(claimed.len())
}

/// One claimed email delivery.
struct Outgoing<'a> {
    delivery_id: Uuid,
    user_id: Uuid,
    critical: bool,
    recipient: &'a str,
    title: &'a str,
    body: &'a str,
    link: Option<&'a str>,
}

async fn send(notifier: &Notifier, mail: &Outgoing<'_>) -> Attempt {
    let Outgoing {
        delivery_id,
        user_id,
        critical,
        recipient,
        title,
        body,
        link,
    } = *mail;
    let Some(mailer) = &notifier.mailer else {
        return Attempt::Final(DeliveryStatus::NotSent, SMTP_NOT_CONFIGURED.to_owned());
    };
    // With tracking on, "Open" leads through the click tracker and an image records the
    // opening; without it, the link is the notification's own.
    let tracked = notifier
        .tracking
        .as_ref()
        .map(|tracking| tracking.urls(delivery_id));
    let (link, pixel) = match (&tracked, link) {
        (Some(urls), Some(_)) => (Some(urls.click.clone()), Some(urls.pixel.clone())),
        (Some(urls), None) => (None, Some(urls.pixel.clone())),
        (None, link) => (link.map(str::to_owned), None),
    };
    let (recipient, title, body) = (recipient.to_owned(), title.to_owned(), body.to_owned());
    let rendered = tokio::task::spawn_blocking(move || {
        compose::email(&recipient, &title, &body, link.as_deref(), pixel.as_deref())
    })
    .await;
    let rendered = match rendered {
        Ok(Ok(rendered)) => rendered,
        Ok(Err(err)) => return Attempt::Final(DeliveryStatus::Undelivered, err.to_string()),
        Err(err) => return Attempt::Retry(format!("rendering the email failed: {err}")),
    };
    let message = match rendered.to_message(mailer.from()) {
        Ok(message) => message,
        Err(err) => return Attempt::Final(DeliveryStatus::Undelivered, err.to_string()),
    };
    // Critical mail is not held back by the quota.
    if !critical {
        let limit = notifier.email_max_per_hour;
        match quota::take(&notifier.db, user_id, limit).await {
            Ok(true) => {}
            Ok(false) => {
                return Attempt::Final(DeliveryStatus::Undelivered, quota::exceeded_message(limit));
            }
            Err(err) => return Attempt::Retry(format!("cannot check the mail quota: {err}")),
        }
    }
    match mailer.send(message).await {
        Ok(sent) => Attempt::Sent(sent.message_id),
        Err(err) if err.is_retryable() => Attempt::Retry(err.to_string()),
        Err(
            err @ (EmailError::Rejected { .. } | EmailError::Config(_) | EmailError::Field { .. }),
        ) => Attempt::Final(DeliveryStatus::Undelivered, err.to_string()),
        Err(err) => Attempt::Retry(err.to_string()),
    }
}

/// Records how a claimed delivery's attempt ended: `SENT`/`DELIVERED`, queued again after
/// its backoff, or final once the channel's attempts are used up.
pub(super) async fn record(
    notifier: &Notifier,
    channel: Channel,
    id: Uuid,
    attempts: i32,
    attempt: Attempt,
) -> Result<(), sqlx::Error> {
    let (max_attempts, delay_after): (i32, fn(i32, &mut rand::rngs::ThreadRng) -> Duration) =
        match channel {
            Channel::Webhook => (WEBHOOK_MAX_ATTEMPTS, webhook_retry_delay),
            Channel::Email | Channel::InApp => (EMAIL_MAX_ATTEMPTS, retry_delay),
        };
    let (status, error, provider_id, delay) = match attempt {
        Attempt::Sent(message_id) => (DeliveryStatus::Sent, None, message_id, None),
        Attempt::Delivered => (DeliveryStatus::Delivered, None, None, None),
        Attempt::Retry(error) if attempts < max_attempts => (
            DeliveryStatus::Queued,
            Some(error),
            None,
            Some(delay_after(attempts, &mut rand::rng())),
        ),
        Attempt::Retry(error) => (
            DeliveryStatus::Undelivered,
            Some(format!("{error} (after {attempts} attempts)")),
            None,
            None,
        ),
        Attempt::Final(status, error) => (status, Some(error), None, None),
    };
    if !matches!(status, DeliveryStatus::Sent | DeliveryStatus::Delivered) {
        tracing::warn!(delivery_id = %id, %channel, %status, error = error.as_deref().unwrap_or(""), "notification not delivered");
    }
    sqlx::query!(
        r#"UPDATE notification_deliveries
           SET status = $2, last_error = $3, provider_id = COALESCE($4, provider_id),
               sent_at = CASE WHEN $2 IN ('SENT', 'DELIVERED') THEN now() ELSE sent_at END,
               delivered_at = CASE WHEN $2 = 'DELIVERED' THEN now() ELSE delivered_at END,
               next_attempt_at = now() + COALESCE($5::float8, 0) * interval '1 second',
               updated_at = now()
           WHERE id = $1 AND status = 'QUEUED'"#,
        id,
        status.as_str(),
        error,
        provider_id,
        delay.map(|d| d.as_secs_f64())
    )
    .execute(&notifier.db)
    .await?;
    metrics::counter!("nocron_notification_deliveries_total", "channel" => channel.as_str(), "status" => status.as_str())
        .increment(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_within_jitter_and_cap() {
        let mut rng = rand::rng();
        for _ in 0..100 {
            let first = retry_delay(1, &mut rng).as_secs_f64();
            assert!((24.0..=36.0).contains(&first), "{first}");
            let fourth = retry_delay(4, &mut rng).as_secs_f64();
            assert!((192.0..=288.0).contains(&fourth), "{fourth}");
            let late = retry_delay(30, &mut rng).as_secs_f64();
            assert!(late <= 3600.0 * 1.2, "{late}");
            let webhook_first = webhook_retry_delay(1, &mut rng).as_secs_f64();
            assert!((8.0..=12.0).contains(&webhook_first), "{webhook_first}");
        }
    }

    #[test]
    fn webhook_retries_span_about_twenty_minutes() {
        let mut rng = rand::rng();
        for _ in 0..100 {
            let total: f64 = (1..WEBHOOK_MAX_ATTEMPTS)
                .map(|attempt| webhook_retry_delay(attempt, &mut rng).as_secs_f64())
                .sum();
            assert!((1270.0 * 0.8..=1270.0 * 1.2).contains(&total), "{total}");
        }
    }
}
