//! `HTTP_REQUEST` and `API_CALL`: one outbound request (following redirects up to the
//! configured count), judged by the success condition, with status, headers and a body
//! excerpt (at most 64 KiB) recorded. `API_CALL` speaks JSON by default and captures the
//! response JSON as the result for chaining.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use reqwest::{Method, StatusCode, Url, header};
use serde_json::{Map, Value, json};

pub use super::http_config::{Auth, Body, HttpConfig};
use super::{Action, ActionOutcome, ExecutionContext};
use crate::error::FieldError;

/// The most response body kept in the outcome.
pub const BODY_EXCERPT_LIMIT: usize = 64 * 1024;

/// Which of the two HTTP action types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `HTTP_REQUEST`: any body, the excerpt is kept as text.
    Request,
    /// `API_CALL`: JSON by default; the response must be JSON and becomes `result.json`.
    ApiCall,
}

/// A configured HTTP action.
#[derive(Debug, Clone)]
pub struct HttpAction {
    config: HttpConfig,
    flavor: Flavor,
}

impl HttpAction {
    /// Validates `config` for this flavor.
    pub fn from_config(config: &Value, flavor: Flavor) -> Result<Self, Vec<FieldError>> {
        Ok(HttpAction {
            config: HttpConfig::parse(config)?,
            flavor,
        })
    }
}

impl Action for HttpAction {
    fn run<'a>(&'a self, context: &'a ExecutionContext) -> BoxFuture<'a, ActionOutcome> {
        Box::pin(self.execute(context))
    }
}

/// The response as read: status, headers and at most [`BODY_EXCERPT_LIMIT`] bytes of body.
struct Response {
    status: StatusCode,
    headers: Map<String, Value>,
    body: Vec<u8>,
    truncated: bool,
    final_url: Url,
    redirects: u8,
}

impl HttpAction {
    async fn execute(&self, context: &ExecutionContext) -> ActionOutcome {
        let started = Instant::now();
        let config = &self.config;
        context.logger.info(format!(
            "{} {} (attempt {})",
            config.method,
            redacted(&config.url),
            context.attempt
        ));
        let response = match self.send(context).await {
            Ok(response) => response,
            Err(error) => {
                context.logger.error(error.clone());
                return ActionOutcome::failed(error);
            }
        };
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        context.logger.info(format!(
            "{} {} in {latency_ms} ms",
            response.status.as_u16(),
            redacted(&response.final_url)
        ));
        let text = String::from_utf8_lossy(&response.body).into_owned();
        let mut result = json!({
            "status": response.status.as_u16(),
            "headers": response.headers,
            "body": text,
            "body_truncated": response.truncated,
            "latency_ms": latency_ms,
            "url": redacted(&response.final_url),
            "redirects": response.redirects,
        });
        let parsed: Option<Value> = serde_json::from_slice(&response.body).ok();
        if self.flavor == Flavor::ApiCall {
            result["json"] = parsed.clone().unwrap_or(Value::Null);
        }
        let error = self.judge(&response, parsed.as_ref(), &text, latency_ms);
        if let Some(error) = &error {
            context.logger.warn(error.clone());
        }
        ActionOutcome {
            success: error.is_none(),
            result,
            error,
            timed_out: false,
            permanent: false,
        }
    }

    /// The first broken success rule, or `None` when the response is a success.
    fn judge(
        &self,
        response: &Response,
        parsed: Option<&Value>,
        text: &str,
        latency_ms: u64,
    ) -> Option<String> {
        let success = &self.config.success;
        let status = response.status.as_u16();
        if !success.status_codes.iter().any(|m| m.matches(status)) {
            return Some(format!("status {status} is not an accepted status"));
        }
        if self.flavor == Flavor::ApiCall && parsed.is_none() && response.status != 204 {
            return Some(if response.truncated {
                "the response JSON is larger than 64 KiB".to_owned()
            } else {
                "the response is not JSON".to_owned()
            });
        }
        if let Some((pointer, expected)) = &success.json_equals {
            let actual = parsed.and_then(|json| json.pointer(pointer));
            if actual != Some(expected) {
                return Some(format!(
                    "the response value at {pointer} is {} instead of {expected}",
                    actual.map_or_else(|| "missing".to_owned(), Value::to_string)
                ));
            }
        }
        if let Some(pattern) = &success.body_regex
            && !pattern.is_match(text)
        {
            return Some("the response body does not match body_regex".to_owned());
        }
        if let Some(limit) = success.max_latency_ms
            && latency_ms > limit
        {
            return Some(format!(
                "the response took {latency_ms} ms, more than max_latency_ms {limit}"
            ));
        }
        None
    }

