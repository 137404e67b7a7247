//! Actions: what a task does when it runs, one type per file behind one trait.
//!
//! An action knows nothing of routes or tables. It gets an [`ExecutionContext`] (ids, attempt,
//! input, its resolved configuration, a deadline, a logger that appends execution log lines,
//! the outbound HTTP client) and returns an [`ActionOutcome`]. Configurations are validated
//! once when a task is saved, with errors naming the field (`action.config.url`), and parsed
//! again when the action is built for a run.

pub mod http;
mod http_config;
pub mod notion;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Serialize;
use uuid::Uuid;

use crate::{
    error::FieldError,
    events::{DomainEvent, EventBus},
    net::OutboundPolicy,
    tasks::model::ActionType,
};

/// What an action gets to run.
pub struct ExecutionContext {
    /// The execution (also sent as the `Idempotency-Key` of outbound requests).
    pub execution_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
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
}

impl ActionOutcome {
    /// A failure with nothing to show but the reason.
    pub fn failed(error: impl Into<String>) -> Self {
        ActionOutcome {
            success: false,
            result: serde_json::Value::Null,
            error: Some(error.into()),
        }
    }
}

/// One action type, configured for one task.
pub trait Action: Send + Sync {
    /// Runs one attempt. Never panics on bad input or remote failures: those are outcomes.
    fn run<'a>(&'a self, context: &'a ExecutionContext) -> BoxFuture<'a, ActionOutcome>;
}

/// Severity of an execution log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogLevel {
    /// Detail.
    Debug,
    /// Progress.
    Info,
    /// Something unusual.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }
}

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
        }
    }

    /// Appends a line.
    pub fn log(&self, level: LogLevel, message: impl Into<String>, fields: serde_json::Value) {
        let message = message.into();
        self.events.publish(DomainEvent::ExecutionLog {
            execution_id: self.execution_id,
            task_id: self.task_id,
            level: level.as_str().to_owned(),
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

/// Checks an action configuration; every problem names its field (`action.config.url`).
/// Types that arrive with later work are refused on `action.type`.
pub fn validate_config(action_type: ActionType, config: &serde_json::Value) -> Vec<FieldError> {
    match build(action_type, config) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
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
        ActionType::NotionSync => Ok(Box::new(notion::NotionAction::from_config(config)?)),
        other => Err(vec![FieldError {
            field: "action.type".into(),
            message: format!(
                "{other} is not available yet; supported types are HTTP_REQUEST and API_CALL"
            ),
        }]),
    }
}
