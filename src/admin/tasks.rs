//! Tasks across owners: `GET /admin/tasks` (filters by owner, status, text and tags, cursor
//! pagination) and `POST /admin/tasks/{id}/pause` or `…/resume`, each with a reason that the
//! owner is told in a `SYSTEM` notification stored in the same transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use validator::Validate;

use crate::{
    auth::{Admin, RequireRole},
    error::{AppError, Problem},
    events::EventBus,
    http::{AppJson, AppPath, AppQuery, ValidJson, cursor},
    notifications::{
        Notifier,
        compose::Content,
        model::{Channel, NotificationType},
        outbox::{Created, push},
        store::{self, NewNotification},
    },
    state::AppState,
    tasks::{db as task_db, status::TaskStatus},
};

/// Most tags one filter may name.
const MAX_TAGS: usize = 10;
/// Longest search text.
const MAX_SEARCH_LEN: usize = 200;

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_list_tasks))
        .routes(routes!(admin_pause_task))
        .routes(routes!(admin_resume_task))
}

/// `GET /admin/tasks` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminTaskFilter {
    /// Only this owner's tasks.
    pub owner_id: Option<Uuid>,
    /// Only tasks with this status.
    pub status: Option<TaskStatus>,
    /// Names containing this text (case-insensitive), at most 200 characters.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Comma-separated tags the task must all carry (at most 10).
    #[param(example = "billing,nightly")]
    pub tags: Option<String>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A task in the admin list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminTaskRow {
    /// Task id.
    pub id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// The owner's email.
    pub owner_email: String,
    /// Task name.
    pub name: String,
    /// Status.
    pub status: TaskStatus,
    /// Tags.
    pub tags: Vec<String>,
    /// Cron expression, for scheduled tasks.
    pub cron: Option<String>,
    /// Next scheduled run.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Consecutive failed executions.
    pub consecutive_failures: i32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// One page of tasks, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminTaskPage {
    /// The tasks.
    pub items: Vec<AdminTaskRow>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// `POST /admin/tasks/{id}/pause` and `…/resume` body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct AdminTaskAction {
    /// Why; the owner is told. 1–500 characters.
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// What an admin's pause or resume did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminTaskChanged {
    /// Task id.
    pub id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// The status now.
    pub status: TaskStatus,
    /// The notification the owner received (absent when nothing changed).
    pub notification_id: Option<Uuid>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Position {
    id: Uuid,
}

/// List tasks across owners (admins).
#[utoipa::path(get, path = "/admin/tasks", tag = "admin", security(("bearer" = [])),
    params(AdminTaskFilter),
    responses(
        (status = 200, description = "A page of tasks", body = AdminTaskPage),
        (status = 400, description = "Malformed query parameter", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "Invalid limit, cursor, tags or search text", body = Problem),
    ))]
