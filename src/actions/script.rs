//! `CUSTOM_SCRIPT`: a Rhai script run in the [`crate::sandbox`] with the execution `input`,
//! the secrets it declares (`secrets`), `log(...)` into the execution log and `http(...)`
//! through the SSRF-guarded client. Its return value is the execution's result.
//!
//! The script runs on the blocking pool under the task's deadline (or its own shorter
//! `timeout_seconds`) and an operation budget; running out of either is recorded as
//! `TIMED_OUT`.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Action, ActionOutcome, ExecutionContext};
use crate::{
    error::FieldError,
    net::OutboundPolicy,
    sandbox::{
        self, HttpHandler, HttpRequest, HttpResponse, SandboxLimits, ScriptContext, ScriptError,
    },
    secrets::validate_name,
};

/// The largest operation budget a task may ask for. The budget also bounds memory (Rhai
/// checks a map's size on use, not on insert), so it stays within a few times the default.
pub const MAX_MAX_OPERATIONS: u64 = 10_000_000;
/// Largest response body a script's `http(...)` reads.
const HTTP_BODY_LIMIT: usize = 1024 * 1024;

/// A CUSTOM_SCRIPT configuration.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ScriptActionConfig)]
pub struct ScriptConfig {
    /// The Rhai source.
    source: String,
    /// Secret names the script reads as `secrets.NAME`.
    #[serde(default)]
    secrets: Vec<String>,
    /// A wall-time limit shorter than the task's timeout.
    #[serde(default)]
    timeout_seconds: Option<u64>,
    /// The operation budget.
    #[serde(default)]
    max_operations: Option<u64>,
}

/// A configured CUSTOM_SCRIPT action.
#[derive(Debug, Clone)]
pub struct ScriptAction {
    config: ScriptConfig,
}

fn field(path: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: if path.is_empty() {
            "action.config".to_owned()
        } else {
            format!("action.config.{path}")
        },
        message: message.into(),
    }
}

