//! Turning an inbound HTTP delivery into an execution input: the body parsed by its content
//! type (JSON, form or text), the headers without credentials, and the query string.

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};

use crate::error::{AppError, ErrorCode};

/// Headers never copied into an input: credentials of the sender or of a proxy in between.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

/// The media type of a request without parameters, lower-cased (`""` when absent).
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether a media type is JSON (`application/json` or `application/*+json`).
pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// Headers as a JSON object (lower-case names; repeated headers joined with `, `), without
/// credentials.
pub fn headers_json(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        if SECRET_HEADERS.contains(&name) {
            continue;
        }
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&text);
            }
            _ => {
                out.insert(name.to_owned(), Value::String(text));
            }
        }
    }
    Value::Object(out)
}

/// `a=1&b=2&b=3` as `{"a": "1", "b": ["2", "3"]}`.
pub fn form_json(encoded: &[u8]) -> Value {
    let mut out = Map::new();
    for (key, value) in form_urlencoded::parse(encoded) {
        let value = Value::String(value.into_owned());
        match out.get_mut(key.as_ref()) {
            Some(Value::Array(values)) => values.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                out.insert(key.into_owned(), value);
            }
        }
    }
    Value::Object(out)
}

/// The body as JSON by its media type: parsed JSON, a form as an object, text as a string,
/// `null` when empty. Malformed JSON is a 400; a body that is not text is a 415.
pub fn body_json(media_type: &str, body: &[u8]) -> Result<Value, AppError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    if is_json(media_type) {
        return serde_json::from_slice(body).map_err(|err| {
            AppError::new(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON: {err}"),
            )
            .with_fields(vec![crate::error::FieldError {
                field: "body".into(),
                message: "not valid JSON".into(),
            }])
        });
    }
    if media_type == "application/x-www-form-urlencoded" {
        return Ok(form_json(body));
    }
    match std::str::from_utf8(body) {
        Ok(text) => Ok(Value::String(text.to_owned())),
        Err(_) => Err(AppError::new(
            ErrorCode::InvalidContentType,
            "the body must be JSON, a form or text (UTF-8)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    #[test]
    fn bodies_are_read_by_media_type() {
        assert_eq!(
            body_json("application/json", br#"{"a":1}"#).expect("json"),
            json!({"a": 1})
        );
        assert_eq!(
            body_json("application/vnd.x+json", b"[1]").expect("json"),
            json!([1])
        );
        assert_eq!(
            body_json("application/x-www-form-urlencoded", b"a=1&b=2&b=3&c=x%20y").expect("form"),
            json!({"a": "1", "b": ["2", "3"], "c": "x y"})
        );
        assert_eq!(body_json("text/plain", b"hi").expect("text"), json!("hi"));
        assert_eq!(body_json("", b"").expect("empty"), Value::Null);
        assert_eq!(
            body_json("application/json", b"{").expect_err("bad").code(),
            ErrorCode::MalformedJson
        );
        assert_eq!(
            body_json("application/octet-stream", &[0xff, 0xfe])
                .expect_err("binary")
                .code(),
            ErrorCode::InvalidContentType
        );
    }

    #[test]
    fn credentials_are_left_out_of_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer x"));
        headers.insert("cookie", HeaderValue::from_static("s=1"));
        headers.insert("x-event", HeaderValue::from_static("push"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        assert_eq!(
            headers_json(&headers),
            json!({"x-event": "push", "x-multi": "a, b"})
        );
    }
}
