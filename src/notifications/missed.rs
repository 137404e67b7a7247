//! `MISSED` rules, a dead man's switch: every [`CHECK_INTERVAL`] the delivery worker looks
//! for active tasks with no successful run for the rule's `minutes`. The window starts at
//! the latest of the last success, the rule's last change and the task's last change (so
//! resuming or editing a task, or changing the rule, restarts it). A rule fires once, then
//! only every `repeat_every_minutes`; a success clears it (see [`super::rules::evaluate`]).
//! Rules are locked with `SKIP LOCKED`, so several instances never fire one twice.

use std::time::Duration;

use chrono::Utc;

use super::{
    Notifier, compose,
    model::{Channel, NotificationType},
    outbox::{Created, push},
    store::{self, NewNotification},
};
use crate::db::channels::NOTIFICATION_DELIVERIES;

/// How often the check runs.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(30);
/// Rules one check handles at most (the rest wait for the next one).
pub const BATCH_SIZE: i64 = 200;

/// Fires the `MISSED` rules that are due; returns the notifications stored.
pub async fn check(notifier: &Notifier) -> Result<usize, sqlx::Error> {
    let mut tx = notifier.db.begin().await?;
    let due = sqlx::query!(
        r#"SELECT r.id, r.task_id, r.channels, r.muted_until, t.name, t.owner_id,
                  (r.params->>'minutes')::bigint AS "minutes!", s.last_success
           FROM alert_rules r
           JOIN tasks t ON t.id = r.task_id
           LEFT JOIN LATERAL (SELECT max(e.finished_at) AS last_success FROM executions e
                              WHERE e.task_id = r.task_id AND e.status = 'SUCCEEDED') s
                  ON true
           WHERE r.kind = 'MISSED' AND t.status = 'ACTIVE'
             AND GREATEST(s.last_success, r.updated_at, t.updated_at)
                 + (r.params->>'minutes')::bigint * interval '1 minute' <= now()
             AND (NOT r.alerting
                  OR (r.repeat_every_minutes IS NOT NULL
                      AND r.last_fired_at + r.repeat_every_minutes * interval '1 minute'
                          <= now()))
           ORDER BY r.id
           LIMIT $1
           FOR UPDATE OF r SKIP LOCKED"#,
        BATCH_SIZE
    )
    .fetch_all(&mut *tx)
    .await?;
    let now = Utc::now();
    let mut created = Vec::new();
    for rule in &due {
        let muted = rule.muted_until.is_some_and(|until| until > now);
        sqlx::query!(
            "UPDATE alert_rules
             SET alerting = true, last_fired_at = CASE WHEN $2 THEN last_fired_at ELSE $3 END
             WHERE id = $1",
            rule.id,
            muted,
            now
        )
        .execute(&mut *tx)
        .await?;
        if muted {
            continue;
        }
        let content = compose::missed(rule.task_id, &rule.name, rule.minutes, rule.last_success);
        let channels: Vec<Channel> = rule
            .channels
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
        let (id, created_at) = store::insert(
            &mut tx,
            &NewNotification {
                user_id: rule.owner_id,
                kind: NotificationType::TaskMissed,
                content: &content,
                task_id: Some(rule.task_id),
                rule_id: Some(rule.id),
                channels: &channels,
                email_ready: notifier.mailer.is_some(),
            },
        )
        .await?;
        created.push(Created {
            id,
            user_id: rule.owner_id,
            kind: NotificationType::TaskMissed,
            content,
            created_at,
        });
    }
    if !created.is_empty() {
        sqlx::query!("SELECT pg_notify($1, '')", NOTIFICATION_DELIVERIES)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    push(notifier, &created).await;
    Ok(created.len())
}
