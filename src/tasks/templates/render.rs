//! Template variables: their declarations, checking the values a caller gives, and filling
//! `{{ vars.NAME }}` placeholders in a task definition.
//!
//! Only `vars.` placeholders are template variables. Everything else in double braces
//! (`{{ secrets.TOKEN }}`, `{{ input.order_id }}`) is left for the worker to resolve at run
//! time, so a template can carry those references through.

use std::{collections::BTreeSet, sync::LazyLock};

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::{error::FieldError, text_enum};

/// Longest string value a variable takes.
const MAX_STRING_LEN: usize = 10_000;
/// Most variables a template declares.
pub const MAX_VARIABLES: usize = 30;

/// `{{ vars.NAME }}`; a constant pattern, exercised by the tests below.
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{\{\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}").expect("a valid pattern")
});

text_enum! {
    /// The type of a variable's value.
    pub enum VariableKind {
        /// Text.
        String = "string",
        /// A JSON number.
        Number = "number",
        /// `true` or `false`.
        Boolean = "boolean",
    }
}

/// A variable a template declares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateVariable {
    /// Its name, used as `{{ vars.NAME }}` (a letter or `_`, then letters, digits or `_`).
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z_][A-Za-z0-9_]*$")]
    pub name: String,
    /// What to give, for a person.
    #[serde(default)]
    pub description: String,
    /// `string` (default), `number` or `boolean`.
    #[serde(rename = "type", default = "string_kind")]
    pub kind: VariableKind,
    /// The value used when none is given; a variable without one is required.
    #[serde(default)]
    pub default: Option<Value>,
    /// A value that shows the expected form, for forms and documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
}

fn string_kind() -> VariableKind {
    VariableKind::String
}

/// Checks declarations: names, duplicates, default types, and that every placeholder in
/// `definition` is declared. Errors name `variables[i].…` or `definition`.
pub fn check_declarations(variables: &[TemplateVariable], definition: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if variables.len() > MAX_VARIABLES {
        errors.push(field(
            "variables",
            format!("at most {MAX_VARIABLES} variables"),
        ));
    }
    let mut names = BTreeSet::new();
    for (index, variable) in variables.iter().enumerate() {
        let valid_name = PLACEHOLDER.is_match(&format!("{{{{ vars.{} }}}}", variable.name))
            && variable.name.len() <= 64;
        if !valid_name {
            errors.push(field(
                &format!("variables[{index}].name"),
                "must start with a letter or _ and hold letters, digits or _ (at most 64)".into(),
            ));
        } else if !names.insert(variable.name.as_str()) {
            errors.push(field(
                &format!("variables[{index}].name"),
                format!("{} is declared twice", variable.name),
            ));
        }
        if let Some(default) = &variable.default
            && let Err(message) = check_value(variable.kind, default)
        {
            errors.push(field(&format!("variables[{index}].default"), message));
        }
    }
    for used in placeholders(definition) {
        if !names.contains(used.as_str()) {
            errors.push(field(
                "definition",
                format!("uses {{{{ vars.{used} }}}}, which is not declared in `variables`"),
            ));
        }
    }
    errors
}

