//! The CSV form of a [`TaskRecord`]: one row per task, RFC 4180, a header row naming the
//! columns. Plain fields are plain cells; `tags`, `action_config`, `schedule`, `retry`,
//! `webhooks`, `email_triggers`, `chains` and `alert_rules` are JSON cells. Cells a
//! spreadsheet could run as a formula are exported with a leading `'`, which an import
//! removes again.

use serde_json::{Map, Value};

use super::record::TaskRecord;
use crate::{audit::export::guard_cell, error::FieldError};

/// The columns, in the order they are exported.
pub const COLUMNS: [&str; 20] = [
    "external_id",
    "name",
    "description",
    "tags",
    "action_type",
    "action_config",
    "schedule",
    "status",
    "timeout_seconds",
    "retry",
    "concurrency_policy",
    "catch_up_policy",
    "catch_up_max",
    "auto_pause_after_failures",
    "allow_cycles",
    "priority",
    "webhooks",
    "email_triggers",
    "chains",
    "alert_rules",
];

/// Columns holding JSON.
const JSON_COLUMNS: [&str; 8] = [
    "tags",
    "action_config",
    "schedule",
    "retry",
    "webhooks",
    "email_triggers",
    "chains",
    "alert_rules",
];

/// Columns holding numbers or booleans.
const SCALAR_COLUMNS: [&str; 5] = [
    "timeout_seconds",
    "catch_up_max",
    "auto_pause_after_failures",
    "allow_cycles",
    "priority",
];

/// One CSV line (CRLF-terminated) of these cells.
pub fn line(cells: &[String]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(cells)?;
    writer
        .into_inner()
        .map_err(|err| csv::Error::from(err.into_error()))
}

/// The header line.
pub fn header() -> Result<Vec<u8>, csv::Error> {
    let cells: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    line(&cells)
}

/// A record's cells, in [`COLUMNS`] order, guarded against formula injection.
pub fn cells(record: &TaskRecord) -> Result<Vec<String>, serde_json::Error> {
    let Value::Object(mut fields) = serde_json::to_value(record)? else {
        return Ok(Vec::new());
    };
    let action = fields.remove("action").unwrap_or(Value::Null);
    fields.insert(
        "action_type".into(),
        action.get("type").cloned().unwrap_or(Value::Null),
    );
    fields.insert(
        "action_config".into(),
        action.get("config").cloned().unwrap_or(Value::Null),
    );
    Ok(COLUMNS
        .iter()
        .map(|column| {
            let cell = match fields.remove(*column) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(text)) => text,
                Some(other) => other.to_string(),
            };
            guard_cell(cell)
        })
        .collect())
}

/// Checks a header row: every column known, none twice, `name` present.
pub fn check_header(header: &csv::StringRecord) -> Result<Vec<String>, FieldError> {
    let mut seen: Vec<String> = Vec::with_capacity(header.len());
    for (i, column) in header.iter().enumerate() {
        let column = column.trim().trim_start_matches('\u{feff}').to_owned();
        if !COLUMNS.contains(&column.as_str()) {
            return Err(FieldError {
                field: format!("header[{i}]"),
                message: format!(
                    "unknown column {column:?}; the columns are {}",
                    COLUMNS.join(", ")
                ),
            });
        }
        if seen.contains(&column) {
            return Err(FieldError {
                field: format!("header[{i}]"),
                message: format!("column {column:?} appears twice"),
            });
        }
        seen.push(column);
    }
    if !seen.iter().any(|c| c == "name") {
        return Err(FieldError {
            field: "header".into(),
            message: "a `name` column is required".into(),
        });
    }
    Ok(seen)
}

/// Removes the `'` an export put before a cell that looks like a formula.
fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// A data row as the JSON object an import reads, or the cells that are not valid JSON.
/// Empty cells are left out (the field takes its default).
pub fn row_to_json(columns: &[String], row: &csv::StringRecord) -> Result<Value, Vec<FieldError>> {
    let mut fields = Map::new();
    let mut action = Map::new();
    let mut errors = Vec::new();
    for (column, cell) in columns.iter().zip(row.iter()) {
        let cell = unguard(cell);
        if cell.is_empty() {
            continue;
        }
        let value = if JSON_COLUMNS.contains(&column.as_str()) {
            match serde_json::from_str::<Value>(cell) {
                Ok(value) => value,
                Err(err) => {
                    errors.push(FieldError {
                        field: column.clone(),
                        message: format!("is not valid JSON: {err}"),
                    });
                    continue;
                }
            }
        } else if SCALAR_COLUMNS.contains(&column.as_str()) {
            // Not a number or boolean: kept as text, so the field's error names it.
            serde_json::from_str::<Value>(cell.trim())
                .ok()
                .filter(|v| v.is_number() || v.is_boolean())
                .unwrap_or_else(|| Value::String(cell.to_owned()))
        } else {
            Value::String(cell.to_owned())
        };
        match column.as_str() {
            "action_type" => {
                action.insert("type".into(), value);
            }
            "action_config" => {
                action.insert("config".into(), value);
            }
            _ => {
                fields.insert(column.clone(), value);
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if !action.is_empty() {
        fields.insert("action".into(), Value::Object(action));
    }
    Ok(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guarded_cells_come_back_as_written() {
        for cell in ["=1+1", "+x", "-2", "@a", "plain", "'quoted"] {
            assert_eq!(unguard(&guard_cell(cell.to_owned())), cell);
        }
    }

    #[test]
    fn rows_become_objects_with_typed_cells() {
        let columns: Vec<String> = ["name", "action_type", "action_config", "priority", "tags"]
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        let row = csv::StringRecord::from(vec![
            "ping",
            "HTTP_REQUEST",
            r#"{"url":"https://example.com"}"#,
            "7",
            r#"["a"]"#,
        ]);
        let value = row_to_json(&columns, &row).expect("valid");
        assert_eq!(
            value,
            serde_json::json!({"name": "ping", "priority": 7, "tags": ["a"],
                "action": {"type": "HTTP_REQUEST", "config": {"url": "https://example.com"}}})
        );
        let bad = csv::StringRecord::from(vec!["ping", "HTTP_REQUEST", "{", "x", "[]"]);
        let errors = row_to_json(&columns, &bad).expect_err("invalid JSON");
        assert_eq!(errors[0].field, "action_config");
    }
}
