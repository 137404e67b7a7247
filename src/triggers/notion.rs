//! NOTION triggers: a task runs when a Notion webhook event about a page or a database
//! reaches its owner's endpoint (see [`crate::notion::webhook_receive`]). A trigger names the
//! page or database and the event types; an event matches when its type is one of them and
//! its entity, or the entity's parent (a page's database), is the trigger's. Managing them is
//! scoped to the caller's task; another owner's task or trigger is a 404.

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    error::{AppError, FieldError, Problem},
    executions::{control, model::TriggerKind},
    http::{AppJson, AppPath},
    scheduler::engine::Engine,
    state::AppState,
    tasks::db::owned_task,
    text_enum,
};

/// Most NOTION triggers one task may have.
pub const MAX_NOTION_TRIGGERS_PER_TASK: i64 = 20;
/// Most tasks one event starts.
pub const MAX_EXECUTIONS_PER_EVENT: i64 = 100;

/// The event types Notion sends that a trigger may name.
pub const EVENT_TYPES: &[&str] = &[
    "page.created",
    "page.content_updated",
    "page.properties_updated",
    "page.moved",
    "page.deleted",
    "page.undeleted",
    "page.locked",
    "page.unlocked",
    "database.created",
    "database.content_updated",
    "database.schema_updated",
    "database.moved",
    "database.deleted",
    "database.undeleted",
    "data_source.created",
    "data_source.content_updated",
    "data_source.schema_updated",
    "data_source.moved",
    "data_source.deleted",
    "data_source.undeleted",
    "comment.created",
    "comment.updated",
    "comment.deleted",
];

/// Routes of this file, relative to `/tasks`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_trigger, list_triggers))
        .routes(routes!(delete_trigger))
}

text_enum! {
    /// What a NOTION trigger watches.
    pub enum NotionEntity {
        /// A page: its own events.
        Page = "page",
        /// A database: its own events and those of the pages in it.
        Database = "database",
    }
}

/// `POST /tasks/{id}/notion-triggers` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotionTriggerIn {
    /// `page` or `database`.
    pub entity_type: NotionEntity,
    /// The page's or database's id, with or without dashes.
    #[schema(example = "0b0c2ee7-d6e4-4f4d-8ea3-bb0e6c5f0f1a")]
    pub entity_id: String,
    /// The event types that start the task (1 to 32, no repeats), e.g. `page.created`,
    /// `page.content_updated`, `page.properties_updated`, `page.deleted`,
    /// `database.content_updated`.
    #[schema(min_items = 1, max_items = 32, example = json!(["page.created", "page.properties_updated"]))]
    pub event_types: Vec<String>,
}

/// A NOTION trigger.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotionTriggerOut {
    /// The trigger id.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// `page` or `database`.
    pub entity_type: NotionEntity,
    /// The page's or database's id.
    pub entity_id: Uuid,
    /// The event types that start the task.
    pub event_types: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// When an event last queued an execution through it.
    pub last_fired_at: Option<DateTime<Utc>>,
}

struct Valid {
    entity_type: NotionEntity,
    entity_id: Uuid,
    event_types: Vec<String>,
}

fn validate(body: NotionTriggerIn) -> Result<Valid, AppError> {
    let mut errors = Vec::new();
    let mut fail = |field: String, message: &str| {
        errors.push(FieldError {
            field,
            message: message.to_owned(),
        })
    };
    let entity_id = Uuid::try_parse(body.entity_id.trim()).ok();
    if entity_id.is_none() {
        fail(
            "entity_id".to_owned(),
            "must be a Notion id (32 hex digits, dashes optional)",
        );
    }
    if body.event_types.is_empty() || body.event_types.len() > 32 {
        fail("event_types".to_owned(), "must name 1 to 32 event types");
    }
    let mut event_types: Vec<String> = Vec::new();
    for (i, event_type) in body.event_types.iter().enumerate().take(32) {
        if !EVENT_TYPES.contains(&event_type.as_str()) {
            fail(
                format!("event_types[{i}]"),
                "unknown event type (see docs/NOTION.md for the list)",
            );
        } else if event_types.contains(event_type) {
            fail(format!("event_types[{i}]"), "repeated");
        } else {
            event_types.push(event_type.clone());
        }
    }
    match entity_id {
        Some(entity_id) if errors.is_empty() => Ok(Valid {
            entity_type: body.entity_type,
            entity_id,
            event_types,
        }),
        _ => Err(AppError::validation(errors)),
    }
}

