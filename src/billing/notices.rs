//! Usage notices: the owner is told once per month at 80 % and once at 100 % of the plan's
//! `executions_per_month` (type `BILLING`, in the app). A system job looks every minute at
//! this month's counters; `usage_notices` (primary key: account, month, threshold) records
//! what was sent, in the transaction that stores the notification, so each notice goes out
//! exactly once whichever instance runs the job. When one look finds both thresholds
//! crossed, only the 100 % notice is sent (both are recorded).

use chrono::NaiveDate;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::policy::PlanPolicy;
use crate::{
    db::channels::NOTIFICATION_DELIVERIES,
    notifications::{
        compose::Content,
        model::{Channel, NotificationType},
        store::{self, NewNotification},
    },
    system_jobs::{JobContext, SystemJob},
};

/// The thresholds, in percent of `executions_per_month`.
pub const THRESHOLDS: [i16; 2] = [80, 100];

/// The job that sends the notices, every minute.
pub fn system_jobs() -> Vec<SystemJob> {
    vec![SystemJob::new(
        "billing-usage-notices",
        "30 * * * * *",
        |state: JobContext| async move {
            let policy = PlanPolicy::from_settings(&state.settings);
            let sent = send_usage_notices(&state.db, &policy).await?;
            if sent > 0 {
                tracing::info!(sent, "sent usage notices");
            }
            Ok(())
        },
    )]
}

/// One notice to send.
#[derive(Debug)]
struct Crossed {
    user_id: Uuid,
    period_start: NaiveDate,
    threshold: i16,
    used: i64,
    max: i64,
}

/// Records and sends the notices due this month; returns how many notifications were stored.
pub async fn send_usage_notices(db: &PgPool, policy: &PlanPolicy) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query!(
        r#"WITH limited AS (
               SELECT c.owner_id, c.period_start, c.executions, p.executions_per_month AS max
               FROM usage_counters c
               JOIN plans p ON p.code = COALESCE(
                   (SELECT s.plan FROM subscriptions s
                    WHERE s.user_id = c.owner_id
                      AND (s.status IN ('active', 'trialing')
                           OR (s.status = 'past_due'
                               AND s.past_due_since > now() - make_interval(days => $2)))),
                   $1)
               WHERE c.period_start = (date_trunc('month', now() AT TIME ZONE 'UTC'))::date
                 AND p.executions_per_month > 0),
           crossed AS (
               SELECT l.owner_id, l.period_start, t.threshold, l.executions, l.max
               FROM limited l
               CROSS JOIN (VALUES (80::smallint), (100::smallint)) AS t(threshold)
               WHERE l.executions * 100 >= l.max * t.threshold)
           INSERT INTO usage_notices (user_id, period_start, threshold, used, max)
           SELECT owner_id, period_start, threshold, executions, max FROM crossed
           ORDER BY owner_id, threshold
           ON CONFLICT (user_id, period_start, threshold) DO NOTHING
           RETURNING user_id, period_start, threshold, used, max"#,
        policy.default_plan.as_str(),
        policy.grace_days
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut crossed: Vec<Crossed> = rows
        .into_iter()
        .map(|row| Crossed {
            user_id: row.user_id,
            period_start: row.period_start,
            threshold: row.threshold,
            used: row.used,
            max: row.max,
        })
        .collect();
    // The highest newly crossed threshold of each account.
    crossed.sort_by(|a, b| (a.user_id, b.threshold).cmp(&(b.user_id, a.threshold)));
    crossed.dedup_by_key(|notice| notice.user_id);
    for notice in &crossed {
        let content = content(notice, &policy.upgrade_url);
        store::insert(
            &mut tx,
            &NewNotification {
                user_id: notice.user_id,
                kind: NotificationType::Billing,
                content: &content,
                task_id: None,
                rule_id: None,
                channels: &[Channel::InApp, Channel::Email],
                // The delivery worker records `NOT_SENT` when the server has no SMTP.
                email_ready: true,
            },
        )
        .await?;
    }
    if !crossed.is_empty() {
        sqlx::query!("SELECT pg_notify($1, '')", NOTIFICATION_DELIVERIES)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(crossed.len())
}

fn content(notice: &Crossed, upgrade_url: &str) -> Content {
    let (title, body) = if notice.threshold >= 100 {
        (
            "You have used all of this month's executions".to_owned(),
            format!(
                "{} of {} executions this month: further runs are refused (scheduled ones are \
                 skipped) until the count starts again next month, unless you choose a larger plan.",
                notice.used, notice.max
            ),
        )
    } else {
        (
            format!(
                "You have used {} % of this month's executions",
                notice.threshold
            ),
            format!(
                "{} of {} executions this month. At {} runs are refused until next month, \
                 unless you choose a larger plan.",
                notice.used, notice.max, notice.max
            ),
        )
    };
    Content {
        title,
        body,
        link: upgrade_url.to_owned(),
        data: json!({
            "usage_threshold": notice.threshold,
            "used": notice.used,
            "limit": notice.max,
            "period_start": notice.period_start,
        }),
    }
}
