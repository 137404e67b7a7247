//! Alert rules: their kinds and parameters, and the evaluation of one finished execution
//! against a task's rules. Evaluation is a pure function of the rules' stored state and the
//! outbox record, so it is unit-tested here; [`super::outbox`] applies it in a transaction.
//!
//! A rule whose condition starts to hold fires once and is then *alerting*; it fires again
//! only every `repeat_every_minutes` while the condition holds (never, by default), so a
//! task failing on every run gives one alert, not one per run. A success clears the failure
//! rules, and `RECOVERY` fires when one of them was alerting. A muted rule keeps its state
//! but sends nothing.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{Channel, NotificationType};
use crate::{error::AppError, executions::model::ExecutionStatus, text_enum};

/// Most alert rules one task may have.
pub const MAX_RULES_PER_TASK: i64 = 20;
/// Largest `count` of a `CONSECUTIVE_FAILURES` rule.
pub const MAX_CONSECUTIVE_FAILURES: i64 = 1000;
/// Largest `ms` of a `DURATION_OVER` or `LATE_START` rule (one day).
pub const MAX_DURATION_MS: i64 = 86_400_000;
/// Largest `of_last` window of a `FAILURE_RATE` rule.
pub const MAX_FAILURE_RATE_WINDOW: i64 = 100;
/// Largest `minutes` of a `MISSED` rule (30 days).
pub const MAX_MISSED_MINUTES: i64 = 43_200;

text_enum! {
    /// What an alert rule watches.
    pub enum RuleKind {
        /// `{count}` final failures in a row (`DEAD`, or `TIMED_OUT` with no attempt left).
        ConsecutiveFailures = "CONSECUTIVE_FAILURES",
        /// The first success after an alerting failure rule.
        Recovery = "RECOVERY",
        /// Every success.
        Success = "SUCCESS",
        /// An execution that took more than `{ms}` milliseconds.
        DurationOver = "DURATION_OVER",
        /// At least `{failures}` final failures among the last `{of_last}` ended executions.
        FailureRate = "FAILURE_RATE",
        /// An execution that started more than `{ms}` milliseconds after it was due.
        LateStart = "LATE_START",
        /// No successful run for `{minutes}` minutes while the task is active (a dead man's
        /// switch); checked by the delivery worker, cleared by the next success.
        Missed = "MISSED",
    }
}

/// Checks a rule's `params` for its kind; the error names `params.<field>`. Returns the
/// parameters as stored.
pub fn parse_params(kind: RuleKind, params: Option<&Value>) -> Result<Value, AppError> {
    let empty = json!({});
    let params = params.unwrap_or(&empty);
    let Some(object) = params.as_object() else {
        return Err(AppError::invalid_field("params", "must be an object"));
    };
    let allowed: &[&str] = match kind {
        RuleKind::ConsecutiveFailures => &["count"],
        RuleKind::DurationOver | RuleKind::LateStart => &["ms"],
        RuleKind::FailureRate => &["failures", "of_last"],
        RuleKind::Missed => &["minutes"],
        RuleKind::Recovery | RuleKind::Success => &[],
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(AppError::invalid_field(
            format!("params.{unknown}"),
            format!("is not a parameter of {kind}"),
        ));
    }
    let bounded = |name: &str, max: i64| -> Result<i64, AppError> {
        let field = format!("params.{name}");
        let value = object
            .get(name)
            .ok_or_else(|| AppError::invalid_field(field.clone(), format!("{kind} needs it")))?;
        value
            .as_i64()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                AppError::invalid_field(field, format!("must be an integer from 1 to {max}"))
            })
    };
    Ok(match kind {
        RuleKind::ConsecutiveFailures => {
            json!({"count": bounded("count", MAX_CONSECUTIVE_FAILURES)?})
        }
        RuleKind::DurationOver | RuleKind::LateStart => {
            json!({"ms": bounded("ms", MAX_DURATION_MS)?})
        }
        RuleKind::FailureRate => {
            let of_last = bounded("of_last", MAX_FAILURE_RATE_WINDOW)?;
            let failures = bounded("failures", MAX_FAILURE_RATE_WINDOW)?;
            if failures > of_last {
                return Err(AppError::invalid_field(
                    "params.failures",
                    "must not be more than `of_last`",
                ));
            }
            json!({"failures": failures, "of_last": of_last})
        }
        RuleKind::Missed => json!({"minutes": bounded("minutes", MAX_MISSED_MINUTES)?}),
        RuleKind::Recovery | RuleKind::Success => json!({}),
    })
}

