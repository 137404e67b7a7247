//! A task's history: its executions and the planned-run ledger (slots that did not run) in
//! one timeline, newest first, with filters and cursor pagination.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::{AppError, AppResult},
    executions::model::SkipReason,
    http::cursor,
    text_enum,
};

text_enum! {
    /// What a history entry records.
    pub enum EntryKind {
        /// An execution (any status).
        Execution = "EXECUTION",
        /// A slot that did not run, from the planned-run ledger.
        Skipped = "SKIPPED",
    }
}

/// One entry of a task's history.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// An execution or a skipped slot.
    pub kind: EntryKind,
    /// When it happened: when the execution was queued, or the skipped slot.
    pub at: DateTime<Utc>,
    /// The execution's status, or `SKIPPED`.
    #[schema(example = "SUCCEEDED")]
    pub status: String,
    /// The execution (absent for skipped slots).
    pub execution_id: Option<Uuid>,
    /// What started the execution.
    pub trigger_kind: Option<String>,
    /// The attempt number.
    pub attempt: Option<i32>,
    /// The schedule slot, for scheduled executions and skipped slots.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// When the execution started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the execution finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// How long it ran.
    pub duration_ms: Option<i64>,
    /// Why the execution failed.
    pub error: Option<String>,
    /// Why the slot was skipped: `SKIPPED_CONCURRENCY`, `OUTSIDE_CATCH_UP`, `PAUSED`,
    /// `AFTER_END`, `OWNER_INACTIVE` (the owner's account was disabled or deleted), `QUEUE_FULL`
    /// (the owner had `MAX_QUEUED_PER_OWNER` executions waiting), or `CHAIN_DEPTH` and
    /// `CHAIN_BUDGET` (a chained run a chain limit stopped; `at` is when the source execution
    /// finished and `trigger_kind` is `CHAIN`).
    pub reason: Option<SkipReason>,
    /// More about the skip.
    pub detail: Option<String>,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Only this status (an execution status, or `SKIPPED`).
    pub status: Option<String>,
    /// Only entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only entries before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: i64,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryPage {
    /// Newest first.
    pub items: Vec<HistoryEntry>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Where a page ended.
#[derive(Debug, Serialize, Deserialize)]
struct Position {
    at: DateTime<Utc>,
    tiebreak: String,
}

/// One page of a task's history. The caller has checked the task is the owner's.
pub async fn task_history(
    db: &PgPool,
    task_id: Uuid,
    query: &HistoryQuery,
) -> AppResult<HistoryPage> {
    let position: Option<Position> = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let rows = sqlx::query!(
        r#"SELECT kind AS "kind!: EntryKind", at AS "at!", status AS "status!", execution_id,
                  trigger_kind, attempt, scheduled_for, started_at, finished_at, duration_ms,
                  error, reason AS "reason: SkipReason", detail, tiebreak AS "tiebreak!"
           FROM (
               SELECT 'EXECUTION' AS kind, e.queued_at AS at, e.status, e.id AS execution_id,
                      e.trigger_kind, e.attempt, e.scheduled_for, e.started_at, e.finished_at,
                      e.duration_ms, e.error, NULL::text AS reason, NULL::text AS detail,
                      'e' || e.id::text AS tiebreak
               FROM executions e WHERE e.task_id = $1
               UNION ALL
               SELECT 'SKIPPED', p.scheduled_for, 'SKIPPED', NULL,
                      CASE WHEN p.source_execution_id IS NULL THEN 'SCHEDULE' ELSE 'CHAIN' END,
                      NULL,
                      p.scheduled_for, NULL, NULL, NULL, NULL, p.reason, p.detail,
                      'p' || lpad(p.id::text, 20, '0')
               FROM planned_runs p WHERE p.task_id = $1
           ) entries
           WHERE ($2::text IS NULL OR status = $2)
             AND ($3::timestamptz IS NULL OR at >= $3)
             AND ($4::timestamptz IS NULL OR at < $4)
             AND ($5::timestamptz IS NULL OR (at, tiebreak) < ($5, $6))
           ORDER BY at DESC, tiebreak DESC
           LIMIT $7"#,
        task_id,
        query.status,
        query.from,
        query.to,
        position.as_ref().map(|p| p.at),
        position.as_ref().map(|p| p.tiebreak.as_str()),
        query.limit + 1,
    )
    .fetch_all(db)
    .await?;
    let more = rows.len() as i64 > query.limit;
    let mut items = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in rows
        .into_iter()
        .take(usize::try_from(query.limit).unwrap_or(0))
    {
        last = Some(Position {
            at: row.at,
            tiebreak: row.tiebreak,
        });
        items.push(HistoryEntry {
            kind: row.kind,
            at: row.at,
            status: row.status,
            execution_id: row.execution_id,
            trigger_kind: row.trigger_kind,
            attempt: row.attempt,
            scheduled_for: row.scheduled_for,
            started_at: row.started_at,
            finished_at: row.finished_at,
            duration_ms: row.duration_ms,
            error: row.error,
            reason: row.reason,
            detail: row.detail,
        });
    }
    let next_cursor = match last {
        Some(position) if more => Some(cursor::encode(&position)?),
        _ => None,
    };
    Ok(HistoryPage { items, next_cursor })
}