    /// Sends the request, following redirects by hand so the count is per task and every hop
    /// goes through the same (guarded) client.
    async fn send(&self, context: &ExecutionContext) -> Result<Response, String> {
        let config = &self.config;
        let mut url = config.url.clone();
        if !config.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&config.query);
        }
        let mut method = config.method.clone();
        let mut with_body = true;
        // Whether every hop so far stayed on the configured origin (scheme, host, port).
        let mut with_auth = true;
        let mut redirects = 0u8;
        loop {
            // The task's deadline is enforced around the action (and reported as a timeout);
            // this limit is the request's own, or just past the deadline.
            let remaining = context
                .deadline
                .saturating_duration_since(tokio::time::Instant::now())
                + Duration::from_secs(1);
            let limit = config
                .timeout_seconds
                .map(Duration::from_secs)
                .map_or(remaining, |own| own.min(remaining));
            context
                .outbound
                .check_url(&url)
                .map_err(|err| format!("refused: {}", err.message()))?;
            let request = self.request(context, &method, url.clone(), with_body, with_auth);
            let response = tokio::time::timeout(limit, request.timeout(limit).send())
                .await
                .map_err(|_| format!("no response within {} ms", limit.as_millis()))?
                .map_err(|err| describe_error(&err))?;
            let status = response.status();
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if status.is_redirection()
                && let Some(location) = location
            {
                if redirects >= config.max_redirects {
                    if config.max_redirects > 0 {
                        return Err(format!(
                            "more than {} redirects (max_redirects)",
                            config.max_redirects
                        ));
                    }
                    return read(response, url, redirects, limit).await;
                }
                let next = url
                    .join(&location)
                    .map_err(|_| format!("redirect to an invalid location {location:?}"))?;
                if !matches!(next.scheme(), "http" | "https") {
                    return Err("redirect to a scheme other than http or https".to_owned());
                }
                // Credentials stay with the origin they were configured for: once a hop
                // leaves it, neither `auth` nor credential headers are sent again, even if a
                // later hop comes back.
                if next.origin() != url.origin() {
                    with_auth = false;
                }
                if status == StatusCode::SEE_OTHER
                    || ((status == StatusCode::MOVED_PERMANENTLY || status == StatusCode::FOUND)
                        && method == Method::POST)
                {
                    method = Method::GET;
                    with_body = false;
                }
                redirects += 1;
                context.logger.info(format!(
                    "{} redirect to {}",
                    status.as_u16(),
                    redacted(&next)
                ));
                url = next;
                continue;
            }
            return read(response, url, redirects, limit).await;
        }
    }

    fn request(
        &self,
        context: &ExecutionContext,
        method: &Method,
        url: Url,
        with_body: bool,
        with_auth: bool,
    ) -> reqwest::RequestBuilder {
        let config = &self.config;
        let mut request = context
            .http
            .request(method.clone(), url)
            .header("Idempotency-Key", context.execution_id.to_string());
        if self.flavor == Flavor::ApiCall {
            request = request.header(header::ACCEPT, "application/json");
        }
        if with_body && let Some(body) = &config.body {
            request = match body {
                Body::Json(value) => request.json(value),
                Body::Text(text) => request
                    .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(text.clone()),
                Body::Form(fields) => request.form(fields),
                Body::Input => request.json(&context.input),
            };
        }
        for (name, value) in &config.headers {
            if !with_auth && is_credential_header(name, config.auth.as_ref()) {
                continue;
            }
            request = request.header(name.clone(), value.clone());
        }
        if with_auth {
            request = match &config.auth {
                Some(Auth::Basic { username, password }) => {
                    request.basic_auth(username, Some(password))
                }
                Some(Auth::Bearer { token }) => request.bearer_auth(token),
                Some(Auth::Header { name, value }) => request.header(name.as_str(), value.as_str()),
                None => request,
            };
        }
        request
    }
}

/// Whether a configured header carries credentials, and so is not sent past a cross-origin
/// redirect (as browsers and curl do): `Authorization`, `Proxy-Authorization`, `Cookie`,
/// `Cookie2`, `X-API-Key`, `X-Auth-Token` (the names inbound webhooks also treat as
/// credentials), and the header named by a `header`-type `auth` when it is also set by hand.
fn is_credential_header(name: &header::HeaderName, auth: Option<&Auth>) -> bool {
    name == header::AUTHORIZATION
        || name == header::PROXY_AUTHORIZATION
        || name == header::COOKIE
        || matches!(name.as_str(), "cookie2" | "x-api-key" | "x-auth-token")
        || matches!(auth, Some(Auth::Header { name: auth_name, .. })
            if auth_name.eq_ignore_ascii_case(name.as_str()))
}

/// Reads status, headers and the first [`BODY_EXCERPT_LIMIT`] bytes of the body.
async fn read(
    response: reqwest::Response,
    final_url: Url,
    redirects: u8,
    limit: Duration,
) -> Result<Response, String> {
    let status = response.status();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let mut body = Vec::new();
    let mut truncated = false;
    let mut response = response;
    let reading = async {
        while let Some(chunk) = response.chunk().await.map_err(|err| describe_error(&err))? {
            let room = BODY_EXCERPT_LIMIT - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok::<(), String>(())
    };
    tokio::time::timeout(limit, reading)
        .await
        .map_err(|_| "the response body did not arrive in time".to_owned())??;
    Ok(Response {
        status,
        headers,
        body,
        truncated,
        final_url,
        redirects,
    })
}

/// The URL without credentials or query string, safe for logs and outcomes.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// A reqwest error in words, without the URL (which may carry secrets in its query).
fn describe_error(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_redirect() {
        "redirect refused"
    } else if err.is_body() || err.is_decode() {
        "could not read the response"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_recognised_whatever_their_case() {
        let named = |name: &str| header::HeaderName::from_bytes(name.as_bytes()).expect("name");
        for name in [
            "Authorization",
            "proxy-authorization",
            "COOKIE",
            "Cookie2",
            "X-Api-Key",
            "x-auth-token",
        ] {
            assert!(is_credential_header(&named(name), None), "{name}");
        }
        assert!(!is_credential_header(&named("X-Partner-Key"), None));
        let auth = Auth::Header {
            name: "X-Partner-Key".to_owned(),
            value: "k".to_owned(),
        };
        assert!(is_credential_header(&named("x-partner-key"), Some(&auth)));
        assert!(!is_credential_header(&named("X-Trace"), Some(&auth)));
    }
}
