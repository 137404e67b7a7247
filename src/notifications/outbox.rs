//! The transactional outbox of ended executions, and its consumer.
//!
//! [`record_ended`] runs inside the transaction that finishes executions: one `INSERT`, so
//! the engine's hot path never waits for alerting. [`process_batch`] claims pending rows with
//! `FOR UPDATE SKIP LOCKED` and, in the same transaction, evaluates the task's alert rules,
//! stores the notifications and their deliveries, and marks the rows processed: a row is
//! consumed exactly once, whichever instance takes it and whenever one crashes. A consumer
//! only takes a task's earliest pending row, so one task's outcomes are judged in order.

use chrono::Utc;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::{
    Notifier, compose,
    model::{Channel, NotificationType},
    rules::{self, EXECUTION_ENDED, ExecutionEnded, RuleKind, RuleState},
    store,
};
use crate::{
    db::channels::{NOTIFICATION_DELIVERIES, OUTBOX},
    events::DomainEvent,
    executions::model::ExecutionStatus,
};

/// Rows one transaction claims.
pub const BATCH_SIZE: i64 = 100;

/// Adds one outbox record for each of `execution_ids` that ended (`SUCCEEDED`, `DEAD` or
/// `TIMED_OUT`), with the task's failure count after it, and wakes the consumers; inside the
/// caller's transaction, after the task's failure count was updated.
pub async fn record_ended(
    conn: &mut PgConnection,
    execution_ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    if execution_ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        r#"WITH added AS (
               INSERT INTO outbox (kind, ordering_key, payload)
               SELECT $2, e.task_id,
                      jsonb_build_object('execution_id', e.id, 'task_id', e.task_id,
                                         'owner_id', t.owner_id, 'status', e.status,
                                         'attempt', e.attempt, 'duration_ms', e.duration_ms,
                                         'error', e.error,
                                         'consecutive_failures', t.consecutive_failures,
                                         'lateness_ms', e.lateness_ms)
               FROM executions e JOIN tasks t ON t.id = e.task_id
               WHERE e.id = ANY($1) AND e.status IN ('SUCCEEDED', 'DEAD', 'TIMED_OUT')
               ORDER BY e.id
               RETURNING 1)
           SELECT pg_notify($3, '') FROM (SELECT 1 FROM added LIMIT 1) AS any_row"#,
        execution_ids,
        EXECUTION_ENDED,
        OUTBOX
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(())
}

/// Adds one outbox record for each task the engine just set to `FAILED` (auto-pause), inside
/// the transaction that paused it; its owner is told with `TASK_AUTO_PAUSED`.
pub async fn record_auto_paused(
    conn: &mut PgConnection,
    task_ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    if task_ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        r#"WITH added AS (
               INSERT INTO outbox (kind, ordering_key, payload)
               SELECT $2, t.id,
                      jsonb_build_object('task_id', t.id, 'owner_id', t.owner_id,
                                         'consecutive_failures', t.consecutive_failures)
               FROM tasks t WHERE t.id = ANY($1)
               ORDER BY t.id
               RETURNING 1)
           SELECT pg_notify($3, '') FROM (SELECT 1 FROM added LIMIT 1) AS any_row"#,
        task_ids,
        TASK_AUTO_PAUSED,
        OUTBOX
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(())
}

/// A notification stored by the consumer, for the push after commit.
#[derive(Debug, Clone)]
pub struct Created {
    /// The notification.
    pub id: Uuid,
    /// Its recipient.
    pub user_id: Uuid,
    /// Its type.
    pub kind: NotificationType,
    /// Its content.
    pub content: compose::Content,
    /// When it was stored.
    pub created_at: chrono::DateTime<Utc>,
}

/// What one batch did.
#[derive(Debug, Default)]
pub struct Processed {
    /// Outbox rows consumed.
    pub records: usize,
    /// Notifications stored.
    pub notifications: Vec<Created>,
}

