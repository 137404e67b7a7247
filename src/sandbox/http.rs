//! The bridge between the script helpers `http(...)` / `http_get(url)` and the async HTTP
//! function the caller provides (the worker passes its SSRF-guarded client). The script
//! thread blocks on the call; the runtime's threads do not.

use std::{future::Future, pin::Pin, sync::Arc, time::Instant};

use rhai::{Dynamic, EvalAltResult, Map};

/// The tag of a script stopped by its deadline (here, where the blocking call also hits it;
/// the engine reports the same tag when its own deadline check fires).
pub(super) const TERMINATED_TIMEOUT: &str = "timeout";

/// A request a script asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Upper-case method (`GET`, `POST`, …).
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Request headers, in the order given.
    pub headers: Vec<(String, String)>,
    /// The body, if any (a `json` value is serialized here with a JSON content type).
    pub body: Option<String>,
}

/// What the caller's HTTP function answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Response headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

/// The future an [`HttpHandler`] returns; its error is a message for the script.
pub type HttpFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, String>> + Send>>;

/// The async HTTP function scripts call through. The caller enforces its own policy
/// (SSRF guard, response size); the sandbox adds the deadline and a call budget.
pub type HttpHandler = Arc<dyn Fn(HttpRequest) -> HttpFuture + Send + Sync>;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

fn script_error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        rhai::Position::NONE,
    ))
}

/// Reads `#{method, url, headers, body, json}` from a script map.
pub(crate) fn request_from_map(map: &Map) -> Result<HttpRequest, Box<EvalAltResult>> {
    for key in map.keys() {
        if !["method", "url", "headers", "body", "json"].contains(&key.as_str()) {
            return Err(script_error(format!(
                "http(): unknown option {key:?} (expected method, url, headers, body or json)"
            )));
        }
    }
    let text = |key: &str| -> Result<Option<String>, Box<EvalAltResult>> {
        match map.get(key) {
            None => Ok(None),
            Some(value) if value.is_string() => Ok(Some(value.to_string())),
            Some(value) => Err(script_error(format!(
                "http(): {key} must be a string, got {}",
                value.type_name()
            ))),
        }
    };
    let url = text("url")?.ok_or_else(|| script_error("http(): url is required"))?;
    let method = text("method")?
        .unwrap_or_else(|| "GET".to_owned())
        .to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(script_error(format!(
            "http(): method {method:?} is not one of {}",
            METHODS.join(", ")
        )));
    }
    let mut headers = Vec::new();
    if let Some(value) = map.get("headers") {
        let Some(header_map) = value.read_lock::<Map>() else {
            return Err(script_error("http(): headers must be a map of strings"));
        };
        for (name, value) in header_map.iter() {
            headers.push((name.to_string(), value.to_string()));
        }
    }
    let mut body = text("body")?;
    if let Some(json) = map.get("json") {
        if body.is_some() {
            return Err(script_error("http(): give either body or json, not both"));
        }
        let value: serde_json::Value = rhai::serde::from_dynamic(json)
            .map_err(|err| script_error(format!("http(): json cannot be serialized: {err}")))?;
        body = Some(value.to_string());
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("content-type".into(), "application/json".into()));
        }
    }
    Ok(HttpRequest {
        method,
        url,
        headers,
        body,
    })
}

/// Turns a response into `#{status, ok, headers, body, json}` for the script; `json` is the
/// parsed body when it is JSON, `()` otherwise.
pub(crate) fn response_to_map(response: HttpResponse) -> Map {
    let mut headers = Map::new();
    for (name, value) in response.headers {
        headers.insert(name.to_ascii_lowercase().into(), value.into());
    }
    let json = serde_json::from_str::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|value| rhai::serde::to_dynamic(value).ok())
        .unwrap_or(Dynamic::UNIT);
    let mut map = Map::new();
    map.insert("status".into(), i64::from(response.status).into());
    map.insert("ok".into(), (200..300).contains(&response.status).into());
    map.insert("headers".into(), headers.into());
    map.insert("body".into(), response.body.into());
    map.insert("json".into(), json);
    map
}

/// Runs one request on the runtime from the script's thread, within what is left of the
/// script's deadline.
pub(crate) fn call_blocking(
    runtime: &tokio::runtime::Handle,
    handler: &HttpHandler,
    request: HttpRequest,
    deadline: Instant,
    max_body_len: usize,
) -> Result<Map, Box<EvalAltResult>> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let future = handler(request);
    let outcome = runtime.block_on(async move { tokio::time::timeout(remaining, future).await });
    match outcome {
        // Terminated, not a runtime error: a script cannot catch its own deadline.
        Err(_) => Err(Box::new(EvalAltResult::ErrorTerminated(
            Dynamic::from(TERMINATED_TIMEOUT),
            rhai::Position::NONE,
        ))),
        Ok(Err(message)) => Err(script_error(format!("http(): {message}"))),
        Ok(Ok(response)) if response.body.len() > max_body_len => Err(script_error(format!(
            "http(): the response body ({} bytes) exceeds the script's string limit ({max_body_len} bytes)",
            response.body.len()
        ))),
        Ok(Ok(response)) => Ok(response_to_map(response)),
    }
}
