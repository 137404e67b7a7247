//! The task as the API reads and writes it: [`TaskIn`] (create, replace, and the base a
//! merge patch applies to) and [`TaskOut`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    error::AppError,
    tasks::{
        list::ExecutionSummary,
        model::{
            ActionType, CatchUpPolicy, ConcurrencyPolicy, DEFAULT_PRIORITY, NewTask, RetryPolicy,
            ScheduleSpec, Task, TaskStatus,
        },
    },
};

/// What a task does. Its OpenAPI schema, one per action type, is in [`super::action_schema`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionIn {
    /// `HTTP_REQUEST`, `EMAIL_SEND`, `DATABASE_QUERY`, `API_CALL`, `CUSTOM_SCRIPT` or `NOTION_SYNC`.
    #[serde(rename = "type")]
    pub action_type: ActionType,
    /// The type's configuration (see docs/ACTIONS.md); may reference `{{ secrets.NAME }}`.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// How failed attempts are retried; omitted fields take their defaults.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RetryIn {
    /// Attempts in total, the first included (1–100, default 3; 1 = no retry).
    #[schema(minimum = 1, maximum = 100)]
    pub max_attempts: Option<i32>,
    /// Delay before the second attempt (0–86400 s, default 10).
    #[schema(minimum = 0, maximum = 86400)]
    pub initial_delay_seconds: Option<i32>,
    /// Upper bound of any delay (default 3600 s).
    #[schema(minimum = 0, maximum = 604800)]
    pub max_delay_seconds: Option<i32>,
    /// Growth factor of the delay (1.0–10.0, default 2.0).
    #[schema(minimum = 1.0, maximum = 10.0)]
    pub multiplier: Option<f64>,
}

/// A task definition, for `POST /tasks` and `PUT /tasks/{id}`. `PATCH` takes any subset of
/// it as a JSON merge patch (RFC 7396). Unknown and read-only fields (`id`, `owner_id`,
/// `next_run_at`, …) are ignored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskIn {
    /// Short name, 1–200 characters.
    #[schema(example = "Ping the shop", min_length = 1, max_length = 200)]
    pub name: String,
    /// Free text, up to 5000 characters.
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: String,
    /// Up to 20 labels of 1–50 characters.
    #[serde(default)]
    #[schema(schema_with = tags_schema)]
    pub tags: Vec<String>,
    /// What the task does.
    pub action: ActionIn,
    /// When it runs on its own; omitted or `null`: only when triggered.
    #[serde(default)]
    pub schedule: Option<ScheduleSpec>,
    /// `ACTIVE` (default) or `PAUSED` on create; on update a change of status works like
    /// `/pause`, `/resume` and `/stop`.
    #[serde(default)]
    pub status: Option<TaskStatus>,
    /// Per-attempt time limit in seconds (1–86400, default 30).
    #[serde(default = "default_timeout")]
    #[schema(minimum = 1, maximum = 86400)]
    pub timeout_seconds: i32,
    /// Retries of failed attempts.
    #[serde(default)]
    pub retry: Option<RetryIn>,
    /// What happens when a slot is due while a run is active (default `ALLOW`).
    #[serde(default = "default_concurrency")]
    pub concurrency_policy: ConcurrencyPolicy,
    /// What happens to slots missed while no scheduler ran (default `LATEST`).
    #[serde(default = "default_catch_up")]
    pub catch_up_policy: CatchUpPolicy,
    /// Most missed slots run under `ALL` (1–1000, default 10).
    #[serde(default = "default_catch_up_max")]
    #[schema(minimum = 1, maximum = 1000)]
    pub catch_up_max: i32,
    /// Consecutive dead executions after which the task is set to `FAILED`; `null`: never.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub auto_pause_after_failures: Option<i32>,
    /// Whether chains that close a cycle through this task may be saved (default `false`:
    /// a cycle is usually a mistake). Every task on the cycle must allow it; see
    /// docs/TRIGGERS.md.
    #[serde(default)]
    pub allow_cycles: bool,
    /// 0 (lowest) to 9 (default 5): workers start higher priorities first; a lower one that
    /// has waited `PRIORITY_AGEING_SECONDS` per level of difference goes first all the same.
    #[serde(default = "default_priority")]
    #[schema(minimum = 0, maximum = 9, default = 5)]
    pub priority: i16,
}

/// `tags`: up to 20 labels of 1–50 characters.
fn tags_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .description(Some("Up to 20 labels of 1–50 characters."))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(50)),
        )
        .max_items(Some(20))
        .build()
}

fn default_timeout() -> i32 {
    30
}

fn default_concurrency() -> ConcurrencyPolicy {
    ConcurrencyPolicy::Allow
}

fn default_catch_up() -> CatchUpPolicy {
    CatchUpPolicy::Latest
}

fn default_catch_up_max() -> i32 {
    10
}

fn default_priority() -> i16 {
    DEFAULT_PRIORITY
}

/// Parses a definition at the edge: `(owner_id, definition)` becomes a [`NewTask`] whose
/// every field was checked, or a 422 naming each failing field (`name`, `schedule.cron`,
/// `action.config.url`, …).
impl TryFrom<(Uuid, TaskIn)> for NewTask {
    type Error = AppError;

    fn try_from((owner_id, input): (Uuid, TaskIn)) -> Result<Self, Self::Error> {
        let new = input.into_new_task(owner_id);
        new.validate()?;
        Ok(new)
    }
}

