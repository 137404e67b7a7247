//! Turns `validator` reports into the flat `{field, message}` list of problem documents.

use validator::{ValidationErrors, ValidationErrorsKind};

use crate::error::FieldError;

/// Flattens nested validation errors into dotted field paths (`schedule.cron`, `tags[2]`).
pub fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect("", errors, &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn collect(prefix: &str, errors: &ValidationErrors, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| describe(&error.code, &error.params));
                    out.push(FieldError {
                        field: path.clone(),
                        message,
                    });
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(&format!("{path}[{index}]"), inner, out);
                }
            }
        }
    }
}

fn describe(
    code: &str,
    params: &std::collections::HashMap<std::borrow::Cow<'static, str>, serde_json::Value>,
) -> String {
    let param = |name: &str| params.get(name).map(|v| v.to_string());
    match code {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max} characters long"),
            (Some(min), None) => format!("must be at least {min} characters long"),
            (None, Some(max)) => format!("must be at most {max} characters long"),
            _ => "has an invalid length".into(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".into(),
        },
        "email" => "must be a valid email address".into(),
        "url" => "must be a valid URL".into(),
        "required" => "is required".into(),
        other => format!("is invalid ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use validator::Validate;

    #[derive(Validate)]
    struct Inner {
        #[validate(range(min = 1, max = 5))]
        level: u8,
    }

    #[derive(Validate)]
    struct Outer {
        #[validate(length(min = 3))]
        name: String,
        #[validate(nested)]
        inner: Inner,
    }

    #[test]
    fn nested_fields_get_dotted_paths() {
        let value = Outer {
            name: "x".into(),
            inner: Inner { level: 9 },
        };
        let errors = field_errors(&value.validate().expect_err("invalid"));
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["inner.level", "name"]);
        assert_eq!(errors[1].message, "must be at least 3 characters long");
    }
}
