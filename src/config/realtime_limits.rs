//! Limits of the Socket.IO gateway that protect the server from one connection's floods:
//! rooms per connection, the subscribe rate, and how many task-owner lookups may use the
//! database at once.

use super::{ConfigError, values::bounded};

/// Settings of the realtime gateway's per-connection limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealtimeLimits {
    /// `REALTIME_MAX_ROOMS_PER_SOCKET`: rooms one connection may subscribe to, besides its
    /// own user room (default 100).
    pub max_rooms_per_socket: usize,
    /// `REALTIME_SUBSCRIBES_PER_SECOND`: `subscribe` requests one connection may send per
    /// second, on average (default 10).
    pub subscribes_per_second: u32,
    /// `REALTIME_SUBSCRIBE_BURST`: how many of them may come at once (default 20).
    pub subscribe_burst: u32,
    /// `REALTIME_OWNER_LOOKUPS`: task-owner lookups that may use a database connection at the
    /// same time, across all connections of the instance (default 4).
    pub owner_lookups: usize,
}

impl Default for RealtimeLimits {
    fn default() -> Self {
        RealtimeLimits {
            max_rooms_per_socket: 100,
            subscribes_per_second: 10,
            subscribe_burst: 20,
            owner_lookups: 4,
        }
    }
}

pub(super) fn realtime_limits(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<RealtimeLimits, ConfigError> {
    let defaults = RealtimeLimits::default();
    Ok(RealtimeLimits {
        max_rooms_per_socket: bounded(
            var("REALTIME_MAX_ROOMS_PER_SOCKET"),
            "REALTIME_MAX_ROOMS_PER_SOCKET",
            1..=100_000,
            defaults.max_rooms_per_socket,
        )?,
        subscribes_per_second: bounded(
            var("REALTIME_SUBSCRIBES_PER_SECOND"),
            "REALTIME_SUBSCRIBES_PER_SECOND",
            1..=100_000,
            defaults.subscribes_per_second,
        )?,
        subscribe_burst: bounded(
            var("REALTIME_SUBSCRIBE_BURST"),
            "REALTIME_SUBSCRIBE_BURST",
            1..=100_000,
            defaults.subscribe_burst,
        )?,
        owner_lookups: bounded(
            var("REALTIME_OWNER_LOOKUPS"),
            "REALTIME_OWNER_LOOKUPS",
            1..=1_000,
            defaults.owner_lookups,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<RealtimeLimits, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        realtime_limits(&|name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_apply_when_unset() {
        assert_eq!(with(&[]).expect("defaults"), RealtimeLimits::default());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for name in [
            "REALTIME_MAX_ROOMS_PER_SOCKET",
            "REALTIME_SUBSCRIBES_PER_SECOND",
            "REALTIME_SUBSCRIBE_BURST",
            "REALTIME_OWNER_LOOKUPS",
        ] {
            for bad in ["0", "many", "-1"] {
                let err = with(&[(name, bad)]).expect_err(bad);
                assert_eq!(err.name, name);
            }
        }
        let set = with(&[("REALTIME_MAX_ROOMS_PER_SOCKET", "7")]).expect("valid");
        assert_eq!(set.max_rooms_per_socket, 7);
    }
}
