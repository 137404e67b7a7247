//! `GET /admin/audit-logs/export`: every event matching the filters, oldest first, streamed
//! as RFC 4180 CSV or NDJSON. Rows flow from the database cursor to the client through a
//! small channel, so memory stays flat whatever the size of the export.

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use futures::TryStreamExt;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    model::{ActionClass, ActorType, Outcome},
    routes::{AuditEventOut, AuditFilters, CheckedFilters, Row},
};
use crate::{
    auth::{Admin, RequireRole},
    error::{AppResult, Problem},
    http::AppQuery,
    state::AppState,
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export_audit_logs))
}

/// Chunks buffered between the database and the client.
const CHANNEL_CHUNKS: usize = 16;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = AuditExportFormat)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row (`text/csv`).
    Csv,
    /// One JSON event per line (`application/x-ndjson`).
    Ndjson,
}

/// `GET /admin/audit-logs/export` format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `csv` or `ndjson`.
    #[param(inline)]
    pub format: ExportFormat,
}

/// The CSV columns, in order.
const CSV_HEADER: [&str; 22] = [
    "id",
    "seq",
    "occurred_at",
    "transaction_id",
    "actor_type",
    "actor_id",
    "actor_email",
    "api_key_id",
    "action",
    "action_class",
    "critical",
    "method",
    "route",
    "path",
    "status",
    "outcome",
    "targets",
    "ip",
    "user_agent",
    "latency_ms",
    "request_body",
    "response_body",
];

/// A cell a spreadsheet will not run as a formula: text starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return gets a leading `'`.
pub fn guard_cell(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn csv_line(record: &[String]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(record)?;
    writer
        .into_inner()
        .map_err(|err| csv::Error::from(err.into_error()))
}

fn csv_record(event: AuditEventOut) -> Vec<String> {
    let text = |value: Option<String>| value.unwrap_or_default();
    let json = |value: Option<serde_json::Value>| value.map(|v| v.to_string()).unwrap_or_default();
    [
        event.id.to_string(),
        event.seq.to_string(),
        event.occurred_at.to_rfc3339(),
        event.transaction_id,
        event.actor.kind.as_str().to_owned(),
        text(event.actor.id.map(|id| id.to_string())),
        text(event.actor.email),
        text(event.api_key_id.map(|id| id.to_string())),
        event.action,
        event.action_class.as_str().to_owned(),
        event.critical.to_string(),
        event.method,
        text(event.route),
        event.path,
        event.status.to_string(),
        event.outcome.as_str().to_owned(),
        serde_json::to_string(&event.targets).unwrap_or_default(),
        text(event.ip),
        text(event.user_agent),
        event.latency_ms.to_string(),
        json(event.request_body),
        json(event.response_body),
    ]
    .into_iter()
    .map(guard_cell)
    .collect()
}

/// Export audit events matching the filters, oldest first, as CSV or NDJSON (streamed).
#[utoipa::path(get, path = "/admin/audit-logs/export", tag = "admin", security(("bearer" = [])),
    params(ExportParams, AuditFilters),
    responses(
        (status = 200, description = "The events: `text/csv` (RFC 4180, header row, cells that \
            could run as spreadsheet formulas prefixed with `'`) or `application/x-ndjson` \
            (one `AuditEventOut` per line)",
            content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 400, description = "`format` is missing or not `csv`/`ndjson`, or a filter is malformed", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "`ip` or a text filter is invalid, or `to` is not after `from`", body = Problem),
    ))]
pub(super) async fn export_audit_logs(
    State(db): State<PgPool>,
    _admin: RequireRole<Admin>,
    AppQuery(params): AppQuery<ExportParams>,
    AppQuery(filters): AppQuery<AuditFilters>,
) -> AppResult<Response> {
    let filters = filters.check()?;
    let format = params.format;
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    tokio::spawn(async move {
        if let Err(err) = stream_rows(db, filters, format, &sender).await {
            tracing::error!(error = %err, "the audit export stopped early");
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
        ExportFormat::Csv => ("text/csv; charset=utf-8", "audit-logs.csv"),
        ExportFormat::Ndjson => ("application/x-ndjson", "audit-logs.ndjson"),
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

/// Reads the matching rows and sends them encoded; stops when the client goes away.
async fn stream_rows(
    db: PgPool,
    f: CheckedFilters,
    format: ExportFormat,
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> anyhow::Result<()> {
    if format == ExportFormat::Csv {
        let header: Vec<String> = CSV_HEADER.iter().map(|h| (*h).to_owned()).collect();
        if sender.send(Ok(csv_line(&header)?.into())).await.is_err() {
            return Ok(());
        }
    }
    let mut rows = sqlx::query_as!(
        Row,
        r#"SELECT id, seq, occurred_at, transaction_id, actor_type AS "actor_type: ActorType",
                  actor_id, actor_email, api_key_id, action,
                  action_class AS "action_class: ActionClass", critical, method, route, path,
                  status, outcome AS "outcome: Outcome", targets, host(ip) AS ip, user_agent,
                  latency_ms, request_body, response_body, hash, prev_hash
           FROM audit_events
           WHERE ($1::uuid IS NULL OR actor_id = $1)
             AND ($2::text IS NULL OR actor_type = $2)
             AND ($3::text IS NULL OR starts_with(action, $3))
             AND ($4::text IS NULL OR action_class = $4)
             AND ($5::text IS NULL OR outcome = $5)
             AND ($6::bool IS NULL OR critical = $6)
             AND ($7::text IS NULL OR ip = $7::inet)
             AND ($8::text IS NULL OR route = $8)
             AND ($9::text IS NULL OR transaction_id = $9)
             AND ($10::timestamptz IS NULL OR occurred_at >= $10)
             AND ($11::timestamptz IS NULL OR occurred_at < $11)
           ORDER BY seq"#,
        f.actor_id,
        f.actor_type,
        f.action,
        f.action_class,
        f.outcome,
        f.critical,
        f.ip,
        f.route,
        f.transaction_id,
        f.from,
        f.to,
    )
    .fetch(&db);
    while let Some(row) = rows.try_next().await? {
        let event = AuditEventOut::from(row);
        let chunk = match format {
            ExportFormat::Csv => csv_line(&csv_record(event))?,
            ExportFormat::Ndjson => {
                let mut line = serde_json::to_vec(&event)?;
                line.push(b'\n');
                line
            }
        };
        if sender.send(Ok(chunk.into())).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for cell in ["=1+1", "+SUM(A1)", "-2", "@x", "\tx", "\rx"] {
            assert!(guard_cell(cell.to_owned()).starts_with('\''), "{cell:?}");
        }
        assert_eq!(guard_cell("tasks.create".to_owned()), "tasks.create");
    }
}
