//! `{{ secrets.NAME }}` references in task configurations, their resolution inside the
//! worker, and the [`Redactor`] that keeps resolved values out of logs, outcomes and errors.
//!
//! Only the exact form `{{ secrets.NAME }}` (any spacing inside the braces) is a reference;
//! other `{{ … }}` text is left alone, because action templates (email bodies) use the same
//! braces for their own variables.

use std::{
    borrow::Cow,
    collections::{BTreeSet, HashMap},
};

use serde_json::Value;

use super::{SecretValue, validate_name};

/// What the placeholder is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Values shorter than this are not redacted: replacing every `a` or `42` in a log would
/// destroy it while protecting nothing worth protecting.
pub const MIN_REDACTED_LEN: usize = 4;

/// A problem with a reference, located by its JSON path (`headers.Authorization`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ReferenceError {
    /// Where in the configuration (dot-separated keys, `[i]` for array items; empty for the root).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// One `{{ secrets.NAME }}` occurrence in a string.
struct Reference<'a> {
    start: usize,
    end: usize,
    name: &'a str,
}

/// Scans one string. A `{{` that starts `secrets.` must be a complete, valid reference.
fn scan(text: &str) -> Result<Vec<Reference<'_>>, String> {
    let mut found = Vec::new();
    let mut offset = 0;
    while let Some(open) = text[offset..].find("{{") {
        let start = offset + open;
        let inner = &text[start + 2..];
        let trimmed = inner.trim_start();
        let Some(after_prefix) = trimmed.strip_prefix("secrets.") else {
            offset = start + 2;
            continue;
        };
        let name_len = after_prefix
            .find(|c: char| c.is_whitespace() || c == '}')
            .unwrap_or(after_prefix.len());
        let name = &after_prefix[..name_len];
        let rest = after_prefix[name_len..].trim_start();
        if !rest.starts_with("}}") {
            return Err(format!(
                "the secret reference {:?} is not closed with }}}} (write {{{{ secrets.NAME }}}})",
                truncate(&text[start..], 40)
            ));
        }
        validate_name(name).map_err(|message| format!("secret reference: {message}"))?;
        let end = text.len() - rest.len() + 2;
        found.push(Reference { start, end, name });
        offset = end;
    }
    Ok(found)
}

fn truncate(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
        None => Cow::Borrowed(text),
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Every secret name referenced anywhere in `config` (string values at any depth).
pub fn find_references(config: &Value) -> Result<BTreeSet<String>, ReferenceError> {
    let mut names = BTreeSet::new();
    walk(config, String::new(), &mut |path, text| {
        for reference in scan(text).map_err(|message| ReferenceError {
            path: path.to_owned(),
            message,
        })? {
            names.insert(reference.name.to_owned());
        }
        Ok(())
    })?;
    Ok(names)
}

fn walk(
    value: &Value,
    path: String,
    visit: &mut impl FnMut(&str, &str) -> Result<(), ReferenceError>,
) -> Result<(), ReferenceError> {
    match value {
        Value::String(text) => visit(&path, text),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| walk(item, format!("{path}[{i}]"), visit)),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(key, item)| walk(item, child_path(&path, key), visit)),
        _ => Ok(()),
    }
}

/// A copy of `config` with every reference replaced by its value from `secrets`.
/// A name missing from `secrets` is an error naming the path and the secret.
pub fn resolve(
    config: &Value,
    secrets: &HashMap<String, SecretValue>,
) -> Result<Value, ReferenceError> {
    resolve_at(config, String::new(), secrets)
}

fn resolve_at(
    value: &Value,
    path: String,
    secrets: &HashMap<String, SecretValue>,
) -> Result<Value, ReferenceError> {
    Ok(match value {
        Value::String(text) => {
            let references = scan(text).map_err(|message| ReferenceError {
                path: path.clone(),
                message,
            })?;
            if references.is_empty() {
                return Ok(value.clone());
            }
            let mut out = String::with_capacity(text.len());
            let mut last = 0;
            for reference in references {
                let secret = secrets.get(reference.name).ok_or_else(|| ReferenceError {
                    path: path.clone(),
                    message: format!("the secret {:?} does not exist", reference.name),
                })?;
                out.push_str(&text[last..reference.start]);
                out.push_str(secret.expose());
                last = reference.end;
            }
            out.push_str(&text[last..]);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| resolve_at(item, format!("{path}[{i}]"), secrets))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    Ok((
                        key.clone(),
                        resolve_at(item, child_path(&path, key), secrets)?,
                    ))
                })
                .collect::<Result<_, ReferenceError>>()?,
        ),
        other => other.clone(),
    })
}