fn parse(config: &Value) -> Result<ScriptConfig, Vec<FieldError>> {
    let parsed: ScriptConfig = serde_path_to_error::deserialize(config.clone()).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        vec![field(&path, err.into_inner().to_string())]
    })?;
    let mut errors = Vec::new();
    let max_source = SandboxLimits::default().max_source_len;
    if parsed.source.trim().is_empty() {
        errors.push(field("source", "must not be empty"));
    } else if parsed.source.len() > max_source {
        errors.push(field(
            "source",
            format!("must be at most {max_source} bytes"),
        ));
    } else if let Err(err) = sandbox::check(&parsed.source, &SandboxLimits::default()) {
        errors.push(field("source", err.to_string()));
    }
    for (i, name) in parsed.secrets.iter().enumerate() {
        if let Err(message) = validate_name(name) {
            errors.push(field(&format!("secrets[{i}]"), message));
        }
    }
    if parsed
        .timeout_seconds
        .is_some_and(|s| !(1..=86_400).contains(&s))
    {
        errors.push(field("timeout_seconds", "must be from 1 to 86400"));
    }
    if parsed
        .max_operations
        .is_some_and(|n| !(1_000..=MAX_MAX_OPERATIONS).contains(&n))
    {
        errors.push(field(
            "max_operations",
            format!("must be from 1000 to {MAX_MAX_OPERATIONS}"),
        ));
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

/// Checks a CUSTOM_SCRIPT configuration as saved.
pub fn validate(config: &Value) -> Vec<FieldError> {
    parse(config).err().unwrap_or_default()
}

/// The secret names a script configuration declares (invalid entries are left to
/// validation).
pub fn declared_secrets(config: &Value) -> Vec<String> {
    config
        .get("secrets")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl ScriptAction {
    /// Parses a configuration.
    pub fn from_config(config: &Value) -> Result<Self, Vec<FieldError>> {
        Ok(ScriptAction {
            config: parse(config)?,
        })
    }

    async fn execute(&self, context: &ExecutionContext) -> ActionOutcome {
        let remaining = context
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        let timeout = self
            .config
            .timeout_seconds
            .map_or(remaining, |own| Duration::from_secs(own).min(remaining));
        let defaults = SandboxLimits::default();
        let limits = SandboxLimits {
            timeout,
            max_operations: self
                .config
                .max_operations
                .unwrap_or(defaults.max_operations),
            max_string_len: HTTP_BODY_LIMIT,
            ..defaults
        };
        let secrets = self
            .config
            .secrets
            .iter()
            .filter_map(|name| {
                context
                    .secrets
                    .get(name)
                    .map(|value| (name.clone(), value.clone()))
            })
            .collect();
        let script_context = ScriptContext {
            input: context.input.clone(),
            secrets,
            http: Some(http_handler(context.http.clone(), context.outbound.clone())),
        };
        context.logger.info(format!(
            "running the script (attempt {}, limit {} ms, {} operations)",
            context.attempt,
            timeout.as_millis(),
            limits.max_operations
        ));
        let run = sandbox::run(&self.config.source, script_context, &limits).await;
        for line in &run.logs {
            context.logger.info(line.clone());
        }
        if run.dropped_log_lines > 0 {
            context.logger.warn(format!(
                "{} more log lines were dropped",
                run.dropped_log_lines
            ));
        }
        let duration_ms = u64::try_from(run.duration.as_millis()).unwrap_or(u64::MAX);
        match run.result {
            Ok(value) => {
                context.logger.info(format!(
                    "the script finished in {duration_ms} ms ({} operations)",
                    run.operations
                ));
                ActionOutcome::succeeded(value)
            }
            Err(err) => {
                let error = err.to_string();
                context.logger.error(error.clone());
                let result = json!({
                    "error_code": err.code(),
                    "operations": run.operations,
                    "duration_ms": duration_ms,
                });
                let outcome = match err {
                    ScriptError::TimedOut(_) | ScriptError::OperationLimit(_) => {
                        ActionOutcome::timed_out(error)
                    }
                    // The same source fails the same way on every attempt.
                    ScriptError::Compile { .. } | ScriptError::Result(_) => {
                        ActionOutcome::failed_permanently(error)
                    }
                    _ => ActionOutcome::failed(error),
                };
                ActionOutcome { result, ..outcome }
            }
        }
    }
}

/// The `http(...)` helper's backend: the guarded client (its resolver refuses addresses
/// the outbound policy forbids), the URL checked first, the body read up to a limit.
fn http_handler(client: reqwest::Client, policy: Arc<OutboundPolicy>) -> HttpHandler {
    Arc::new(move |request: HttpRequest| {
        let client = client.clone();
        let policy = policy.clone();
        Box::pin(async move {
            let url = policy
                .parse_url(&request.url)
                .map_err(|err| err.message().to_owned())?;
            let method = reqwest::Method::from_bytes(request.method.as_bytes())
                .map_err(|err| err.to_string())?;
            let mut builder = client.request(method, url);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let mut response = builder.send().await.map_err(|err| {
                let err = err.without_url();
                let mut message = err.to_string();
                let mut source = std::error::Error::source(&err);
                while let Some(cause) = source {
                    message.push_str(": ");
                    message.push_str(&cause.to_string());
                    source = cause.source();
                }
                message
            })?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|err| err.to_string())? {
                if body.len() + chunk.len() > HTTP_BODY_LIMIT {
                    return Err(format!(
                        "the response body is larger than {HTTP_BODY_LIMIT} bytes"
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        })
    })
}

impl Action for ScriptAction {
    fn run<'a>(&'a self, context: &'a ExecutionContext) -> BoxFuture<'a, ActionOutcome> {
        Box::pin(self.execute(context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(config: Value) -> Vec<String> {
        validate(&config).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn configurations_are_checked_by_field() {
        assert!(fields(json!({"source": "40 + 2", "secrets": ["API_TOKEN"]})).is_empty());
        assert_eq!(fields(json!({"source": " "})), vec!["action.config.source"]);
        for broken in [
            "let x = ;",
            "undeclared + 1",
            r#"import "fs" as fs; 1"#,
            r#"eval("1")"#,
        ] {
            assert_eq!(
                fields(json!({"source": broken})),
                vec!["action.config.source"],
                "{broken}"
            );
        }
        assert!(
            fields(json!({"source": "fn f(x) { x * 2 } f(input.n) + secrets.len()"})).is_empty()
        );
        assert_eq!(
            fields(json!({"source": "1", "secrets": ["ok", "not-ok"]})),
            vec!["action.config.secrets[1]"]
        );
        assert_eq!(
            fields(json!({"source": "1", "timeout_seconds": 0, "max_operations": 5})),
            vec![
                "action.config.timeout_seconds",
                "action.config.max_operations"
            ]
        );
        assert_eq!(fields(json!({"code": "1"})), vec!["action.config.code"]);
        assert_eq!(fields(json!({"source": 1})), vec!["action.config.source"]);
    }

    #[test]
    fn declared_secrets_are_read_leniently() {
        assert_eq!(
            declared_secrets(&json!({"secrets": ["A", 1, "B"]})),
            vec!["A".to_owned(), "B".to_owned()]
        );
        assert!(declared_secrets(&json!({"source": "1"})).is_empty());
    }
}