/// The rules a new task gets: one alert when an execution fails for good, one notice when
/// the task recovers.
pub fn default_rules() -> [(RuleKind, Value); 2] {
    [
        (RuleKind::ConsecutiveFailures, json!({"count": 1})),
        (RuleKind::Recovery, json!({})),
    ]
}

/// Outbox kind of [`ExecutionEnded`] records.
pub const EXECUTION_ENDED: &str = "execution.ended";

/// The outbox record of an execution that ended (no retry follows).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecutionEnded {
    /// The execution.
    pub execution_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// The task's owner.
    pub owner_id: Uuid,
    /// `SUCCEEDED`, `DEAD` or `TIMED_OUT`.
    pub status: ExecutionStatus,
    /// Which attempt ended it.
    pub attempt: i32,
    /// Wall time of the attempt.
    pub duration_ms: Option<i64>,
    /// The error, for failures.
    pub error: Option<String>,
    /// The task's final failures in a row, this one included (0 after a success).
    pub consecutive_failures: i32,
    /// How late it started, in milliseconds (absent in records written before it was kept).
    #[serde(default)]
    pub lateness_ms: Option<i64>,
}

impl ExecutionEnded {
    fn failed(&self) -> bool {
        is_failure(self.status)
    }
}

/// Whether an ended execution's status is a final failure.
pub fn is_failure(status: ExecutionStatus) -> bool {
    matches!(status, ExecutionStatus::Dead | ExecutionStatus::TimedOut)
}

/// The widest `FAILURE_RATE` window among `rules` (0 without such a rule): how many of the
/// task's latest ended executions evaluation needs.
pub fn history_needed(rules: &[RuleState]) -> i64 {
    rules
        .iter()
        .filter(|rule| rule.kind == RuleKind::FailureRate)
        .map(|rule| rule.param("of_last"))
        .max()
        .unwrap_or(0)
}

/// A rule as evaluation sees it.
#[derive(Debug, Clone)]
pub struct RuleState {
    /// The rule.
    pub id: Uuid,
    /// What it watches.
    pub kind: RuleKind,
    /// Its parameters (checked by [`parse_params`]).
    pub params: Value,
    /// Where its notifications go.
    pub channels: Vec<Channel>,
    /// Fire again this often while the condition holds.
    pub repeat_every_minutes: Option<i32>,
    /// Send nothing until then.
    pub muted_until: Option<DateTime<Utc>>,
    /// Whether its condition holds and it has fired.
    pub alerting: bool,
    /// When it last sent a notification.
    pub last_fired_at: Option<DateTime<Utc>>,
}

/// What one rule does about one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The notification to send, if any.
    pub notify: Option<NotificationType>,
    /// The rule's alerting state afterwards.
    pub alerting: bool,
}

impl RuleState {
    fn param(&self, name: &str) -> i64 {
        self.params.get(name).and_then(Value::as_i64).unwrap_or(1)
    }

    fn repeat_due(&self, now: DateTime<Utc>) -> bool {
        self.repeat_every_minutes.is_some_and(|minutes| {
            self.last_fired_at
                .is_none_or(|at| now - at >= Duration::minutes(i64::from(minutes)))
        })
    }

    /// Fires on the rising edge of `holds`, then only when a repeat is due.
    fn edge(&self, holds: bool, kind: NotificationType, now: DateTime<Utc>) -> Decision {
        if !holds {
            return Decision {
                notify: None,
                alerting: false,
            };
        }
        let fire = !self.alerting || self.repeat_due(now);
        Decision {
            notify: fire.then_some(kind),
            alerting: true,
        }
    }
}

