//! `POST /tasks/bulk`: one action on up to 1,000 of the caller's tasks, given by id or by a
//! filter, in one transaction or item by item, with each id's result.

use std::collections::HashSet;

use axum::{Extension, extract::State};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::{
    auth::{Caller, Scope, actor_slot::AddedTargets},
    error::{AppError, AppResult, Problem},
    events::{DomainEvent, EventBus},
    executions::{control, model::TriggerKind},
    http::{AppJson, ValidJson},
    scheduler::engine::Engine,
    tasks::{
        db::{self, StatusChange},
        list::{self, SortOrder, TaskQuery, TaskSort},
        model::{ActionType, PRIORITIES, TaskStatus},
    },
    text_enum,
};

/// Most tags a task may carry.
const MAX_TAGS: usize = 20;

/// Most tasks one request may act on.
pub const MAX_BULK_TASKS: usize = 1000;

text_enum! {
    /// What to do to each task.
    pub enum BulkAction {
        /// Pause it.
        Pause = "pause",
        /// Resume it.
        Resume = "resume",
        /// Stop it.
        Stop = "stop",
        /// Delete it with its history.
        Delete = "delete",
        /// Queue a run now (each run is queued on its own: a queued run is not rolled back).
        Execute = "execute",
        /// Add `tags` (kept once each, at most 20 per task).
        AddTags = "add_tags",
        /// Remove `tags`.
        RemoveTags = "remove_tags",
        /// Set `priority`.
        SetPriority = "set_priority",
    }
}

text_enum! {
    /// Whether one failing item cancels the others.
    pub enum BulkMode {
        /// One transaction: if any item fails, nothing changes (default).
        AllOrNothing = "all_or_nothing",
        /// Each item on its own: what can be done is done.
        Partial = "partial",
    }
}

text_enum! {
    /// One item's result.
    pub enum BulkItemStatus {
        /// Done.
        Ok = "OK",
        /// No such task of yours.
        NotFound = "NOT_FOUND",
        /// Refused; `error` says why.
        Failed = "FAILED",
        /// Would have been done, but another item failed in `all_or_nothing` mode.
        RolledBack = "ROLLED_BACK",
    }
}

/// `POST /tasks/bulk` body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkIn {
    /// The action.
    pub action: BulkAction,
    /// The tasks, 1 to 1,000 distinct ids; or give `filter` instead.
    #[serde(default)]
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_items = 1, max_items = 1000)]
    pub ids: Option<Vec<Uuid>>,
    /// The tasks matching these filters (at most 1,000 of them), instead of `ids`.
    #[serde(default)]
    pub filter: Option<BulkFilter>,
    /// `all_or_nothing` (default) or `partial`.
    #[serde(default)]
    pub mode: Option<BulkMode>,
    /// For `add_tags` and `remove_tags`: 1 to 20 tags of 1 to 50 characters.
    #[serde(default)]
    #[validate(length(min = 1, max = 20))]
    #[schema(min_items = 1, max_items = 20)]
    pub tags: Option<Vec<String>>,
    /// For `set_priority`: 0 (lowest) to 9.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9)]
    pub priority: Option<i16>,
}

/// Which tasks a bulk action applies to: the filters of `GET /tasks`; omitted fields match
/// every task.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    /// Only this status.
    pub status: Option<TaskStatus>,
    /// Only this action type.
    pub action_type: Option<ActionType>,
    /// Only tasks carrying this tag.
    #[schema(max_length = 50)]
    pub tag: Option<String>,
    /// Text in the name or description (case-insensitive).
    #[schema(max_length = 200)]
    pub q: Option<String>,
}

/// One task's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkItemOut {
    /// The task.
    pub id: Uuid,
    /// What happened to it.
    pub status: BulkItemStatus,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `execute`: the queued execution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<Uuid>,
}

/// The answer: each id's result, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkOut {
    /// How many tasks the request covered: the ids given, or the tasks the filter matched.
    pub matched: usize,
    /// Whether any change was kept (false when `all_or_nothing` rolled everything back).
    pub applied: bool,
    /// Items done.
    pub succeeded: usize,
    /// Items not found or refused.
    pub failed: usize,
    /// Each id's result.
    pub results: Vec<BulkItemOut>,
}

/// An item's outcome before it is reported.
enum Outcome {
    Done(Option<Uuid>),
    NotFound,
    Refused(String),
}

/// What to publish once a transaction commits.
#[derive(Default)]
struct Pending {
    changes: Vec<StatusChange>,
    events: Vec<DomainEvent>,
}

impl Pending {
    fn publish(self, bus: &EventBus) {
        for change in self.changes {
            change.publish(bus);
        }
        for event in self.events {
            bus.publish(event);
        }
    }
}

