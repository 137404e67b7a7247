//! The task data model: the policies a task carries, the stored `Task`, and `NewTask`, the
//! validated input that creates one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use super::status::TaskStatus;
pub use crate::actions::ActionType;
pub use crate::cron::schedule::DstPolicy;
use crate::{
    actions,
    cron::schedule::Schedule,
    error::{AppError, FieldError},
    text_enum,
};

/// Execution priorities: 0 is the lowest, 9 the highest.
pub const PRIORITIES: std::ops::RangeInclusive<i16> = 0..=9;
/// The priority of a task that names none.
pub const DEFAULT_PRIORITY: i16 = 5;

text_enum! {
    /// What happens when a slot is due while an earlier run is still active.
    pub enum ConcurrencyPolicy {
        /// Runs overlap.
        Allow = "ALLOW",
        /// The new slot is skipped (and recorded).
        Skip = "SKIP",
        /// One run waits for the active one; further slots are skipped.
        QueueOne = "QUEUE_ONE",
        /// The active run is cancelled and the new one starts.
        CancelRunning = "CANCEL_RUNNING",
    }
}

text_enum! {
    /// What happens to slots missed while no scheduler was running.
    pub enum CatchUpPolicy {
        /// Missed slots are recorded, not run.
        Skip = "SKIP",
        /// Only the most recent missed slot runs.
        Latest = "LATEST",
        /// Missed slots run, up to `catch_up_max` of the most recent.
        All = "ALL",
    }
}

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retry).
    pub max_attempts: i32,
    /// Delay before the second attempt.
    pub initial_delay_seconds: i32,
    /// Upper bound of any delay.
    pub max_delay_seconds: i32,
    /// Each delay is the previous one times this.
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_delay_seconds: 10,
            max_delay_seconds: 3600,
            multiplier: 2.0,
        }
    }
}

/// When a task fires on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleSpec {
    /// 5 fields (minute first), 6 (second first), or a macro such as `@hourly`.
    #[schema(example = "*/5 * * * *")]
    pub cron: String,
    /// IANA time zone the expression is read in (default `UTC`).
    #[serde(default = "utc")]
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
    /// No run before this instant.
    #[serde(default)]
    pub start_at: Option<DateTime<Utc>>,
    /// No run after this instant.
    #[serde(default)]
    pub end_at: Option<DateTime<Utc>>,
    /// Each run starts up to this many seconds after its slot, at random (0–3600, default 0).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 3600)]
    pub jitter_seconds: i32,
    /// The skipped and the repeated hour of daylight-saving changes (default `SHIFT_ONCE`).
    #[serde(default = "shift_once")]
    pub dst_policy: DstPolicy,
}

fn utc() -> String {
    "UTC".to_owned()
}

fn shift_once() -> DstPolicy {
    DstPolicy::ShiftOnce
}

impl ScheduleSpec {
    /// A schedule in UTC without window or jitter.
    pub fn cron(expression: &str) -> Self {
        ScheduleSpec {
            cron: expression.to_owned(),
            timezone: "UTC".to_owned(),
            start_at: None,
            end_at: None,
            jitter_seconds: 0,
            dst_policy: DstPolicy::ShiftOnce,
        }
    }
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Task {
    /// Its id.
    pub id: Uuid,
    /// Who owns it.
    pub owner_id: Uuid,
    /// Short name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Labels for filtering.
    pub tags: Vec<String>,
    /// What it does.
    pub action_type: ActionType,
    /// The action's configuration.
    pub action_config: serde_json::Value,
    /// Cron expression; `None` runs only when triggered.
    pub cron: Option<String>,
    /// IANA time zone of the cron expression.
    pub timezone: String,
    /// No slot before this.
    pub start_at: Option<DateTime<Utc>>,
    /// No slot after this.
    pub end_at: Option<DateTime<Utc>>,
    /// Random delay bound per run.
    pub jitter_seconds: i32,
    /// Daylight-saving behaviour.
    pub dst_policy: DstPolicy,
    /// Whether it fires.
    pub status: TaskStatus,
    /// An attempt running longer is stopped and marked `TIMED_OUT`.
    pub timeout_seconds: i32,
    /// Attempts in total.
    pub retry_max_attempts: i32,
    /// First retry delay.
    pub retry_initial_delay_seconds: i32,
    /// Largest retry delay.
    pub retry_max_delay_seconds: i32,
    /// Delay growth factor.
    pub retry_multiplier: f64,
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
    /// 0 (lowest) to 9: workers start higher priorities first (with ageing).
    pub priority: i16,
    /// The next slot the scheduler will fire.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed by its owner.
    pub updated_at: DateTime<Utc>,
}

impl Task {
    /// The schedule as one value; `None` for a task that runs only when triggered.
    pub fn schedule_spec(&self) -> Option<ScheduleSpec> {
        self.cron.as_ref().map(|cron| ScheduleSpec {
            cron: cron.clone(),
            timezone: self.timezone.clone(),
            start_at: self.start_at,
            end_at: self.end_at,
            jitter_seconds: self.jitter_seconds,
            dst_policy: self.dst_policy,
        })
    }

