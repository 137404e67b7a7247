//! What an account uses of its plan: each countable limit with its use and, for the monthly
//! executions, when the count starts again.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::plans::Plan;

/// One limit with what is used of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LimitUsage {
    /// The limit's name (`max_tasks`, `executions_per_month`, `max_api_keys`,
    /// `max_alert_rules_per_task`: the most rules any one task has).
    pub name: String,
    /// The plan's value; `null` is unlimited.
    pub limit: Option<i64>,
    /// What is used now.
    pub used: i64,
    /// When the count starts again (period limits only).
    pub resets_at: Option<DateTime<Utc>>,
}

/// The use of each countable limit of `plan` by `owner_id`, in one query.
pub async fn usage_of(
    conn: &mut PgConnection,
    owner_id: Uuid,
    plan: &Plan,
) -> Result<Vec<LimitUsage>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT
               (SELECT count(*) FROM tasks WHERE owner_id = $1) AS "tasks!",
               (SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL)
                   AS "api_keys!",
               (SELECT COALESCE(max(n), 0) FROM (SELECT count(*) AS n FROM alert_rules r
                    JOIN tasks t ON t.id = r.task_id WHERE t.owner_id = $1
                    GROUP BY r.task_id) AS per_task) AS "alert_rules!",
               (SELECT executions FROM usage_counters
                WHERE owner_id = $1
                  AND period_start = (date_trunc('month', now() AT TIME ZONE 'UTC'))::date)
                   AS "executions?",
               (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')
                   AT TIME ZONE 'UTC' AS "resets_at!""#,
        owner_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let limits = &plan.limits;
    let item = |name: &str, limit: Option<i64>, used: i64, resets_at| LimitUsage {
        name: name.to_owned(),
        limit,
        used,
        resets_at,
    };
    Ok(vec![
        item(
            "max_tasks",
            limits.max_tasks.map(i64::from),
            row.tasks,
            None,
        ),
        item(
            "executions_per_month",
            limits.executions_per_month,
            row.executions.unwrap_or(0),
            Some(row.resets_at),
        ),
        item(
            "max_api_keys",
            limits.max_api_keys.map(i64::from),
            row.api_keys,
            None,
        ),
        item(
            "max_alert_rules_per_task",
            limits.max_alert_rules_per_task.map(i64::from),
            row.alert_rules,
            None,
        ),
    ])
}