/// Claims up to `limit` pending outbox rows and handles them in one transaction, then pushes
/// the notifications it stored. Returns what it did; zero records means nothing was pending
/// (or every pending row is held by another consumer).
pub async fn process_batch(notifier: &Notifier, limit: i64) -> Result<Processed, sqlx::Error> {
    let mut tx = notifier.db.begin().await?;
    let rows = sqlx::query!(
        r#"SELECT o.id, o.kind, o.payload FROM outbox o
           WHERE o.processed_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM outbox p
                             WHERE p.processed_at IS NULL AND p.ordering_key = o.ordering_key
                               AND p.id < o.id)
           ORDER BY o.id
           LIMIT $1
           FOR UPDATE OF o SKIP LOCKED"#,
        limit
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut processed = Processed {
        records: rows.len(),
        ..Processed::default()
    };
    if rows.is_empty() {
        return Ok(processed);
    }
    let mut deliveries_queued = false;
    for row in &rows {
        if row.kind == TASK_AUTO_PAUSED {
            match serde_json::from_value::<TaskAutoPaused>(row.payload.clone()) {
                Ok(paused) => {
                    let created = tell_auto_paused(&mut tx, notifier, &paused).await?;
                    deliveries_queued |= created.is_some();
                    processed.notifications.extend(created);
                }
                Err(err) => {
                    tracing::warn!(id = row.id, error = %err, "unreadable outbox record skipped");
                }
            }
            continue;
        }
        if row.kind != EXECUTION_ENDED {
            tracing::warn!(id = row.id, kind = %row.kind, "outbox record of an unknown kind skipped");
            continue;
        }
        let ended: ExecutionEnded = match serde_json::from_value(row.payload.clone()) {
            Ok(ended) => ended,
            Err(err) => {
                tracing::warn!(id = row.id, error = %err, "unreadable outbox record skipped");
                continue;
            }
        };
        let created = judge(&mut tx, notifier, &ended).await?;
        deliveries_queued |= !created.is_empty();
        processed.notifications.extend(created);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    sqlx::query!(
        "UPDATE outbox SET processed_at = now(), processed_by = $2 WHERE id = ANY($1)",
        &ids,
        &*notifier.instance_id
    )
    .execute(&mut *tx)
    .await?;
    if deliveries_queued {
        sqlx::query!("SELECT pg_notify($1, '')", NOTIFICATION_DELIVERIES)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    push(notifier, &processed.notifications).await;
    Ok(processed)
}

/// Processes batches until nothing is left for this consumer; returns the rows consumed.
pub async fn drain(notifier: &Notifier) -> Result<usize, sqlx::Error> {
    let mut total = 0;
    loop {
        let processed = process_batch(notifier, BATCH_SIZE).await?;
        if processed.records == 0 {
            return Ok(total);
        }
        total += processed.records;
    }
}

/// Evaluates the task's rules against one ended execution, updates their state and stores
/// the notifications they send.
async fn judge(
    tx: &mut Transaction<'_, Postgres>,
    notifier: &Notifier,
    ended: &ExecutionEnded,
) -> Result<Vec<Created>, sqlx::Error> {
    let Some(task_name) =
        sqlx::query_scalar!("SELECT name FROM tasks WHERE id = $1", ended.task_id)
            .fetch_optional(&mut **tx)
            .await?
    else {
        // The task was deleted since; its rules went with it.
        return Ok(Vec::new());
    };
    let rules = load_rules(tx, ended.task_id).await?;
    let history = load_history(tx, ended, rules::history_needed(&rules)).await?;
    let now = Utc::now();
    let decisions = rules::evaluate(&rules, ended, &history, now);
    let mut created = Vec::new();
    for (rule, decision) in rules.iter().zip(decisions) {
        if decision.alerting != rule.alerting || decision.notify.is_some() {
            sqlx::query!(
                "UPDATE alert_rules
                 SET alerting = $2, last_fired_at = CASE WHEN $3 THEN $4 ELSE last_fired_at END
                 WHERE id = $1",
                rule.id,
                decision.alerting,
                decision.notify.is_some(),
                now
            )
            .execute(&mut **tx)
            .await?;
        }
        let Some(kind) = decision.notify else {
            continue;
        };
        let content = compose::for_execution(kind, &task_name, ended);
        let notification = store::insert(
            tx,
            &store::NewNotification {
                user_id: ended.owner_id,
                kind,
                content: &content,
                task_id: Some(ended.task_id),
                rule_id: Some(rule.id),
                channels: &rule.channels,
                email_ready: notifier.mailer.is_some(),
            },
        )
        .await?;
        created.push(Created {
            id: notification.0,
            user_id: ended.owner_id,
            kind,
            content,
            created_at: notification.1,
        });
    }
    Ok(created)
}

/// Outbox kind of [`TaskAutoPaused`] records.
pub const TASK_AUTO_PAUSED: &str = "task.auto_paused";

/// The outbox record of a task the engine set to `FAILED` after repeated failures.
#[derive(Debug, Clone, serde::Deserialize)]
struct TaskAutoPaused {
    task_id: Uuid,
    owner_id: Uuid,
    consecutive_failures: i32,
}

/// Tells the owner that the engine paused their task, in-app and by email.
async fn tell_auto_paused(
    tx: &mut Transaction<'_, Postgres>,
    notifier: &Notifier,
    paused: &TaskAutoPaused,
) -> Result<Option<Created>, sqlx::Error> {
    let Some(task_name) =
        sqlx::query_scalar!("SELECT name FROM tasks WHERE id = $1", paused.task_id)
            .fetch_optional(&mut **tx)
            .await?
    else {
        return Ok(None);
    };
    let content = compose::auto_paused(paused.task_id, &task_name, paused.consecutive_failures);
    let kind = NotificationType::TaskAutoPaused;
    let (id, created_at) = store::insert(
        tx,
        &store::NewNotification {
            user_id: paused.owner_id,
            kind,
            content: &content,
            task_id: Some(paused.task_id),
            rule_id: None,
            channels: &[Channel::InApp, Channel::Email],
            email_ready: notifier.mailer.is_some(),
        },
    )
    .await?;
    Ok(Some(Created {
        id,
        user_id: paused.owner_id,
        kind,
        content,
        created_at,
    }))
}

/// The statuses of the task's latest `limit` ended executions up to `ended` (included),
/// newest first; nothing when `limit` is 0.
async fn load_history(
    tx: &mut Transaction<'_, Postgres>,
    ended: &ExecutionEnded,
    limit: i64,
) -> Result<Vec<ExecutionStatus>, sqlx::Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    sqlx::query_scalar!(
        r#"SELECT e.status AS "status: ExecutionStatus" FROM executions e
           WHERE e.task_id = $1 AND e.status IN ('SUCCEEDED', 'DEAD', 'TIMED_OUT')
             AND e.finished_at <= (SELECT finished_at FROM executions WHERE id = $2)
           ORDER BY e.finished_at DESC, e.id DESC
           LIMIT $3"#,
        ended.task_id,
        ended.execution_id,
        limit
    )
    .fetch_all(&mut **tx)
    .await
}

async fn load_rules(
    tx: &mut Transaction<'_, Postgres>,
    task_id: Uuid,
) -> Result<Vec<RuleState>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT id, kind AS "kind: RuleKind", params, channels, repeat_every_minutes,
                  muted_until, alerting, last_fired_at
           FROM alert_rules WHERE task_id = $1 ORDER BY created_at, id FOR UPDATE"#,
        task_id
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| RuleState {
            id: r.id,
            kind: r.kind,
            params: r.params,
            channels: r.channels.iter().filter_map(|c| c.parse().ok()).collect(),
            repeat_every_minutes: r.repeat_every_minutes,
            muted_until: r.muted_until,
            alerting: r.alerting,
            last_fired_at: r.last_fired_at,
        })
        .collect())
}

