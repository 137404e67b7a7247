//! Turns `validator` reports into the flat `{field, message}` list of problem documents, and
//! finds NUL characters in input before they reach PostgreSQL (which refuses U+0000 in
//! `text` and `\u0000` in `jsonb`, a 500 if it got that far).

pub use crate::error::field_errors;

/// What a field holding a NUL character is told.
pub const NUL_MESSAGE: &str = "must not contain a NUL character (U+0000)";

/// Whether JSON text may hold a NUL: raw JSON cannot carry one except as the `\u0000` escape.
pub fn may_contain_nul_escape(json: &[u8]) -> bool {
    json.windows(6).any(|w| w == br"\u0000")
}

/// The path (`action.config.headers.X-Trace`, `tags[2]`) of the first string or object key
/// in `value` holding a NUL character; `body` for the root itself.
pub fn nul_path(value: &serde_json::Value) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &str) -> Option<String> {
        match value {
            serde_json::Value::String(text) if text.contains('\0') => Some(if path.is_empty() {
                "body".to_owned()
            } else {
                path.to_owned()
            }),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| walk(item, &format!("{path}[{i}]"))),
            serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
                let shown = key.replace('\0', "\\u0000");
                let child = if path.is_empty() {
                    shown
                } else {
                    format!("{path}.{shown}")
                };
                if key.contains('\0') {
                    Some(child)
                } else {
                    walk(item, &child)
                }
            }),
            _ => None,
        }
    }
    walk(value, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use validator::Validate;

    #[derive(Validate)]
    struct Inner {
        #[validate(range(min = 1, max = 5))]
        level: u8,
    }

    #[derive(Validate)]
    struct Outer {
        #[validate(length(min = 3))]
        name: String,
        #[validate(nested)]
        inner: Inner,
    }

    #[test]
    fn nested_fields_get_dotted_paths() {
        let value = Outer {
            name: "x".into(),
            inner: Inner { level: 9 },
        };
        let errors = field_errors(&value.validate().expect_err("invalid"));
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["inner.level", "name"]);
        assert_eq!(errors[1].message, "must be at least 3 characters long");
    }

    #[test]
    fn a_nul_anywhere_in_json_is_found_by_its_path() {
        use serde_json::json;
        assert_eq!(
            nul_path(&json!({"name": "a\u{0}b"})).as_deref(),
            Some("name")
        );
        assert_eq!(
            nul_path(&json!({"action": {"config": {"headers": {"X-T": "v\u{0}"}}}})).as_deref(),
            Some("action.config.headers.X-T")
        );
        assert_eq!(
            nul_path(&json!({"tags": ["ok", "\u{0}"]})).as_deref(),
            Some("tags[1]")
        );
        assert_eq!(nul_path(&json!({"k\u{0}": 1})).as_deref(), Some("k\\u0000"));
        assert_eq!(nul_path(&json!("\u{0}")).as_deref(), Some("body"));
        assert_eq!(nul_path(&json!({"name": "fine", "n": [1, null]})), None);
        assert!(may_contain_nul_escape(br#"{"a":"\u0000"}"#));
        assert!(!may_contain_nul_escape(br#"{"a":"\u0001"}"#));
    }
}
