//! Storing notifications with their deliveries, and the unread count pushed to sockets.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{
    compose::Content,
    model::{Channel, DeliveryStatus, NO_WEBHOOK_ENDPOINT, NotificationType, initial_status},
    preferences,
};
use crate::events::{DomainEvent, EventBus};

/// A notification to store.
#[derive(Debug)]
pub struct NewNotification<'a> {
    /// The recipient.
    pub user_id: Uuid,
    /// Its type.
    pub kind: NotificationType,
    /// What it says.
    pub content: &'a Content,
    /// The task it is about.
    pub task_id: Option<Uuid>,
    /// The rule that sent it.
    pub rule_id: Option<Uuid>,
    /// The channels it goes to (one delivery row each).
    pub channels: &'a [Channel],
    /// Whether the server can send email (otherwise EMAIL deliveries are `NOT_SENT`).
    pub email_ready: bool,
}

/// Stores a notification and one delivery per channel; returns its id and creation time.
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    new: &NewNotification<'_>,
) -> Result<(Uuid, DateTime<Utc>), sqlx::Error> {
    let id = Uuid::now_v7();
    let created_at = sqlx::query_scalar!(
        r#"INSERT INTO notifications
               (id, user_id, type, category, critical, title, body, data, link, task_id, rule_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           RETURNING created_at"#,
        id,
        new.user_id,
        new.kind.as_str(),
        new.kind.category().as_str(),
        new.kind.critical(),
        new.content.title,
        new.content.body,
        new.content.data,
        new.content.link,
        new.task_id,
        new.rule_id
    )
    .fetch_one(&mut **tx)
    .await?;
    let prefs = preferences::load(&mut *tx, new.user_id).await?;
    let mut ids = Vec::new();
    let mut channels = Vec::new();
    let mut statuses = Vec::new();
    let mut errors = Vec::new();
    let mut not_before = Vec::new();
    let mut webhook = None;
    for channel in new.channels {
        let (enabled, source) = prefs.resolve(new.kind, *channel);
        let (status, error) = if !enabled {
            (
                DeliveryStatus::NotSent,
                Some(format!(
                    "turned off in your notification preferences ({})",
                    source.as_str().to_lowercase()
                )),
            )
        } else if *channel == Channel::Webhook {
            webhook = Some(prefs.hold_until(new.kind, *channel, created_at));
            continue;
        } else {
            let (status, error) = initial_status(*channel, new.email_ready);
            (status, error.map(str::to_owned))
        };
        ids.push(Uuid::now_v7());
        channels.push(channel.as_str().to_owned());
        statuses.push(status.as_str().to_owned());
        errors.push(error.unwrap_or_default());
        not_before.push(prefs.hold_until(new.kind, *channel, created_at));
    }
    sqlx::query!(
        r#"INSERT INTO notification_deliveries
               (id, notification_id, channel, status, last_error, delivered_at, next_attempt_at)
           SELECT d.id, $1, d.channel, d.status, NULLIF(d.error, ''),
                  CASE WHEN d.status = 'DELIVERED' THEN now() END,
                  COALESCE(d.not_before, now())
           FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
                AS d(id, channel, status, error, not_before)
           ON CONFLICT DO NOTHING"#,
        id,
        &ids,
        &channels,
        &statuses,
        &errors,
        &not_before as &[Option<DateTime<Utc>>]
    )
    .execute(&mut **tx)
    .await?;
    if let Some(not_before) = webhook {
        insert_webhook_deliveries(tx, id, new.user_id, not_before).await?;
    }
    Ok((id, created_at))
}

/// One queued delivery per webhook endpoint of the recipient (sent from `not_before` on,
/// during quiet hours), or one `NOT_SENT` row when there is none.
async fn insert_webhook_deliveries(
    tx: &mut Transaction<'_, Postgres>,
    notification_id: Uuid,
    user_id: Uuid,
    not_before: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"WITH queued AS (
               INSERT INTO notification_deliveries
                   (id, notification_id, channel, status, endpoint_id, next_attempt_at)
               SELECT gen_random_uuid(), $1, 'WEBHOOK', 'QUEUED', w.id, COALESCE($4, now())
               FROM notification_webhooks w WHERE w.user_id = $2
               ON CONFLICT DO NOTHING
               RETURNING 1)
           INSERT INTO notification_deliveries (id, notification_id, channel, status, last_error)
           SELECT gen_random_uuid(), $1, 'WEBHOOK', 'NOT_SENT', $3
           WHERE NOT EXISTS (SELECT 1 FROM queued)"#,
        notification_id,
        user_id,
        NO_WEBHOOK_ENDPOINT,
        not_before
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The user's unread notifications.
pub async fn unread_count(db: &PgPool, user_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM notifications
           WHERE user_id = $1 AND read_at IS NULL AND deleted_at IS NULL"#,
        user_id
    )
    .fetch_one(db)
    .await
}

/// Publishes the user's unread count for their sockets; a failure to count is logged (the
/// next change publishes it again).
pub async fn publish_unread_count(db: &PgPool, events: &EventBus, user_id: Uuid) {
    match unread_count(db, user_id).await {
        Ok(count) => events.publish(DomainEvent::UnreadCountChanged { user_id, count }),
        Err(err) => tracing::warn!(error = %err, %user_id, "cannot count unread notifications"),
    }
}
