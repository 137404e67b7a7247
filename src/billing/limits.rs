//! The plan limits, checked where things are created. Each check that counts runs under a
//! lock (the owner's user row, the task's row or the owner's monthly counter), held until
//! the caller's transaction ends, so concurrent requests at the limit never pass it. A
//! refusal is `402 PLAN_LIMIT_REACHED` with the limit, what is used and where to upgrade.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    plans::{Plan, effective_plan},
    policy::PlanPolicy,
};
use crate::{
    cron::schedule::Schedule,
    error::{AppError, AppResult, PlanLimitDetails},
};

/// How many slots of a schedule are looked at for its shortest interval.
const INTERVAL_SAMPLES: usize = 120;

/// The 402 for `limit_name` at `limit` with `used` used.
pub fn refusal(
    policy: &PlanPolicy,
    plan: &Plan,
    limit_name: &str,
    limit: i64,
    used: i64,
    resets_at: Option<DateTime<Utc>>,
    detail: String,
) -> AppError {
    AppError::plan_limit(
        detail,
        PlanLimitDetails {
            limit_name: limit_name.to_owned(),
            limit,
            used,
            resets_at,
            upgrade_url: policy.upgrade_url.to_string(),
            plan: plan.code.as_str().to_owned(),
        },
    )
}

/// Locks the owner's user row until the transaction ends, serializing the owner's
/// limit-checked creations (a `NO KEY UPDATE` lock: rows referencing the user still insert).
pub async fn lock_owner(conn: &mut PgConnection, owner_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE",
        owner_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(())
}

/// The shortest interval between two consecutive slots among the schedule's next
/// [`INTERVAL_SAMPLES`] slots after `from`, in seconds (`None` when it fires at most once).
pub fn shortest_interval(schedule: &Schedule, from: DateTime<Utc>) -> Option<i64> {
    let mut previous = schedule.next_after(from)?;
    let mut shortest: Option<i64> = None;
    for _ in 0..INTERVAL_SAMPLES {
        let Some(next) = schedule.next_after(previous) else {
            break;
        };
        let gap = (next - previous).num_seconds();
        shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
        previous = next;
    }
    shortest
}

/// 402 when the schedule fires more often than the plan's `min_interval_seconds`.
pub fn check_interval(
    policy: &PlanPolicy,
    plan: &Plan,
    schedule: Option<&Schedule>,
) -> AppResult<()> {
    let Some(schedule) = schedule else {
        return Ok(());
    };
    let minimum = i64::from(plan.limits.min_interval_seconds);
    if minimum <= 1 {
        return Ok(());
    }
    match shortest_interval(schedule, Utc::now()) {
        Some(interval) if interval < minimum => Err(refusal(
            policy,
            plan,
            "min_interval_seconds",
            minimum,
            interval,
            None,
            format!(
                "schedule.cron: runs every {interval} s; the {} plan allows at most one run every {minimum} s",
                plan.code
            ),
        )),
        _ => Ok(()),
    }
}

/// Checks a task about to be created by `owner_id` on `conn` (in the transaction that
/// inserts it): its schedule's interval and the plan's `max_tasks`, counted under the
/// owner's lock.
pub async fn admit_task(
    conn: &mut PgConnection,
    policy: &PlanPolicy,
    owner_id: Uuid,
    schedule: Option<&Schedule>,
) -> AppResult<()> {
    let plan = effective_plan(&mut *conn, policy, owner_id).await?;
    check_interval(policy, &plan, schedule)?;
    let Some(max) = plan.limits.max_tasks else {
        return Ok(());
    };
    lock_owner(&mut *conn, owner_id).await?;
    let used = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM tasks WHERE owner_id = $1"#,
        owner_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if used >= i64::from(max) {
        return Err(refusal(
            policy,
            &plan,
            "max_tasks",
            i64::from(max),
            used,
            None,
            format!("the {} plan allows {max} tasks", plan.code),
        ));
    }
    Ok(())
}

/// Checks a schedule given to an existing task against the owner's plan.
pub async fn admit_schedule(
    conn: &mut PgConnection,
    policy: &PlanPolicy,
    owner_id: Uuid,
    schedule: Option<&Schedule>,
) -> AppResult<()> {
    if schedule.is_none() {
        return Ok(());
    }
    let plan = effective_plan(&mut *conn, policy, owner_id).await?;
    check_interval(policy, &plan, schedule)
}

/// Checks an API key about to be created (call it with the owner's row locked).
pub async fn admit_api_key(
    conn: &mut PgConnection,
    policy: &PlanPolicy,
    owner_id: Uuid,
    active_keys: i64,
) -> AppResult<()> {
    let plan = effective_plan(&mut *conn, policy, owner_id).await?;
    match plan.limits.max_api_keys {
        Some(max) if active_keys >= i64::from(max) => Err(refusal(
            policy,
            &plan,
            "max_api_keys",
            i64::from(max),
            active_keys,
            None,
            format!("the {} plan allows {max} active API keys", plan.code),
        )),
        _ => Ok(()),
    }
}

