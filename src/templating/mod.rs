//! The one bounded minijinja environment every user template renders in (EMAIL_SEND
//! subject, body and addresses; the JSON templates of DATABASE_QUERY parameters and
//! NOTION_SYNC configurations), so a template cannot exhaust the process.
//!
//! Four bounds, each named in the error when it is hit: the whole output of one rendering
//! (`TEMPLATE_MAX_OUTPUT_BYTES`, counted by the writer, shared by every part of a message or
//! a configuration), each printed value (`TEMPLATE_MAX_VALUE_BYTES`, checked by the
//! formatter before a byte is written), engine instructions (`TEMPLATE_FUEL`) and the items
//! of `range()` (`TEMPLATE_MAX_RANGE`). A string repeat by a literal above the value bound
//! (`'x' * 100000000`) is refused before the template is compiled, so it never allocates.
//! And every rendering runs in a forked child whose address space may grow by at most
//! `TEMPLATE_MAX_MEMORY_BYTES`, which bounds what is built without being printed.
//! The limits (with the outbound mail limits checked when a task is saved) are installed
//! once at start ([`install`]) and read by [`limits`] and [`settings`].

mod isolation;

use std::{cell::Cell, io, sync::OnceLock};

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

pub use crate::config::{TemplateLimits, TemplatesMailSettings};

static SETTINGS: OnceLock<TemplatesMailSettings> = OnceLock::new();

/// Installs the configured limits for the process (the first call wins; later ones, such as
/// a second application in one test process, keep the first).
pub fn install(settings: TemplatesMailSettings) {
    let _ = SETTINGS.set(settings);
}

/// The installed template and mail settings, or the defaults before start-up installed any.
pub fn settings() -> TemplatesMailSettings {
    SETTINGS.get().copied().unwrap_or_default()
}

/// The installed template limits.
pub fn limits() -> TemplateLimits {
    settings().template
}

/// A template that failed; `limit` is set when a bound (not a mistake in the template) was
/// hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// What went wrong, with the line when known.
    pub message: String,
    /// Whether a limit stopped the rendering.
    pub limit: bool,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The output bytes left to one rendering (a whole message, or one configuration).
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    remaining: Cell<usize>,
    exceeded: Cell<bool>,
}

impl Budget {
    /// A budget of `TEMPLATE_MAX_OUTPUT_BYTES`.
    pub fn new(limits: &TemplateLimits) -> Self {
        Budget {
            limit: limits.max_output_bytes,
            remaining: Cell::new(limits.max_output_bytes),
            exceeded: Cell::new(false),
        }
    }

    fn take(&self, bytes: usize) -> bool {
        match self.remaining.get().checked_sub(bytes) {
            Some(left) => {
                self.remaining.set(left);
                true
            }
            None => {
                self.exceeded.set(true);
                false
            }
        }
    }

    fn exceeded_message(&self) -> String {
        format!(
            "template output exceeds TEMPLATE_MAX_OUTPUT_BYTES ({} bytes)",
            self.limit
        )
    }
}

/// Collects output until the budget runs out, then fails the write (which stops the
/// engine).
struct CappedWriter<'a> {
    buffer: Vec<u8>,
    budget: &'a Budget,
}

impl io::Write for CappedWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.budget.take(data.len()) {
            return Err(io::Error::other(self.budget.exceeded_message()));
        }
        self.buffer.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The environment every user template uses: strict about unknown variables, fuel-limited,
/// `range()` bounded, each printed value bounded. Callers may add an auto-escape callback.
pub fn environment(limits: &TemplateLimits) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(limits.fuel));
    let max_range = limits.max_range;
    env.add_function(
        "range",
        move |lower: i64, upper: Option<i64>, step: Option<i64>| -> Result<Value, Error> {
            bounded_range(max_range, lower, upper, step)
        },
    );
    let max_value = limits.max_value_bytes;
    env.set_formatter(move |out, state, value| {
        if let Some(text) = value.as_str()
            && text.len() > max_value
        {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("a value exceeds TEMPLATE_MAX_VALUE_BYTES ({max_value} bytes)"),
            ));
        }
        minijinja::escape_formatter(out, state, value)
    });
    env
}

