//! The sandboxed script runner behind CUSTOM_SCRIPT: Rhai with no file, process, module or
//! network access, only the helpers registered here (`log`, `input`, `secrets`, `http`,
//! `http_get`), and limits on operations, call depth, expression depth, data sizes and
//! wall time.
//!
//! A script runs on the blocking pool, never on a runtime worker. A runaway loop is stopped
//! from inside the engine (its progress callback checks the deadline) and reported as
//! [`ScriptError::TimedOut`]. Everything that leaves the sandbox (result, log lines, error
//! messages) has the secrets' values redacted.

mod engine;
pub mod http;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::Value;

pub use http::{HttpFuture, HttpHandler, HttpRequest, HttpResponse};

use crate::secrets::{Redactor, SecretValue};

/// The limits a script runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Wall time for the whole run, including HTTP calls.
    pub timeout: Duration,
    /// Largest number of engine operations.
    pub max_operations: u64,
    /// Deepest nesting of function calls.
    pub max_call_depth: usize,
    /// Deepest expression nesting at top level and inside functions.
    pub max_expr_depth: (usize, usize),
    /// Longest string, in bytes.
    pub max_string_len: usize,
    /// Largest array (counting nested items).
    pub max_array_len: usize,
    /// Largest object map (counting nested entries).
    pub max_map_len: usize,
    /// Longest script source, in bytes.
    pub max_source_len: usize,
    /// Most `http`/`http_get` calls in one run.
    pub max_http_calls: u32,
    /// Most log lines kept (later ones are counted, not kept).
    pub max_log_lines: usize,
    /// Longest log line kept, in bytes (longer ones are cut).
    pub max_log_line_len: usize,
    /// Largest result, serialized as JSON, in bytes.
    pub max_result_len: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            timeout: Duration::from_secs(10),
            max_operations: 2_000_000,
            max_call_depth: 32,
            max_expr_depth: (64, 32),
            max_string_len: 1024 * 1024,
            max_array_len: 100_000,
            max_map_len: 100_000,
            max_source_len: 64 * 1024,
            max_http_calls: 20,
            max_log_lines: 1_000,
            max_log_line_len: 4 * 1024,
            max_result_len: 1024 * 1024,
        }
    }
}

/// What a script is run with.
#[derive(Clone, Default)]
pub struct ScriptContext {
    /// The execution input, visible to the script as the constant `input`.
    pub input: Value,
    /// The declared secrets, visible as the constant map `secrets`.
    pub secrets: HashMap<String, SecretValue>,
    /// The HTTP function behind `http(...)`; without one, those helpers fail.
    pub http: Option<HttpHandler>,
}

/// Why a script did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The source does not parse (or is too long or too deeply nested).
    #[error("script error at line {line}: {message}", line = line.map_or("?".to_owned(), |l| l.to_string()))]
    Compile {
        /// What is wrong.
        message: String,
        /// Where, if known.
        line: Option<usize>,
    },
    /// The script failed while running (including `throw`).
    #[error("runtime error at line {line}: {message}", line = line.map_or("?".to_owned(), |l| l.to_string()))]
    Runtime {
        /// What went wrong.
        message: String,
        /// Where, if known.
        line: Option<usize>,
    },
    /// The wall-time limit passed.
    #[error("the script ran longer than {0:?}")]
    TimedOut(Duration),
    /// The caller gave up on the run (e.g. the execution was cancelled).
    #[error("the script was cancelled")]
    Cancelled,
    /// The operation budget ran out.
    #[error("the script exceeded its limit of {0} operations")]
    OperationLimit(u64),
    /// Function calls nested deeper than allowed.
    #[error("the script nested function calls deeper than {0} levels")]
    CallDepth(usize),
    /// A string, array or map grew beyond its limit.
    #[error("the script exceeded a size limit: {0}")]
    TooLarge(String),
    /// The return value cannot be turned into JSON, or is too large.
    #[error("the script's result is not usable: {0}")]
    Result(String),
    /// The engine failed unexpectedly.
    #[error("the script runner failed: {0}")]
    Crashed(String),
}

