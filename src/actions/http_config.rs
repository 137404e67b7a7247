//! The configuration of `HTTP_REQUEST` and `API_CALL`, parsed once into types that cannot be
//! invalid, with every problem reported as `action.config.<field>`.

use std::collections::BTreeMap;

use reqwest::{Method, Url, header::HeaderName};
use serde::Deserialize;
use utoipa::ToSchema;

use super::config_field::field_error;
use crate::error::FieldError;

/// The raw shape accepted in `action.config` of `HTTP_REQUEST` and `API_CALL`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = HttpActionConfig)]
pub struct RawConfig {
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<Body>,
    #[serde(default)]
    auth: Option<Auth>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3600)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10)]
    max_redirects: Option<u8>,
    #[serde(default)]
    success: RawSuccess,
}

/// When an attempt counts as a success (default: any 2xx status).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = HttpSuccess)]
struct RawSuccess {
    #[serde(default)]
    status_codes: Option<Vec<String>>,
    #[serde(default)]
    json_pointer: Option<String>,
    #[serde(default)]
    equals: Option<serde_json::Value>,
    #[serde(default)]
    body_regex: Option<String>,
    #[serde(default)]
    max_latency_ms: Option<u64>,
}

/// The request body.
#[derive(Debug, Clone, Deserialize, PartialEq, ToSchema)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
#[schema(as = HttpBody)]
pub enum Body {
    /// Sent as `application/json`.
    Json(serde_json::Value),
    /// Sent as `text/plain` unless a `Content-Type` header says otherwise.
    Text(String),
    /// Sent as `application/x-www-form-urlencoded`.
    Form(BTreeMap<String, String>),
    /// The execution's input (from the webhook, the API call or the chained task), sent as
    /// `application/json`: relays what triggered the run.
    Input,
}

/// How the request authenticates.
#[derive(Clone, Deserialize, PartialEq, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[schema(as = HttpAuth)]
pub enum Auth {
    /// `Authorization: Basic …`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// `Authorization: Bearer …`.
    Bearer {
        /// The token.
        token: String,
    },
    /// A custom header such as `X-Api-Key`.
    Header {
        /// Header name.
        name: String,
        /// Header value.
        value: String,
    },
}

impl std::fmt::Debug for Auth {
    // Credentials never reach a log line, even through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { .. } => f.write_str("Auth::Basic(..)"),
            Auth::Bearer { .. } => f.write_str("Auth::Bearer(..)"),
            Auth::Header { name, .. } => write!(f, "Auth::Header({name}, ..)"),
        }
    }
}

/// A status code or a class of them (`2xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// Exactly this code.
    Exact(u16),
    /// Any code of this hundred (2 for `2xx`).
    Class(u16),
}

impl StatusMatch {
    /// Whether `status` matches.
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Exact(code) => code == status,
            StatusMatch::Class(class) => status / 100 == class,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        if let Some(class) = text.strip_suffix("xx") {
            return class
                .parse::<u16>()
                .ok()
                .filter(|c| (1..=5).contains(c))
                .map(StatusMatch::Class);
        }
        text.parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
            .map(StatusMatch::Exact)
    }
}

/// When an attempt counts as a success.
#[derive(Debug, Clone)]
pub struct SuccessCondition {
    /// Accepted statuses (default `2xx`).
    pub status_codes: Vec<StatusMatch>,
    /// A JSON pointer into the response body and the value it must equal.
    pub json_equals: Option<(String, serde_json::Value)>,
    /// A pattern the body excerpt must match.
    pub body_regex: Option<regex::Regex>,
    /// The longest acceptable time to the complete response.
    pub max_latency_ms: Option<u64>,
}

/// A validated HTTP action configuration.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The target (http or https).
    pub url: Url,
    /// The method.
    pub method: Method,
    /// Extra headers.
    pub headers: Vec<(HeaderName, String)>,
    /// Extra query parameters.
    pub query: Vec<(String, String)>,
    /// The body.
    pub body: Option<Body>,
    /// Credentials.
    pub auth: Option<Auth>,
    /// Per-request time limit, within the task's timeout.
    pub timeout_seconds: Option<u64>,
    /// Redirects followed before giving up (0 = none).
    pub max_redirects: u8,
    /// Success rules.
    pub success: SuccessCondition,
}

