//! `POST /tasks/import`: tasks from a JSON array, CSV, or an uploaded file, checked with the
//! rules of `POST /tasks`, and written in one transaction (`all_or_nothing`, the default) or
//! row by row (`partial`), each row in its own savepoint. `dry_run` runs everything and rolls
//! back. A row matches an existing task of the caller by `external_id` when it has one, else
//! by name; `on_conflict` says what then happens.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Request, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    parse::{self, MAX_ROWS, RawRow},
    record::{MAX_EXTERNAL_ID, RecordExtras, TaskRecord},
};
use crate::{
    auth::{Caller, Scope},
    billing::{PlanPolicy, limits},
    config::Settings,
    error::{AppError, AppResult, ErrorCode, FieldError, Problem},
    events::{DomainEvent, EventBus},
    http::{AppJson, AppQuery},
    notifications::rules_api::insert_rule,
    secrets::Vault,
    tasks::{
        api::{body::TaskIn, secret_scope},
        db::{self, StatusChange},
        model::{NewTask, Task, TaskStatus},
        update,
    },
    text_enum,
    triggers::{
        chains::{self, ChainIn, MAX_CHAINS_PER_TASK},
        email::{EmailTriggerCreated, EmailTriggerIn, insert_email_trigger},
        webhooks::{WebhookCreated, WebhookIn, insert_webhook},
    },
};

text_enum! {
    /// Whether one invalid row cancels the import.
    pub enum ImportMode {
        /// One transaction: any invalid row and nothing is written (422 with the report).
        AllOrNothing = "all_or_nothing",
        /// Valid rows are imported, the others reported.
        Partial = "partial",
    }
}

text_enum! {
    /// What to do with a row matching one of your tasks (by `external_id`, else by name).
    pub enum OnConflict {
        /// Leave the existing task alone (default).
        Skip = "skip",
        /// Replace its definition (and its alert rules and chains when the row has them;
        /// triggers it lacks by name are added).
        Update = "update",
        /// Import it as a new task named `name (2)`, `name (3)`, ….
        Rename = "rename",
    }
}

text_enum! {
    /// What happened to a row (or would, on a dry run or a refused import).
    pub enum RowStatus {
        /// A new task.
        Created = "CREATED",
        /// An existing task was changed.
        Updated = "UPDATED",
        /// An existing task was left alone.
        Skipped = "SKIPPED",
        /// The row is invalid or was refused; see `errors`.
        Failed = "FAILED",
    }
}

/// `POST /tasks/import` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Check every row and report, writing nothing (default `false`).
    pub dry_run: Option<bool>,
    /// `all_or_nothing` (default) or `partial`.
    #[param(inline)]
    pub mode: Option<ImportMode>,
    /// `skip` (default), `update` or `rename`.
    #[param(inline)]
    pub on_conflict: Option<OnConflict>,
}

/// The `multipart/form-data` form of an import.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ImportUpload {
    /// The tasks: CSV (`text/csv` or a `.csv` name) or a JSON array of `TaskRecord`.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// One row's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportRowOut {
    /// The row's number: 1 for the first task (the CSV header is not counted).
    pub row: usize,
    /// The task's name as imported (after renaming).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The row's `external_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// What happened.
    pub status: RowStatus,
    /// The task created, changed or left alone (absent on a dry run for a new task).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<Uuid>,
    /// What is wrong: fields are named within the row (`schedule.cron`, `chains[0].after`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Webhook triggers created, with their URL, token and secret shown this once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookCreated>,
    /// Email triggers created, with their address and token shown this once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email_triggers: Vec<EmailTriggerCreated>,
}

/// The answer: the counts and each row's result, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether anything was written.
    pub applied: bool,
    /// Rows read.
    pub total: usize,
    /// Rows that created a task.
    pub created: usize,
    /// Rows that changed a task.
    pub updated: usize,
    /// Rows that left a task alone.
    pub skipped: usize,
    /// Rows refused.
    pub failed: usize,
    /// Each row's result.
    pub rows: Vec<ImportRowOut>,
}

