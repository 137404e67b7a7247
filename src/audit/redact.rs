//! What of a JSON body the audit trail keeps: every value under a key that names a credential
//! (password, token, secret, key, authorization, …) becomes `"[REDACTED]"`, and what remains
//! is capped at 8 KiB (a larger body is kept as a truncated preview with a marker).

use serde_json::{Map, Value, json};

/// The most of a body kept, in bytes of its JSON text.
pub const BODY_CAP: usize = 8 * 1024;

/// What replaces a credential.
pub const REDACTED: &str = "[REDACTED]";

/// Parts of a key that mark its value as a credential (compared lowercased, `-` as `_`).
const SENSITIVE_PARTS: &[&str] = &[
    "password",
    "passwd",
    "token",
    "secret",
    "authorization",
    "api_key",
    "apikey",
    "private_key",
    "signing_key",
    "master_key",
    "cookie",
    "credential",
];

/// Keys that are credentials on their own.
const SENSITIVE_KEYS: &[&str] = &["key", "code", "value", "dsn", "connection_string"];

fn is_sensitive(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    SENSITIVE_KEYS.contains(&key.as_str())
        || key.ends_with("_key")
        || SENSITIVE_PARTS.iter().any(|part| key.contains(part))
}

/// `value` with every credential replaced.
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    if is_sensitive(&key) && !value.is_null() {
                        (key, Value::String(REDACTED.to_owned()))
                    } else {
                        (key, redact(value))
                    }
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

/// A JSON body as the audit trail stores it: parsed, redacted and capped; `None` when the
/// bytes are empty. A body that is not JSON is kept as a marker with its size.
pub fn capture(bytes: &[u8]) -> Option<Value> {
    if bytes.is_empty() {
        return None;
    }
    let Ok(parsed) = serde_json::from_slice::<Value>(bytes) else {
        return Some(json!({ "_not_json": true, "_bytes": bytes.len() }));
    };
    let redacted = redact(parsed);
    let text = redacted.to_string();
    if text.len() <= BODY_CAP {
        return Some(redacted);
    }
    let mut end = BODY_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(json!({
        "_truncated": true,
        "_bytes": text.len(),
        "_preview": &text[..end],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_at_any_depth() {
        let body = json!({
            "email": "a@example.com",
            "password": "hunter2",
            "nested": [{ "refresh_token": "r", "Authorization": "Bearer x", "name": "n" }],
            "api_key": "nck_1",
            "key": "nck_2",
            "new_password": "p",
            "client_secret": "s",
            "expires_at": null
        });
        let out = redact(body);
        assert_eq!(out["email"], "a@example.com");
        for pointer in [
            "/password",
            "/nested/0/refresh_token",
            "/nested/0/Authorization",
            "/api_key",
            "/key",
            "/new_password",
            "/client_secret",
        ] {
            assert_eq!(out.pointer(pointer), Some(&json!(REDACTED)), "{pointer}");
        }
        assert_eq!(out["nested"][0]["name"], "n");
    }

    #[test]
    fn large_bodies_are_capped_with_a_marker() {
        let body = json!({ "text": "é".repeat(10_000) }).to_string();
        let kept = capture(body.as_bytes()).expect("kept");
        assert_eq!(kept["_truncated"], true);
        assert!(kept["_preview"].as_str().expect("preview").len() <= BODY_CAP);
        assert!(capture(b"").is_none());
        assert_eq!(capture(b"not json").expect("marker")["_not_json"], true);
    }
}
