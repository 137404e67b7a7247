//! Announcing alerts. A new HIGH or CRITICAL alert reaches every active admin as a critical
//! `SECURITY_ALERT` notification (in-app and email: quiet hours do not hold it and its email
//! cannot be turned off), the `admin` Socket.IO room as `security_alert` (through the event
//! bus), and `SECURITY_ALERT_WEBHOOK_URL` when set, signed the Standard Webhooks way and sent
//! through the outbound address policy. A user is told about a sign-in from a new network.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{SecurityState, model::AlertOut};
use crate::{
    db::channels::NOTIFICATION_DELIVERIES,
    events::DomainEvent,
    notifications::{
        compose::Content,
        model::{Channel, NotificationType},
        outbox::{self, Created},
        store::{self, NewNotification},
    },
    triggers::signature::StandardWebhooksKey,
};

/// The alert webhook: where, and the key its posts are signed with.
#[derive(Debug, Clone)]
pub struct AlertWebhook {
    /// `SECURITY_ALERT_WEBHOOK_URL`.
    pub url: reqwest::Url,
    /// `SECURITY_ALERT_WEBHOOK_SECRET`.
    pub key: Arc<StandardWebhooksKey>,
}

/// Tries per webhook post, and the pause before each retry.
const WEBHOOK_RETRIES: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(10)];
/// How long one webhook post may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The active admins (ADMIN and SUPER_ADMIN).
async fn admin_ids(db: &PgPool) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM users
         WHERE role IN ('ADMIN', 'SUPER_ADMIN') AND status = 'active' AND deleted_at IS NULL
         ORDER BY id"
    )
    .fetch_all(db)
    .await
}

/// The notification of an alert.
pub fn alert_content(alert: &AlertOut) -> Content {
    Content {
        title: format!(
            "Security alert: {} ({})",
            alert.rule.as_str(),
            alert.severity.as_str()
        ),
        body: format!(
            "{} fired for {} ({} occurrence{} since {}). Review it at /admin/security-alerts/{}.",
            alert.rule.as_str(),
            alert.subject,
            alert.count,
            if alert.count == 1 { "" } else { "s" },
            alert.first_seen.format("%Y-%m-%d %H:%M:%S UTC"),
            alert.id
        ),
        link: format!("/admin/security-alerts/{}", alert.id),
        data: json!({
            "alert_id": alert.id,
            "rule": alert.rule,
            "severity": alert.severity,
            "subject": alert.subject,
            "count": alert.count,
        }),
    }
}

/// Announces a new HIGH or CRITICAL alert to the admins. Failures are logged: the alert is
/// stored and listed whatever happens here.
pub async fn admins(state: &SecurityState, alert: &AlertOut) {
    state
        .notifier
        .events
        .publish(DomainEvent::SecurityAlertRaised {
            alert_id: alert.id,
            rule: alert.rule.as_str().to_owned(),
            severity: alert.severity.as_str().to_owned(),
            subject: alert.subject.clone(),
            count: alert.count,
            first_seen: alert.first_seen,
        });
    let content = alert_content(alert);
    match admin_ids(&state.db).await {
        Ok(admins) => {
            if let Err(err) = store_for(state, &admins, &content).await {
                tracing::warn!(error = %err, alert_id = %alert.id, "cannot notify the admins of a security alert");
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot list the admins to notify"),
    }
    if let Some(webhook) = state.webhook.clone() {
        let http = state.notifier.http.clone();
        let body = json!({
            "type": "security_alert.created",
            "timestamp": Utc::now(),
            "data": alert,
        });
        let id = alert.id;
        state
            .tasks
            .spawn(async move { post(&http, &webhook, id, &body).await });
    }
}

/// Tells a user about a sign-in from a network they had not used.
pub async fn user_new_sign_in(state: &SecurityState, user_id: Uuid, content: &Content) {
    if let Err(err) = store_for(state, &[user_id], content).await {
        tracing::warn!(error = %err, %user_id, "cannot tell a user about a new sign-in");
    }
}

/// Stores a critical `SECURITY_ALERT` for each recipient (in-app and email), wakes the
/// delivery worker and pushes them to the recipients' sockets.
async fn store_for(
    state: &SecurityState,
    recipients: &[Uuid],
    content: &Content,
) -> Result<(), sqlx::Error> {
    if recipients.is_empty() {
        return Ok(());
    }
    let kind = NotificationType::SecurityAlert;
    let mut tx = state.db.begin().await?;
    let mut created = Vec::with_capacity(recipients.len());
    for user_id in recipients {
        let (id, created_at) = store::insert(
            &mut tx,
            &NewNotification {
                user_id: *user_id,
                kind,
                content,
                task_id: None,
                rule_id: None,
                channels: &[Channel::InApp, Channel::Email],
                email_ready: state.notifier.mailer.is_some(),
            },
        )
        .await?;
        created.push(Created {
            id,
            user_id: *user_id,
            kind,
            content: content.clone(),
            created_at,
        });
    }
    sqlx::query!("SELECT pg_notify($1, '')", NOTIFICATION_DELIVERIES)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    outbox::push(&state.notifier, &created).await;
    Ok(())
}

/// Posts an alert to the webhook, trying again after a failure or a 408, 429 or 5xx answer.
async fn post(
    http: &reqwest::Client,
    webhook: &AlertWebhook,
    alert_id: Uuid,
    body: &serde_json::Value,
) {
    let Ok(body) = serde_json::to_vec(body) else {
        return;
    };
    let message_id = format!("security_alert_{alert_id}");
    let mut pauses = WEBHOOK_RETRIES.iter();
    loop {
        let timestamp = Utc::now().timestamp();
        let signature = webhook.key.sign(&message_id, timestamp, &body);
        let outcome = http
            .post(webhook.url.clone())
            .timeout(WEBHOOK_TIMEOUT)
            .header("content-type", "application/json")
            .header("webhook-id", &message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.clone())
            .send()
            .await;
        let retry = match &outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                matches!(status, 408 | 429 | 500..=599)
            }
            Err(_) => true,
        };
        if !retry {
            metrics::counter!("security_alert_webhooks_total", "result" => "sent").increment(1);
            return;
        }
        let Some(pause) = pauses.next() else {
            metrics::counter!("security_alert_webhooks_total", "result" => "failed").increment(1);
            tracing::warn!(%alert_id, outcome = ?outcome.map(|r| r.status()), "the security alert webhook failed");
            return;
        };
        tokio::time::sleep(*pause).await;
    }
}