/// A row that passed the checks that need no database.
struct ValidRow {
    new: NewTask,
    status: Option<TaskStatus>,
    extras: RecordExtras,
    has_chains: bool,
}

/// What a row did, to finish once every row is in.
struct Done {
    task_id: Uuid,
    /// The name the row used, which chains of other rows refer to.
    original_name: String,
    chains_to_set: bool,
}

/// What the transaction publishes once it commits.
#[derive(Default)]
struct Pending {
    created: Vec<Task>,
    updated: Vec<(Uuid, Uuid)>,
    changes: Vec<StatusChange>,
}

/// What applying rows needs.
struct Ctx<'a> {
    owner: Uuid,
    policy: &'a PlanPolicy,
    settings: &'a Settings,
    vault: &'a Vault,
    on_conflict: OnConflict,
}

/// Import tasks from JSON, CSV or an uploaded file, with the rules of `POST /tasks`.
///
/// Each row is a `TaskRecord` (CSV: one column per field, nested parts as JSON cells, the
/// columns of `GET /tasks/export?format=csv`). At most 10,000 rows, within the request body
/// limit. Plan limits apply. `dry_run=true` answers what the import would answer (the same
/// status and report) and writes nothing.
#[utoipa::path(post, path = "/import", tag = "tasks", security(("bearer" = [])),
    params(ImportParams),
    request_body(content(
        (Vec<TaskRecord> = "application/json"),
        (String = "text/csv"),
        (ImportUpload = "multipart/form-data"),
    ), description = "The tasks: a JSON array of `TaskRecord`, CSV with a header row, or either as the `file` part of a form"),
    responses(
        (status = 200, description = "Each row's result (a `partial` import, or an `all_or_nothing` import where every row passed; a dry run answers as the import would)", body = ImportReport),
        (status = 400, description = "The body is not valid JSON or CSV, the form has no readable `file` part, the content type is not JSON, CSV or a form, or a query parameter is malformed", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 402, description = "`all_or_nothing`: your plan's `max_tasks`, `min_interval_seconds` or `max_alert_rules_per_task` would be passed (`PLAN_LIMIT_REACHED`)", body = Problem),
        (status = 403, description = "The API key lacks `tasks:write`, or `secrets:use` for a row whose configuration references secrets", body = Problem),
        (status = 413, description = "The body is larger than `REQUEST_BODY_LIMIT_BYTES`", body = Problem),
        (status = 422, description = "`all_or_nothing` (a dry run too) with an invalid row: nothing was written, the report (`application/json`) names each row's failing fields; or the body holds more than 10,000 rows (`rows`), is not an array, or its CSV header names an unknown column (`application/problem+json`)",
            content((ImportReport = "application/json"), (Problem = "application/problem+json"))),
    ))]