/// `range()` with at most `max` items.
fn bounded_range(
    max: usize,
    lower: i64,
    upper: Option<i64>,
    step: Option<i64>,
) -> Result<Value, Error> {
    let (start, end) = match upper {
        Some(upper) => (lower, upper),
        None => (0, lower),
    };
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "range() step cannot be 0",
        ));
    }
    let span = if step > 0 {
        i128::from(end) - i128::from(start)
    } else {
        i128::from(start) - i128::from(end)
    };
    let stride = i128::from(step).abs();
    let count = if span <= 0 {
        0
    } else {
        (span + stride - 1) / stride
    };
    if count > i128::try_from(max).unwrap_or(i128::MAX) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("range() of {count} items exceeds TEMPLATE_MAX_RANGE ({max} items)"),
        ));
    }
    let items: Vec<i64> = if step > 0 {
        std::iter::successors(Some(start), |i| i.checked_add(step))
            .take_while(|i| *i < end)
            .collect()
    } else {
        std::iter::successors(Some(start), |i| i.checked_add(step))
            .take_while(|i| *i > end)
            .collect()
    };
    Ok(Value::from(items))
}

/// Refuses `* N` or `N *` with a literal `N` above `TEMPLATE_MAX_VALUE_BYTES`: a string
/// repeated that often would be built in memory before any other bound could see it.
pub fn check_source(limits: &TemplateLimits, source: &str) -> Result<(), TemplateError> {
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit()
            || (i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
        {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
            i += 1;
        }
        let digits: String = source[start..i].chars().filter(|c| *c != '_').collect();
        let big = digits
            .parse::<u128>()
            .map_or(true, |n| n > limits.max_value_bytes as u128);
        if !big {
            continue;
        }
        let before = source[..start].trim_end().ends_with('*');
        let after = source[i..].trim_start().starts_with('*');
        if before || after {
            return Err(TemplateError {
                message: format!(
                    "a repeat by {digits} exceeds TEMPLATE_MAX_VALUE_BYTES ({} bytes)",
                    limits.max_value_bytes
                ),
                limit: true,
            });
        }
    }
    Ok(())
}

/// Describes a failed rendering, naming the limit that stopped it.
fn describe(err: &Error, limits: &TemplateLimits, budget: &Budget) -> TemplateError {
    let line = err
        .line()
        .map(|line| format!(" (line {line})"))
        .unwrap_or_default();
    if budget.exceeded.get() {
        return TemplateError {
            message: budget.exceeded_message(),
            limit: true,
        };
    }
    if err.kind() == ErrorKind::OutOfFuel {
        return TemplateError {
            message: format!(
                "template exceeds TEMPLATE_FUEL ({} instructions){line}",
                limits.fuel
            ),
            limit: true,
        };
    }
    let detail = err
        .detail()
        .map(str::to_owned)
        .unwrap_or_else(|| err.kind().to_string());
    TemplateError {
        limit: detail.contains("TEMPLATE_"),
        message: format!("template error{line}: {detail}"),
    }
}

/// Renders `source` in `env`, charging its output to `budget`, in a child process whose
/// memory is bounded by `TEMPLATE_MAX_MEMORY_BYTES` (see [`isolation`]).
pub fn render(
    env: &Environment<'_>,
    limits: &TemplateLimits,
    budget: &Budget,
    name: &str,
    source: &str,
    context: &Value,
) -> Result<String, TemplateError> {
    check_source(limits, source)?;
    isolation::isolated(limits, budget, || {
        render_in_process(env, limits, budget, name, source, context)
    })
}

