//! Optimistic concurrency for task updates: a task's `updated_at` is its version, sent as a
//! strong `ETag` and accepted back in `If-Match`.

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, Utc};

use crate::error::{AppError, AppResult};

/// The `ETag` of a task version.
pub fn etag(updated_at: DateTime<Utc>) -> HeaderValue {
    let tag = format!("\"{}\"", updated_at.timestamp_micros());
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// The version named by `If-Match`; `None` when the header is absent or `*`.
pub fn if_match(headers: &HeaderMap) -> AppResult<Option<DateTime<Utc>>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let invalid = || {
        AppError::invalid_field(
            "header.If-Match",
            "must be the ETag of the task, as returned by GET",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let micros: i64 = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse().ok())
        .ok_or_else(invalid)?;
    DateTime::from_timestamp_micros(micros)
        .map(Some)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_etag_is_accepted_back_and_garbage_is_named() {
        let version = DateTime::from_timestamp_micros(1_795_000_000_123_456).expect("time");
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, etag(version));
        assert_eq!(if_match(&headers).expect("parses"), Some(version));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("W/\"x\""));
        let err = if_match(&headers).expect_err("weak tags are not versions");
        assert_eq!(err.field_errors()[0].field, "header.If-Match");
    }
}
