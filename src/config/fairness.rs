//! Settings of fair sharing between accounts: how many executions one owner may have
//! running at once (across every instance) and how many may wait in the queue.

use super::{ConfigError, values::bounded};

/// Settings of the engine's per-owner limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FairnessSettings {
    /// `MAX_RUNNING_PER_OWNER`: executions of one owner running at the same time, counted
    /// over every instance (default: a quarter of `WORKER_CONCURRENCY`, at least 1).
    pub max_running_per_owner: usize,
    /// `MAX_QUEUED_PER_OWNER`: executions of one owner waiting in the queue; over it a
    /// trigger answers 429 and a schedule slot is recorded as `QUEUE_FULL` (default 10,000).
    pub max_queued_per_owner: usize,
    /// `PRIORITY_AGEING_SECONDS`: waiting this long makes up for one level of priority, so
    /// a lower priority is reached all the same (1–86400, default 60).
    pub priority_ageing_seconds: u32,
}

impl FairnessSettings {
    /// The defaults for an instance running `worker_concurrency` executions at once.
    pub fn defaults(worker_concurrency: usize) -> Self {
        FairnessSettings {
            max_running_per_owner: (worker_concurrency / 4).max(1),
            max_queued_per_owner: 10_000,
            priority_ageing_seconds: 60,
        }
    }
}

pub(super) fn fairness_settings(
    var: &impl Fn(&str) -> Option<String>,
    worker_concurrency: usize,
) -> Result<FairnessSettings, ConfigError> {
    let defaults = FairnessSettings::defaults(worker_concurrency);
    Ok(FairnessSettings {
        max_running_per_owner: bounded(
            var("MAX_RUNNING_PER_OWNER"),
            "MAX_RUNNING_PER_OWNER",
            1..=100_000,
            defaults.max_running_per_owner,
        )?,
        max_queued_per_owner: bounded(
            var("MAX_QUEUED_PER_OWNER"),
            "MAX_QUEUED_PER_OWNER",
            1..=100_000_000,
            defaults.max_queued_per_owner,
        )?,
        priority_ageing_seconds: bounded(
            var("PRIORITY_AGEING_SECONDS"),
            "PRIORITY_AGEING_SECONDS",
            1..=86_400,
            defaults.priority_ageing_seconds,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)], concurrency: usize) -> Result<FairnessSettings, ConfigError> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        fairness_settings(
            &|name: &str| {
                owned
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            },
            concurrency,
        )
    }

    #[test]
    fn defaults_are_a_quarter_of_the_workers_and_ten_thousand_queued() {
        let settings = read(&[], 32).expect("defaults");
        assert_eq!(settings.max_running_per_owner, 8);
        assert_eq!(settings.max_queued_per_owner, 10_000);
        assert_eq!(read(&[], 2).expect("small").max_running_per_owner, 1);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("MAX_RUNNING_PER_OWNER", "0"),
            ("MAX_RUNNING_PER_OWNER", "many"),
            ("MAX_QUEUED_PER_OWNER", "-1"),
        ] {
            let err = read(&[(name, value)], 32).expect_err(value);
            assert_eq!(err.name, name);
        }
        let set = read(
            &[
                ("MAX_RUNNING_PER_OWNER", "3"),
                ("MAX_QUEUED_PER_OWNER", "50"),
            ],
            32,
        )
        .expect("valid");
        assert_eq!(set.max_running_per_owner, 3);
        assert_eq!(set.max_queued_per_owner, 50);
    }
}
