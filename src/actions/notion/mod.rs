//! `NOTION_SYNC`: create a page in a Notion database from the execution input, update the
//! pages a filter matches, or query a database into the result, through the Notion REST API
//! (`NOTION_API_URL`, `Notion-Version` pinned) and the guarded client.
//!
//! The token is `action.config.token` (normally `{{ secrets.NOTION_TOKEN }}`, resolved by the
//! worker) or, when absent, the task owner's Notion connection. A 429 is waited out within
//! the attempt when `Retry-After` fits before the deadline (up to three times); otherwise
//! the attempt fails as retryable. Other 4xx answers fail with Notion's `code` and `message`
//! and are marked not retryable in the outcome.

mod config;

use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

pub(crate) use config::RawConfig as RawNotionConfig;
pub use config::{NotionConfig, Operation};

use super::{Action, ActionOutcome, ExecutionContext};
use crate::{
    error::FieldError,
    notion::{
        NotionApi, NotionError,
        api::{Credentials, plain_text},
    },
    secrets::SecretValue,
};

/// Rate-limit answers waited out within one attempt.
const MAX_RATE_LIMIT_WAITS: u32 = 3;
/// The longest `Retry-After` waited out within an attempt.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(30);
/// Notion's largest page size.
const PAGE_SIZE: u32 = 100;

/// A configured NOTION_SYNC action.
#[derive(Debug, Clone)]
pub struct NotionAction {
    config: NotionConfig,
}

impl NotionAction {
    /// Validates `config`.
    pub fn from_config(config: &Value) -> Result<Self, Vec<FieldError>> {
        Ok(NotionAction {
            config: NotionConfig::parse(config)?,
        })
    }
}

impl Action for NotionAction {
    fn run<'a>(&'a self, context: &'a ExecutionContext) -> BoxFuture<'a, ActionOutcome> {
        Box::pin(self.execute(context))
    }
}

/// Why a run stopped.
enum Failure {
    /// Before reaching Notion (no token, a template error).
    Setup(String),
    /// Notion's answer, with what was done before it.
    Notion(NotionError, Value),
}

impl From<FieldError> for Failure {
    fn from(err: FieldError) -> Self {
        Failure::Setup(format!("{}: {}", err.field, err.message))
    }
}

/// One attempt's calls: the API, the token, and the attempt's deadline and log.
struct Session<'a> {
    api: NotionApi,
    token: SecretValue,
    context: &'a ExecutionContext,
}

impl Session<'_> {
    /// One call, waiting out rate limits that fit before the deadline.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, NotionError> {
        let mut waits = 0;
        loop {
            let left = self
                .context
                .deadline
                .saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NotionError::Transport("the attempt ran out of time".into()));
            }
            let result = self
                .api
                .call(
                    method.clone(),
                    path,
                    Credentials::Bearer(&self.token),
                    body,
                    left,
                )
                .await;
            match result {
                Err(NotionError::Api {
                    status: 429,
                    retry_after,
                    ..
                }) if waits < MAX_RATE_LIMIT_WAITS => {
                    let wait = retry_after.unwrap_or(Duration::from_secs(1));
                    let fits = wait <= MAX_RATE_LIMIT_WAIT
                        && Instant::now() + wait + Duration::from_millis(100)
                            < self.context.deadline;
                    if !fits {
                        return result;
                    }
                    waits += 1;
                    self.context.logger.warn(format!(
                        "Notion rate limit: waiting {} s as Retry-After asks",
                        wait.as_secs()
                    ));
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// Up to `limit` pages of the database matching `filter`, in `sorts` order; and whether
    /// more matched.
    async fn query(
        &self,
        database_id: &str,
        filter: Option<&Value>,
        sorts: Option<&Value>,
        limit: u32,
    ) -> Result<(Vec<Value>, bool), NotionError> {
        let path = format!("/v1/databases/{database_id}/query");
        let mut pages: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let wanted = limit.saturating_sub(u32::try_from(pages.len()).unwrap_or(u32::MAX));
            let mut body = json!({ "page_size": wanted.min(PAGE_SIZE) });
            if let Some(filter) = filter {
                body["filter"] = filter.clone();
            }
            if let Some(sorts) = sorts {
                body["sorts"] = sorts.clone();
            }
            if let Some(cursor) = &cursor {
                body["start_cursor"] = json!(cursor);
            }
            let answer = self.call(Method::POST, &path, Some(&body)).await?;
            if let Some(results) = answer["results"].as_array() {
                pages.extend(results.iter().cloned());
            }
            cursor = answer["next_cursor"].as_str().map(str::to_owned);
            let has_more = answer["has_more"] == true && cursor.is_some();
            if pages.len() >= limit as usize {
                pages.truncate(limit as usize);
                return Ok((pages, has_more));
            }
            if !has_more {
                return Ok((pages, false));
            }
        }
    }
}