#[allow(clippy::too_many_arguments)]
pub async fn import_tasks(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    State(policy): State<PlanPolicy>,
    State(settings): State<Arc<Settings>>,
    State(vault): State<Arc<Vault>>,
    caller: Caller,
    AppQuery(params): AppQuery<ImportParams>,
    request: Request,
) -> AppResult<(StatusCode, AppJson<ImportReport>)> {
    caller.require(Scope::TasksWrite)?;
    let raw = parse::read_rows(request).await?;
    debug_assert!(raw.len() <= MAX_ROWS);
    let dry_run = params.dry_run.unwrap_or(false);
    let mode = params.mode.unwrap_or(ImportMode::AllOrNothing);
    let owner = caller.owner_id();
    let mut rows: Vec<ImportRowOut> = Vec::with_capacity(raw.len());
    let mut valid: Vec<Option<ValidRow>> = Vec::with_capacity(raw.len());
    for (i, row) in raw.into_iter().enumerate() {
        let mut out = ImportRowOut {
            row: i + 1,
            name: None,
            external_id: None,
            status: RowStatus::Failed,
            task_id: None,
            errors: Vec::new(),
            webhooks: Vec::new(),
            email_triggers: Vec::new(),
        };
        match check_row(owner, row) {
            Ok(checked) => {
                secret_scope::require_for(
                    &caller,
                    checked.new.action_type,
                    &checked.new.action_config,
                )?;
                out.name = Some(checked.new.name.trim().to_owned());
                out.external_id = checked.extras.external_id.clone();
                valid.push(Some(checked));
            }
            Err(errors) => {
                out.errors = errors;
                valid.push(None);
            }
        }
        rows.push(out);
    }

    let ctx = Ctx {
        owner,
        policy: &policy,
        settings: &settings,
        vault: &vault,
        on_conflict: params.on_conflict.unwrap_or(OnConflict::Skip),
    };
    let mut tx = db.begin().await?;
    let mut pending = Pending::default();
    let mut done: Vec<Option<Done>> = Vec::with_capacity(rows.len());
    for (out, checked) in rows.iter_mut().zip(valid.iter_mut()) {
        let Some(checked) = checked else {
            done.push(None);
            continue;
        };
        let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
        let mut row_pending = Pending::default();
        match apply_row(&mut savepoint, &ctx, checked, out, &mut row_pending).await {
            Ok(finished) => {
                savepoint.commit().await?;
                pending.created.extend(row_pending.created);
                pending.updated.extend(row_pending.updated);
                pending.changes.extend(row_pending.changes);
                done.push(finished);
            }
            Err(err) if err.code().status().is_client_error() => {
                savepoint.rollback().await?;
                if err.code() == ErrorCode::PlanLimitReached
                    && mode == ImportMode::AllOrNothing
                    && !dry_run
                {
                    return Err(err);
                }
                out.status = RowStatus::Failed;
                out.task_id = None;
                out.webhooks.clear();
                out.email_triggers.clear();
                out.errors.extend(row_errors(&err, ""));
                done.push(None);
            }
            Err(err) => return Err(err),
        }
    }

    // Chains last: a row may name a task that comes after it.
    let imported: HashMap<String, Uuid> = done
        .iter()
        .flatten()
        .map(|d| (d.original_name.clone(), d.task_id))
        .collect();
    for ((out, checked), finished) in rows.iter_mut().zip(&valid).zip(&done) {
        let (Some(checked), Some(finished)) = (checked, finished) else {
            continue;
        };
        if !finished.chains_to_set {
            continue;
        }
        let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
        match set_chains(&mut savepoint, &ctx, &imported, finished.task_id, checked).await {
            Ok(()) => savepoint.commit().await?,
            Err(err) if err.code().status().is_client_error() => {
                savepoint.rollback().await?;
                out.errors.extend(row_errors(&err, ""));
                if mode == ImportMode::AllOrNothing {
                    out.status = RowStatus::Failed;
                }
            }
            Err(err) => return Err(err),
        }
    }

    let any_failed = rows.iter().any(|r| r.status == RowStatus::Failed);
    let refused = mode == ImportMode::AllOrNothing && any_failed;
    let applied = !dry_run && !refused;
    if applied {
        tx.commit().await?;
        for task in &pending.created {
            db::announce_created(&events, task);
        }
        for (task_id, owner_id) in pending.updated {
            events.publish(DomainEvent::TaskUpdated { task_id, owner_id });
        }
        for change in pending.changes {
            change.publish(&events);
        }
    } else {
        tx.rollback().await?;
        for out in &mut rows {
            // Nothing was stored: no new task, no trigger to show.
            if out.status == RowStatus::Created {
                out.task_id = None;
            }
            out.webhooks.clear();
            out.email_triggers.clear();
        }
    }
    let count = |status: RowStatus| rows.iter().filter(|r| r.status == status).count();
    let report = ImportReport {
        dry_run,
        applied,
        total: rows.len(),
        created: count(RowStatus::Created),
        updated: count(RowStatus::Updated),
        skipped: count(RowStatus::Skipped),
        failed: count(RowStatus::Failed),
        rows,
    };
    // A dry run answers as the import would, without writing.
    let status = if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, AppJson(report)))
}

