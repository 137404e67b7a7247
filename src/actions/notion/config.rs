//! The NOTION_SYNC configuration: the operation, the database, where the token comes from,
//! and the Notion request parts (`properties`, `filter`, `sorts`, `children`) whose strings
//! are minijinja templates rendered with the execution's `input`.
//!
//! A string that is exactly one `{{ expression }}` keeps the expression's JSON type (a
//! number stays a number); any other string renders to text. A `title` or `rich_text`
//! property given as a plain string becomes Notion's rich-text array.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{
    actions::{
        config_field::field_error,
        json_template::{check_templates, environment},
    },
    error::FieldError,
};

pub use crate::actions::json_template::render;

/// Default and largest number of pages `update_pages` changes in one run.
pub const UPDATE_LIMIT: (u32, u32) = (50, 100);
/// Default and largest number of pages `query_database` returns.
pub const QUERY_LIMIT: (u32, u32) = (100, 1000);

/// What the action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = NotionOperation)]
pub enum Operation {
    /// `POST /v1/pages` with the database as parent.
    CreatePage,
    /// Query with `filter`, then `PATCH /v1/pages/{id}` each match (at most `limit`).
    UpdatePages,
    /// Query into the result (at most `limit` pages).
    QueryDatabase,
}

impl Operation {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::CreatePage => "create_page",
            Operation::UpdatePages => "update_pages",
            Operation::QueryDatabase => "query_database",
        }
    }
}

/// The raw shape accepted in `action.config` of `NOTION_SYNC` (see docs/NOTION.md).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NotionActionConfig)]
pub struct RawConfig {
    operation: Operation,
    database_id: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    properties: Option<Map<String, Value>>,
    #[serde(default)]
    children: Option<Vec<Value>>,
    #[serde(default)]
    filter: Option<Value>,
    #[serde(default)]
    sorts: Option<Vec<Value>>,
    #[serde(default)]
    limit: Option<u32>,
}

/// A validated configuration.
#[derive(Clone, PartialEq)]
pub struct NotionConfig {
    /// The operation.
    pub operation: Operation,
    /// The database.
    pub database_id: Uuid,
    /// A token from the configuration (usually `{{ secrets.NOTION_TOKEN }}`, resolved by the
    /// worker); absent: the task owner's Notion connection.
    pub token: Option<String>,
    /// Page properties (create, update).
    pub properties: Map<String, Value>,
    /// Page content blocks (create).
    pub children: Vec<Value>,
    /// Query filter (update, query).
    pub filter: Option<Value>,
    /// Query sorts (query).
    pub sorts: Vec<Value>,
    /// Most pages updated or returned.
    pub limit: u32,
}

impl std::fmt::Debug for NotionConfig {
    // The token never reaches a log line, even through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotionConfig")
            .field("operation", &self.operation)
            .field("database_id", &self.database_id)
            .field("token", &self.token.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}

impl NotionConfig {
    /// Parses and checks a configuration; every problem names its field.
    pub fn parse(value: &Value) -> Result<Self, Vec<FieldError>> {
        let raw: RawConfig = serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            let path = if path == "." { String::new() } else { path };
            vec![field_error(&path, err.into_inner().to_string())]
        })?;
        let mut errors = Vec::new();
        let database_id = Uuid::parse_str(raw.database_id.trim()).unwrap_or_else(|_| {
            errors.push(field_error(
                "database_id",
                "must be a Notion database id (32 hex digits, with or without dashes)",
            ));
            Uuid::nil()
        });
        if raw.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            errors.push(field_error(
                "token",
                "must not be empty; leave it out to use your Notion connection",
            ));
        }
        let properties = raw.properties.unwrap_or_default();
        let (default_limit, max_limit) = match raw.operation {
            Operation::CreatePage => (1, 1),
            Operation::UpdatePages => UPDATE_LIMIT,
            Operation::QueryDatabase => QUERY_LIMIT,
        };
        match raw.operation {
            Operation::CreatePage | Operation::UpdatePages if properties.is_empty() => {
                errors.push(field_error(
                    "properties",
                    format!("{} needs the properties to write", raw.operation.as_str()),
                ));
            }
            _ => {}
        }
        if raw.operation == Operation::UpdatePages && raw.filter.is_none() {
            errors.push(field_error(
                "filter",
                "update_pages needs a filter choosing the pages to change",
            ));
        }
        if raw.operation != Operation::CreatePage && raw.children.is_some() {
            errors.push(field_error("children", "only create_page adds content"));
        }
        if raw.operation == Operation::CreatePage
            && (raw.filter.is_some() || raw.sorts.is_some() || raw.limit.is_some())
        {
            errors.push(field_error(
                "filter",
                "create_page takes no filter, sorts or limit",
            ));
        }
        if raw.operation == Operation::UpdatePages && raw.sorts.is_some() {
            errors.push(field_error("sorts", "only query_database sorts"));
        }
        if raw.operation == Operation::QueryDatabase && !properties.is_empty() {
            errors.push(field_error("properties", "query_database writes nothing"));
        }
        let limit = raw.limit.unwrap_or(default_limit);
        if !(1..=max_limit).contains(&limit) {
            errors.push(field_error(
                "limit",
                format!("must be from 1 to {max_limit}"),
            ));
        }
        if let Some(filter) = &raw.filter
            && !filter.is_object()
        {
            errors.push(field_error("filter", "must be a Notion filter object"));
        }
        let config = NotionConfig {
            operation: raw.operation,
            database_id,
            token: raw.token.map(|t| t.trim().to_owned()),
            properties,
            children: raw.children.unwrap_or_default(),
            filter: raw.filter,
            sorts: raw.sorts.unwrap_or_default(),
            limit,
        };
        // Template syntax is checked now, so a typo fails when the task is saved.
        let env = environment();
        for (path, value) in config.templated() {
            check_templates(&env, &path, value, &mut errors);
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    fn templated(&self) -> Vec<(String, Value)> {
        let mut parts = vec![(
            "properties".to_owned(),
            Value::Object(self.properties.clone()),
        )];
        if !self.children.is_empty() {
            parts.push(("children".into(), Value::Array(self.children.clone())));
        }
        if let Some(filter) = &self.filter {
            parts.push(("filter".into(), filter.clone()));
        }
        if !self.sorts.is_empty() {
            parts.push(("sorts".into(), Value::Array(self.sorts.clone())));
        }
        parts
    }
}