impl NotionAction {
    async fn execute(&self, context: &ExecutionContext) -> ActionOutcome {
        let operation = self.config.operation.as_str();
        match self.attempt(context).await {
            Ok(result) => ActionOutcome::succeeded(result),
            Err(Failure::Setup(message)) => {
                context.logger.error(message.clone());
                ActionOutcome {
                    result: json!({ "operation": operation, "retryable": false }),
                    ..ActionOutcome::failed_permanently(message)
                }
            }
            Err(Failure::Notion(err, done)) => {
                let mut result = err.to_json();
                result["operation"] = json!(operation);
                if !done.is_null() {
                    result["done"] = done;
                }
                let hint = if err.is_retryable() {
                    ""
                } else {
                    " (not retryable: check the task's configuration and the integration's access)"
                };
                let message = format!("{err}{hint}");
                context.logger.error(message.clone());
                let outcome = if err.is_retryable() {
                    ActionOutcome::failed(message)
                } else {
                    ActionOutcome::failed_permanently(message)
                };
                ActionOutcome { result, ..outcome }
            }
        }
    }

    async fn token(&self, context: &ExecutionContext) -> Result<SecretValue, Failure> {
        match &self.config.token {
            Some(token) if token.contains("{{") => Err(Failure::Setup(
                "action.config.token: the secret reference was not resolved".into(),
            )),
            Some(token) => Ok(SecretValue::new(token.clone())),
            None => context
                .notion
                .token_for_owner(context.owner_id)
                .await
                .map_err(Failure::Setup)?
                .ok_or_else(|| {
                    Failure::Setup(
                        "no Notion token: connect Notion (GET /notion/oauth/authorize) or set action.config.token"
                            .into(),
                    )
                }),
        }
    }

    async fn attempt(&self, context: &ExecutionContext) -> Result<Value, Failure> {
        let session = Session {
            api: NotionApi::new(context.http.clone(), context.notion.api_url.clone()),
            token: self.token(context).await?,
            context,
        };
        let config = &self.config;
        let vars = json!({ "input": context.input });
        let database_id = config.database_id.to_string();
        let properties = || -> Result<Value, Failure> {
            let rendered = config::render(
                "properties",
                &Value::Object(config.properties.clone()),
                &vars,
            )?;
            Ok(config::expand_shorthand(rendered))
        };
        let filter = config
            .filter
            .as_ref()
            .map(|filter| config::render("filter", filter, &vars))
            .transpose()?;
        let nothing = || Value::Null;
        match config.operation {
            Operation::CreatePage => {
                let mut body = json!({
                    "parent": { "database_id": database_id },
                    "properties": properties()?,
                });
                if !config.children.is_empty() {
                    body["children"] =
                        config::render("children", &Value::Array(config.children.clone()), &vars)?;
                }
                let page = session
                    .call(Method::POST, "/v1/pages", Some(&body))
                    .await
                    .map_err(|err| Failure::Notion(err, nothing()))?;
                context.logger.info(format!(
                    "created Notion page {}",
                    page["id"].as_str().unwrap_or("?")
                ));
                Ok(json!({
                    "operation": "create_page",
                    "page": { "id": page["id"], "url": page["url"] },
                }))
            }
            Operation::QueryDatabase => {
                let sorts = if config.sorts.is_empty() {
                    None
                } else {
                    Some(config::render(
                        "sorts",
                        &Value::Array(config.sorts.clone()),
                        &vars,
                    )?)
                };
                let (pages, truncated) = session
                    .query(&database_id, filter.as_ref(), sorts.as_ref(), config.limit)
                    .await
                    .map_err(|err| Failure::Notion(err, nothing()))?;
                context.logger.info(format!(
                    "read {} Notion page(s){}",
                    pages.len(),
                    if truncated { ", more matched" } else { "" }
                ));
                Ok(json!({
                    "operation": "query_database",
                    "count": pages.len(),
                    "truncated": truncated,
                    "results": pages,
                }))
            }
            Operation::UpdatePages => {
                let properties = properties()?;
                let (pages, truncated) = session
                    .query(&database_id, filter.as_ref(), None, config.limit)
                    .await
                    .map_err(|err| Failure::Notion(err, nothing()))?;
                let body = json!({ "properties": properties });
                let mut updated: Vec<Value> = Vec::new();
                for page in &pages {
                    let Some(id) = page["id"].as_str() else {
                        continue;
                    };
                    session
                        .call(Method::PATCH, &format!("/v1/pages/{id}"), Some(&body))
                        .await
                        .map_err(|err| {
                            Failure::Notion(err, json!({ "updated": updated.clone() }))
                        })?;
                    updated.push(json!(id));
                }
                context.logger.info(format!(
                    "updated {} Notion page(s){}",
                    updated.len(),
                    if truncated {
                        " (the limit was reached; more matched)"
                    } else {
                        ""
                    }
                ));
                Ok(json!({
                    "operation": "update_pages",
                    "matched": pages.len(),
                    "updated": updated,
                    "truncated": truncated,
                    "titles": pages.iter().map(page_title).collect::<Vec<_>>(),
                }))
            }
        }
    }
}

/// A page's title (the property of type `title`), for the outcome.
fn page_title(page: &Value) -> String {
    page["properties"]
        .as_object()
        .and_then(|properties| {
            properties
                .values()
                .find(|property| property["type"] == "title")
        })
        .map(|property| plain_text(property.get("title")))
        .unwrap_or_default()
}