/// Each rule's decision about `ended`, in the order of `rules`. `history` holds the task's
/// latest ended executions' statuses, newest first, `ended` included (at least
/// [`history_needed`] of them when the task has that many).
pub fn evaluate(
    rules: &[RuleState],
    ended: &ExecutionEnded,
    history: &[ExecutionStatus],
    now: DateTime<Utc>,
) -> Vec<Decision> {
    let succeeded = ended.status == ExecutionStatus::Succeeded;
    let failure_was_alerting = rules
        .iter()
        .any(|r| matches!(r.kind, RuleKind::ConsecutiveFailures | RuleKind::Missed) && r.alerting);
    rules
        .iter()
        .map(|rule| {
            let unchanged = Decision {
                notify: None,
                alerting: rule.alerting,
            };
            let decision = match rule.kind {
                RuleKind::ConsecutiveFailures if ended.failed() => rule.edge(
                    i64::from(ended.consecutive_failures) >= rule.param("count"),
                    NotificationType::TaskFailed,
                    now,
                ),
                RuleKind::ConsecutiveFailures if succeeded => Decision {
                    notify: None,
                    alerting: false,
                },
                RuleKind::ConsecutiveFailures => unchanged,
                RuleKind::Recovery => Decision {
                    notify: (succeeded && failure_was_alerting)
                        .then_some(NotificationType::TaskRecovered),
                    alerting: false,
                },
                RuleKind::Success => Decision {
                    notify: succeeded.then_some(NotificationType::TaskSucceeded),
                    alerting: false,
                },
                RuleKind::DurationOver => match ended.duration_ms {
                    Some(ms) => rule.edge(ms > rule.param("ms"), NotificationType::TaskSlow, now),
                    None => unchanged,
                },
                RuleKind::LateStart => match ended.lateness_ms {
                    Some(ms) => rule.edge(ms > rule.param("ms"), NotificationType::TaskLate, now),
                    None => unchanged,
                },
                RuleKind::FailureRate => {
                    let window = usize::try_from(rule.param("of_last")).unwrap_or(1);
                    let failures = history
                        .iter()
                        .take(window)
                        .filter(|status| is_failure(**status))
                        .count();
                    rule.edge(
                        i64::try_from(failures).unwrap_or(i64::MAX) >= rule.param("failures"),
                        NotificationType::TaskFailed,
                        now,
                    )
                }
                // Fired by the periodic check; a success ends it.
                RuleKind::Missed if succeeded => Decision {
                    notify: None,
                    alerting: false,
                },
                RuleKind::Missed => unchanged,
            };
            let muted = rule.muted_until.is_some_and(|until| until > now);
            Decision {
                notify: decision.notify.filter(|_| !muted),
                ..decision
            }
        })
        .collect()
}

