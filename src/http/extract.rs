//! Extractors whose rejections are problem documents that name the failing field.
//!
//! `AppJson` replaces `axum::Json`: wrong content type and malformed JSON are 400, a body
//! that is JSON but of the wrong shape is 422 with the path of the offending field.
//! `ValidJson` also runs `validator` rules. `AppQuery` and `AppPath` do the same for the
//! query string and path parameters.
//!
//! All of them refuse a NUL character (U+0000) in any string, object key, query or path
//! parameter with a 422 naming the field (`name`, `action.config.headers.X`, `query.q`,
//! `id`): PostgreSQL stores neither it in `text` nor `\u0000` in `jsonb`.

use axum::{
    body::Bytes,
    extract::{
        FromRequest, FromRequestParts, RawPathParams, Request, path::ErrorKind,
        rejection::PathRejection,
    },
    http::{HeaderMap, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};
use validator::Validate;

use super::validation;
use crate::error::{AppError, ErrorCode, FieldError};

/// A JSON body (request) or a JSON response.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

/// A JSON body that has also passed its `validator` rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidJson<T>(pub T);

/// Query string parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

/// Path parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppPath<T>(pub T);

fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses JSON bytes, telling syntax errors (400) from shape errors (422 naming the field).
/// A NUL character in any string or key is a 422 naming its path. Every request body is a
/// JSON object: valid JSON of another kind (an array, which serde would read as the fields
/// in order, a string, a number) is a 422 naming `body`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => AppError::invalid_field("body", "must be a JSON object"),
                Err(err) => AppError::new(
                    ErrorCode::MalformedJson,
                    format!("the request body is not valid JSON: {err}"),
                ),
            },
        );
    }
    if validation::may_contain_nul_escape(bytes)
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(path) = validation::nul_path(&value)
    {
        return Err(AppError::invalid_field(path, validation::NUL_MESSAGE));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => AppError::invalid_field(
                if path == "." { "body".to_owned() } else { path },
                strip_position(&inner.to_string()),
            ),
            _ => AppError::new(
                ErrorCode::MalformedJson,
                format!("the request body is not valid JSON: {inner}"),
            ),
        }
    })?;
    deserializer.end().map_err(|err| {
        AppError::new(
            ErrorCode::MalformedJson,
            format!("the request body is not valid JSON: {err}"),
        )
    })?;
    Ok(value)
}

/// Parses an optional JSON body: an empty (or all-blank) body is `T::default()`; any other
/// body must be JSON (`content-type: application/json`) and is parsed as [`parse_json`] does.
/// A function, not an extractor, so a handler checks the caller's rights before the body.
pub fn optional_json<T: Default + DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !is_json_content_type(headers) {
        return Err(AppError::new(
            ErrorCode::InvalidContentType,
            "expected a request body with content-type: application/json",
        ));
    }
    parse_json(body)
}

/// serde_json appends " at line 1 column 20" to data errors; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(request.headers()) {
            return Err(AppError::new(
                ErrorCode::InvalidContentType,
                "expected a request body with content-type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                AppError::new(ErrorCode::for_status(status), rejection.body_text())
            })?;
        parse_json(&bytes).map(AppJson)
    }
}

impl<T, S> FromRequest<S> for ValidJson<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let AppJson(value) = AppJson::<T>::from_request(request, state).await?;
        value.validate()?;
        Ok(ValidJson(value))
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl<T, S> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((name, _)) = form_urlencoded::parse(query.as_bytes())
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            return Err(AppError::invalid_field(
                format!("query.{}", name.replace('\0', "\\u0000")),
                validation::NUL_MESSAGE,
            ));
        }
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(AppQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                let field = if path == "." {
                    "query".to_owned()
                } else {
                    format!("query.{path}")
                };
                AppError::new(ErrorCode::InvalidQuery, format!("{field}: {}", err.inner()))
                    .with_fields(vec![FieldError {
                        field,
                        message: err.inner().to_string(),
                    }])
            })
    }
}

