//! Task templates: a built-in catalogue ([`catalogue`]) and the user's own, each a task
//! definition with `{{ vars.NAME }}` placeholders and the variables that fill them
//! ([`render`]). `POST /tasks/from-template/{id}` turns one into a task through the same
//! validation as `POST /tasks`.

mod catalogue;
pub mod render;
pub mod routes;
mod store;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub use render::{TemplateVariable, VariableKind};

use super::model::ActionType;

/// A template.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Template {
    /// A slug for built-in templates (`http-uptime-check`), a UUID for yours.
    #[schema(example = "http-uptime-check")]
    pub id: String,
    /// Short name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Whether it is part of the built-in catalogue (read-only).
    pub builtin: bool,
    /// The variables it takes.
    pub variables: Vec<TemplateVariable>,
    /// The task definition (as `POST /tasks` takes it) with `{{ vars.NAME }}` placeholders.
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    /// When you saved it (absent for built-in templates).
    pub created_at: Option<DateTime<Utc>>,
}

impl Template {
    /// The action type its tasks get, when the definition names a known one.
    pub fn action_type(&self) -> Option<ActionType> {
        self.definition["action"]["type"]
            .as_str()
            .and_then(|name| name.parse().ok())
    }
}
