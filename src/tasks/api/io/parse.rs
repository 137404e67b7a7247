//! Reading an import's body: a JSON array of task records (`application/json`), CSV
//! (`text/csv`), or either uploaded as the `file` part of `multipart/form-data`. The result
//! is one JSON object per row, or that row's field errors; at most [`MAX_ROWS`] rows.

use axum::{
    body::Body,
    extract::{FromRequest, Multipart, Request},
    http::header,
};
use serde_json::Value;

use super::csv as task_csv;
use crate::{
    error::{AppError, AppResult, ErrorCode, FieldError},
    http::validation,
};

/// Most rows one import may hold.
pub const MAX_ROWS: usize = 10_000;

/// One row: the object to import, or why it cannot be read.
pub type RawRow = Result<Value, Vec<FieldError>>;

/// What a body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// The rows of the request's body, whatever its content type.
pub async fn read_rows(request: Request) -> AppResult<Vec<RawRow>> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    match mime {
        "application/json" => parse(&read_body(request.into_body()).await?, Format::Json),
        "text/csv" => parse(&read_body(request.into_body()).await?, Format::Csv),
        "multipart/form-data" => {
            let mut multipart = Multipart::from_request(request, &())
                .await
                .map_err(|err| AppError::new(ErrorCode::BadRequest, err.body_text()))?;
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|err| AppError::new(ErrorCode::BadRequest, err.body_text()))?
            {
                if field.name() != Some("file") {
                    continue;
                }
                let declared = field
                    .content_type()
                    .map(str::to_ascii_lowercase)
                    .unwrap_or_default();
                let file_name = field.file_name().unwrap_or_default().to_ascii_lowercase();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|err| AppError::new(ErrorCode::BadRequest, err.body_text()))?;
                let looks_like_json =
                    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
                let format = if declared.starts_with("text/csv") || file_name.ends_with(".csv") {
                    Format::Csv
                } else if declared.starts_with("application/json")
                    || file_name.ends_with(".json")
                    || looks_like_json
                {
                    Format::Json
                } else {
                    Format::Csv
                };
                return parse(&bytes, format);
            }
            Err(AppError::invalid_field(
                "file",
                "upload the tasks as the `file` part (CSV or JSON)",
            ))
        }
        _ => Err(AppError::new(
            ErrorCode::InvalidContentType,
            "send application/json, text/csv or multipart/form-data",
        )),
    }
}

async fn read_body(body: Body) -> AppResult<axum::body::Bytes> {
    // The request body limit layer bounds the size; this only collects it.
    axum::body::to_bytes(body, usize::MAX).await.map_err(|_| {
        AppError::new(
            ErrorCode::PayloadTooLarge,
            "the body is larger than REQUEST_BODY_LIMIT_BYTES allows",
        )
    })
}

fn too_many() -> AppError {
    AppError::invalid_field(
        "rows",
        format!("an import holds at most {MAX_ROWS} rows; split the file"),
    )
}

fn parse(bytes: &[u8], format: Format) -> AppResult<Vec<RawRow>> {
    match format {
        Format::Json => parse_json(bytes),
        Format::Csv => parse_csv(bytes),
    }
}

fn parse_json(bytes: &[u8]) -> AppResult<Vec<RawRow>> {
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        AppError::new(
            ErrorCode::MalformedJson,
            format!("the request body is not valid JSON: {err}"),
        )
    })?;
    let Value::Array(items) = value else {
        return Err(AppError::invalid_field(
            "body",
            "must be a JSON array of tasks",
        ));
    };
    if items.len() > MAX_ROWS {
        return Err(too_many());
    }
    Ok(items.into_iter().map(checked_row).collect())
}

fn checked_row(value: Value) -> RawRow {
    if !value.is_object() {
        return Err(vec![FieldError {
            field: "row".into(),
            message: "must be a JSON object".into(),
        }]);
    }
    if let Some(path) = validation::nul_path(&value) {
        return Err(vec![FieldError {
            field: path,
            message: validation::NUL_MESSAGE.into(),
        }]);
    }
    Ok(value)
}

fn parse_csv(bytes: &[u8]) -> AppResult<Vec<RawRow>> {
    let malformed = |err: csv::Error| {
        let line = err
            .position()
            .map(|p| format!(" at line {}", p.line()))
            .unwrap_or_default();
        AppError::new(
            ErrorCode::BadRequest,
            format!("the CSV is malformed{line}: {}", err.kind_text()),
        )
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader.headers().map_err(malformed)?.clone();
    let columns = task_csv::check_header(&header).map_err(|e| AppError::validation(vec![e]))?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(malformed)?;
        if rows.len() == MAX_ROWS {
            return Err(too_many());
        }
        rows.push(task_csv::row_to_json(&columns, &record).and_then(checked_row));
    }
    Ok(rows)
}

/// The words of a CSV error without its position (given separately).
trait KindText {
    fn kind_text(&self) -> String;
}

impl KindText for csv::Error {
    fn kind_text(&self) -> String {
        match self.kind() {
            csv::ErrorKind::Utf8 { .. } => "a field is not valid UTF-8".to_owned(),
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("a row has {len} fields where the header has {expected_len}"),
            _ => self.to_string(),
        }
    }
}
