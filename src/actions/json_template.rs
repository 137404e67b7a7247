//! Strings of an action's JSON configuration as minijinja templates over the execution's
//! variables (`input`, …), for the parts of a configuration that vary per run (Notion
//! properties and filters, database query parameters).
//!
//! A string that is exactly one `{{ expression }}` keeps the expression's JSON type (a
//! number stays a number); any other string containing `{{` or `{%` renders to text.
//! Errors name the field under `action.config`. Rendering runs in the bounded environment
//! of [`crate::templating`]; one configuration's strings share one output budget.

use minijinja::Environment;
use serde_json::{Map, Value};

use super::config_field::field_error;
use crate::{
    error::FieldError,
    templating::{self, Budget, TemplateLimits},
};

/// The bounded environment with the installed limits: strict about unknown variables (a
/// typo fails instead of writing an empty value), no escaping (this is JSON, not HTML).
pub fn environment() -> Environment<'static> {
    templating::environment(&templating::limits())
}

/// Checks the template syntax of every string in `value`, and that it stays within the
/// template limits with placeholder input, so a typo or an obvious bomb fails when the task
/// is saved.
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
            } else if let Err(err) = templating::check_bounds(&templating::limits(), &text) {
                errors.push(field_error(path, err.message));
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

/// Renders every string of `value` with `vars` within the installed limits; errors name
/// the field (and the limit, when one was hit).
pub fn render(path: &str, value: &Value, vars: &Value) -> Result<Value, FieldError> {
    let limits = templating::limits();
    let env = templating::environment(&limits);
    let context = minijinja::Value::from(minijinja::value::Serde(vars));
    let renderer = Renderer {
        env: &env,
        limits: &limits,
        budget: &Budget::new(&limits),
        vars: &context,
    };
    renderer.value(path, value)
}

/// One configuration's rendering: the environment, its limits and its shared budget.
struct Renderer<'a> {
    env: &'a Environment<'a>,
    limits: &'a TemplateLimits,
    budget: &'a Budget,
    vars: &'a minijinja::Value,
}

impl Renderer<'_> {
    fn value(&self, path: &str, value: &Value) -> Result<Value, FieldError> {
        match value {
            Value::String(text) => self.string(path, text),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.value(&format!("{path}[{i}]"), item))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(map) => map
                .iter()
                .map(|(key, item)| {
                    self.value(&format!("{path}.{key}"), item)
                        .map(|v| (key.clone(), v))
                })
                .collect::<Result<Map<_, _>, _>>()
                .map(Value::Object),
            other => Ok(other.clone()),
        }
    }

    fn string(&self, path: &str, text: &str) -> Result<Value, FieldError> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(Value::String(text.to_owned()));
        }
        let failed = |err: templating::TemplateError| field_error(path, err.message);
        // `{{ input.amount }}` alone keeps its type.
        let trimmed = text.trim();
        if let Some(inner) = trimmed
            .strip_prefix("{{")
            .and_then(|rest| rest.strip_suffix("}}"))
            && !inner.contains("{{")
            && !inner.contains("}}")
        {
            return templating::eval(self.env, self.limits, self.budget, inner.trim(), self.vars)
                .map_err(failed);
        }
        templating::render(self.env, self.limits, self.budget, "value", text, self.vars)
            .map(Value::String)
            .map_err(failed)
    }
}