/// Checks an alert rule about to be added to a task that has `rules` (call it with the
/// task's row locked).
pub async fn admit_alert_rule(
    conn: &mut PgConnection,
    policy: &PlanPolicy,
    owner_id: Uuid,
    rules: i64,
) -> AppResult<()> {
    let plan = effective_plan(&mut *conn, policy, owner_id).await?;
    match plan.limits.max_alert_rules_per_task {
        Some(max) if rules >= i64::from(max) => Err(refusal(
            policy,
            &plan,
            "max_alert_rules_per_task",
            i64::from(max),
            rules,
            None,
            format!("the {} plan allows {max} alert rules per task", plan.code),
        )),
        _ => Ok(()),
    }
}

/// Checks one more execution of `task_id` against the owner's monthly limit, in the
/// transaction that queues it. The owner's counter row stays locked until that
/// transaction ends (the insert's trigger adds the execution to it), so concurrent triggers
/// at the limit never pass it. The task is share-locked first, in the order the dispatcher
/// takes its locks (task, then counter), so the two never wait for each other in a circle.
pub async fn admit_execution(
    conn: &mut PgConnection,
    policy: &PlanPolicy,
    owner_id: Uuid,
    task_id: Uuid,
) -> AppResult<()> {
    let plan = effective_plan(&mut *conn, policy, owner_id).await?;
    let Some(max) = plan.limits.executions_per_month else {
        return Ok(());
    };
    sqlx::query_scalar!("SELECT id FROM tasks WHERE id = $1 FOR KEY SHARE", task_id)
        .fetch_optional(&mut *conn)
        .await?;
    let counter = sqlx::query!(
        r#"INSERT INTO usage_counters (owner_id, period_start)
           VALUES ($1, (date_trunc('month', now() AT TIME ZONE 'UTC'))::date)
           ON CONFLICT (owner_id, period_start)
               DO UPDATE SET executions = usage_counters.executions
           RETURNING executions,
                     (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')
                         AT TIME ZONE 'UTC' AS "resets_at!""#,
        owner_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if counter.executions >= max {
        return Err(refusal(
            policy,
            &plan,
            "executions_per_month",
            max,
            counter.executions,
            Some(counter.resets_at),
            format!(
                "the {} plan allows {max} executions a month; the count starts again at {}",
                plan.code,
                counter.resets_at.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

/// What is left of this month's executions for each of `owners` whose plan limits them
/// (owners left out are unlimited). Their counter rows stay locked, in owner order, until
/// the caller's transaction ends, so a dispatcher tick and a manual trigger never both take
/// the last execution.
pub async fn execution_allowance(
    conn: &mut PgConnection,
    policy: &PlanPolicy,
    owners: &[Uuid],
) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    if owners.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query!(
        r#"WITH limited AS (
               SELECT o.id, p.executions_per_month AS max
               FROM UNNEST($1::uuid[]) AS o(id)
               JOIN plans p ON p.code = COALESCE(
                   (SELECT s.plan FROM subscriptions s
                    WHERE s.user_id = o.id
                      AND (s.status IN ('active', 'trialing')
                           OR (s.status = 'past_due'
                               AND s.past_due_since > now() - make_interval(days => $3)))),
                   $2)
               WHERE p.executions_per_month IS NOT NULL),
           counted AS (
               INSERT INTO usage_counters (owner_id, period_start)
               SELECT id, (date_trunc('month', now() AT TIME ZONE 'UTC'))::date
               FROM limited ORDER BY id
               ON CONFLICT (owner_id, period_start)
                   DO UPDATE SET executions = usage_counters.executions
               RETURNING owner_id, executions)
           SELECT l.id AS "id!", l.max - c.executions AS "left!"
           FROM limited l JOIN counted c ON c.owner_id = l.id"#,
        owners,
        policy.default_plan.as_str(),
        policy.grace_days
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|row| (row.id, row.left)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::model::DstPolicy;

    #[test]
    fn the_shortest_interval_of_a_schedule() {
        let every = |cron: &str| {
            let schedule = Schedule::parse(cron, "UTC", DstPolicy::ShiftOnce).expect("parse");
            shortest_interval(&schedule, Utc::now())
        };
        assert_eq!(every("*/5 * * * * *"), Some(5));
        assert_eq!(every("* * * * *"), Some(60));
        assert_eq!(every("0,30 0 * * * *"), Some(30));
        assert_eq!(every("@hourly"), Some(3600));
    }
}