    /// The retry policy as one value.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.retry_max_attempts,
            initial_delay_seconds: self.retry_initial_delay_seconds,
            max_delay_seconds: self.retry_max_delay_seconds,
            multiplier: self.retry_multiplier,
        }
    }
}

/// Everything needed to create a task; `validate` checks it once, naming failing fields.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// Who will own it.
    pub owner_id: Uuid,
    /// Short name (1–200 characters).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Labels.
    pub tags: Vec<String>,
    /// The action type.
    pub action_type: ActionType,
    /// The action's configuration, checked against the type.
    pub action_config: serde_json::Value,
    /// `None`: runs only when triggered.
    pub schedule: Option<ScheduleSpec>,
    /// Initial status.
    pub status: TaskStatus,
    /// Per-attempt time limit.
    pub timeout_seconds: i32,
    /// Retries.
    pub retry: RetryPolicy,
    /// Overlapping runs.
    pub concurrency_policy: ConcurrencyPolicy,
    /// Missed slots.
    pub catch_up_policy: CatchUpPolicy,
    /// Most missed slots run under `ALL`.
    pub catch_up_max: i32,
    /// Consecutive dead executions before the task is set to `FAILED`.
    pub auto_pause_after_failures: Option<i32>,
    /// Whether chains that close a cycle through this task may be saved.
    pub allow_cycles: bool,
    /// 0 (lowest) to 9.
    pub priority: i16,
}

impl NewTask {
    /// A task with defaults for everything but its owner, name and action.
    pub fn new(
        owner_id: Uuid,
        name: &str,
        action_type: ActionType,
        action_config: serde_json::Value,
    ) -> Self {
        NewTask {
            owner_id,
            name: name.to_owned(),
            description: String::new(),
            tags: Vec::new(),
            action_type,
            action_config,
            schedule: None,
            status: TaskStatus::Active,
            timeout_seconds: 30,
            retry: RetryPolicy::default(),
            concurrency_policy: ConcurrencyPolicy::Allow,
            catch_up_policy: CatchUpPolicy::Latest,
            catch_up_max: 10,
            auto_pause_after_failures: None,
            allow_cycles: false,
            priority: DEFAULT_PRIORITY,
        }
    }

