//! Pagination: page sizes, and opaque cursors: a page's position serialized as JSON and base64url-encoded, so
//! clients pass `next_cursor` back unchanged and never build one themselves.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{AppError, AppResult};

/// Default page size of lists.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Largest page size of lists.
pub const MAX_PAGE_SIZE: i64 = 100;

/// The page size of a list request: `limit` when given (1–100, else a 422 naming
/// `query.limit`), 50 otherwise.
pub fn page_size(limit: Option<i64>) -> AppResult<i64> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if (1..=MAX_PAGE_SIZE).contains(&limit) {
        Ok(limit)
    } else {
        Err(AppError::invalid_field(
            "query.limit",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        ))
    }
}

/// Encodes a position.
pub fn encode<T: Serialize>(position: &T) -> AppResult<String> {
    let json = serde_json::to_vec(position).map_err(AppError::internal)?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Decodes a cursor from `query.cursor`; anything but a cursor this server made is a 422
/// naming that parameter.
pub fn decode<T: DeserializeOwned>(text: &str) -> AppResult<T> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            AppError::invalid_field(
                "query.cursor",
                "is not a cursor from this list; pass `next_cursor` unchanged",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let text = encode(&("key", 7)).expect("encode");
        assert_eq!(
            decode::<(String, i32)>(&text).expect("decode"),
            ("key".into(), 7)
        );
        let err = decode::<(String, i32)>("%%%").expect_err("garbage");
        assert_eq!(err.field_errors()[0].field, "query.cursor");
    }
}
