//! Plans and their limits as stored, and the effective plan of an account: its
//! subscription's plan while the subscription is active or trialing (or `past_due` within
//! the grace), otherwise the default plan.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{plan_code::PlanCode, policy::PlanPolicy};

/// A plan's limits; `None` is unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    /// Tasks an account may have.
    #[schema(minimum = 0)]
    pub max_tasks: Option<i32>,
    /// The shortest interval between two slots of a schedule, in seconds (1–86400).
    #[schema(minimum = 1, maximum = 86400)]
    pub min_interval_seconds: i32,
    /// Executions started per calendar month (UTC); retries are not counted.
    #[schema(minimum = 0)]
    pub executions_per_month: Option<i64>,
    /// Active API keys.
    #[schema(minimum = 0)]
    pub max_api_keys: Option<i32>,
    /// Alert rules per task (the defaults a new task gets count too).
    #[schema(minimum = 0)]
    pub max_alert_rules_per_task: Option<i32>,
    /// Days of execution history kept (1–36500).
    #[schema(minimum = 1, maximum = 36500)]
    pub history_retention_days: i32,
}

/// A plan as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Its code.
    pub code: PlanCode,
    /// Its display name.
    pub name: String,
    /// Its order, smallest first.
    pub rank: i16,
    /// Display price per month in the currency's smallest unit.
    pub monthly_price_cents: i32,
    /// ISO currency code, lowercase.
    pub currency: String,
    /// Its limits.
    pub limits: PlanLimits,
}

struct PlanRow {
    code: PlanCode,
    name: String,
    rank: i16,
    monthly_price_cents: i32,
    currency: String,
    max_tasks: Option<i32>,
    min_interval_seconds: i32,
    executions_per_month: Option<i64>,
    max_api_keys: Option<i32>,
    max_alert_rules_per_task: Option<i32>,
    history_retention_days: i32,
}

impl From<PlanRow> for Plan {
    fn from(row: PlanRow) -> Self {
        Plan {
            code: row.code,
            name: row.name,
            rank: row.rank,
            monthly_price_cents: row.monthly_price_cents,
            currency: row.currency,
            limits: PlanLimits {
                max_tasks: row.max_tasks,
                min_interval_seconds: row.min_interval_seconds,
                executions_per_month: row.executions_per_month,
                max_api_keys: row.max_api_keys,
                max_alert_rules_per_task: row.max_alert_rules_per_task,
                history_retention_days: row.history_retention_days,
            },
        }
    }
}

/// Every plan, smallest first.
pub async fn all_plans(conn: &mut PgConnection) -> Result<Vec<Plan>, sqlx::Error> {
    let rows = sqlx::query_as!(
        PlanRow,
        r#"SELECT code AS "code: PlanCode", name, rank, monthly_price_cents, currency, max_tasks,
                  min_interval_seconds, executions_per_month, max_api_keys,
                  max_alert_rules_per_task, history_retention_days
           FROM plans ORDER BY rank"#
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(Plan::from).collect())
}

/// The plan that applies to `owner_id` now.
pub async fn effective_plan(
    conn: &mut PgConnection,
    policy: &PlanPolicy,
    owner_id: Uuid,
) -> Result<Plan, sqlx::Error> {
    let row = sqlx::query_as!(
        PlanRow,
        r#"SELECT p.code AS "code: PlanCode", p.name, p.rank, p.monthly_price_cents, p.currency,
                  p.max_tasks, p.min_interval_seconds, p.executions_per_month, p.max_api_keys,
                  p.max_alert_rules_per_task, p.history_retention_days
           FROM plans p
           WHERE p.code = COALESCE(
               (SELECT s.plan FROM subscriptions s
                WHERE s.user_id = $1
                  AND (s.status IN ('active', 'trialing')
                       OR (s.status = 'past_due'
                           AND s.past_due_since > now() - make_interval(days => $3)))),
               $2)"#,
        owner_id,
        policy.default_plan.as_str(),
        policy.grace_days
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.into())
}
