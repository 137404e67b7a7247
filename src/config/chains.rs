//! Settings of task chaining: the limits that keep chains from multiplying executions
//! without bound (out-degree per task, depth, executions per root).

use super::{ConfigError, values::bounded};

/// Limits of task chaining (docs/TRIGGERS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSettings {
    /// `CHAIN_MAX_OUT_DEGREE`: most tasks one task may start by chaining (default 10).
    pub max_out_degree: i64,
    /// `CHAIN_MAX_DEPTH`: most links from a root execution to a chained one (default 10).
    pub max_depth: i32,
    /// `CHAIN_MAX_EXECUTIONS_PER_ROOT`: most executions one root may lead to, the root
    /// included and retries not counted (default 100).
    pub max_executions_per_root: i32,
}

impl Default for ChainSettings {
    fn default() -> Self {
        ChainSettings {
            max_out_degree: 10,
            max_depth: 10,
            max_executions_per_root: 100,
        }
    }
}

pub(super) fn chain_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<ChainSettings, ConfigError> {
    let defaults = ChainSettings::default();
    Ok(ChainSettings {
        max_out_degree: bounded(
            var("CHAIN_MAX_OUT_DEGREE"),
            "CHAIN_MAX_OUT_DEGREE",
            1..=1000,
            defaults.max_out_degree,
        )?,
        max_depth: bounded(
            var("CHAIN_MAX_DEPTH"),
            "CHAIN_MAX_DEPTH",
            1..=1000,
            defaults.max_depth,
        )?,
        max_executions_per_root: bounded(
            var("CHAIN_MAX_EXECUTIONS_PER_ROOT"),
            "CHAIN_MAX_EXECUTIONS_PER_ROOT",
            1..=1_000_000,
            defaults.max_executions_per_root,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<ChainSettings, ConfigError> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        chain_settings(&|name: &str| map.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn chain_limits_default_and_bad_values_name_the_variable() {
        assert_eq!(settings(&[]).expect("defaults"), ChainSettings::default());
        let set = settings(&[
            ("CHAIN_MAX_OUT_DEGREE", "3"),
            ("CHAIN_MAX_DEPTH", "4"),
            ("CHAIN_MAX_EXECUTIONS_PER_ROOT", "5"),
        ])
        .expect("valid");
        assert_eq!(
            (
                set.max_out_degree,
                set.max_depth,
                set.max_executions_per_root
            ),
            (3, 4, 5)
        );
        for (name, value) in [
            ("CHAIN_MAX_OUT_DEGREE", "0"),
            ("CHAIN_MAX_DEPTH", "deep"),
            ("CHAIN_MAX_EXECUTIONS_PER_ROOT", "-1"),
        ] {
            let err = settings(&[(name, value)]).expect_err(name);
            assert_eq!(err.name, name);
        }
    }
}
