//! Listing an owner's tasks: filters, a stable sort and keyset (cursor) pagination, plus each
//! task's most recent execution.

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{
    model::{ActionType, Task, TaskStatus},
    view::{TASK_COLUMNS, TaskRow, latest_execution_join},
};
use crate::{
    error::{AppError, AppResult},
    executions::model::{ExecutionStatus, TriggerKind},
    http::cursor,
    text_enum,
};

text_enum! {
    /// The order tasks are listed in.
    pub enum TaskSort {
        /// When the task was created (the default, newest first).
        CreatedAt = "created_at",
        /// When its definition or status last changed.
        UpdatedAt = "updated_at",
        /// Its name.
        Name = "name",
        /// Its next scheduled run; tasks without one come last in ascending order.
        NextRunAt = "next_run_at",
    }
}

text_enum! {
    /// Ascending or descending.
    pub enum SortOrder {
        /// Smallest first.
        Asc = "asc",
        /// Largest first.
        Desc = "desc",
    }
}

/// What to list.
#[derive(Debug, Clone)]
pub struct TaskQuery {
    /// Only this status.
    pub status: Option<TaskStatus>,
    /// Only this action type.
    pub action_type: Option<ActionType>,
    /// Only tasks carrying this tag.
    pub tag: Option<String>,
    /// Text contained in the name or description (case-insensitive).
    pub search: Option<String>,
    /// Sort key.
    pub sort: TaskSort,
    /// Sort direction.
    pub order: SortOrder,
    /// Page size.
    pub limit: i64,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

pub use super::view::ExecutionSummary;

/// One page of tasks with their latest executions.
pub struct TaskPage {
    /// The tasks, in the requested order.
    pub items: Vec<(Task, Option<ExecutionSummary>)>,
    /// The cursor of the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

/// Where a page ended: the sort key's value (as Postgres text) and the id breaking ties.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    sort: TaskSort,
    order: SortOrder,
    key: String,
    id: Uuid,
}

impl Cursor {
    fn decode(text: &str, sort: TaskSort, order: SortOrder) -> AppResult<Cursor> {
        let cursor: Cursor = cursor::decode(text)?;
        if cursor.sort != sort || cursor.order != order {
            return Err(AppError::invalid_field(
                "query.cursor",
                "was made for another sort; keep `sort` and `order` while paging",
            ));
        }
        Ok(cursor)
    }
}

/// The SQL expression a sort orders by, and the type its cursor value is read back as.
fn sort_expression(sort: TaskSort) -> (&'static str, &'static str) {
    match sort {
        TaskSort::CreatedAt => ("created_at", "timestamptz"),
        TaskSort::UpdatedAt => ("updated_at", "timestamptz"),
        TaskSort::Name => ("name", "text"),
        TaskSort::NextRunAt => (
            "COALESCE(next_run_at, 'infinity'::timestamptz)",
            "timestamptz",
        ),
    }
}

/// A row of a page: the task with its latest execution, and its sort key as text.
#[derive(sqlx::FromRow)]
struct PageRow {
    #[sqlx(flatten)]
    row: TaskRow,
    sort_key: Option<String>,
}

/// One page of the owner's tasks with their latest executions, in one query.
pub async fn list_tasks(db: &PgPool, owner_id: Uuid, query: &TaskQuery) -> AppResult<TaskPage> {
    let (expression, key_type) = sort_expression(query.sort);
    let cursor = query
        .cursor
        .as_deref()
        .map(|text| Cursor::decode(text, query.sort, query.order))
        .transpose()?;
    // The page of tasks first, then each one's latest execution, in one statement.
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new("SELECT p.*, e.* FROM (SELECT ");
    sql.push(TASK_COLUMNS)
        .push(", (")
        .push(expression)
        .push(")::text AS sort_key FROM tasks WHERE owner_id = ")
        .push_bind(owner_id);
    push_filters(&mut sql, query);
    let (comparison, direction) = match query.order {
        SortOrder::Asc => (">", "ASC"),
        SortOrder::Desc => ("<", "DESC"),
    };
    if let Some(cursor) = &cursor {
        sql.push(format_args!(" AND ({expression}, id) {comparison} ("))
            .push_bind(cursor.key.clone())
            .push(format_args!("::{key_type}, "))
            .push_bind(cursor.id)
            .push(")");
    }
    sql.push(format_args!(
        " ORDER BY {expression} {direction}, id {direction} LIMIT "
    ))
    .push_bind(query.limit + 1)
    .push(") p ")
    .push(latest_execution_join("p"))
    .push(format_args!(
        " ORDER BY {expression} {direction}, id {direction}"
    ));
    let mut rows: Vec<PageRow> = sql.build_query_as().fetch_all(db).await?;
    let next_cursor = if rows.len() as i64 > query.limit {
        rows.truncate(usize::try_from(query.limit).unwrap_or(0));
        match rows.last() {
            Some(last) => Some(cursor::encode(&Cursor {
                sort: query.sort,
                order: query.order,
                key: last.sort_key.clone().unwrap_or_default(),
                id: last.row.id(),
            })?),
            None => None,
        }
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|page_row| page_row.row.split())
        .collect();
    Ok(TaskPage { items, next_cursor })
}

/// Adds the filters of `query` (status, action type, tag, text) to a `WHERE` clause.
fn push_filters(sql: &mut QueryBuilder<'_, Postgres>, query: &TaskQuery) {
    if let Some(status) = query.status {
        sql.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(action_type) = query.action_type {
        sql.push(" AND action_type = ")
            .push_bind(action_type.as_str());
    }
    if let Some(tag) = &query.tag {
        sql.push(" AND tags @> ARRAY[")
            .push_bind(tag.clone())
            .push("]");
    }
    if let Some(search) = &query.search {
        let pattern = crate::db::contains_pattern(search);
        sql.push(" AND (name ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR description ILIKE ")
            .push_bind(pattern)
            .push(")");
    }
}

/// The ids of the owner's tasks matching the filters of `query` (its sort, limit and cursor
/// are not used), oldest first, at most `limit`.
pub async fn matching_ids(
    db: &PgPool,
    owner_id: Uuid,
    query: &TaskQuery,
    limit: i64,
) -> AppResult<Vec<Uuid>> {
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT id FROM tasks WHERE owner_id = ");
    sql.push_bind(owner_id);
    push_filters(&mut sql, query);
    sql.push(" ORDER BY created_at, id LIMIT ").push_bind(limit);
    Ok(sql.build_query_scalar().fetch_all(db).await?)
}

/// The latest execution of each task (one index probe per task).
pub async fn latest_executions(
    db: &PgPool,
    task_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, ExecutionSummary)>> {
    let rows = sqlx::query!(
        r#"SELECT t.id AS "task_id!", e.id AS "id!", e.status AS "status!: ExecutionStatus",
                  e.trigger_kind AS "trigger_kind!: TriggerKind", e.attempt AS "attempt!",
                  e.queued_at AS "queued_at!", e.started_at, e.finished_at, e.duration_ms,
                  e.error
           FROM UNNEST($1::uuid[]) AS t(id)
           CROSS JOIN LATERAL (
               SELECT id, status, trigger_kind, attempt, queued_at, started_at, finished_at,
                      duration_ms, error
               FROM executions WHERE task_id = t.id
               ORDER BY queued_at DESC LIMIT 1
           ) e"#,
        task_ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                row.task_id,
                ExecutionSummary {
                    id: row.id,
                    status: row.status,
                    trigger_kind: row.trigger_kind,
                    attempt: row.attempt,
                    queued_at: row.queued_at,
                    started_at: row.started_at,
                    finished_at: row.finished_at,
                    duration_ms: row.duration_ms,
                    error: row.error,
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_another_sort() {
        let cursor = Cursor {
            sort: TaskSort::Name,
            order: SortOrder::Asc,
            key: "ping".into(),
            id: Uuid::nil(),
        };
        let text = cursor::encode(&cursor).expect("encode");
        let back = Cursor::decode(&text, TaskSort::Name, SortOrder::Asc).expect("decode");
        assert_eq!(back.key, "ping");
        assert!(Cursor::decode(&text, TaskSort::CreatedAt, SortOrder::Asc).is_err());
        assert!(Cursor::decode("not a cursor", TaskSort::Name, SortOrder::Asc).is_err());
    }
}