async fn admin_list_tasks(
    axum::extract::State(db): axum::extract::State<PgPool>,
    _admin: RequireRole<Admin>,
    AppQuery(filter): AppQuery<AdminTaskFilter>,
) -> Result<AppJson<AdminTaskPage>, AppError> {
    let limit = cursor::page_size(filter.limit)?;
    let after = filter
        .cursor
        .as_deref()
        .map(cursor::decode::<Position>)
        .transpose()?
        .map(|p| p.id);
    if filter
        .q
        .as_ref()
        .is_some_and(|q| q.chars().count() > MAX_SEARCH_LEN)
    {
        return Err(AppError::invalid_field(
            "query.q",
            format!("must be at most {MAX_SEARCH_LEN} characters"),
        ));
    }
    let tags: Vec<String> = filter
        .tags
        .as_deref()
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if tags.len() > MAX_TAGS {
        return Err(AppError::invalid_field(
            "query.tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    let pattern = filter.q.as_deref().map(crate::db::contains_pattern);
    let rows = sqlx::query!(
        r#"SELECT t.id, t.owner_id, u.email::text AS "owner_email!", t.name,
                  t.status AS "status: TaskStatus", t.tags, t.cron, t.next_run_at,
                  t.consecutive_failures, t.created_at
           FROM tasks t JOIN users u ON u.id = t.owner_id
           WHERE ($1::uuid IS NULL OR t.id < $1)
             AND ($2::uuid IS NULL OR t.owner_id = $2)
             AND ($3::text IS NULL OR t.status = $3)
             AND ($4::text IS NULL OR t.name ILIKE $4)
             AND (cardinality($5::text[]) = 0 OR t.tags @> $5)
           ORDER BY t.id DESC
           LIMIT $6"#,
        after,
        filter.owner_id,
        filter.status.map(TaskStatus::as_str),
        pattern,
        &tags,
        limit + 1,
    )
    .fetch_all(&db)
    .await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<AdminTaskRow> = rows
        .into_iter()
        .take(limit as usize)
        .map(|row| AdminTaskRow {
            id: row.id,
            owner_id: row.owner_id,
            owner_email: row.owner_email,
            name: row.name,
            status: row.status,
            tags: row.tags,
            cron: row.cron,
            next_run_at: row.next_run_at,
            consecutive_failures: row.consecutive_failures,
            created_at: row.created_at,
        })
        .collect();
    let next_cursor = match (more, items.last()) {
        (true, Some(last)) => Some(cursor::encode(&Position { id: last.id })?),
        _ => None,
    };
    Ok(AppJson(AdminTaskPage { items, next_cursor }))
}

/// Moves a task to `status` for an admin and tells its owner, in one transaction.
async fn change(
    notifier: &Notifier,
    events: &EventBus,
    task_id: Uuid,
    status: TaskStatus,
    reason: &str,
) -> Result<AdminTaskChanged, AppError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::invalid_field("reason", "must not be blank"));
    }
    let mut tx = notifier.db.begin().await?;
    let task = sqlx::query!("SELECT owner_id, name FROM tasks WHERE id = $1", task_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AppError::not_found("task"))?;
    let (_, change) = task_db::set_status_in(&mut tx, task_id, task.owner_id, status).await?;
    let mut created = None;
    if change.is_some() {
        let (verb, title) = if status == TaskStatus::Paused {
            ("paused", "An administrator paused your task")
        } else {
            ("resumed", "An administrator resumed your task")
        };
        let content = Content {
            title: title.to_owned(),
            body: format!(
                "Your task \"{}\" was {verb} by an administrator. Reason: {reason}",
                crate::notifications::model::truncate(&task.name, 120)
            ),
            link: format!("/tasks/{task_id}"),
            data: json!({"task_id": task_id, "action": verb, "reason": reason, "by": "admin"}),
        };
        let channels = [Channel::InApp];
        let (id, created_at) = store::insert(
            &mut tx,
            &NewNotification {
                user_id: task.owner_id,
                kind: NotificationType::System,
                content: &content,
                task_id: Some(task_id),
                rule_id: None,
                channels: &channels,
                email_ready: notifier.mailer.is_some(),
            },
        )
        .await?;
        created = Some(Created {
            id,
            user_id: task.owner_id,
            kind: NotificationType::System,
            content,
            created_at,
        });
    }
    tx.commit().await?;
    if let Some(change) = change {
        change.publish(events);
    }
    let notification_id = created.as_ref().map(|c| c.id);
    if let Some(created) = created {
        push(notifier, &[created]).await;
    }
    Ok(AdminTaskChanged {
        id: task_id,
        owner_id: task.owner_id,
        status,
        notification_id,
    })
}

/// Pause any owner's task (admins); the owner is notified with the reason.
#[utoipa::path(post, path = "/admin/tasks/{id}/pause", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    request_body = AdminTaskAction,
    responses(
        (status = 200, description = "Paused (already paused: no notification)", body = AdminTaskChanged),
        (status = 400, description = "Malformed id or body", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such task", body = Problem),
        (status = 415, description = "Not JSON", body = Problem),
        (status = 422, description = "Missing or blank reason", body = Problem),
    ))]
async fn admin_pause_task(
    axum::extract::State(notifier): axum::extract::State<Notifier>,
    axum::extract::State(events): axum::extract::State<EventBus>,
    _admin: RequireRole<Admin>,
    AppPath(id): AppPath<Uuid>,
    ValidJson(body): ValidJson<AdminTaskAction>,
) -> Result<AppJson<AdminTaskChanged>, AppError> {
    Ok(AppJson(
        change(&notifier, &events, id, TaskStatus::Paused, &body.reason).await?,
    ))
}

/// Resume any owner's task (admins); the owner is notified with the reason.
#[utoipa::path(post, path = "/admin/tasks/{id}/resume", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    request_body = AdminTaskAction,
    responses(
        (status = 200, description = "Active again (already active: no notification)", body = AdminTaskChanged),
        (status = 400, description = "Malformed id or body", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such task", body = Problem),
        (status = 415, description = "Not JSON", body = Problem),
        (status = 422, description = "Missing or blank reason, or a schedule that no longer parses", body = Problem),
    ))]
async fn admin_resume_task(
    axum::extract::State(notifier): axum::extract::State<Notifier>,
    axum::extract::State(events): axum::extract::State<EventBus>,
    _admin: RequireRole<Admin>,
    AppPath(id): AppPath<Uuid>,
    ValidJson(body): ValidJson<AdminTaskAction>,
) -> Result<AppJson<AdminTaskChanged>, AppError> {
    Ok(AppJson(
        change(&notifier, &events, id, TaskStatus::Active, &body.reason).await?,
    ))
}