/// Replaces resolved secret values, in the forms they are likely to appear in (as is,
/// JSON-escaped, URL-encoded, base64), by `[REDACTED]`.
///
/// Base64 forms are the standard and URL-safe alphabets, padded and unpadded, of the value
/// on its own: a value encoded together with other text (`base64(user:password)`) only
/// shows as such when it happens to start on a 3-byte boundary, and is not recognised.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a value containing another value is replaced whole.
    needles: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("needles", &self.needles.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor for these values (values shorter than [`MIN_REDACTED_LEN`] are ignored).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needles: Vec<String> = Vec::new();
        for value in values {
            if value.chars().count() < MIN_REDACTED_LEN {
                continue;
            }
            let json = serde_json::to_string(value).unwrap_or_default();
            let json_inner = json
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(value)
                .to_owned();
            let form: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            let percent = form.replace('+', "%20");
            let lower_percent = lower_percent_escapes(&percent);
            let json_ascii = json_ascii_escaped(&json_inner);
            needles.extend([
                value.to_owned(),
                json_inner,
                json_ascii,
                form,
                percent,
                lower_percent,
            ]);
            needles.extend(base64_forms(value.as_bytes()));
        }
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Redactor { needles }
    }

    /// A redactor for every value of a resolved secrets map.
    pub fn for_secrets(secrets: &HashMap<String, SecretValue>) -> Self {
        Self::new(secrets.values().map(SecretValue::expose))
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every secret form replaced.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = Cow::Owned(out.replace(needle.as_str(), REDACTED));
            }
        }
        out
    }

    /// `value` with every string (and object key) redacted.
    pub fn redact_json(&self, value: &Value) -> Value {
        if self.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(text) => Value::String(self.redact(text).into_owned()),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.redact_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, item)| (self.redact(key).into_owned(), self.redact_json(item)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// The base64 encodings of `bytes`: standard and URL-safe alphabets, padded and unpadded.
fn base64_forms(bytes: &[u8]) -> [String; 4] {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
    ]
}

/// `%2F` → `%2f`: some encoders write lower-case hex digits.
fn lower_percent_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            for hex in chars.by_ref().take(2) {
                out.push(hex.to_ascii_lowercase());
            }
        }
    }
    out
}