impl<T, S> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await
            && let Some((name, _)) = raw.iter().find(|(_, value)| value.contains('\0'))
        {
            return Err(AppError::invalid_field(name, validation::NUL_MESSAGE));
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(AppPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(err)) => {
                let (field, message) = match err.kind() {
                    ErrorKind::ParseErrorAtKey {
                        key, expected_type, ..
                    } => (
                        key.clone(),
                        format!("must be a valid {}", friendly_type(expected_type)),
                    ),
                    ErrorKind::ParseErrorAtIndex {
                        index,
                        expected_type,
                        ..
                    } => (
                        index.to_string(),
                        format!("must be a valid {}", friendly_type(expected_type)),
                    ),
                    ErrorKind::ParseError { expected_type, .. } => (
                        "path".to_owned(),
                        format!("must be a valid {}", friendly_type(expected_type)),
                    ),
                    ErrorKind::DeserializeError { key, message, .. } => {
                        (key.clone(), message.clone())
                    }
                    other => ("path".to_owned(), other.to_string()),
                };
                Err(
                    AppError::new(ErrorCode::InvalidPath, format!("{field}: {message}"))
                        .with_fields(vec![FieldError { field, message }]),
                )
            }
            Err(other) => Err(AppError::new(
                ErrorCode::for_status(other.status()),
                other.body_text(),
            )),
        }
    }
}

fn friendly_type(rust_type: &str) -> &str {
    if rust_type.ends_with("Uuid") {
        "UUID"
    } else if rust_type.starts_with('i') || rust_type.starts_with('u') {
        "integer"
    } else {
        rust_type
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        nested: Nested,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        count: u32,
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused_naming_the_body() {
        for body in [&br#"["a", {"count": 1}]"#[..], b" \"text\"", b"42", b"null"] {
            let err = parse_json::<Body>(body).expect_err("not an object");
            assert_eq!(err.code(), ErrorCode::ValidationError);
            assert_eq!(err.field_errors()[0].field, "body");
        }
        let err = parse_json::<Body>(b"[1, ").expect_err("truncated array");
        assert_eq!(err.code(), ErrorCode::MalformedJson);
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        let err = parse_json::<Body>(b"{\"name\": ").expect_err("truncated");
        assert_eq!(err.code(), ErrorCode::MalformedJson);
    }

    #[test]
    fn shape_errors_name_the_field() {
        let err = parse_json::<Body>(br#"{"name": "a", "nested": {"count": "three"}}"#)
            .expect_err("wrong type");
        assert_eq!(err.code(), ErrorCode::ValidationError);
        assert_eq!(err.field_errors()[0].field, "nested.count");
        let err = parse_json::<Body>(br#"{"nested": {"count": 3}}"#).expect_err("missing");
        assert!(
            err.field_errors()[0]
                .message
                .contains("missing field `name`")
        );
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let err = parse_json::<Nested>(br#"{"count": 1} x"#).expect_err("trailing");
        assert_eq!(err.code(), ErrorCode::MalformedJson);
    }

    #[test]
    fn json_content_types() {
        let mut headers = HeaderMap::new();
        assert!(!is_json_content_type(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().expect("header"),
        );
        assert!(is_json_content_type(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            "application/merge-patch+json".parse().expect("header"),
        );
        assert!(is_json_content_type(&headers));
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().expect("header"));
        assert!(!is_json_content_type(&headers));
    }

    #[test]
    fn a_nul_in_a_json_string_is_a_422_naming_its_path() {
        let err = parse_json::<Body>(br#"{"name": "a\u0000b", "nested": {"count": 1}}"#)
            .expect_err("NUL");
        assert_eq!(err.code(), ErrorCode::ValidationError);
        assert_eq!(err.field_errors()[0].field, "name");
        // An escaped backslash followed by `u0000` is not a NUL.
        let body = parse_json::<Body>(br#"{"name": "a\\u0000b", "nested": {"count": 1}}"#)
            .expect("no NUL");
        assert_eq!(body.name, r"a\u0000b");
    }
}