/// The field errors of a refusal, their fields under `prefix` (`alert_rules[0].`); an error
/// without fields is reported under the prefix itself, or `row`.
fn row_errors(err: &AppError, prefix: &str) -> Vec<FieldError> {
    if err.field_errors().is_empty() {
        let field = prefix.trim_end_matches('.');
        return vec![FieldError {
            field: if field.is_empty() { "row" } else { field }.to_owned(),
            message: err.detail().to_owned(),
        }];
    }
    err.field_errors()
        .iter()
        .map(|e| FieldError {
            field: format!("{prefix}{}", e.field),
            message: e.message.clone(),
        })
        .collect()
}

/// Deserialises `value` as `T`, naming the failing field.
fn read<T: serde::de::DeserializeOwned>(value: Value, errors: &mut Vec<FieldError>) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(read) => Some(read),
        Err(err) => {
            let path = err.path().to_string();
            errors.push(FieldError {
                field: if path == "." { "row".to_owned() } else { path },
                message: err.into_inner().to_string(),
            });
            None
        }
    }
}

/// The checks a row passes before the database is asked: the definition with the rules of
/// `POST /tasks`, and the shape of its parts.
fn check_row(owner: Uuid, row: RawRow) -> Result<ValidRow, Vec<FieldError>> {
    let value = row?;
    let has_chains = value.get("chains").is_some();
    let mut errors = Vec::new();
    let definition: Option<TaskIn> = read(value.clone(), &mut errors);
    let extras: Option<RecordExtras> = read(value, &mut errors);
    let (Some(definition), Some(mut extras)) = (definition, extras) else {
        return Err(errors);
    };
    let status = definition.status;
    if matches!(status, Some(TaskStatus::Failed)) {
        errors.push(FieldError {
            field: "status".into(),
            message: "an imported task is ACTIVE, PAUSED or STOPPED".into(),
        });
    }
    if let Some(external_id) = &mut extras.external_id {
        *external_id = external_id.trim().to_owned();
        if external_id.is_empty() || external_id.chars().count() > MAX_EXTERNAL_ID {
            errors.push(FieldError {
                field: "external_id".into(),
                message: format!("must be 1 to {MAX_EXTERNAL_ID} characters"),
            });
        }
    }
    if extras.chains.len() > usize::try_from(MAX_CHAINS_PER_TASK).unwrap_or(usize::MAX) {
        errors.push(FieldError {
            field: "chains".into(),
            message: format!("a task runs after at most {MAX_CHAINS_PER_TASK} sources"),
        });
    }
    for (i, chain) in extras.chains.iter().enumerate() {
        if chain.after.trim().is_empty() {
            errors.push(FieldError {
                field: format!("chains[{i}].after"),
                message: "names the task this one runs after".into(),
            });
        }
    }
    let new = match NewTask::try_from((owner, definition)) {
        Ok(new) => Some(new),
        Err(err) => {
            errors.extend(row_errors(&err, ""));
            None
        }
    };
    match new {
        Some(new) if errors.is_empty() => Ok(ValidRow {
            new,
            status,
            extras,
            has_chains,
        }),
        _ => Err(errors),
    }
}

/// The owner's task this row matches: by `external_id` when the row has one, else by name.
async fn matching_task(
    tx: &mut PgConnection,
    owner: Uuid,
    row: &ValidRow,
) -> AppResult<Option<Uuid>> {
    Ok(match &row.extras.external_id {
        Some(external_id) => {
            sqlx::query_scalar!(
                "SELECT id FROM tasks WHERE owner_id = $1 AND external_id = $2",
                owner,
                external_id
            )
            .fetch_optional(&mut *tx)
            .await?
        }
        None => {
            sqlx::query_scalar!(
                "SELECT id FROM tasks WHERE owner_id = $1 AND name = $2
                 ORDER BY created_at, id LIMIT 1",
                owner,
                row.new.name.trim()
            )
            .fetch_optional(&mut *tx)
            .await?
        }
    })
}