impl ScriptError {
    /// A stable code for execution records (`TIMED_OUT` maps to the execution status).
    pub fn code(&self) -> &'static str {
        match self {
            ScriptError::Compile { .. } => "SCRIPT_COMPILE_ERROR",
            ScriptError::Runtime { .. } => "SCRIPT_RUNTIME_ERROR",
            ScriptError::TimedOut(_) => "TIMED_OUT",
            ScriptError::Cancelled => "CANCELLED",
            ScriptError::OperationLimit(_) => "SCRIPT_OPERATION_LIMIT",
            ScriptError::CallDepth(_) => "SCRIPT_CALL_DEPTH",
            ScriptError::TooLarge(_) => "SCRIPT_TOO_LARGE",
            ScriptError::Result(_) => "SCRIPT_RESULT_INVALID",
            ScriptError::Crashed(_) => "SCRIPT_CRASHED",
        }
    }

    fn redacted(self, redactor: &Redactor) -> Self {
        let r = |text: String| redactor.redact(&text).into_owned();
        match self {
            ScriptError::Compile { message, line } => ScriptError::Compile {
                message: r(message),
                line,
            },
            ScriptError::Runtime { message, line } => ScriptError::Runtime {
                message: r(message),
                line,
            },
            ScriptError::TooLarge(message) => ScriptError::TooLarge(r(message)),
            ScriptError::Result(message) => ScriptError::Result(r(message)),
            ScriptError::Crashed(message) => ScriptError::Crashed(r(message)),
            other => other,
        }
    }
}

/// The outcome of a run: the result or error, and the log lines written either way.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptRun {
    /// The script's return value as JSON, or why there is none.
    pub result: Result<Value, ScriptError>,
    /// Lines from `log(...)`, `print(...)` and `debug(...)`, in order.
    pub logs: Vec<String>,
    /// Log lines dropped beyond the limit.
    pub dropped_log_lines: usize,
    /// Engine operations performed.
    pub operations: u64,
    /// Wall time of the run.
    pub duration: Duration,
}

/// Checks that `source` compiles under `limits` (syntax, unknown variables, disabled
/// symbols, nesting depth, size) without running anything.
pub fn check(source: &str, limits: &SandboxLimits) -> Result<(), ScriptError> {
    engine::compile_check(source, limits)
}

/// Sets the flag when dropped, so a run whose caller went away stops at its next check.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `source` under `limits` with `context`, off the async runtime's threads.
/// Dropping the returned future cancels the script at its next progress check.
pub async fn run(source: &str, context: ScriptContext, limits: &SandboxLimits) -> ScriptRun {
    let started = std::time::Instant::now();
    let redactor = Redactor::for_secrets(&context.secrets);
    let cancelled = Arc::new(AtomicBool::new(false));
    let _cancel_guard = CancelOnDrop(cancelled.clone());
    let logs = Arc::new(Mutex::new(engine::LogBuffer::default()));
    let operations = Arc::new(AtomicU64::new(0));
    let job = engine::Job {
        source: source.to_owned(),
        context,
        limits: limits.clone(),
        deadline: started + limits.timeout,
        cancelled: cancelled.clone(),
        runtime: tokio::runtime::Handle::current(),
        logs: logs.clone(),
        operations: operations.clone(),
    };
    // The blocking pool, never a runtime worker: the engine stops itself at the deadline,
    // so the thread is released soon after even when the caller stops waiting.
    let task = tokio::task::spawn_blocking(move || job.execute());
    // Some slack beyond the deadline: the outer bound only matters if a single native call
    // overran it.
    let result = match tokio::time::timeout(limits.timeout + Duration::from_millis(500), task).await
    {
        Ok(Ok(result)) => result,
        Ok(Err(join_error)) => Err(ScriptError::Crashed(if join_error.is_panic() {
            "the interpreter panicked".into()
        } else {
            "the script task was cancelled".into()
        })),
        Err(_) => {
            cancelled.store(true, Ordering::Relaxed);
            Err(ScriptError::TimedOut(limits.timeout))
        }
    };
    let (lines, dropped_log_lines) = logs.lock().unwrap_or_else(|p| p.into_inner()).take();
    let logs = lines
        .iter()
        .map(|line| redactor.redact(line).into_owned())
        .collect();
    let result = match result {
        Ok(value) => Ok(redactor.redact_json(&value)),
        Err(err) => Err(err.redacted(&redactor)),
    };
    ScriptRun {
        result,
        logs,
        dropped_log_lines,
        operations: operations.load(Ordering::Relaxed),
        duration: started.elapsed(),
    }
}

#[cfg(test)]
mod tests;