/// Checks a history status filter: an execution status or `SKIPPED`.
pub fn parse_status(value: &str) -> AppResult<String> {
    let known = value == "SKIPPED"
        || value
            .parse::<crate::executions::model::ExecutionStatus>()
            .is_ok();
    if known {
        Ok(value.to_owned())
    } else {
        Err(AppError::invalid_field(
            "query.status",
            "must be QUEUED, RUNNING, SUCCEEDED, FAILED, DEAD, CANCELLED, TIMED_OUT or SKIPPED",
        ))
    }
}

/// Which of an owner's executions to list.
#[derive(Debug, Clone, Default)]
pub struct ExecutionQuery {
    /// Only this status.
    pub status: Option<crate::executions::model::ExecutionStatus>,
    /// Only this trigger kind.
    pub trigger_kind: Option<crate::executions::model::TriggerKind>,
    /// Only executions queued at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only executions queued before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Page size.
    pub limit: i64,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One execution in a list across tasks.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExecutionListItem {
    /// The execution.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// The task's name.
    pub task_name: String,
    /// Its status.
    pub status: crate::executions::model::ExecutionStatus,
    /// What started it.
    pub trigger_kind: crate::executions::model::TriggerKind,
    /// Attempt number.
    pub attempt: i32,
    /// The schedule slot, for scheduled runs.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// How long it ran.
    pub duration_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The execution that started this one's chain; `null` on a root.
    pub root_execution_id: Option<Uuid>,
    /// Chain links from the root (0 on a root).
    pub chain_depth: i32,
}

/// One page of executions across tasks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutionPage {
    /// Newest first.
    pub items: Vec<ExecutionListItem>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// One page of the owner's executions across all tasks, newest first.
pub async fn owner_executions(
    db: &PgPool,
    owner_id: Uuid,
    query: &ExecutionQuery,
) -> AppResult<ExecutionPage> {
    use crate::executions::model::{ExecutionStatus, TriggerKind};
    let position: Option<(DateTime<Utc>, Uuid)> =
        query.cursor.as_deref().map(cursor::decode).transpose()?;
    let mut items = sqlx::query_as!(
        ExecutionListItem,
        r#"SELECT e.id, e.task_id, t.name AS task_name, e.status AS "status: ExecutionStatus",
                  e.trigger_kind AS "trigger_kind: TriggerKind", e.attempt, e.scheduled_for,
                  e.queued_at, e.started_at, e.finished_at, e.duration_ms, e.error,
                  e.root_execution_id, e.chain_depth
           FROM executions e JOIN tasks t ON t.id = e.task_id
           WHERE t.owner_id = $1
             AND ($2::text IS NULL OR e.status = $2)
             AND ($3::text IS NULL OR e.trigger_kind = $3)
             AND ($4::timestamptz IS NULL OR e.queued_at >= $4)
             AND ($5::timestamptz IS NULL OR e.queued_at < $5)
             AND ($6::timestamptz IS NULL OR (e.queued_at, e.id) < ($6, $7))
           ORDER BY e.queued_at DESC, e.id DESC
           LIMIT $8"#,
        owner_id,
        query.status.map(ExecutionStatus::as_str),
        query.trigger_kind.map(TriggerKind::as_str),
        query.from,
        query.to,
        position.map(|(at, _)| at),
        position.map(|(_, id)| id),
        query.limit + 1,
    )
    .fetch_all(db)
    .await?;
    let next_cursor = if items.len() as i64 > query.limit {
        items.truncate(usize::try_from(query.limit).unwrap_or(0));
        items
            .last()
            .map(|last| cursor::encode(&(last.queued_at, last.id)))
            .transpose()?
    } else {
        None
    };
    Ok(ExecutionPage { items, next_cursor })
}