fn render_in_process(
    env: &Environment<'_>,
    limits: &TemplateLimits,
    budget: &Budget,
    name: &str,
    source: &str,
    context: &Value,
) -> Result<String, TemplateError> {
    let template = env
        .template_from_named_str(name, source)
        .map_err(|err| describe(&err, limits, budget))?;
    let mut writer = CappedWriter {
        buffer: Vec::new(),
        budget,
    };
    template
        .render_captured_to(context.clone(), &mut writer)
        .map_err(|err| describe(&err, limits, budget))?;
    Ok(String::from_utf8_lossy(&writer.buffer).into_owned())
}

/// Evaluates one expression to JSON, charging its serialized size to `budget`, in a child
/// process whose memory is bounded like [`render`]'s.
pub fn eval(
    env: &Environment<'_>,
    limits: &TemplateLimits,
    budget: &Budget,
    expression: &str,
    context: &Value,
) -> Result<serde_json::Value, TemplateError> {
    check_source(limits, expression)?;
    let text = isolation::isolated(limits, budget, || {
        eval_in_process(env, limits, budget, expression, context).map(|value| value.to_string())
    })?;
    serde_json::from_str(&text).map_err(|err| TemplateError {
        message: format!("template error: {err}"),
        limit: false,
    })
}

fn eval_in_process(
    env: &Environment<'_>,
    limits: &TemplateLimits,
    budget: &Budget,
    expression: &str,
    context: &Value,
) -> Result<serde_json::Value, TemplateError> {
    let compiled = env
        .compile_expression(expression)
        .map_err(|err| describe(&err, limits, budget))?;
    let result = compiled
        .eval(context.clone())
        .map_err(|err| describe(&err, limits, budget))?;
    if result.is_undefined() {
        return Err(TemplateError {
            message: "template error: undefined value".into(),
            limit: false,
        });
    }
    if let Some(text) = result.as_str()
        && text.len() > limits.max_value_bytes
    {
        return Err(TemplateError {
            message: format!(
                "a value exceeds TEMPLATE_MAX_VALUE_BYTES ({} bytes)",
                limits.max_value_bytes
            ),
            limit: true,
        });
    }
    let mut writer = CappedWriter {
        buffer: Vec::new(),
        budget,
    };
    if let Err(err) = serde_json::to_writer(&mut writer, &result) {
        return Err(if budget.exceeded.get() {
            TemplateError {
                message: budget.exceeded_message(),
                limit: true,
            }
        } else {
            TemplateError {
                message: format!("template error: {err}"),
                limit: false,
            }
        });
    }
    serde_json::from_slice(&writer.buffer).map_err(|err| TemplateError {
        message: format!("template error: {err}"),
        limit: false,
    })
}