/// The values for every declared variable: given, or the default. Errors name
/// `variables.NAME` (missing, wrong type, or not a variable of the template).
pub fn resolve_values(
    variables: &[TemplateVariable],
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut values = Map::new();
    for variable in variables {
        let path = format!("variables.{}", variable.name);
        match given.get(&variable.name).or(variable.default.as_ref()) {
            None => errors.push(field(&path, "is required".into())),
            Some(value) => match check_value(variable.kind, value) {
                Ok(()) => {
                    values.insert(variable.name.clone(), value.clone());
                }
                Err(message) => errors.push(field(&path, message)),
            },
        }
    }
    for name in given.keys() {
        if !variables.iter().any(|v| &v.name == name) {
            errors.push(field(
                &format!("variables.{name}"),
                "is not a variable of this template".into(),
            ));
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

/// Fills the placeholders of `definition`. A string that is exactly one placeholder becomes
/// the value itself (so numbers and booleans keep their type); placeholders inside longer
/// strings are replaced by the value's text.
pub fn fill(definition: &Value, values: &Map<String, Value>) -> Value {
    match definition {
        Value::String(text) => fill_string(text, values),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, values)).collect()),
        // Keys may hold placeholders too (a Notion property name); they always fill as text.
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| (fill_text(key, values), fill(value, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn fill_string(text: &str, values: &Map<String, Value>) -> Value {
    if let Some(captures) = PLACEHOLDER.captures(text.trim())
        && captures.get(0).is_some_and(|m| m.as_str() == text.trim())
        && let Some(value) = values.get(&captures[1])
    {
        return value.clone();
    }
    Value::String(fill_text(text, values))
}

/// `text` with every placeholder replaced by its value as text.
fn fill_text(text: &str, values: &Map<String, Value>) -> String {
    PLACEHOLDER
        .replace_all(text, |captures: &regex::Captures<'_>| {
            match values.get(&captures[1]) {
                Some(Value::String(value)) => value.clone(),
                Some(value) => value.to_string(),
                None => captures[0].to_owned(),
            }
        })
        .into_owned()
}

/// Every variable name used in a definition.
pub fn placeholders(definition: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    collect(definition, &mut found);
    found
}

fn collect(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => {
            for captures in PLACEHOLDER.captures_iter(text) {
                found.insert(captures[1].to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, found)),
        Value::Object(fields) => {
            for (key, value) in fields {
                collect(&Value::String(key.clone()), found);
                collect(value, found);
            }
        }
        _ => {}
    }
}

fn check_value(kind: VariableKind, value: &Value) -> Result<(), String> {
    match (kind, value) {
        (VariableKind::String, Value::String(text)) if text.len() <= MAX_STRING_LEN => Ok(()),
        (VariableKind::String, Value::String(_)) => {
            Err(format!("must be at most {MAX_STRING_LEN} bytes"))
        }
        (VariableKind::Number, Value::Number(_)) | (VariableKind::Boolean, Value::Bool(_)) => {
            Ok(())
        }
        (kind, _) => Err(format!("must be a {kind}")),
    }
}

fn field(path: &str, message: String) -> FieldError {
    FieldError {
        field: path.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn variable(name: &str, kind: VariableKind, default: Option<Value>) -> TemplateVariable {
        TemplateVariable {
            name: name.into(),
            description: String::new(),
            kind,
            default,
            example: None,
        }
    }

    #[test]
    fn placeholders_are_filled_and_runtime_references_kept() {
        let definition = json!({
            "name": "Ping {{ vars.site }}",
            "timeout_seconds": "{{vars.timeout}}",
            "action": {"config": {"url": "https://{{ vars.site }}/health",
                                  "headers": {"Authorization": "Bearer {{ secrets.TOKEN }}"}}},
        });
        let mut values = Map::new();
        values.insert("site".into(), json!("shop.example.com"));
        values.insert("timeout".into(), json!(15));
        assert_eq!(
            fill(&definition, &values),
            json!({
                "name": "Ping shop.example.com",
                "timeout_seconds": 15,
                "action": {"config": {"url": "https://shop.example.com/health",
                                      "headers": {"Authorization": "Bearer {{ secrets.TOKEN }}"}}},
            })
        );
    }

    #[test]
    fn values_are_checked_and_defaulted() {
        let variables = [
            variable("url", VariableKind::String, None),
            variable("minutes", VariableKind::Number, Some(json!(5))),
        ];
        let given = json!({"minutes": "five", "extra": 1});
        let errors =
            resolve_values(&variables, given.as_object().expect("object")).expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["variables.url", "variables.minutes", "variables.extra"]
        );
        let given = json!({"url": "https://example.com"});
        let values = resolve_values(&variables, given.as_object().expect("object")).expect("valid");
        assert_eq!(values["minutes"], 5);
    }

    #[test]
    fn undeclared_and_duplicate_variables_are_named() {
        let variables = [
            variable("a", VariableKind::String, None),
            variable("a", VariableKind::String, None),
            variable("9x", VariableKind::Boolean, Some(json!("yes"))),
        ];
        let errors = check_declarations(&variables, &json!({"name": "{{ vars.b }}"}));
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "variables[1].name",
                "variables[2].name",
                "variables[2].default",
                "definition"
            ]
        );
    }
}
