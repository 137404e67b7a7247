//! Where an action's configuration problems are reported: every path is under
//! `action.config`, as the task API names the field.

use crate::error::FieldError;

/// The task API's name of an action's configuration.
pub const FIELD: &str = "action.config";

/// A problem at `path` inside the configuration (`""` for the configuration itself).
pub fn field_error(path: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: if path.is_empty() {
            FIELD.to_owned()
        } else {
            format!("{FIELD}.{path}")
        },
        message: message.into(),
    }
}
