//! Strings of an action's JSON configuration as minijinja templates over the execution's
//! variables (`input`, …), for the parts of a configuration that vary per run (Notion
//! properties and filters, database query parameters).
//!
//! A string that is exactly one `{{ expression }}` keeps the expression's JSON type (a
//! number stays a number); any other string containing `{{` or `{%` renders to text.
//! Errors name the field under `action.config`.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

use crate::error::FieldError;

/// Template instructions one rendering of a configuration part may spend.
const TEMPLATE_FUEL: u64 = 200_000;

fn field_error(path: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: if path.is_empty() {
            "action.config".to_owned()
        } else {
            format!("action.config.{path}")
        },
        message: message.into(),
    }
}

/// Strict about unknown variables (a typo fails instead of writing an empty value), no
/// escaping (this is JSON, not HTML), fuel-limited.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env
}

/// Checks the template syntax of every string in `value`, so a typo fails when the task is
/// saved.
pub fn check_templates(
    env: &Environment<'_>,
    path: &str,
    value: Value,
    errors: &mut Vec<FieldError>,
) {
    match value {
        Value::String(text) if text.contains("{{") || text.contains("{%") => {
            if let Err(err) = env.template_from_str(&text) {
                errors.push(field_error(path, format!("template error: {err}")));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                check_templates(env, &format!("{path}[{i}]"), item, errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                check_templates(env, &format!("{path}.{key}"), item, errors);
            }
        }
        _ => {}
    }
}

/// Renders every string of `value` with `vars`; errors name the field.
pub fn render(path: &str, value: &Value, vars: &Value) -> Result<Value, FieldError> {
    let env = environment();
    let context = minijinja::Value::from(minijinja::value::Serde(vars));
    render_value(&env, path, value, &context)
}

fn render_value(
    env: &Environment<'_>,
    path: &str,
    value: &Value,
    vars: &minijinja::Value,
) -> Result<Value, FieldError> {
    match value {
        Value::String(text) => render_string(env, path, text, vars),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| render_value(env, &format!("{path}[{i}]"), item, vars))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(key, item)| {
                render_value(env, &format!("{path}.{key}"), item, vars).map(|v| (key.clone(), v))
            })
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

fn render_string(
    env: &Environment<'_>,
    path: &str,
    text: &str,
    vars: &minijinja::Value,
) -> Result<Value, FieldError> {
    if !text.contains("{{") && !text.contains("{%") {
        return Ok(Value::String(text.to_owned()));
    }
    let failed = |err: minijinja::Error| {
        let detail = err
            .detail()
            .map(str::to_owned)
            .unwrap_or_else(|| err.kind().to_string());
        field_error(path, format!("template error: {detail}"))
    };
    // `{{ input.amount }}` alone keeps its type.
    let trimmed = text.trim();
    if let Some(inner) = trimmed
        .strip_prefix("{{")
        .and_then(|rest| rest.strip_suffix("}}"))
        && !inner.contains("{{")
        && !inner.contains("}}")
    {
        let expression = env.compile_expression(inner.trim()).map_err(failed)?;
        let result = expression.eval(vars.clone()).map_err(failed)?;
        if result.is_undefined() {
            return Err(field_error(path, "template error: undefined value"));
        }
        return serde_json::to_value(&result)
            .map_err(|err| field_error(path, format!("template error: {err}")));
    }
    env.render_str(text, vars.clone())
        .map(Value::String)
        .map_err(failed)
}