/// Apply one action to many tasks.
///
/// In `all_or_nothing` mode (the default) the items run in one transaction and any failure
/// rolls all of them back (`applied: false`, the others `ROLLED_BACK`); in `partial` mode each
/// item commits on its own. Another owner's task is `NOT_FOUND`. `execute` queues each run on
/// its own (a queued run is not rolled back) and needs `tasks:execute`; the other actions need
/// `tasks:write`. Give either `ids` or a `filter` (the filters of `GET /tasks`); a filter
/// matching more than 1,000 tasks is refused (422 naming `filter`) and nothing is done.
#[utoipa::path(post, path = "/bulk", tag = "tasks", security(("bearer" = [])),
    request_body = BulkIn,
    responses(
        (status = 200, description = "Each id's result", body = BulkOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `tasks:write` (or `tasks:execute` for `execute`)", body = Problem),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 422, description = "Invalid body: both or neither of `ids` and `filter`, no ids, more than 1,000, a repeated id, a filter matching more than 1,000 tasks, or the action's missing `tags` or `priority`", body = Problem),
    ))]
pub async fn bulk_tasks(
    State(db): State<PgPool>,
    State(bus): State<EventBus>,
    State(engine): State<Engine>,
    audit_targets: Option<Extension<AddedTargets>>,
    caller: Caller,
    ValidJson(body): ValidJson<BulkIn>,
) -> AppResult<AppJson<BulkOut>> {
    caller.require(if body.action == BulkAction::Execute {
        Scope::TasksExecute
    } else {
        Scope::TasksWrite
    })?;
    let owner = caller.owner_id();
    let ids = target_ids(&db, owner, &body).await?;
    check(&body, &ids)?;
    // Each task is a target of the request's audit event (its result is in the answer).
    if let Some(Extension(targets)) = &audit_targets {
        targets.add("task", ids.iter().map(Uuid::to_string));
    }
    let mut outcomes = Vec::with_capacity(ids.len());
    let mut applied = true;
    if body.action == BulkAction::Execute {
        let trigger = if caller.via_api {
            TriggerKind::Api
        } else {
            TriggerKind::Manual
        };
        for id in &ids {
            let queued =
                control::enqueue(&engine, *id, owner, trigger, serde_json::json!({}), None).await;
            outcomes.push(match queued {
                Ok(queued) => Outcome::Done(Some(queued.execution_id)),
                Err(err) if err.code().status() == axum::http::StatusCode::NOT_FOUND => {
                    Outcome::NotFound
                }
                Err(err) if err.code().status().is_client_error() => {
                    Outcome::Refused(err.to_string())
                }
                Err(err) => return Err(err),
            });
        }
    } else if body.mode == Some(BulkMode::Partial) {
        for id in &ids {
            let mut tx = db.begin().await?;
            let mut pending = Pending::default();
            let outcome = apply(&mut tx, &body, *id, owner, &mut pending).await?;
            if matches!(outcome, Outcome::Done(_)) {
                tx.commit().await?;
                pending.publish(&bus);
            }
            outcomes.push(outcome);
        }
    } else {
        let mut tx = db.begin().await?;
        let mut pending = Pending::default();
        for id in &ids {
            outcomes.push(apply(&mut tx, &body, *id, owner, &mut pending).await?);
        }
        applied = outcomes.iter().all(|o| matches!(o, Outcome::Done(_)));
        if applied {
            tx.commit().await?;
            pending.publish(&bus);
        }
    }
    Ok(AppJson(report(&ids, outcomes, applied)))
}

/// The tasks the request names: its `ids`, or the owner's tasks its `filter` matches
/// (oldest first).
async fn target_ids(db: &PgPool, owner: Uuid, body: &BulkIn) -> AppResult<Vec<Uuid>> {
    let filter = match (&body.ids, &body.filter) {
        (Some(_), Some(_)) => {
            return Err(AppError::invalid_field(
                "filter",
                "give either ids or filter, not both",
            ));
        }
        (None, None) => {
            return Err(AppError::invalid_field(
                "ids",
                "give the tasks as ids, or a filter",
            ));
        }
        (Some(ids), None) => return Ok(ids.clone()),
        (None, Some(filter)) => filter,
    };
    if filter.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(AppError::invalid_field(
            "filter.q",
            "must be at most 200 characters",
        ));
    }
    if filter.tag.as_ref().is_some_and(|t| t.chars().count() > 50) {
        return Err(AppError::invalid_field(
            "filter.tag",
            "must be at most 50 characters",
        ));
    }
    if let Some(field) = [("filter.q", &filter.q), ("filter.tag", &filter.tag)]
        .into_iter()
        .find_map(|(field, text)| text.as_ref().filter(|t| t.contains('\0')).map(|_| field))
    {
        return Err(AppError::invalid_field(
            field,
            crate::http::validation::NUL_MESSAGE,
        ));
    }
    let query = TaskQuery {
        status: filter.status,
        action_type: filter.action_type,
        tag: filter.tag.clone(),
        search: filter.q.clone().filter(|q| !q.trim().is_empty()),
        sort: TaskSort::CreatedAt,
        order: SortOrder::Asc,
        limit: 0,
        cursor: None,
    };
    let cap = i64::try_from(MAX_BULK_TASKS).unwrap_or(i64::MAX);
    let ids = list::matching_ids(db, owner, &query, cap + 1).await?;
    if ids.len() > MAX_BULK_TASKS {
        return Err(AppError::invalid_field(
            "filter",
            format!(
                "matches more than {MAX_BULK_TASKS} tasks, the most one request acts on; narrow the filter"
            ),
        ));
    }
    Ok(ids)
}