/// Add a NOTION trigger to one of your tasks: Notion events about a page or a database, of
/// the types named, queue an execution with the event as input.
#[utoipa::path(post, path = "/{id}/notion-triggers", tag = "triggers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    request_body = NotionTriggerIn,
    responses(
        (status = 201, description = "Created", body = NotionTriggerOut),
        (status = 400, description = "Malformed JSON body", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 409, description = "The task has too many NOTION triggers", body = Problem),
        (status = 422, description = "Invalid field (entity_id, event_types[i])", body = Problem),
    ))]
async fn create_trigger(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath(task_id): AppPath<Uuid>,
    AppJson(body): AppJson<NotionTriggerIn>,
) -> Result<(StatusCode, AppJson<NotionTriggerOut>), AppError> {
    owned_task(&db, task_id, user.id).await?;
    let valid = validate(body)?;
    let mut tx = db.begin().await?;
    // Serialises concurrent creations on one task so the limit holds.
    sqlx::query!("SELECT id FROM tasks WHERE id = $1 FOR UPDATE", task_id)
        .fetch_one(&mut *tx)
        .await?;
    let existing = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM notion_triggers WHERE task_id = $1"#,
        task_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if existing >= MAX_NOTION_TRIGGERS_PER_TASK {
        return Err(AppError::conflict(format!(
            "a task has at most {MAX_NOTION_TRIGGERS_PER_TASK} NOTION triggers; delete one first"
        )));
    }
    let row = sqlx::query_as!(
        NotionTriggerOut,
        r#"INSERT INTO notion_triggers (id, task_id, entity_type, entity_id, event_types)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING id, task_id, entity_type AS "entity_type: NotionEntity", entity_id,
                     event_types, created_at, last_fired_at"#,
        Uuid::now_v7(),
        task_id,
        valid.entity_type.as_str(),
        valid.entity_id,
        &valid.event_types,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(row)))
}

/// List one of your tasks' NOTION triggers, oldest first.
#[utoipa::path(get, path = "/{id}/notion-triggers", tag = "triggers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task's NOTION triggers (at most 20)", body = Vec<NotionTriggerOut>),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
    ))]
async fn list_triggers(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath(task_id): AppPath<Uuid>,
) -> Result<AppJson<Vec<NotionTriggerOut>>, AppError> {
    owned_task(&db, task_id, user.id).await?;
    let rows = sqlx::query_as!(
        NotionTriggerOut,
        r#"SELECT n.id, n.task_id, n.entity_type AS "entity_type: NotionEntity", n.entity_id,
                  n.event_types, n.created_at, n.last_fired_at
           FROM notion_triggers n JOIN tasks t ON t.id = n.task_id
           WHERE n.task_id = $1 AND t.owner_id = $2
           ORDER BY n.created_at, n.id"#,
        task_id,
        user.id
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(rows))
}

/// Delete a NOTION trigger.
#[utoipa::path(delete, path = "/{id}/notion-triggers/{trigger_id}", tag = "triggers", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Task id"),
        ("trigger_id" = Uuid, Path, description = "NOTION trigger id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such NOTION trigger on a task of yours", body = Problem),
    ))]
