//! Actions: what a task does when it runs, one type per file behind one trait.
//!
//! An action knows nothing of routes or tables. It gets an [`ExecutionContext`] (ids, attempt,
//! input, its resolved configuration, a deadline, a logger that appends execution log lines,
//! the outbound HTTP client) and returns an [`ActionOutcome`]. Configurations are validated
//! once when a task is saved, with errors naming the field (`action.config.url`), and parsed
//! again when the action is built for a run.
//!
//! Secret references (`{{ secrets.NAME }}`) are resolved by the worker before an action is
//! built; the values reach the action only through its configuration and
//! [`ExecutionContext::secrets`], and every log line is redacted as it is written.

pub mod config_field;
pub mod database;
mod database_config;
pub mod database_tls;
pub mod email;
pub mod http;
mod http_config;
pub mod json_template;
mod kind;
pub mod notion;
pub mod schemas;
pub mod script;
mod services;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Serialize;
use uuid::Uuid;

use crate::{
    error::FieldError,
    events::{DomainEvent, EventBus},
    net::OutboundPolicy,
    secrets::{Redactor, SecretValue},
};

pub use kind::ActionType;
pub use services::{ActionServices, DatabaseTarget};

/// What an action gets to run.
pub struct ExecutionContext {
    /// The execution (also sent as the `Idempotency-Key` of outbound requests).
    pub execution_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// The task's owner, whose mail quota and Notion connection the action uses.
    pub owner_id: Uuid,
    /// 1 for the first try.
    pub attempt: i32,
    /// The trigger's input.
    pub input: serde_json::Value,
    /// The action's configuration with secrets resolved.
    pub config: serde_json::Value,
    /// When the attempt times out; actions bound their own waits by it.
    pub deadline: tokio::time::Instant,
    /// Appends execution log lines.
    pub logger: ExecutionLogger,
    /// The shared outbound HTTP client (SSRF-guarded).
    pub http: reqwest::Client,
    /// The outbound policy, for checking URLs (such as redirect targets) before a request.
    pub outbound: Arc<OutboundPolicy>,
    /// The secrets the configuration referred to (plus a script's declared ones), decrypted.
    pub secrets: HashMap<String, SecretValue>,
    /// Server-wide services some actions use (SMTP, the application's own database).
    pub services: Arc<ActionServices>,
    /// The Notion API's base URL and the task owner's stored Notion connection.
    pub notion: Arc<crate::notion::NotionAccess>,
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionOutcome {
    /// Whether the attempt counts as a success.
    pub success: bool,
    /// What the action produced (for HTTP: status, headers, body excerpt, …).
    pub result: serde_json::Value,
    /// Why it failed, for a person.
    pub error: Option<String>,
    /// Whether the action stopped on a time limit of its own (recorded as `TIMED_OUT`).
    #[serde(skip)]
    pub timed_out: bool,
    /// Whether another attempt cannot help (a refused target, invalid SQL, a permanent SMTP
    /// rejection): the engine does not retry it.
    #[serde(skip)]
    pub permanent: bool,
}

impl ActionOutcome {
    /// A success with this result.
    pub fn succeeded(result: serde_json::Value) -> Self {
        ActionOutcome {
            success: true,
            result,
            error: None,
            timed_out: false,
            permanent: false,
        }
    }

    /// A failure with nothing to show but the reason.
    pub fn failed(error: impl Into<String>) -> Self {
        ActionOutcome {
            success: false,
            result: serde_json::Value::Null,
            error: Some(error.into()),
            timed_out: false,
            permanent: false,
        }
    }

    /// A failure that another attempt cannot fix.
    pub fn failed_permanently(error: impl Into<String>) -> Self {
        ActionOutcome {
            permanent: true,
            ..Self::failed(error)
        }
    }

    /// A run stopped by one of the action's own time limits.
    pub fn timed_out(error: impl Into<String>) -> Self {
        ActionOutcome {
            timed_out: true,
            ..Self::failed(error)
        }
    }

    /// The outcome with every secret value replaced by `[REDACTED]`.
    pub fn redacted(self, redactor: &Redactor) -> Self {
        ActionOutcome {
            result: redactor.redact_json(&self.result),
            error: self.error.map(|e| redactor.redact(&e).into_owned()),
            ..self
        }
    }
}

/// One action type, configured for one task.
pub trait Action: Send + Sync {
    /// Runs one attempt. Never panics on bad input or remote failures: those are outcomes.
    fn run<'a>(&'a self, context: &'a ExecutionContext) -> BoxFuture<'a, ActionOutcome>;
}

pub use crate::executions::model::LogLevel;

/// One execution log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// When it was written.
    pub logged_at: DateTime<Utc>,
    /// Severity.
    pub level: LogLevel,
    /// The line.
    pub message: String,
    /// Structured detail.
    pub fields: serde_json::Value,
}

