//! A smaller plan never deletes anything: the owner's active tasks past its `max_tasks`
//! (counting every task, oldest first) are paused, newest first, and the owner is told
//! which ones.

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{apply::notify, plans::effective_plan, policy::PlanPolicy};
use crate::{
    error::AppResult,
    tasks::{
        db::{StatusChange, set_status_in},
        model::TaskStatus,
    },
};

/// Pauses the owner's active tasks over the effective plan's `max_tasks`; returns the status
/// changes to publish once the transaction commits.
pub async fn pause_over_limit(
    tx: &mut Transaction<'_, Postgres>,
    policy: &PlanPolicy,
    owner_id: Uuid,
) -> AppResult<Vec<StatusChange>> {
    let plan = effective_plan(&mut *tx, policy, owner_id).await?;
    let Some(max) = plan.limits.max_tasks else {
        return Ok(Vec::new());
    };
    let over = sqlx::query!(
        r#"SELECT id, name FROM (
               SELECT id, name, status, created_at FROM tasks WHERE owner_id = $1
               ORDER BY created_at, id OFFSET $2) AS newer
           WHERE status = 'ACTIVE'
           ORDER BY created_at DESC, id DESC"#,
        owner_id,
        i64::from(max)
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut changes = Vec::new();
    for task in &over {
        let (_, change) = set_status_in(&mut *tx, task.id, owner_id, TaskStatus::Paused).await?;
        changes.extend(change);
    }
    if !over.is_empty() {
        let names: Vec<&str> = over.iter().map(|t| t.name.as_str()).collect();
        notify(
            tx,
            owner_id,
            "Tasks paused by your plan change",
            &format!(
                "The {} plan allows {max} tasks, so these were paused (nothing was deleted): {}",
                plan.code,
                names.join(", ")
            ),
            "plan.downgraded",
        )
        .await?;
        tracing::info!(%owner_id, paused = over.len(), plan = %plan.code, "tasks paused over the plan's limit");
    }
    Ok(changes)
}