impl HttpConfig {
    /// Parses and checks a configuration; all problems are returned at once.
    pub fn parse(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        // serde reads a struct from an array too (fields by position); the schema says object.
        if !value.is_object() {
            return Err(vec![field_error("", "must be an object")]);
        }
        for name in ["success", "body", "auth"] {
            if value
                .get(name)
                .is_some_and(|v| !(v.is_object() || v.is_null()))
            {
                return Err(vec![field_error(name, "must be an object")]);
            }
        }
        let raw: RawConfig = serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            let path = if path == "." { String::new() } else { path };
            vec![field_error(&path, err.into_inner().to_string())]
        })?;
        let mut errors = Vec::new();
        let url = match Url::parse(raw.url.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            Ok(_) => {
                errors.push(field_error("url", "must be an http:// or https:// URL"));
                None
            }
            Err(err) => {
                errors.push(field_error("url", format!("is not a valid URL: {err}")));
                None
            }
        };
        let method = match raw
            .method
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None => Method::GET,
            Some(m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS")) => {
                Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET)
            }
            Some(other) => {
                errors.push(field_error(
                    "method",
                    format!("{other:?} is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
                ));
                Method::GET
            }
        };
        let mut headers = Vec::new();
        for (name, value) in &raw.headers {
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(header) if reqwest::header::HeaderValue::from_str(value).is_ok() => {
                    headers.push((header, value.clone()))
                }
                Ok(_) => errors.push(field_error(
                    &format!("headers.{name}"),
                    "is not a valid header value",
                )),
                Err(_) => errors.push(field_error(
                    &format!("headers.{name}"),
                    "is not a valid header name",
                )),
            }
        }
        if let Some(Auth::Header { name, value }) = &raw.auth
            && (HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err())
        {
            errors.push(field_error("auth.name", "is not a valid header"));
        }
        if let Some(timeout) = raw.timeout_seconds
            && !(1..=3600).contains(&timeout)
        {
            errors.push(field_error("timeout_seconds", "must be from 1 to 3600"));
        }
        let max_redirects = raw.max_redirects.unwrap_or(5);
        if max_redirects > 10 {
            errors.push(field_error("max_redirects", "must be from 0 to 10"));
        }
        let success = parse_success(raw.success, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let Some(url) = url else {
            return Err(vec![field_error("url", "is required")]);
        };
        Ok(HttpConfig {
            url,
            method,
            headers,
            query: raw.query.into_iter().collect(),
            body: raw.body,
            auth: raw.auth,
            timeout_seconds: raw.timeout_seconds,
            max_redirects,
            success,
        })
    }
}

fn parse_success(raw: RawSuccess, errors: &mut Vec<FieldError>) -> SuccessCondition {
    let mut status_codes = Vec::new();
    for (index, text) in raw
        .status_codes
        .unwrap_or_else(|| vec!["2xx".to_owned()])
        .iter()
        .enumerate()
    {
        match StatusMatch::parse(text) {
            Some(matcher) => status_codes.push(matcher),
            None => errors.push(field_error(
                &format!("success.status_codes[{index}]"),
                format!("{text:?} is not a status code (100-599) or a class like 2xx"),
            )),
        }
    }
    if status_codes.is_empty() && errors.is_empty() {
        errors.push(field_error(
            "success.status_codes",
            "must list at least one status",
        ));
    }
    let json_equals = match (raw.json_pointer, raw.equals) {
        (None, None) => None,
        (Some(pointer), Some(value)) if pointer.is_empty() || pointer.starts_with('/') => {
            Some((pointer, value))
        }
        (Some(_), Some(_)) => {
            errors.push(field_error(
                "success.json_pointer",
                "must be a JSON pointer such as /data/status",
            ));
            None
        }
        (Some(_), None) => {
            errors.push(field_error(
                "success.equals",
                "is required with json_pointer",
            ));
            None
        }
        (None, Some(_)) => {
            errors.push(field_error(
                "success.json_pointer",
                "is required with equals",
            ));
            None
        }
    };
    let body_regex = raw.body_regex.and_then(|pattern| {
        regex::RegexBuilder::new(&pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|err| {
                errors.push(field_error(
                    "success.body_regex",
                    format!("is not a valid pattern: {err}"),
                ))
            })
            .ok()
    });
    SuccessCondition {
        status_codes,
        json_equals,
        body_regex,
        max_latency_ms: raw.max_latency_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: serde_json::Value) -> Vec<String> {
        HttpConfig::parse(&value)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn arrays_are_not_read_as_objects() {
        assert_eq!(fields(json!(["https://example.com"])), ["action.config"]);
        assert_eq!(
            fields(json!({"url": "https://example.com", "success": [null, null]})),
            ["action.config.success"]
        );
        assert_eq!(
            fields(json!({"url": "https://example.com", "body": ["json", {}]})),
            ["action.config.body"]
        );
    }

    #[test]
    fn a_full_configuration_parses() {
        let config = HttpConfig::parse(&json!({
            "url": "https://api.example.com/ping",
            "method": "post",
            "headers": {"X-Trace": "1"},
            "query": {"a": "b"},
            "body": {"type": "json", "value": {"k": 1}},
            "auth": {"type": "bearer", "token": "secret"},
            "timeout_seconds": 5,
            "max_redirects": 2,
            "success": {"status_codes": ["2xx", "304"], "json_pointer": "/ok", "equals": true,
                        "body_regex": "ok", "max_latency_ms": 500}
        }))
        .expect("valid");
        assert_eq!(config.method, Method::POST);
        assert_eq!(config.max_redirects, 2);
        assert!(config.success.status_codes[1].matches(304));
        assert!(!format!("{:?}", config.auth).contains("secret"));
    }

    #[test]
    fn each_problem_names_its_field() {
        assert_eq!(fields(json!({"url": "ftp://x"})), ["action.config.url"]);
        assert_eq!(fields(json!({})), ["action.config"]);
        assert_eq!(
            fields(json!({"url": "https://a.example", "method": "BREW"})),
            ["action.config.method"]
        );
        assert_eq!(
            fields(json!({"url": "https://a.example", "success": {"status_codes": ["7xx"]}})),
            ["action.config.success.status_codes[0]"]
        );
        assert_eq!(
            fields(json!({"url": "https://a.example", "success": {"body_regex": "("}})),
            ["action.config.success.body_regex"]
        );
        assert_eq!(
            fields(json!({"url": "https://a.example", "timeout": 3})),
            ["action.config.timeout"]
        );
        assert_eq!(
            fields(json!({"url": "https://a.example", "body": {"type": "xml", "value": ""}})),
            ["action.config.body.type"]
        );
    }
}