/// Pushes each stored notification to its recipient's sockets, then each recipient's unread
/// count, through the event bus (never waiting on the sockets).
/// Pushes stored notifications to their recipients' sockets, with their unread counts.
pub async fn push(notifier: &Notifier, created: &[Created]) {
    let mut users = Vec::new();
    for notification in created {
        notifier.events.publish(DomainEvent::NotificationCreated {
            notification_id: notification.id,
            user_id: notification.user_id,
            kind: notification.kind.as_str().to_owned(),
            category: notification.kind.category().as_str().to_owned(),
            critical: notification.kind.critical(),
            title: notification.content.title.clone(),
            body: notification.content.body.clone(),
            link: Some(notification.content.link.clone()),
            data: notification.content.data.clone(),
            created_at: notification.created_at,
        });
        if !users.contains(&notification.user_id) {
            users.push(notification.user_id);
        }
    }
    for user_id in users {
        store::publish_unread_count(&notifier.db, &notifier.events, user_id).await;
    }
}

/// How long a processed outbox row is kept (for tracing what was consumed, and by whom).
pub const PROCESSED_RETENTION_DAYS: i32 = 7;

/// Deletes processed outbox rows older than [`PROCESSED_RETENTION_DAYS`], so the table stays
/// small; pending rows are never touched. Returns the rows deleted.
pub async fn prune_processed(db: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "DELETE FROM outbox WHERE processed_at < now() - make_interval(days => $1)",
        PROCESSED_RETENTION_DAYS
    )
    .execute(db)
    .await?
    .rows_affected())
}
