//! `GET /tasks/export`: the caller's tasks matching the list filters, oldest first, as a JSON
//! array of [`TaskRecord`]s or as CSV. Streamed: pages of tasks are read one after the other
//! (keyset pagination) and sent through a small channel, so memory stays flat.

use std::collections::HashMap;

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use sqlx::PgPool;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    csv as task_csv,
    record::{
        AlertRuleRecord, ChainRecord, EmailTriggerRecord, RecordExtras, TaskRecord, WebhookRecord,
    },
};
use crate::{
    auth::{Caller, Scope},
    error::{AppError, AppResult, Problem},
    http::AppQuery,
    notifications::rules::RuleKind,
    tasks::{
        api::body::TaskIn,
        list::{self, SortOrder, TaskQuery, TaskSort},
        model::{ActionType, Task, TaskStatus},
    },
    triggers::{chains::ChainOn, webhooks::SignatureScheme},
};

/// Tasks read per page.
const PAGE: i64 = 200;

/// Chunks buffered between the database and the client.
const CHANNEL_CHUNKS: usize = 16;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = TaskExportFormat)]
pub enum ExportFormat {
    /// A JSON array of task records (`application/json`).
    Json,
    /// RFC 4180 CSV with a header row (`text/csv`).
    Csv,
}

/// `GET /tasks/export` parameters: the format and the filters of `GET /tasks`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `json` (default) or `csv`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
    /// Only this status.
    pub status: Option<TaskStatus>,
    /// Only this action type.
    pub action_type: Option<ActionType>,
    /// Only tasks carrying this tag.
    pub tag: Option<String>,
    /// Text in the name or description (case-insensitive).
    #[param(max_length = 200)]
    pub q: Option<String>,
}

/// Export your tasks (definitions, triggers, chains and alert rules by name; secrets as
/// references, never values), oldest first, as JSON or CSV (streamed).
#[utoipa::path(get, path = "/export", tag = "tasks", security(("bearer" = [])),
    params(ExportParams),
    responses(
        (status = 200, description = "The tasks: `application/json` (an array of `TaskRecord`) \
            or `text/csv` (RFC 4180, header row, nested parts as JSON cells, cells that could \
            run as spreadsheet formulas prefixed with `'`)",
            content((Vec<TaskRecord> = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A query parameter is malformed (`format` not `json`/`csv`, an unknown status, …)", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `tasks:read`", body = Problem),
        (status = 422, description = "`q` is too long, or a parameter holds a NUL character (`query.q`)", body = Problem),
    ))]