async fn delete_trigger(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath((task_id, id)): AppPath<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    sqlx::query_scalar!(
        "DELETE FROM notion_triggers n USING tasks t
         WHERE n.id = $1 AND n.task_id = $2 AND t.id = n.task_id AND t.owner_id = $3
         RETURNING n.id",
        id,
        task_id,
        user.id
    )
    .fetch_optional(&db)
    .await?
    .ok_or_else(|| AppError::not_found("NOTION trigger"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a verified Notion event carries that matching needs.
#[derive(Debug, Clone)]
pub struct NotionEvent {
    /// Notion's event id (the dedupe key).
    pub id: String,
    /// `page.created`, ….
    pub event_type: String,
    /// The entity's id, and its parent's (a page's database) when Notion names one.
    pub entity_ids: Vec<Uuid>,
    /// The whole event, the execution's input.
    pub payload: Value,
}

/// Queues one execution per active task of `owner_id` with a NOTION trigger matching
/// `event` (at most [`MAX_EXECUTIONS_PER_EVENT`]), keyed by the event id so a redelivery
/// queues nothing new. Returns the executions and how many were new.
pub async fn fire(
    engine: &Engine,
    owner_id: Uuid,
    event: &NotionEvent,
) -> Result<(Vec<Uuid>, usize), AppError> {
    let matches = sqlx::query!(
        r#"SELECT DISTINCT ON (n.task_id) n.id, n.task_id
           FROM notion_triggers n JOIN tasks t ON t.id = n.task_id
           WHERE t.owner_id = $1 AND t.status = 'ACTIVE'
             AND n.entity_id = ANY($2) AND $3 = ANY(n.event_types)
           ORDER BY n.task_id, n.created_at
           LIMIT $4"#,
        owner_id,
        &event.entity_ids,
        event.event_type,
        MAX_EXECUTIONS_PER_EVENT,
    )
    .fetch_all(&engine.db)
    .await?;
    let key = format!("notion:{}", event.id);
    let (mut executions, mut created) = (Vec::new(), 0);
    for trigger in matches {
        let input = json!({
            "event": event.payload,
            "received_at": Utc::now(),
            "trigger": {"type": "notion", "id": trigger.id},
        });
        let queued = control::enqueue(
            engine,
            trigger.task_id,
            owner_id,
            TriggerKind::Notion,
            input,
            Some(&key),
        )
        .await?;
        if queued.created {
            created += 1;
            sqlx::query!(
                "UPDATE notion_triggers SET last_fired_at = now() WHERE id = $1",
                trigger.id
            )
            .execute(&engine.db)
            .await?;
        }
        executions.push(queued.execution_id);
    }
    Ok((executions, created))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(id: &str, types: &[&str]) -> NotionTriggerIn {
        NotionTriggerIn {
            entity_type: NotionEntity::Database,
            entity_id: id.to_owned(),
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn fields(result: Result<Valid, AppError>) -> Vec<String> {
        match result {
            Ok(_) => Vec::new(),
            Err(err) => err.field_errors().iter().map(|e| e.field.clone()).collect(),
        }
    }

    #[test]
    fn ids_with_or_without_dashes_and_known_event_types_pass() {
        let valid =
            validate(input("0b0c2ee7d6e44f4d8ea3bb0e6c5f0f1a", &["page.created"])).expect("valid");
        assert_eq!(
            valid.entity_id.to_string(),
            "0b0c2ee7-d6e4-4f4d-8ea3-bb0e6c5f0f1a"
        );
        assert!(
            validate(input(
                "0b0c2ee7-d6e4-4f4d-8ea3-bb0e6c5f0f1a",
                &["page.deleted"]
            ))
            .is_ok()
        );
    }

    #[test]
    fn bad_ids_unknown_or_repeated_types_name_their_field() {
        assert_eq!(
            fields(validate(input(
                "nope",
                &["page.created", "page.exploded", "page.created"]
            ))),
            ["entity_id", "event_types[1]", "event_types[2]"]
        );
        assert_eq!(
            fields(validate(input("0b0c2ee7d6e44f4d8ea3bb0e6c5f0f1a", &[]))),
            ["event_types"]
        );
    }
}