/// `name (2)`, `name (3)`, …: the first that none of the owner's tasks has.
async fn free_name(tx: &mut PgConnection, owner: Uuid, name: &str) -> AppResult<String> {
    for n in 2..=1000 {
        let suffix = format!(" ({n})");
        let room = 200usize.saturating_sub(suffix.chars().count());
        let base: String = name.chars().take(room).collect();
        let candidate = format!("{base}{suffix}");
        let taken = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM tasks WHERE owner_id = $1 AND name = $2) AS "taken!""#,
            owner,
            candidate
        )
        .fetch_one(&mut *tx)
        .await?;
        if !taken {
            return Ok(candidate);
        }
    }
    Err(AppError::invalid_field(
        "name",
        "too many of your tasks already have this name",
    ))
}

/// Writes one row in the savepoint `tx`, filling in `out`.
async fn apply_row(
    tx: &mut PgConnection,
    ctx: &Ctx<'_>,
    row: &mut ValidRow,
    out: &mut ImportRowOut,
    pending: &mut Pending,
) -> AppResult<Option<Done>> {
    let original_name = row.new.name.trim().to_owned();
    let existing = matching_task(tx, ctx.owner, row).await?;
    let task_id = match (existing, ctx.on_conflict) {
        (Some(id), OnConflict::Skip) => {
            out.status = RowStatus::Skipped;
            out.task_id = Some(id);
            return Ok(Some(Done {
                task_id: id,
                original_name,
                chains_to_set: false,
            }));
        }
        (Some(id), OnConflict::Update) => {
            update::update_task_in(tx, ctx.policy, id, ctx.owner, &row.new, None).await?;
            if let Some(status) = row.status {
                let (_, change) = db::set_status_in(tx, id, ctx.owner, status).await?;
                pending.changes.extend(change);
            }
            set_external_id(tx, id, row.extras.external_id.as_deref()).await?;
            pending.updated.push((id, ctx.owner));
            out.status = RowStatus::Updated;
            id
        }
        (Some(_), OnConflict::Rename) if row.extras.external_id.is_some() => {
            return Err(AppError::invalid_field(
                "external_id",
                "another of your tasks has it; on_conflict=rename renames, it cannot share an external_id",
            ));
        }
        (found, _) => {
            if found.is_some() {
                row.new.name = free_name(tx, ctx.owner, &original_name).await?;
            }
            let schedule = row.new.validate()?;
            limits::admit_task(tx, ctx.policy, ctx.owner, schedule.as_ref()).await?;
            let task = db::insert_task(tx, &row.new).await?;
            set_external_id(tx, task.id, row.extras.external_id.as_deref()).await?;
            let id = task.id;
            pending.created.push(task);
            out.status = RowStatus::Created;
            id
        }
    };
    out.task_id = Some(task_id);
    out.name = Some(row.new.name.trim().to_owned());
    add_parts(tx, ctx, task_id, row, out).await?;
    Ok(Some(Done {
        task_id,
        original_name,
        chains_to_set: out.status == RowStatus::Created || row.has_chains,
    }))
}

