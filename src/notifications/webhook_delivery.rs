//! The WEBHOOK sender: due deliveries are claimed like email ones (`SKIP LOCKED`, an attempt
//! counted, a lease), posted to their endpoint as a Standard Webhooks message
//! (`webhook-id` is the delivery's id, the same on every retry, so receivers can drop
//! repeats), and end `DELIVERED` on a 2xx answer. 408, 429, 5xx and network errors are
//! retried with backoff (`delivery::WEBHOOK_MAX_ATTEMPTS`); other answers, redirects and refused
//! addresses are final.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Notifier,
    delivery::{Attempt, BATCH_SIZE, CLAIM_LEASE, record},
    model::{Channel, DeliveryStatus},
    webhooks::secret_associated_data,
};
use crate::{net::SsrfError, triggers::signature::StandardWebhooksKey};

/// How long one POST may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Why a queued delivery's endpoint is gone.
pub const ENDPOINT_DELETED: &str = "the webhook endpoint was deleted";

struct Claimed {
    id: Uuid,
    attempts: i32,
    endpoint_id: Option<Uuid>,
    url: Option<String>,
    secret_ciphertext: Option<Vec<u8>>,
    notification_id: Uuid,
    kind: String,
    category: String,
    critical: bool,
    title: String,
    body: String,
    data: Value,
    link: Option<String>,
    task_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

/// Claims due webhook deliveries and posts them; returns how many were handled.
pub async fn deliver_due(notifier: &Notifier) -> Result<usize, sqlx::Error> {
    let claimed = sqlx::query_as!(
        Claimed,
        r#"WITH claimed AS (
               UPDATE notification_deliveries d
               SET attempts = d.attempts + 1, updated_at = now(),
                   next_attempt_at = now() + $2 * interval '1 second'
               WHERE d.id IN (SELECT id FROM notification_deliveries
                              WHERE status = 'QUEUED' AND channel = 'WEBHOOK'
                                AND next_attempt_at <= now()
                              ORDER BY next_attempt_at
                              LIMIT $1
                              FOR UPDATE SKIP LOCKED)
               RETURNING d.id, d.attempts, d.notification_id, d.endpoint_id)
           SELECT c.id, c.attempts, c.endpoint_id, w.url AS "url?",
                  w.secret_ciphertext AS "secret_ciphertext?", n.id AS notification_id,
                  n.type AS kind, n.category, n.critical, n.title, n.body, n.data, n.link,
                  n.task_id, n.created_at
           FROM claimed c
           JOIN notifications n ON n.id = c.notification_id
           LEFT JOIN notification_webhooks w ON w.id = c.endpoint_id"#,
        BATCH_SIZE,
        CLAIM_LEASE.as_secs_f64()
    )
    .fetch_all(&notifier.db)
    .await?;
    let sends = claimed.iter().map(|delivery| async move {
        let attempt = send(notifier, delivery).await;
        let succeeded = matches!(attempt, Attempt::Delivered);
        (delivery, succeeded, attempt)
    });
    for (delivery, succeeded, attempt) in futures::future::join_all(sends).await {
        if let Some(endpoint_id) = delivery.endpoint_id {
            sqlx::query!(
                "UPDATE notification_webhooks
                 SET last_success_at = CASE WHEN $2 THEN now() ELSE last_success_at END,
                     last_failure_at = CASE WHEN $2 THEN last_failure_at ELSE now() END
                 WHERE id = $1",
                endpoint_id,
                succeeded
            )
            .execute(&notifier.db)
            .await?;
        }
        record(
            notifier,
            Channel::Webhook,
            delivery.id,
            delivery.attempts,
            attempt,
        )
        .await?;
    }
    Ok(claimed.len())
}

/// The Standard Webhooks payload: `{type, timestamp, data}`.
fn payload(delivery: &Claimed) -> Value {
    json!({
        "type": delivery.kind,
        "timestamp": delivery.created_at,
        "data": {
            "id": delivery.notification_id,
            "category": delivery.category,
            "critical": delivery.critical,
            "title": delivery.title,
            "body": delivery.body,
            "link": delivery.link,
            "task_id": delivery.task_id,
            "details": delivery.data,
        },
    })
}

async fn send(notifier: &Notifier, delivery: &Claimed) -> Attempt {
    let (Some(endpoint_id), Some(url), Some(sealed)) = (
        delivery.endpoint_id,
        delivery.url.as_deref(),
        delivery.secret_ciphertext.as_deref(),
    ) else {
        return Attempt::Final(DeliveryStatus::NotSent, ENDPOINT_DELETED.to_owned());
    };
    let url = match notifier.outbound.parse_url(url) {
        Ok(url) => url,
        Err(err) => {
            return Attempt::Final(
                DeliveryStatus::Undelivered,
                format!("refused: {}", err.message()),
            );
        }
    };
    let key = match notifier
        .vault
        .open(sealed, &secret_associated_data(endpoint_id))
        .map_err(|err| err.to_string())
        .and_then(|secret| String::from_utf8(secret).map_err(|err| err.to_string()))
        .and_then(|secret| StandardWebhooksKey::parse(&secret).map_err(|err| err.to_string()))
    {
        Ok(key) => key,
        Err(err) => return Attempt::Retry(format!("cannot open the signing secret: {err}")),
    };
    let body = match serde_json::to_vec(&payload(delivery)) {
        Ok(body) => body,
        Err(err) => return Attempt::Final(DeliveryStatus::Undelivered, err.to_string()),
    };
    let message_id = delivery.id.to_string();
    let timestamp = Utc::now().timestamp();
    let signature = key.sign(&message_id, timestamp, &body);
    let response = notifier
        .http
        .post(url)
        .timeout(REQUEST_TIMEOUT)
        .header("content-type", "application/json")
        .header("webhook-id", &message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) => classify_status(response.status().as_u16()),
        Err(err) if refused_by_policy(&err) => Attempt::Final(
            DeliveryStatus::Undelivered,
            format!("refused: {}", innermost(&err)),
        ),
        Err(err) => Attempt::Retry(describe(&err)),
    }
}

/// What an endpoint's answer means for the delivery.
fn classify_status(status: u16) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        408 | 429 | 500..=599 => Attempt::Retry(format!("the endpoint answered HTTP {status}")),
        300..=399 => Attempt::Final(
            DeliveryStatus::Undelivered,
            format!("the endpoint answered HTTP {status}; redirects are not followed"),
        ),
        _ => Attempt::Final(
            DeliveryStatus::Undelivered,
            format!("the endpoint refused the delivery with HTTP {status}"),
        ),
    }
}

fn refused_by_policy(err: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        if inner.is::<SsrfError>() {
            return true;
        }
        source = inner.source();
    }
    false
}

/// The deepest cause of a transport error: reqwest's own message names the URL, which may
/// carry a token in its query, so it is never shown.
fn innermost(err: &reqwest::Error) -> String {
    let mut cause = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    cause
}

/// A transport error in words, without the URL.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    match innermost(err) {
        cause if cause.is_empty() => kind.to_owned(),
        cause => format!("{kind}: {cause}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify_status(204), Attempt::Delivered);
        assert!(matches!(classify_status(503), Attempt::Retry(_)));
        assert!(matches!(classify_status(429), Attempt::Retry(_)));
        assert!(matches!(classify_status(408), Attempt::Retry(_)));
        assert!(matches!(
            classify_status(410),
            Attempt::Final(DeliveryStatus::Undelivered, _)
        ));
        assert!(matches!(
            classify_status(302),
            Attempt::Final(DeliveryStatus::Undelivered, _)
        ));
    }
}