/// Gives a new task the default rules, inside the transaction that creates it.
pub async fn insert_default_rules(
    conn: &mut PgConnection,
    task_id: Uuid,
) -> Result<(), sqlx::Error> {
    let (kinds, params): (Vec<String>, Vec<Value>) = default_rules()
        .into_iter()
        .map(|(kind, params)| (kind.as_str().to_owned(), params))
        .unzip();
    let ids: Vec<Uuid> = kinds.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query!(
        r#"INSERT INTO alert_rules (id, task_id, kind, params)
           SELECT r.id, $1, r.kind, r.params
           FROM UNNEST($2::uuid[], $3::text[], $4::jsonb[]) AS r(id, kind, params)"#,
        task_id,
        &ids,
        &kinds,
        &params
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: RuleKind, params: Value) -> RuleState {
        RuleState {
            id: Uuid::new_v4(),
            kind,
            params,
            channels: vec![Channel::InApp],
            repeat_every_minutes: None,
            muted_until: None,
            alerting: false,
            last_fired_at: None,
        }
    }

    fn ended(status: ExecutionStatus, consecutive_failures: i32) -> ExecutionEnded {
        ExecutionEnded {
            execution_id: Uuid::new_v4(),
            task_id: Uuid::new_v4(),
            owner_id: Uuid::new_v4(),
            status,
            attempt: 1,
            duration_ms: Some(10),
            error: None,
            consecutive_failures,
            lateness_ms: Some(10),
        }
    }

    /// Runs `statuses` through the rules, applying each decision, and returns what was sent.
    fn run(rules: &mut [RuleState], statuses: &[ExecutionStatus]) -> Vec<NotificationType> {
        let mut sent = Vec::new();
        let mut failures = 0;
        let mut history = Vec::new();
        let now = Utc::now();
        for (i, status) in statuses.iter().enumerate() {
            failures = if *status == ExecutionStatus::Succeeded {
                0
            } else {
                failures + 1
            };
            history.insert(0, *status);
            let at = now + Duration::minutes(i as i64);
            let decisions = evaluate(rules, &ended(*status, failures), &history, at);
            for (rule, decision) in rules.iter_mut().zip(decisions) {
                rule.alerting = decision.alerting;
                if let Some(kind) = decision.notify {
                    rule.last_fired_at = Some(at);
                    sent.push(kind);
                }
            }
        }
        sent
    }

    fn defaults() -> Vec<RuleState> {
        default_rules()
            .into_iter()
            .map(|(kind, params)| rule(kind, params))
            .collect()
    }

    use ExecutionStatus::{Dead, Succeeded, TimedOut};
    use NotificationType::{TaskFailed, TaskRecovered};

    #[test]
    fn the_default_rules_alert_once_then_recover_once() {
        let sent = run(
            &mut defaults(),
            &[Dead, Dead, TimedOut, Dead, Succeeded, Succeeded],
        );
        assert_eq!(sent, [TaskFailed, TaskRecovered]);
        let sent = run(&mut defaults(), &[Succeeded, Succeeded]);
        assert!(sent.is_empty(), "no recovery without a failure: {sent:?}");
    }

    #[test]
    fn a_threshold_waits_for_its_count() {
        let mut rules = vec![rule(RuleKind::ConsecutiveFailures, json!({"count": 2}))];
        assert!(run(&mut rules, &[Dead]).is_empty());
        let mut rules = vec![rule(RuleKind::ConsecutiveFailures, json!({"count": 2}))];
        assert_eq!(run(&mut rules, &[Dead, Dead, Dead]), [TaskFailed]);
    }

    #[test]
    fn repeats_follow_the_interval_and_mutes_silence() {
        let mut rules = vec![rule(RuleKind::ConsecutiveFailures, json!({"count": 1}))];
        rules[0].repeat_every_minutes = Some(2);
        // One minute apart: fires at 0, 2 and 4.
        assert_eq!(run(&mut rules, &[Dead; 5]), [TaskFailed; 3]);
        let mut rules = defaults();
        rules[0].muted_until = Some(Utc::now() + Duration::days(1));
        rules[1].muted_until = Some(Utc::now() + Duration::days(1));
        assert!(run(&mut rules, &[Dead, Succeeded]).is_empty());
    }

    #[test]
    fn duration_and_success_rules() {
        let mut rules = vec![
            rule(RuleKind::DurationOver, json!({"ms": 5})),
            rule(RuleKind::Success, json!({})),
        ];
        assert_eq!(
            run(&mut rules, &[Succeeded, Succeeded]),
            [
                NotificationType::TaskSlow,
                NotificationType::TaskSucceeded,
                NotificationType::TaskSucceeded
            ]
        );
    }

    #[test]
    fn a_failure_rate_counts_within_its_window_and_clears_below_it() {
        let rate = || {
            vec![rule(
                RuleKind::FailureRate,
                json!({"failures": 2, "of_last": 3}),
            )]
        };
        assert!(run(&mut rate(), &[Dead, Succeeded, Succeeded, Dead]).is_empty());
        assert_eq!(run(&mut rate(), &[Dead, Succeeded, Dead]), [TaskFailed]);
        // Stays alerting while two of the last three failed, clears, fires again.
        assert_eq!(
            run(
                &mut rate(),
                &[
                    Dead, Dead, Succeeded, Dead, Succeeded, Succeeded, Dead, Dead
                ]
            ),
            [TaskFailed, TaskFailed]
        );
        assert_eq!(history_needed(&rate()), 3);
        assert_eq!(history_needed(&defaults()), 0);
    }

    #[test]
    fn a_late_start_fires_once_while_late() {
        let mut rules = vec![rule(RuleKind::LateStart, json!({"ms": 5}))];
        assert_eq!(
            run(&mut rules, &[Succeeded, Succeeded]),
            [NotificationType::TaskLate]
        );
        let mut rules = vec![rule(RuleKind::LateStart, json!({"ms": 50}))];
        assert!(run(&mut rules, &[Succeeded]).is_empty());
    }

    #[test]
    fn a_success_clears_a_missed_rule_and_sends_the_recovery() {
        let mut rules = defaults();
        rules.push(rule(RuleKind::Missed, json!({"minutes": 5})));
        rules[2].alerting = true;
        assert_eq!(run(&mut rules, &[Succeeded]), [TaskRecovered]);
        assert!(!rules[2].alerting);
    }

    #[test]
    fn params_are_checked_per_kind() {
        let field = |kind, params: Value| {
            parse_params(kind, Some(&params))
                .expect_err("invalid")
                .field_errors()[0]
                .field
                .clone()
        };
        assert_eq!(
            field(RuleKind::ConsecutiveFailures, json!({})),
            "params.count"
        );
        assert_eq!(
            field(RuleKind::ConsecutiveFailures, json!({"count": 0})),
            "params.count"
        );
        assert_eq!(
            field(RuleKind::DurationOver, json!({"ms": "5"})),
            "params.ms"
        );
        assert_eq!(field(RuleKind::Recovery, json!({"x": 1})), "params.x");
        assert_eq!(field(RuleKind::Success, json!([1])), "params");
        assert_eq!(
            field(RuleKind::FailureRate, json!({"failures": 4, "of_last": 3})),
            "params.failures"
        );
        assert_eq!(
            field(
                RuleKind::FailureRate,
                json!({"failures": 1, "of_last": 101})
            ),
            "params.of_last"
        );
        assert_eq!(
            field(RuleKind::Missed, json!({"minutes": 43_201})),
            "params.minutes"
        );
        assert_eq!(field(RuleKind::LateStart, json!({})), "params.ms");
        assert_eq!(
            parse_params(RuleKind::ConsecutiveFailures, Some(&json!({"count": 3}))).expect("ok"),
            json!({"count": 3})
        );
    }
}