    /// Checks every field; the error lists each failing one by its path in the API
    /// (`name`, `action.config.url`, `schedule.cron`, `retry.max_attempts`, …).
    pub fn validate(&self) -> Result<Option<Schedule>, AppError> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            })
        };
        let name_length = self.name.trim().chars().count();
        if !(1..=200).contains(&name_length) {
            fail("name", "must be 1 to 200 characters".into());
        }
        if self.description.chars().count() > 5000 {
            fail("description", "must be at most 5000 characters".into());
        }
        if self.tags.len() > 20 || self.tags.iter().any(|t| t.is_empty() || t.len() > 50) {
            fail("tags", "at most 20 tags of 1 to 50 characters".into());
        }
        if !(1..=86_400).contains(&self.timeout_seconds) {
            fail("timeout_seconds", "must be from 1 to 86400".into());
        }
        let retry = &self.retry;
        if !(1..=100).contains(&retry.max_attempts) {
            fail("retry.max_attempts", "must be from 1 to 100".into());
        }
        if !(0..=86_400).contains(&retry.initial_delay_seconds) {
            fail(
                "retry.initial_delay_seconds",
                "must be from 0 to 86400".into(),
            );
        }
        if !(0..=604_800).contains(&retry.max_delay_seconds) {
            fail("retry.max_delay_seconds", "must be from 0 to 604800".into());
        } else if retry.max_delay_seconds < retry.initial_delay_seconds {
            fail(
                "retry.max_delay_seconds",
                "must not be below initial_delay_seconds".into(),
            );
        }
        if !(1.0..=10.0).contains(&retry.multiplier) {
            fail("retry.multiplier", "must be from 1.0 to 10.0".into());
        }
        if !(1..=1000).contains(&self.catch_up_max) {
            fail("catch_up_max", "must be from 1 to 1000".into());
        }
        if !PRIORITIES.contains(&self.priority) {
            fail("priority", "must be from 0 to 9".into());
        }
        if let Some(limit) = self.auto_pause_after_failures
            && !(1..=1000).contains(&limit)
        {
            fail("auto_pause_after_failures", "must be from 1 to 1000".into());
        }
        let mut schedule = None;
        if let Some(spec) = &self.schedule {
            match Schedule::parse(&spec.cron, &spec.timezone, spec.dst_policy) {
                Ok(parsed) => schedule = Some(parsed),
                Err(err) => fail(&format!("schedule.{}", err.field), err.message),
            }
            if let (Some(start), Some(end)) = (spec.start_at, spec.end_at)
                && end <= start
            {
                fail("schedule.end_at", "must be after start_at".into());
            }
            if !(0..=3600).contains(&spec.jitter_seconds) {
                fail("schedule.jitter_seconds", "must be from 0 to 3600".into());
            }
        }
        errors.extend(actions::validate_config(
            self.action_type,
            &self.action_config,
        ));
        if errors.is_empty() {
            Ok(schedule)
        } else {
            Err(AppError::validation(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> NewTask {
        let mut task = NewTask::new(
            Uuid::nil(),
            "ping",
            ActionType::HttpRequest,
            json!({"url": "https://example.com/"}),
        );
        task.schedule = Some(ScheduleSpec::cron("*/5 * * * *"));
        task
    }

    fn failing_fields(task: &NewTask) -> Vec<String> {
        match task.validate() {
            Ok(_) => Vec::new(),
            Err(err) => err.field_errors().iter().map(|e| e.field.clone()).collect(),
        }
    }

    #[test]
    fn a_valid_task_passes() {
        assert!(valid().validate().expect("valid").is_some());
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut task = valid();
        task.name = String::new();
        task.retry.max_attempts = 0;
        task.retry.multiplier = 0.5;
        task.timeout_seconds = 0;
        task.catch_up_max = 0;
        task.schedule = Some(ScheduleSpec {
            jitter_seconds: -1,
            ..ScheduleSpec::cron("61 * * * *")
        });
        task.action_config = json!({"url": "ftp://x"});
        let fields = failing_fields(&task);
        for field in [
            "name",
            "retry.max_attempts",
            "retry.multiplier",
            "timeout_seconds",
            "catch_up_max",
            "schedule.cron",
            "schedule.jitter_seconds",
            "action.config.url",
        ] {
            assert!(fields.contains(&field.to_owned()), "{field} in {fields:?}");
        }
    }

    #[test]
    fn a_bad_time_zone_is_named() {
        let mut task = valid();
        task.schedule = Some(ScheduleSpec {
            timezone: "Mars/Olympus".into(),
            ..ScheduleSpec::cron("* * * * *")
        });
        assert_eq!(failing_fields(&task), vec!["schedule.timezone"]);
    }

    #[test]
    fn every_action_type_checks_its_own_configuration() {
        for action_type in ActionType::ALL {
            let mut task = valid();
            task.action_type = *action_type;
            task.action_config = json!({"unexpected": true});
            let fields = failing_fields(&task);
            assert!(
                !fields.is_empty(),
                "{action_type} accepted a bad configuration"
            );
            assert!(
                fields.iter().all(|f| f.starts_with("action.config")),
                "{action_type}: {fields:?}"
            );
        }
    }

    #[test]
    fn enums_round_trip_through_their_names() {
        for status in TaskStatus::ALL {
            assert_eq!(status.as_str().parse::<TaskStatus>(), Ok(*status));
        }
        assert!("active".parse::<TaskStatus>().is_err());
    }
}