/// Renders `source` once with placeholder variables (every name defined, every value empty)
/// and reports only a limit it hits: the check a template gets when its task is saved, so
/// an obvious bomb is refused then rather than at its first run.
pub fn check_bounds(limits: &TemplateLimits, source: &str) -> Result<(), TemplateError> {
    check_source(limits, source)?;
    let mut env = environment(limits);
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    let budget = Budget::new(limits);
    match render(&env, limits, &budget, "check", source, &Value::from(())) {
        Err(err) if err.limit => Err(err),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> TemplateLimits {
        TemplateLimits {
            max_output_bytes: 4096,
            max_value_bytes: 1024,
            fuel: 10_000,
            max_range: 100,
            max_memory_bytes: 64 * 1024 * 1024,
        }
    }

    fn render_with(limits: &TemplateLimits, source: &str) -> Result<String, TemplateError> {
        let env = environment(limits);
        render(
            &env,
            limits,
            &Budget::new(limits),
            "t",
            source,
            &Value::from(()),
        )
    }

    #[test]
    fn template_memory_bomb_is_refused_before_it_allocates() {
        let limits = TemplateLimits::default();
        let err = render_with(
            &limits,
            "{% for i in range(100000) %}{{ 'x' * 100000000 }}{% endfor %}",
        )
        .expect_err("bomb");
        assert!(err.limit, "{err:?}");
        assert!(err.message.contains("TEMPLATE_MAX_VALUE_BYTES"), "{err:?}");
        assert!(check_bounds(&limits, "{{ 100000000 * 'x' }}").is_err());
        assert!(check_bounds(&limits, "{{ input.price * 12 }}").is_ok());
    }

    #[test]
    fn template_doubling_bomb_built_without_printing_is_stopped_by_the_memory_bound() {
        // Each `set` doubles a string that is never printed: 2^40 bytes unbounded. Neither
        // the output, value nor fuel bounds see it; the child's address-space cap does.
        let mut source = String::from("{% set a = 'x' * 1000 %}");
        for _ in 0..40 {
            source.push_str("{% set a = a ~ a %}");
        }
        source.push_str("{{ a | length }}");
        let limits = TemplateLimits::default();
        let err = render_with(&limits, &source).expect_err("bomb");
        assert!(err.limit, "{err:?}");
        assert_eq!(
            err.message,
            format!(
                "template rendering exceeded TEMPLATE_MAX_MEMORY_BYTES ({} bytes)",
                limits.max_memory_bytes
            )
        );
        // The same through namespace() in a loop, and the check at save refuses it too.
        let looped = "{% set ns = namespace(s='y' * 1000) %}{% for i in range(60) %}\
                      {% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}";
        assert!(check_bounds(&limits, looped).is_err());
        // And the process that asked is still here, rendering.
        assert_eq!(render_with(&limits, "{{ 6 * 7 }}").as_deref(), Ok("42"));
    }

    #[test]
    fn template_output_bomb_stops_at_the_output_limit() {
        let limits = small();
        let err = render_with(
            &limits,
            "{% for i in range(100) %}{{ 'y' * 1000 }}{% endfor %}",
        )
        .expect_err("output");
        assert_eq!(
            err.message,
            "template output exceeds TEMPLATE_MAX_OUTPUT_BYTES (4096 bytes)"
        );
        // The budget is shared: two parts of one message count together.
        let env = environment(&limits);
        let budget = Budget::new(&limits);
        let part = "{{ 'z' * 1000 }}{{ 'z' * 1000 }}{{ 'z' * 1000 }}";
        render(&env, &limits, &budget, "a", part, &Value::from(())).expect("first part fits");
        let err = render(&env, &limits, &budget, "b", part, &Value::from(())).expect_err("second");
        assert!(err.message.contains("TEMPLATE_MAX_OUTPUT_BYTES"), "{err:?}");
    }

    #[test]
    fn template_value_range_and_fuel_bombs_name_their_limit() {
        let limits = small();
        let err = render_with(&limits, "{{ 'x' * 1024 ~ 'x' }}").expect_err("value");
        assert!(
            err.message
                .contains("TEMPLATE_MAX_VALUE_BYTES (1024 bytes)"),
            "{err:?}"
        );
        let err = render_with(&limits, "{% for i in range(101) %}{% endfor %}").expect_err("range");
        assert!(
            err.message.contains("TEMPLATE_MAX_RANGE (100 items)"),
            "{err:?}"
        );
        let err = render_with(
            &limits,
            "{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}",
        )
        .expect_err("fuel");
        assert!(
            err.message.contains("TEMPLATE_FUEL (10000 instructions)"),
            "{err:?}"
        );
        assert!(err.limit);
        assert_eq!(
            render_with(
                &limits,
                "{% for i in range(10, 0, -3) %}{{ i }},{% endfor %}"
            )
            .expect("range"),
            "10,7,4,1,"
        );
    }

    #[test]
    fn the_save_check_reports_limits_but_not_missing_input() {
        let limits = small();
        assert!(
            check_bounds(
                &limits,
                "{{ input.name | upper }} {% for x in input.items %}{{ x }}{% endfor %}"
            )
            .is_ok()
        );
        assert!(check_bounds(&limits, "{% for i in range(input.n) %}{% endfor %}").is_ok());
        let err =
            check_bounds(&limits, "{% for i in range(1000000) %}{% endfor %}").expect_err("range");
        assert!(err.message.contains("TEMPLATE_MAX_RANGE"), "{err:?}");
    }
}