async fn set_external_id(
    tx: &mut PgConnection,
    task_id: Uuid,
    external_id: Option<&str>,
) -> AppResult<()> {
    if let Some(external_id) = external_id {
        sqlx::query!(
            "UPDATE tasks SET external_id = $2 WHERE id = $1",
            task_id,
            external_id
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The row's alert rules (replacing the task's when given) and the triggers it lacks by name.
async fn add_parts(
    tx: &mut PgConnection,
    ctx: &Ctx<'_>,
    task_id: Uuid,
    row: &ValidRow,
    out: &mut ImportRowOut,
) -> AppResult<()> {
    sqlx::query!("SELECT id FROM tasks WHERE id = $1 FOR UPDATE", task_id)
        .fetch_one(&mut *tx)
        .await?;
    if let Some(rules) = &row.extras.alert_rules {
        sqlx::query!("DELETE FROM alert_rules WHERE task_id = $1", task_id)
            .execute(&mut *tx)
            .await?;
        for (i, rule) in rules.iter().enumerate() {
            insert_rule(tx, ctx.policy, ctx.owner, task_id, &rule.to_input())
                .await
                .map_err(|err| prefixed(err, &format!("alert_rules[{i}].")))?;
        }
    }
    let existing_webhooks = sqlx::query_scalar!(
        "SELECT name FROM webhook_triggers WHERE task_id = $1",
        task_id
    )
    .fetch_all(&mut *tx)
    .await?;
    for (i, webhook) in row.extras.webhooks.iter().enumerate() {
        if existing_webhooks.contains(&webhook.name) {
            continue;
        }
        let input = WebhookIn {
            name: Some(webhook.name.clone()),
            signature: Some(webhook.signature),
            secret: None,
            replay_window_seconds: webhook.replay_window_seconds,
        };
        let created = insert_webhook(tx, ctx.vault, ctx.settings, task_id, input)
            .await
            .map_err(|err| prefixed(err, &format!("webhooks[{i}].")))?;
        out.webhooks.push(created);
    }
    let existing_emails = sqlx::query_scalar!(
        "SELECT name FROM email_triggers WHERE task_id = $1",
        task_id
    )
    .fetch_all(&mut *tx)
    .await?;
    for (i, trigger) in row.extras.email_triggers.iter().enumerate() {
        if existing_emails.contains(&trigger.name) {
            continue;
        }
        let input = EmailTriggerIn {
            name: Some(trigger.name.clone()),
        };
        let created = insert_email_trigger(tx, ctx.settings, task_id, input)
            .await
            .map_err(|err| prefixed(err, &format!("email_triggers[{i}].")))?;
        out.email_triggers.push(created);
    }
    Ok(())
}

/// The same refusal, its fields under `prefix`.
fn prefixed(err: AppError, prefix: &str) -> AppError {
    if !err.code().status().is_client_error() || err.code() == ErrorCode::PlanLimitReached {
        return err;
    }
    AppError::new(err.code(), err.detail().to_owned()).with_fields(row_errors(&err, prefix))
}

/// Replaces the task's chains with the row's, each source found by name: a task of this
/// import first, else one of the owner's.
async fn set_chains(
    tx: &mut PgConnection,
    ctx: &Ctx<'_>,
    imported: &HashMap<String, Uuid>,
    task_id: Uuid,
    row: &ValidRow,
) -> AppResult<()> {
    sqlx::query!("DELETE FROM task_chains WHERE task_id = $1", task_id)
        .execute(&mut *tx)
        .await?;
    for (i, chain) in row.extras.chains.iter().enumerate() {
        let field = format!("chains[{i}].after");
        let name = chain.after.trim();
        let source = match imported.get(name) {
            Some(id) => *id,
            None => {
                let found = sqlx::query_scalar!(
                    "SELECT id FROM tasks WHERE owner_id = $1 AND name = $2 LIMIT 2",
                    ctx.owner,
                    name
                )
                .fetch_all(&mut *tx)
                .await?;
                match found.as_slice() {
                    [id] => *id,
                    [] => {
                        return Err(AppError::invalid_field(
                            field,
                            format!("no task of yours is named {name:?}"),
                        ));
                    }
                    _ => {
                        return Err(AppError::invalid_field(
                            field,
                            format!("several of your tasks are named {name:?}; rename one"),
                        ));
                    }
                }
            }
        };
        let input = ChainIn {
            source_task_id: source,
            on: chain.on,
        };
        chains::add_chain(tx, ctx.settings.chains, ctx.owner, task_id, &input)
            .await
            .map_err(|err| {
                let err = prefixed(err, &format!("chains[{i}]."));
                AppError::new(err.code(), err.detail().to_owned()).with_fields(
                    err.field_errors()
                        .iter()
                        .map(|e| FieldError {
                            field: e.field.replace("source_task_id", "after"),
                            message: e.message.clone(),
                        })
                        .collect(),
                )
            })?;
    }
    Ok(())
}