/// A JSON-escaped string with every non-ASCII character as `\uXXXX` (surrogate pairs beyond
/// the BMP), as encoders that keep their output ASCII write it.
fn json_ascii_escaped(json_inner: &str) -> String {
    let mut out = String::with_capacity(json_inner.len());
    for c in json_inner.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secrets(pairs: &[(&str, &str)]) -> HashMap<String, SecretValue> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretValue::new((*v).to_owned())))
            .collect()
    }

    #[test]
    fn references_are_found_at_any_depth_with_any_spacing() {
        let config = json!({
            "url": "https://api.example/{{ secrets.API_PATH }}",
            "headers": {"Authorization": "Bearer {{secrets.TOKEN}}"},
            "steps": [{"body": "{{   secrets.token_2   }} and {{ secrets.TOKEN }}"}],
            "template": "Hello {{ input.name }}",
            "count": 3
        });
        let names: Vec<String> = find_references(&config)
            .expect("valid")
            .into_iter()
            .collect();
        assert_eq!(names, ["API_PATH", "TOKEN", "token_2"]);
    }

    #[test]
    fn bad_references_name_the_path() {
        let err = find_references(&json!({"headers": {"X": "{{ secrets.bad-name }}"}}))
            .expect_err("invalid name");
        assert_eq!(err.path, "headers.X");
        assert!(err.message.contains("bad-name"), "{}", err.message);
        let err = find_references(&json!({"list": ["ok", "{{ secrets.OPEN"]})).expect_err("open");
        assert_eq!(err.path, "list[1]");
        assert!(err.message.contains("not closed"));
        let err = find_references(&json!("{{ secrets. }}")).expect_err("empty");
        assert_eq!(err.path, "");
    }

    #[test]
    fn resolution_replaces_references_and_keeps_everything_else() {
        let config = json!({
            "url": "https://x.example/?key={{ secrets.KEY }}",
            "nested": [{"auth": "{{secrets.USER}}:{{ secrets.KEY }}"}],
            "other": "{{ input.value }}",
            "n": 1
        });
        let resolved =
            resolve(&config, &secrets(&[("KEY", "k3y-value"), ("USER", "ann")])).expect("resolve");
        assert_eq!(
            resolved,
            json!({
                "url": "https://x.example/?key=k3y-value",
                "nested": [{"auth": "ann:k3y-value"}],
                "other": "{{ input.value }}",
                "n": 1
            })
        );
    }

    #[test]
    fn a_missing_secret_is_named_with_its_path() {
        let err = resolve(&json!({"a": {"b": "{{ secrets.NOPE }}"}}), &secrets(&[]))
            .expect_err("missing");
        assert_eq!(err.path, "a.b");
        assert!(err.message.contains("NOPE"));
    }

    #[test]
    fn values_are_not_reinterpreted_as_references() {
        let resolved = resolve(
            &json!("{{ secrets.A }}"),
            &secrets(&[("A", "{{ secrets.B }}"), ("B", "leak")]),
        )
        .expect("resolve");
        assert_eq!(resolved, json!("{{ secrets.B }}"));
    }

    #[test]
    fn redaction_covers_raw_json_escaped_and_url_encoded_forms() {
        let value = "p@ss \"word\"/ü&x";
        let redactor = Redactor::new([value]);
        let raw = format!("login failed for {value}!");
        assert_eq!(redactor.redact(&raw), "login failed for [REDACTED]!");
        let json_text = serde_json::to_string(&json!({"password": value})).expect("json");
        assert_eq!(redactor.redact(&json_text), r#"{"password":"[REDACTED]"}"#);
        let form: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
        assert_eq!(redactor.redact(&format!("?p={form}")), "?p=[REDACTED]");
        let percent = form.replace('+', "%20");
        assert_eq!(redactor.redact(&format!("/x/{percent}")), "/x/[REDACTED]");
    }

    #[test]
    fn redaction_of_json_values_reaches_keys_and_nested_strings() {
        let redactor = Redactor::new(["s3cr3t-token", "xy"]);
        let out = redactor.redact_json(&json!({
            "s3cr3t-token": ["Bearer s3cr3t-token", 5, {"deep": "s3cr3t-token"}],
            "short": "xy stays"
        }));
        assert_eq!(
            out,
            json!({
                "[REDACTED]": ["Bearer [REDACTED]", 5, {"deep": "[REDACTED]"}],
                "short": "xy stays"
            })
        );
    }

    #[test]
    fn overlapping_values_are_replaced_whole() {
        let redactor = Redactor::new(["abcd", "abcdefgh"]);
        assert_eq!(
            redactor.redact("x abcdefgh y abcd"),
            "x [REDACTED] y [REDACTED]"
        );
        assert!(matches!(
            Redactor::new(["abcd"]).redact("nothing here"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_secret_leaked_base64_encoded_is_redacted_in_every_alphabet() {
        // Bytes that give `+`, `/` and padding in the standard alphabet.
        let value = "k>?~secret-\u{fb}\u{ff}x";
        let redactor = Redactor::new([value]);
        for form in base64_forms(value.as_bytes()) {
            let text = format!("echo: {form}.");
            assert_eq!(redactor.redact(&text), "echo: [REDACTED].", "{form}");
        }
        use base64::Engine as _;
        let standard = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
        assert!(
            standard.contains('+') || standard.contains('/'),
            "{standard}"
        );
        assert!(standard.ends_with('='), "{standard}");
    }

    #[test]
    fn a_secret_leaked_url_encoded_is_redacted_in_upper_and_lower_case_hex() {
        let value = "a/b c&d=é";
        let redactor = Redactor::new([value]);
        assert_eq!(
            redactor.redact("?x=a%2Fb%20c%26d%3D%C3%A9"),
            "?x=[REDACTED]"
        );
        assert_eq!(
            redactor.redact("?x=a%2fb%20c%26d%3d%c3%a9"),
            "?x=[REDACTED]"
        );
        assert_eq!(redactor.redact("?x=a%2Fb+c%26d%3D%C3%A9"), "?x=[REDACTED]");
    }

    #[test]
    fn a_secret_leaked_json_escaped_is_redacted_with_or_without_ascii_escapes() {
        let value = "quote\"back\\slash\nnewline-ü-😀";
        let redactor = Redactor::new([value]);
        let escaped = serde_json::to_string(&json!({"v": value})).expect("json");
        assert_eq!(redactor.redact(&escaped), r#"{"v":"[REDACTED]"}"#);
        let ascii = r#"{"v":"quote\"back\\slash\nnewline-\u00fc-\ud83d\ude00"}"#;
        assert_eq!(redactor.redact(ascii), r#"{"v":"[REDACTED]"}"#);
    }
}
