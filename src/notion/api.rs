//! Calls to the Notion REST API (`Notion-Version` pinned) through the shared, SSRF-guarded
//! client, and Notion's error objects (`{object: "error", status, code, message}`) turned
//! into [`NotionError`]s that say whether trying again can help.

use std::{fmt, time::Duration};

use reqwest::{Method, Url, header};
use serde_json::Value;

use crate::secrets::SecretValue;

/// The API version every request asks for.
pub const NOTION_VERSION: &str = "2022-06-28";

/// Largest response body read from Notion.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Why a Notion call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum NotionError {
    /// Notion answered with an error object (or an error status).
    Api {
        /// The HTTP status.
        status: u16,
        /// Notion's error `code` (`validation_error`, `object_not_found`, `rate_limited`, …).
        code: String,
        /// Notion's `message`.
        message: String,
        /// `Retry-After`, on a 429.
        retry_after: Option<Duration>,
    },
    /// Notion could not be reached, did not answer in time, or answered something unreadable.
    Transport(String),
}

impl NotionError {
    /// Whether the same request may succeed later: rate limits, Notion's own failures and
    /// transport problems; never a 4xx other than 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotionError::Api { status, .. } => *status == 429 || *status >= 500,
            NotionError::Transport(_) => true,
        }
    }

    /// The error as a JSON object for an execution outcome.
    pub fn to_json(&self) -> Value {
        match self {
            NotionError::Api {
                status,
                code,
                message,
                retry_after,
            } => serde_json::json!({
                "status": status,
                "code": code,
                "message": message,
                "retry_after_seconds": retry_after.map(|d| d.as_secs()),
                "retryable": self.is_retryable(),
            }),
            NotionError::Transport(message) => serde_json::json!({
                "message": message,
                "retryable": true,
            }),
        }
    }
}

impl fmt::Display for NotionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotionError::Api {
                status,
                code,
                message,
                ..
            } => write!(f, "Notion answered {status} {code}: {message}"),
            NotionError::Transport(message) => write!(f, "cannot reach Notion: {message}"),
        }
    }
}

impl std::error::Error for NotionError {}

/// How a request authenticates.
pub enum Credentials<'a> {
    /// An integration or OAuth access token.
    Bearer(&'a SecretValue),
    /// The OAuth client (token exchange).
    Client {
        /// `NOTION_CLIENT_ID`.
        id: &'a str,
        /// `NOTION_CLIENT_SECRET`.
        secret: &'a SecretValue,
    },
}

/// A Notion API endpoint set: the base URL and the client to reach it with.
#[derive(Debug, Clone)]
pub struct NotionApi {
    http: reqwest::Client,
    base: Url,
}

impl NotionApi {
    /// Calls go to `base` (`NOTION_API_URL`) through `http`.
    pub fn new(http: reqwest::Client, base: Url) -> Self {
        NotionApi { http, base }
    }

    /// The absolute URL of an API path such as `/v1/search`.
    pub fn url(&self, path: &str) -> Result<Url, NotionError> {
        self.base
            .join(path)
            .map_err(|err| NotionError::Transport(format!("bad Notion URL {path}: {err}")))
    }

    /// Sends one request and returns the JSON answer; an error status becomes
    /// [`NotionError::Api`] with Notion's `code` and `message`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        credentials: Credentials<'_>,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, NotionError> {
        let mut request = self
            .http
            .request(method, self.url(path)?)
            .timeout(timeout)
            .header("Notion-Version", NOTION_VERSION)
            .header(header::ACCEPT, "application/json");
        request = match credentials {
            Credentials::Bearer(token) => request.bearer_auth(token.expose()),
            Credentials::Client { id, secret } => request.basic_auth(id, Some(secret.expose())),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| NotionError::Transport(describe(&err)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = read_limited(response).await?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return json.ok_or_else(|| {
                NotionError::Transport(format!("Notion answered {status} without JSON"))
            });
        }
        let field = |name: &str| {
            json.as_ref()
                .and_then(|j| j.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Err(NotionError::Api {
            status: status.as_u16(),
            // Notion's error object has `code`/`message`; its OAuth token endpoint answers
            // OAuth-style `error`/`error_description`.
            code: field("code").or_else(|| field("error")).unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_lowercase()
                    .replace(' ', "_")
            }),
            message: field("message")
                .or_else(|| field("error_description"))
                .unwrap_or_else(|| format!("HTTP {status}")),
            retry_after,
        })
    }
}

/// A transport error, with its causes.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "the request timed out".into();
    }
    let mut message = if err.is_connect() {
        "the connection failed".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, NotionError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| NotionError::Transport(describe(&err)))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(NotionError::Transport(format!(
                "Notion's answer is larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The plain text of a Notion rich-text array (`title` of a database, …).
pub fn plain_text(rich_text: Option<&Value>) -> String {
    rich_text
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|part| part.get("plain_text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}