pub async fn export_tasks(
    State(db): State<PgPool>,
    caller: Caller,
    AppQuery(params): AppQuery<ExportParams>,
) -> AppResult<Response> {
    caller.require(Scope::TasksRead)?;
    if params.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(AppError::invalid_field(
            "query.q",
            "must be at most 200 characters",
        ));
    }
    let format = params.format.unwrap_or(ExportFormat::Json);
    let query = TaskQuery {
        status: params.status,
        action_type: params.action_type,
        tag: params.tag,
        search: params.q.filter(|q| !q.trim().is_empty()),
        sort: TaskSort::CreatedAt,
        order: SortOrder::Asc,
        limit: PAGE,
        cursor: None,
    };
    let owner = caller.owner_id();
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    tokio::spawn(async move {
        if let Err(err) = stream_pages(db, owner, query, format, &sender).await {
            tracing::error!(error = %err, "the task export stopped early");
            let _ = sender
                .send(Err(std::io::Error::other("the export stopped early")))
                .await;
        }
    });
    let mut receiver = receiver;
    // `poll_recv` keeps answering `None` once the channel is done, so a body polled again
    // after its end does not panic (as an `unfold` stream would).
    let body = Body::from_stream(futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)));
    let (content_type, name) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "tasks.csv"),
        ExportFormat::Json => ("application/json", "tasks.json"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Reads page after page and sends each encoded; stops when the client goes away.
async fn stream_pages(
    db: PgPool,
    owner: Uuid,
    mut query: TaskQuery,
    format: ExportFormat,
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> anyhow::Result<()> {
    let opening = match format {
        ExportFormat::Csv => task_csv::header()?,
        ExportFormat::Json => b"[".to_vec(),
    };
    if sender.send(Ok(opening.into())).await.is_err() {
        return Ok(());
    }
    let mut first = true;
    loop {
        let page = list::list_tasks(&db, owner, &query)
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        let tasks: Vec<Task> = page.items.into_iter().map(|(task, _)| task).collect();
        for record in records(&db, owner, tasks).await? {
            let chunk = match format {
                ExportFormat::Csv => task_csv::line(&task_csv::cells(&record)?)?,
                ExportFormat::Json => {
                    let mut chunk = if first {
                        b"\n".to_vec()
                    } else {
                        b",\n".to_vec()
                    };
                    serde_json::to_writer(&mut chunk, &record)?;
                    chunk
                }
            };
            first = false;
            if sender.send(Ok(chunk.into())).await.is_err() {
                return Ok(());
            }
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    if format == ExportFormat::Json {
        let closing: &[u8] = if first { b"]\n" } else { b"\n]\n" };
        let _ = sender.send(Ok(Bytes::from_static(closing))).await;
    }
    Ok(())
}

/// The records of a page of the owner's tasks, with their parts read in one query each.
pub async fn records(
    db: &PgPool,
    owner: Uuid,
    tasks: Vec<Task>,
) -> anyhow::Result<Vec<TaskRecord>> {
    let ids: Vec<Uuid> = tasks.iter().map(|t| t.id).collect();
    let mut extras: HashMap<Uuid, RecordExtras> = HashMap::with_capacity(ids.len());
    for row in sqlx::query!(
        "SELECT id, external_id FROM tasks WHERE id = ANY($1) AND owner_id = $2",
        &ids,
        owner
    )
    .fetch_all(db)
    .await?
    {
        extras.entry(row.id).or_default().external_id = row.external_id;
    }
    for row in sqlx::query!(
        r#"SELECT w.task_id, w.name, w.signature AS "signature: SignatureScheme",
                  w.replay_window_seconds
           FROM webhook_triggers w JOIN tasks t ON t.id = w.task_id
           WHERE w.task_id = ANY($1) AND t.owner_id = $2
           ORDER BY w.created_at, w.id"#,
        &ids,
        owner
    )
    .fetch_all(db)
    .await?
    {
        extras
            .entry(row.task_id)
            .or_default()
            .webhooks
            .push(WebhookRecord {
                name: row.name,
                signature: row.signature,
                replay_window_seconds: row.replay_window_seconds,
            });
    }
    for row in sqlx::query!(
        "SELECT e.task_id, e.name FROM email_triggers e JOIN tasks t ON t.id = e.task_id
         WHERE e.task_id = ANY($1) AND t.owner_id = $2
         ORDER BY e.created_at, e.id",
        &ids,
        owner
    )
    .fetch_all(db)
    .await?
    {
        extras
            .entry(row.task_id)
            .or_default()
            .email_triggers
            .push(EmailTriggerRecord { name: row.name });
    }
    for row in sqlx::query!(
        r#"SELECT c.task_id, s.name AS after, c.on_status AS "on: ChainOn"
           FROM task_chains c
           JOIN tasks t ON t.id = c.task_id
           JOIN tasks s ON s.id = c.source_task_id
           WHERE c.task_id = ANY($1) AND t.owner_id = $2 AND s.owner_id = $2
           ORDER BY s.name, c.on_status, c.id"#,
        &ids,
        owner
    )
    .fetch_all(db)
    .await?
    {
        extras
            .entry(row.task_id)
            .or_default()
            .chains
            .push(ChainRecord {
                after: row.after,
                on: row.on,
            });
    }
    for row in sqlx::query!(
        r#"SELECT r.task_id, r.kind AS "kind: RuleKind", r.params, r.channels,
                  r.repeat_every_minutes, r.muted_until
           FROM alert_rules r JOIN tasks t ON t.id = r.task_id
           WHERE r.task_id = ANY($1) AND t.owner_id = $2
           ORDER BY r.created_at, r.id"#,
        &ids,
        owner
    )
    .fetch_all(db)
    .await?
    {
        extras
            .entry(row.task_id)
            .or_default()
            .alert_rules
            .get_or_insert_with(Vec::new)
            .push(AlertRuleRecord {
                kind: row.kind,
                params: Some(row.params),
                channels: Some(row.channels.iter().filter_map(|c| c.parse().ok()).collect()),
                repeat_every_minutes: row.repeat_every_minutes,
                muted_until: row.muted_until,
            });
    }
    Ok(tasks
        .iter()
        .map(|task| {
            let mut extras = extras.remove(&task.id).unwrap_or_default();
            // An export lists the rules a task has, none included.
            extras.alert_rules.get_or_insert_with(Vec::new);
            TaskRecord {
                definition: TaskIn::from_task(task),
                extras,
            }
        })
        .collect())
}