impl TaskIn {
    /// The engine's input for this definition, owned by `owner_id`, not yet checked.
    fn into_new_task(self, owner_id: Uuid) -> NewTask {
        let defaults = RetryPolicy::default();
        let retry = self.retry.map_or(defaults, |r| RetryPolicy {
            max_attempts: r.max_attempts.unwrap_or(defaults.max_attempts),
            initial_delay_seconds: r
                .initial_delay_seconds
                .unwrap_or(defaults.initial_delay_seconds),
            max_delay_seconds: r.max_delay_seconds.unwrap_or(defaults.max_delay_seconds),
            multiplier: r.multiplier.unwrap_or(defaults.multiplier),
        });
        NewTask {
            owner_id,
            name: self.name,
            description: self.description,
            tags: self.tags,
            action_type: self.action.action_type,
            action_config: self.action.config,
            schedule: self.schedule,
            status: self.status.unwrap_or(TaskStatus::Active),
            timeout_seconds: self.timeout_seconds,
            retry,
            concurrency_policy: self.concurrency_policy,
            catch_up_policy: self.catch_up_policy,
            catch_up_max: self.catch_up_max,
            auto_pause_after_failures: self.auto_pause_after_failures,
            allow_cycles: self.allow_cycles,
            priority: self.priority,
        }
    }

    /// The definition of a stored task, the base `PATCH` applies its merge patch to.
    pub fn from_task(task: &Task) -> TaskIn {
        TaskIn {
            name: task.name.clone(),
            description: task.description.clone(),
            tags: task.tags.clone(),
            action: ActionIn {
                action_type: task.action_type,
                config: task.action_config.clone(),
            },
            schedule: task.schedule_spec(),
            status: Some(task.status),
            timeout_seconds: task.timeout_seconds,
            retry: Some(RetryIn {
                max_attempts: Some(task.retry_max_attempts),
                initial_delay_seconds: Some(task.retry_initial_delay_seconds),
                max_delay_seconds: Some(task.retry_max_delay_seconds),
                multiplier: Some(task.retry_multiplier),
            }),
            concurrency_policy: task.concurrency_policy,
            catch_up_policy: task.catch_up_policy,
            catch_up_max: task.catch_up_max,
            auto_pause_after_failures: task.auto_pause_after_failures,
            allow_cycles: task.allow_cycles,
            priority: task.priority,
        }
    }
}

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskOut {
    /// Its id.
    pub id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// Short name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Labels.
    pub tags: Vec<String>,
    /// What it does.
    pub action: ActionIn,
    /// When it runs on its own; `null`: only when triggered.
    pub schedule: Option<ScheduleSpec>,
    /// `ACTIVE`, `PAUSED`, `STOPPED` or `FAILED`.
    pub status: TaskStatus,
    /// Per-attempt time limit in seconds.
    pub timeout_seconds: i32,
    /// Retries of failed attempts.
    pub retry: RetryPolicy,
    /// Overlapping runs.
    pub concurrency_policy: ConcurrencyPolicy,
    /// Missed slots.
    pub catch_up_policy: CatchUpPolicy,
    /// Most missed slots run under `ALL`.
    pub catch_up_max: i32,
    /// Consecutive dead executions that set the task to `FAILED`.
    pub auto_pause_after_failures: Option<i32>,
    /// Dead executions since the last success.
    pub consecutive_failures: i32,
    /// Whether chains that close a cycle through this task may be saved.
    pub allow_cycles: bool,
    /// 0 (lowest) to 9.
    #[schema(minimum = 0, maximum = 9)]
    pub priority: i16,
    /// The next slot the scheduler fires (read-only).
    pub next_run_at: Option<DateTime<Utc>>,
    /// The most recent execution, if any (read-only).
    pub last_execution: Option<ExecutionSummary>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed; its value is also the `ETag` to send in `If-Match`.
    pub updated_at: DateTime<Utc>,
}

impl TaskOut {
    /// The API view of a task and its latest execution.
    pub fn new(task: Task, last_execution: Option<ExecutionSummary>) -> TaskOut {
        TaskOut {
            schedule: task.schedule_spec(),
            retry: task.retry_policy(),
            id: task.id,
            owner_id: task.owner_id,
            name: task.name,
            description: task.description,
            tags: task.tags,
            action: ActionIn {
                action_type: task.action_type,
                config: task.action_config,
            },
            status: task.status,
            timeout_seconds: task.timeout_seconds,
            concurrency_policy: task.concurrency_policy,
            catch_up_policy: task.catch_up_policy,
            catch_up_max: task.catch_up_max,
            auto_pause_after_failures: task.auto_pause_after_failures,
            consecutive_failures: task.consecutive_failures,
            allow_cycles: task.allow_cycles,
            priority: task.priority,
            next_run_at: task.next_run_at,
            last_execution,
            created_at: task.created_at,
            updated_at: task.updated_at,
        }
    }
}

/// Applies a JSON merge patch (RFC 7396) to `target`: objects merge key by key, `null`
/// removes a key, anything else replaces.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(fields) = target {
        for (key, value) in changes {
            if value.is_null() {
                fields.remove(key);
            } else {
                merge_patch(
                    fields.entry(key.clone()).or_insert(serde_json::Value::Null),
                    value,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_patch;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]});
        merge_patch(
            &mut target,
            &json!({"a": "z", "c": {"f": null}, "list": [3], "new": {"x": 1}}),
        );
        assert_eq!(
            target,
            json!({"a": "z", "c": {"d": "e"}, "list": [3], "new": {"x": 1}})
        );
    }
}