/// Collects an execution's log lines (written with its completion) and streams each one on
/// the event bus as it is written.
#[derive(Clone)]
pub struct ExecutionLogger {
    execution_id: Uuid,
    task_id: Uuid,
    lines: Arc<Mutex<Vec<LogLine>>>,
    events: EventBus,
    redactor: Arc<Redactor>,
}

/// Lines kept per execution; later ones are counted, not stored, so a chatty action cannot
/// flood the history.
const MAX_LOG_LINES: usize = 500;

impl ExecutionLogger {
    /// A logger for one execution.
    pub fn new(execution_id: Uuid, task_id: Uuid, events: EventBus) -> Self {
        ExecutionLogger {
            execution_id,
            task_id,
            lines: Arc::new(Mutex::new(Vec::new())),
            events,
            redactor: Arc::new(Redactor::default()),
        }
    }

    /// The same logger, redacting these secrets from every line written from now on
    /// (published and stored).
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = Arc::new(redactor);
        self
    }

    /// Appends a line (secret values redacted).
    pub fn log(&self, level: LogLevel, message: impl Into<String>, fields: serde_json::Value) {
        let message = self.redactor.redact(&message.into()).into_owned();
        let fields = self.redactor.redact_json(&fields);
        self.events.publish(DomainEvent::ExecutionLog {
            execution_id: self.execution_id,
            task_id: self.task_id,
            level,
            message: message.clone(),
        });
        if let Ok(mut lines) = self.lines.lock()
            && lines.len() < MAX_LOG_LINES
        {
            lines.push(LogLine {
                logged_at: Utc::now(),
                level,
                message,
                fields,
            });
        }
    }

    /// Appends an `INFO` line.
    pub fn info(&self, message: impl Into<String>) {
        self.log(LogLevel::Info, message, serde_json::Value::Null);
    }

    /// Appends a `WARN` line.
    pub fn warn(&self, message: impl Into<String>) {
        self.log(LogLevel::Warn, message, serde_json::Value::Null);
    }

    /// Appends an `ERROR` line.
    pub fn error(&self, message: impl Into<String>) {
        self.log(LogLevel::Error, message, serde_json::Value::Null);
    }

    /// Takes the lines written so far.
    pub fn take_lines(&self) -> Vec<LogLine> {
        self.lines
            .lock()
            .map(|mut lines| std::mem::take(&mut *lines))
            .unwrap_or_default()
    }
}

/// Checks an action configuration as saved (secret references still unresolved); every
/// problem names its field (`action.config.url`).
pub fn validate_config(action_type: ActionType, config: &serde_json::Value) -> Vec<FieldError> {
    // serde reads a struct from an array too (fields by position); every config is an object.
    if !config.is_object() {
        return vec![FieldError {
            field: "action.config".to_owned(),
            message: "must be an object".to_owned(),
        }];
    }
    match action_type {
        ActionType::HttpRequest | ActionType::ApiCall | ActionType::NotionSync => {
            match build(action_type, config) {
                Ok(_) => Vec::new(),
                Err(errors) => errors,
            }
        }
        ActionType::EmailSend => email::validate(config),
        ActionType::DatabaseQuery => database::validate(config),
        ActionType::CustomScript => script::validate(config),
    }
}

/// Secret names an action declares besides the references in its configuration (a
/// script's `secrets` list), so the worker loads them too.
pub fn declared_secrets(action_type: ActionType, config: &serde_json::Value) -> Vec<String> {
    match action_type {
        ActionType::CustomScript => script::declared_secrets(config),
        _ => Vec::new(),
    }
}

/// The runnable action for a type and configuration.
pub fn build(
    action_type: ActionType,
    config: &serde_json::Value,
) -> Result<Box<dyn Action>, Vec<FieldError>> {
    match action_type {
        ActionType::HttpRequest => Ok(Box::new(http::HttpAction::from_config(
            config,
            http::Flavor::Request,
        )?)),
        ActionType::ApiCall => Ok(Box::new(http::HttpAction::from_config(
            config,
            http::Flavor::ApiCall,
        )?)),
        ActionType::EmailSend => Ok(Box::new(email::EmailAction::from_config(config)?)),
        ActionType::DatabaseQuery => Ok(Box::new(database::DatabaseAction::from_config(config)?)),
        ActionType::CustomScript => Ok(Box::new(script::ScriptAction::from_config(config)?)),
        ActionType::NotionSync => Ok(Box::new(notion::NotionAction::from_config(config)?)),
    }
}
