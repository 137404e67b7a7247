//! Building the locked-down Rhai engine for one run and executing a script on it.

use std::{
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::Instant,
};

use rhai::{
    Dynamic, Engine, EvalAltResult, Map, Module, Scope, Shared,
    packages::{Package, StandardPackage},
};
use serde_json::Value;

use super::{SandboxLimits, ScriptContext, ScriptError, http};

/// How many operations pass between two deadline checks (reading the clock on every
/// operation would dominate short scripts).
const CHECK_EVERY: u64 = 256;

const TERMINATED_CANCELLED: &str = "cancelled";

/// The standard package (arithmetic, strings, arrays, maps, math, time), built once.
fn standard_package() -> Shared<Module> {
    static PACKAGE: OnceLock<Shared<Module>> = OnceLock::new();
    PACKAGE
        .get_or_init(|| StandardPackage::new().as_shared_module())
        .clone()
}

/// The engine without host functions: standard package only, limits set, strict
/// variables, no `eval`, `import` or `export`.
fn locked_down(limits: &SandboxLimits) -> Engine {
    // `new_raw`: no packages, no module resolver, print/debug go nowhere.
    let mut engine = Engine::new_raw();
    engine.register_global_module(standard_package());
    // Constant propagation would copy `input` into the AST on every compile.
    engine.set_optimization_level(rhai::OptimizationLevel::None);
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_depth)
        .set_max_expr_depths(limits.max_expr_depth.0, limits.max_expr_depth.1)
        .set_max_string_size(limits.max_string_len)
        .set_max_array_size(limits.max_array_len)
        .set_max_map_size(limits.max_map_len)
        .set_max_modules(0)
        .set_max_functions(256)
        .set_max_variables(1_000)
        .set_strict_variables(true);
    // No dynamic code, no modules: `eval` would bypass compile-time checks and
    // `import`/`export` would reach for a module resolver.
    for symbol in ["eval", "import", "export"] {
        engine.disable_symbol(symbol);
    }
    engine
}

/// Compiles `source` as a run would (with `input` and `secrets` in scope) without running
/// it: the check behind saving a CUSTOM_SCRIPT task.
pub(super) fn compile_check(source: &str, limits: &SandboxLimits) -> Result<(), ScriptError> {
    if source.len() > limits.max_source_len {
        return Err(ScriptError::Compile {
            message: format!(
                "the script is {} bytes, more than the limit of {} bytes",
                source.len(),
                limits.max_source_len
            ),
            line: None,
        });
    }
    let engine = locked_down(limits);
    let mut scope = Scope::new();
    scope.push_constant_dynamic("input", Dynamic::UNIT);
    scope.push_constant("secrets", Map::new());
    engine
        .compile_with_scope(&scope, source)
        .map(|_| ())
        .map_err(|err| ScriptError::Compile {
            message: err.err_type().to_string(),
            line: err.position().line(),
        })
}

/// Log lines collected during a run.
#[derive(Default)]
pub(super) struct LogBuffer {
    lines: Vec<String>,
    dropped: usize,
}

impl LogBuffer {
    fn push(&mut self, line: &str, limits: &SandboxLimits) {
        if self.lines.len() >= limits.max_log_lines {
            self.dropped += 1;
            return;
        }
        let mut end = line.len().min(limits.max_log_line_len);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let mut kept = line[..end].to_owned();
        if end < line.len() {
            kept.push('…');
        }
        self.lines.push(kept);
    }
}

impl LogBuffer {
    /// The kept lines and the number dropped.
    pub fn take(&mut self) -> (Vec<String>, usize) {
        (
            std::mem::take(&mut self.lines),
            std::mem::take(&mut self.dropped),
        )
    }
}

/// One script run, moved onto the script thread.
pub(super) struct Job {
    pub source: String,
    pub context: ScriptContext,
    pub limits: SandboxLimits,
    pub deadline: Instant,
    pub cancelled: Arc<AtomicBool>,
    pub runtime: tokio::runtime::Handle,
    /// Shared with the caller, so lines written before a forced stop are not lost.
    pub logs: Arc<Mutex<LogBuffer>>,
    pub operations: Arc<AtomicU64>,
}