/// Notion's rich-text array for a plain string.
fn rich_text(text: &str) -> Value {
    json!([{ "type": "text", "text": { "content": text } }])
}

/// `{"Name": {"title": "Ada"}}` → `{"Name": {"title": [{"type": "text", …}]}}`; other
/// property values pass unchanged.
pub fn expand_shorthand(properties: Value) -> Value {
    let Value::Object(map) = properties else {
        return properties;
    };
    let expanded = map
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                Value::Object(mut property) => {
                    for kind in ["title", "rich_text"] {
                        if let Some(Value::String(text)) = property.get(kind) {
                            let array = rich_text(text);
                            property.insert(kind.to_owned(), array);
                        }
                    }
                    Value::Object(property)
                }
                other => other,
            };
            (name, value)
        })
        .collect();
    Value::Object(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: Value) -> Vec<String> {
        NotionConfig::parse(&value)
            .expect_err("invalid")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_create_page_configuration_parses() {
        let config = NotionConfig::parse(&json!({
            "operation": "create_page",
            "database_id": "0b0c2ee7d6e44f4d8ea3bb0e6c5f0f1a",
            "token": "{{ secrets.NOTION_TOKEN }}",
            "properties": {"Name": {"title": "{{ input.name }}"}}
        }))
        .expect("valid");
        assert_eq!(config.operation, Operation::CreatePage);
        assert_eq!(
            config.database_id.to_string(),
            "0b0c2ee7-d6e4-4f4d-8ea3-bb0e6c5f0f1a"
        );
        assert!(!format!("{config:?}").contains("secrets"));
    }

    #[test]
    fn each_problem_names_its_field() {
        assert_eq!(
            fields(json!({"operation": "delete_everything", "database_id": "x"})),
            ["action.config.operation"]
        );
        assert_eq!(
            fields(json!({"operation": "update_pages", "database_id": "nope", "limit": 1000})),
            [
                "action.config.database_id",
                "action.config.properties",
                "action.config.filter",
                "action.config.limit"
            ]
        );
        assert_eq!(
            fields(json!({
                "operation": "create_page",
                "database_id": "0b0c2ee7d6e44f4d8ea3bb0e6c5f0f1a",
                "properties": {"Name": {"title": "{{ input.name "}}
            })),
            ["action.config.properties.Name.title"]
        );
        assert_eq!(
            fields(
                json!({"operation": "query_database", "database_id": "0b0c2ee7d6e44f4d8ea3bb0e6c5f0f1a", "extra": 1})
            ),
            ["action.config.extra"]
        );
    }

    #[test]
    fn a_lone_expression_keeps_its_type_and_text_renders() {
        let vars = json!({"input": {"amount": 42.5, "name": "Ada", "tags": ["a", "b"]}});
        let rendered = render(
            "properties",
            &json!({
                "Amount": {"number": "{{ input.amount }}"},
                "Name": {"title": "Hello {{ input.name }}"},
                "Tags": {"multi_select": [{"name": "{{ input.tags[0] }}"}]}
            }),
            &vars,
        )
        .expect("render");
        assert_eq!(rendered["Amount"]["number"], json!(42.5));
        assert_eq!(rendered["Name"]["title"], "Hello Ada");
        assert_eq!(rendered["Tags"]["multi_select"][0]["name"], "a");
        let err = render(
            "properties",
            &json!({"X": {"number": "{{ input.missing }}"}}),
            &vars,
        )
        .expect_err("undefined");
        assert_eq!(err.field, "action.config.properties.X.number");
    }

    #[test]
    fn title_and_rich_text_shorthands_expand() {
        let expanded = expand_shorthand(json!({
            "Name": {"title": "Ada"},
            "Notes": {"rich_text": "first"},
            "Done": {"checkbox": true}
        }));
        assert_eq!(expanded["Name"]["title"][0]["text"]["content"], "Ada");
        assert_eq!(expanded["Notes"]["rich_text"][0]["type"], "text");
        assert_eq!(expanded["Done"], json!({"checkbox": true}));
    }
}
