//! `POST /tasks/from-template/{id}`: a task from a template, created together with the chain
//! its definition names, in one transaction.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{body::TaskOut, set_location};
use crate::{
    auth::{Caller, Scope},
    config::Settings,
    error::{AppError, AppResult, Problem},
    events::EventBus,
    http::{AppJson, AppPath, extract::parse_json},
    tasks::{
        db,
        model::{NewTask, TaskStatus},
        templates::{
            render,
            routes::{build_task_input, find, prefixed},
        },
    },
    triggers::chains::{self, ChainIn},
};

/// `POST /tasks/from-template/{id}` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct FromTemplateIn {
    /// A value per variable (those with a default may be left out).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// The new task's name, instead of the template's.
    pub name: Option<String>,
}

/// Create a task from a template: its variables are filled in, then the definition goes
/// through the same validation as `POST /tasks`.
#[utoipa::path(post, path = "/from-template/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = String, Path, description = "A built-in slug or your template's id")),
    request_body = FromTemplateIn,
    responses(
        (status = 201, description = "The new task", body = TaskOut),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 402, description = "Your plan's `max_tasks` or `min_interval_seconds` is reached (`PLAN_LIMIT_REACHED`)", body = Problem),
        (status = 403, description = "The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets", body = Problem),
        (status = 404, description = "No such template", body = Problem),
        (status = 422, description = "A variable is missing or invalid (`variables.NAME`), or the filled definition is invalid", body = Problem),
    ))]
pub async fn create_from_template(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    State(settings): State<Arc<Settings>>,
    State(policy): State<crate::billing::PlanPolicy>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppJson(input): AppJson<FromTemplateIn>,
) -> AppResult<(StatusCode, HeaderMap, AppJson<TaskOut>)> {
    caller.require(Scope::TasksWrite)?;
    let template = find(&db, caller.owner_id(), &id).await?;
    let values = render::resolve_values(&template.variables, &input.variables)
        .map_err(AppError::validation)?;
    let chain = chain_of(
        &db,
        caller.owner_id(),
        &render::fill(&template.definition, &values),
    )
    .await?;
    let task_input = build_task_input(&template.definition, &values, input.name)?;
    if matches!(task_input.status, Some(TaskStatus::Failed)) {
        return Err(AppError::invalid_field(
            "status",
            "a new task cannot be FAILED",
        ));
    }
    crate::tasks::api::secret_scope::require_for(
        &caller,
        task_input.action.action_type,
        &task_input.action.config,
    )?;
    // The task and its chain come together or not at all.
    let new = NewTask::try_from((caller.owner_id(), task_input))?;
    let mut tx = db.begin().await?;
    let schedule = new.validate()?;
    crate::billing::limits::admit_task(&mut tx, &policy, caller.owner_id(), schedule.as_ref())
        .await?;
    let task = db::insert_task(&mut tx, &new).await?;
    if let Some(chain) = chain {
        chains::add_chain(&mut tx, settings.chains, caller.owner_id(), task.id, &chain)
            .await
            .map_err(|err| prefixed(err, "chain"))?;
    }
    tx.commit().await?;
    db::announce_created(&events, &task);
    let mut headers = HeaderMap::new();
    set_location(&mut headers, &caller, task.id);
    Ok((
        StatusCode::CREATED,
        headers,
        AppJson(TaskOut::new(task, None)),
    ))
}

/// The `chain` of a filled definition (`{"source_task_id", "on"}`): the new task runs after
/// that task of the owner's. Checked before the task is created.
async fn chain_of(db: &PgPool, owner_id: Uuid, filled: &Value) -> AppResult<Option<ChainIn>> {
    let Some(chain) = filled.get("chain") else {
        return Ok(None);
    };
    let bytes = serde_json::to_vec(chain).map_err(AppError::internal)?;
    let chain: ChainIn = parse_json(&bytes).map_err(|err| prefixed(err, "chain"))?;
    if db::find_task(db, chain.source_task_id, owner_id)
        .await?
        .is_none()
    {
        return Err(AppError::invalid_field(
            "chain.source_task_id",
            "no such task of yours",
        ));
    }
    Ok(Some(chain))
}