impl Job {
    pub fn execute(self) -> Result<Value, ScriptError> {
        let logs = self.logs.clone();
        let operations = self.operations.clone();
        self.evaluate(&logs, &operations)
    }

    fn evaluate(
        &self,
        logs: &Arc<Mutex<LogBuffer>>,
        operations: &Arc<AtomicU64>,
    ) -> Result<Value, ScriptError> {
        let limits = &self.limits;
        if self.source.len() > limits.max_source_len {
            return Err(ScriptError::Compile {
                message: format!(
                    "the script is {} bytes, more than the limit of {} bytes",
                    self.source.len(),
                    limits.max_source_len
                ),
                line: None,
            });
        }
        let engine = self.build_engine(logs, operations);
        let mut scope = Scope::new();
        let input = rhai::serde::to_dynamic(&self.context.input).map_err(|err| {
            ScriptError::Crashed(format!("the input cannot be given to the script: {err}"))
        })?;
        scope.push_constant_dynamic("input", input);
        let mut secrets = Map::new();
        for (name, value) in &self.context.secrets {
            secrets.insert(name.into(), value.expose().into());
        }
        scope.push_constant("secrets", secrets);
        let ast = engine
            .compile_with_scope(&scope, &self.source)
            .map_err(|err| ScriptError::Compile {
                message: err.err_type().to_string(),
                line: err.position().line(),
            })?;
        let value = match engine.eval_ast_with_scope::<Dynamic>(&mut scope, &ast) {
            Ok(value) => value,
            Err(err) => match *err {
                // `exit(value)` ends the script with a result, not an error.
                EvalAltResult::Exit(value, _) => value,
                other => return Err(classify(&other, limits)),
            },
        };
        let json = to_json(&value).map_err(ScriptError::Result)?;
        let size = serde_json::to_vec(&json)
            .map(|bytes| bytes.len())
            .unwrap_or(usize::MAX);
        if size > limits.max_result_len {
            return Err(ScriptError::Result(format!(
                "{size} bytes of JSON, more than the limit of {} bytes",
                limits.max_result_len
            )));
        }
        Ok(json)
    }

    fn build_engine(&self, logs: &Arc<Mutex<LogBuffer>>, operations: &Arc<AtomicU64>) -> Engine {
        let limits = &self.limits;
        let mut engine = locked_down(limits);

        let deadline = self.deadline;
        let cancelled = self.cancelled.clone();
        let counter = operations.clone();
        engine.on_progress(move |ops| {
            counter.store(ops, Ordering::Relaxed);
            if ops % CHECK_EVERY != 0 {
                return None;
            }
            if cancelled.load(Ordering::Relaxed) {
                Some(Dynamic::from(TERMINATED_CANCELLED))
            } else if Instant::now() >= deadline {
                Some(Dynamic::from(http::TERMINATED_TIMEOUT))
            } else {
                None
            }
        });

        for (name, prefix) in [("print", ""), ("debug", "debug: ")] {
            let sink = logs.clone();
            let limits = limits.clone();
            let callback = move |text: &str| {
                let line = format!("{prefix}{text}");
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(&line, &limits);
            };
            if name == "print" {
                engine.on_print(callback);
            } else {
                engine.on_debug(move |text, _, _| callback(text));
            }
        }
        let sink = logs.clone();
        let log_limits = limits.clone();
        engine.register_fn("log", move |message: Dynamic| {
            let line = if message.is_string() {
                message.to_string()
            } else {
                format!("{message:?}")
            };
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(&line, &log_limits);
        });

        // The standard `sleep` blocks the thread without looking at the deadline.
        engine.register_fn("sleep", |_: rhai::INT| -> Result<(), Box<EvalAltResult>> {
            Err("sleep() is not available to scripts".into())
        });
        engine.register_fn(
            "sleep",
            |_: rhai::FLOAT| -> Result<(), Box<EvalAltResult>> {
                Err("sleep() is not available to scripts".into())
            },
        );

        self.register_http(&mut engine);
        engine
    }