/// The checks that need the whole body: distinct ids, and the action's own field.
fn check(body: &BulkIn, ids: &[Uuid]) -> AppResult<()> {
    let mut seen = HashSet::with_capacity(ids.len());
    if let Some(i) = ids.iter().position(|id| !seen.insert(*id)) {
        return Err(AppError::invalid_field(format!("ids[{i}]"), "is repeated"));
    }
    // Checked whatever the action, so a request is never accepted with a field out of range.
    if let Some(i) = body
        .tags
        .iter()
        .flatten()
        .position(|t| t.is_empty() || t.chars().count() > 50)
    {
        return Err(AppError::invalid_field(
            format!("tags[{i}]"),
            "must be 1 to 50 characters",
        ));
    }
    if body.priority.is_some_and(|p| !PRIORITIES.contains(&p)) {
        return Err(AppError::invalid_field("priority", "must be from 0 to 9"));
    }
    let missing = match body.action {
        BulkAction::AddTags | BulkAction::RemoveTags if body.tags.is_none() => Some("tags"),
        BulkAction::SetPriority if body.priority.is_none() => Some("priority"),
        _ => None,
    };
    if let Some(field) = missing {
        return Err(AppError::invalid_field(
            field,
            "is required for this action",
        ));
    }
    Ok(())
}

/// Applies the action to one task in `tx`.
async fn apply(
    tx: &mut PgConnection,
    body: &BulkIn,
    id: Uuid,
    owner: Uuid,
    pending: &mut Pending,
) -> AppResult<Outcome> {
    let status = match body.action {
        BulkAction::Pause => Some(TaskStatus::Paused),
        BulkAction::Resume => Some(TaskStatus::Active),
        BulkAction::Stop => Some(TaskStatus::Stopped),
        _ => None,
    };
    if let Some(status) = status {
        return match db::set_status_in(tx, id, owner, status).await {
            Ok((_, change)) => {
                pending.changes.extend(change);
                Ok(Outcome::Done(None))
            }
            Err(err) if err.code().status() == axum::http::StatusCode::NOT_FOUND => {
                Ok(Outcome::NotFound)
            }
            Err(err) if err.code().status().is_client_error() => {
                Ok(Outcome::Refused(err.to_string()))
            }
            Err(err) => Err(err),
        };
    }
    if body.action == BulkAction::Delete {
        if !db::delete_task_in(tx, id, owner).await? {
            return Ok(Outcome::NotFound);
        }
        pending.events.push(DomainEvent::TaskDeleted {
            task_id: id,
            owner_id: owner,
        });
        return Ok(Outcome::Done(None));
    }
    let Some(current) = sqlx::query!(
        "SELECT tags FROM tasks WHERE id = $1 AND owner_id = $2 FOR UPDATE",
        id,
        owner
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(Outcome::NotFound);
    };
    let mut tags = current.tags;
    let mut priority = None;
    let given = body.tags.as_deref().unwrap_or_default();
    match body.action {
        BulkAction::AddTags => {
            for tag in given {
                if !tags.contains(tag) {
                    tags.push(tag.clone());
                }
            }
            if tags.len() > MAX_TAGS {
                return Ok(Outcome::Refused(format!(
                    "the task would have {} tags; at most {MAX_TAGS}",
                    tags.len()
                )));
            }
        }
        BulkAction::RemoveTags => tags.retain(|tag| !given.contains(tag)),
        _ => priority = body.priority,
    }
    sqlx::query!(
        "UPDATE tasks SET tags = $3, priority = COALESCE($4, priority), updated_at = now()
         WHERE id = $1 AND owner_id = $2",
        id,
        owner,
        &tags,
        priority
    )
    .execute(&mut *tx)
    .await?;
    pending.events.push(DomainEvent::TaskUpdated {
        task_id: id,
        owner_id: owner,
    });
    Ok(Outcome::Done(None))
}

/// The answer, in the order of `ids`.
fn report(ids: &[Uuid], outcomes: Vec<Outcome>, applied: bool) -> BulkOut {
    let mut out = BulkOut {
        matched: ids.len(),
        applied,
        succeeded: 0,
        failed: 0,
        results: Vec::with_capacity(ids.len()),
    };
    for (id, outcome) in ids.iter().zip(outcomes) {
        let (status, error, execution_id) = match outcome {
            Outcome::Done(execution) if applied => (BulkItemStatus::Ok, None, execution),
            Outcome::Done(_) => (BulkItemStatus::RolledBack, None, None),
            Outcome::NotFound => (
                BulkItemStatus::NotFound,
                Some("no such task of yours".to_owned()),
                None,
            ),
            Outcome::Refused(reason) => (BulkItemStatus::Failed, Some(reason), None),
        };
        match status {
            BulkItemStatus::Ok => out.succeeded += 1,
            BulkItemStatus::RolledBack => {}
            _ => out.failed += 1,
        }
        out.results.push(BulkItemOut {
            id: *id,
            status,
            error,
            execution_id,
        });
    }
    out
}