    fn register_http(&self, engine: &mut Engine) {
        let calls = Arc::new(AtomicU32::new(0));
        let bridge = Arc::new(HttpBridge {
            handler: self.context.http.clone(),
            runtime: self.runtime.clone(),
            deadline: self.deadline,
            max_calls: self.limits.max_http_calls,
            max_body_len: self.limits.max_string_len,
            calls,
        });
        let map_bridge = bridge.clone();
        engine.register_fn("http", move |options: Map| {
            let request = http::request_from_map(&options)?;
            map_bridge.call(request)
        });
        engine.register_fn("http_get", move |url: &str| {
            bridge.call(http::HttpRequest {
                method: "GET".into(),
                url: url.to_owned(),
                headers: Vec::new(),
                body: None,
            })
        });
    }
}

/// What `http(...)` needs on the script thread.
struct HttpBridge {
    handler: Option<http::HttpHandler>,
    runtime: tokio::runtime::Handle,
    deadline: Instant,
    max_calls: u32,
    max_body_len: usize,
    calls: Arc<AtomicU32>,
}

impl HttpBridge {
    fn call(&self, request: http::HttpRequest) -> Result<Map, Box<EvalAltResult>> {
        let runtime_error = |message: String| {
            Box::new(EvalAltResult::ErrorRuntime(
                message.into(),
                rhai::Position::NONE,
            ))
        };
        let Some(handler) = &self.handler else {
            return Err(runtime_error(
                "http(): outbound HTTP is not available to this script".into(),
            ));
        };
        if self.calls.fetch_add(1, Ordering::Relaxed) >= self.max_calls {
            return Err(runtime_error(format!(
                "http(): the script may make at most {} requests",
                self.max_calls
            )));
        }
        http::call_blocking(
            &self.runtime,
            handler,
            request,
            self.deadline,
            self.max_body_len,
        )
    }
}

/// Maps an engine error to what the caller needs to know.
fn classify(err: &EvalAltResult, limits: &SandboxLimits) -> ScriptError {
    let inner = err.unwrap_inner();
    let line = inner.position().line().or_else(|| err.position().line());
    match inner {
        EvalAltResult::ErrorTerminated(token, _) => {
            if token.is_string() && token.to_string() == TERMINATED_CANCELLED {
                ScriptError::Cancelled
            } else {
                ScriptError::TimedOut(limits.timeout)
            }
        }
        EvalAltResult::ErrorTooManyOperations(_) => {
            ScriptError::OperationLimit(limits.max_operations)
        }
        EvalAltResult::ErrorStackOverflow(_) => ScriptError::CallDepth(limits.max_call_depth),
        EvalAltResult::ErrorDataTooLarge(what, _) => ScriptError::TooLarge(format!(
            "{what} (strings up to {} bytes, arrays up to {} items, maps up to {} entries)",
            limits.max_string_len, limits.max_array_len, limits.max_map_len
        )),
        EvalAltResult::ErrorRuntime(value, _) => ScriptError::Runtime {
            message: if value.is_string() {
                value.to_string()
            } else {
                format!("{value:?}")
            },
            line,
        },
        other => ScriptError::Runtime {
            message: strip_position(&other.to_string()),
            line,
        },
    }
}

/// Converts a script value to JSON: unit, booleans, numbers, characters, strings, blobs
/// (as byte arrays), arrays and maps. Anything else (functions, timestamps) is refused.
fn to_json(value: &Dynamic) -> Result<Value, String> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("the number {f} has no JSON form"));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if value.is_string() {
        return Ok(Value::String(value.to_string()));
    }
    if value.is_blob() {
        let blob = value.read_lock::<rhai::Blob>().ok_or("unreadable blob")?;
        return Ok(Value::Array(blob.iter().map(|b| Value::from(*b)).collect()));
    }
    if value.is_array() {
        let array = value.read_lock::<rhai::Array>().ok_or("unreadable array")?;
        return array
            .iter()
            .map(to_json)
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if value.is_map() {
        let map = value.read_lock::<Map>().ok_or("unreadable map")?;
        return map
            .iter()
            .map(|(key, item)| Ok((key.to_string(), to_json(item)?)))
            .collect::<Result<_, String>>()
            .map(Value::Object);
    }
    Err(format!(
        "a value of type {} has no JSON form",
        value.type_name()
    ))
}

/// Rhai appends ` (line N, position M)` to messages; the line is reported separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" (line ") {
        Some(at) if message.ends_with(')') => message[..at].to_owned(),
        _ => message.to_owned(),
    }
}
