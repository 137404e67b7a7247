//! Figures the analytics endpoints and the dashboard share: executions counted by status,
//! the success rate, and percentiles of a time in milliseconds.

use serde::Serialize;
use utoipa::ToSchema;

/// Executions (attempts: a retry is an execution of its own) counted by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExecutionCounts {
    /// Every status together.
    pub total: i64,
    /// Waiting for a worker.
    pub queued: i64,
    /// Running.
    pub running: i64,
    /// Succeeded.
    pub succeeded: i64,
    /// Failed, with a retry queued.
    pub failed: i64,
    /// Failed for the last time (dead-lettered).
    pub dead: i64,
    /// Cancelled.
    pub cancelled: i64,
    /// Ran past the task's timeout.
    pub timed_out: i64,
}

impl ExecutionCounts {
    /// Attempts that ended in a failure: `FAILED`, `DEAD` and `TIMED_OUT`.
    pub fn failures(&self) -> i64 {
        self.failed + self.dead + self.timed_out
    }

    /// `SUCCEEDED / (SUCCEEDED + FAILED + DEAD + TIMED_OUT)`, from 0 to 1; `None` when no
    /// attempt ended (cancelled ones do not count either way).
    pub fn success_rate(&self) -> Option<f64> {
        success_rate(self.succeeded, self.failures())
    }
}

/// `succeeded / (succeeded + failures)`, `None` when both are 0.
pub fn success_rate(succeeded: i64, failures: i64) -> Option<f64> {
    let ended = succeeded + failures;
    (ended > 0).then(|| succeeded as f64 / ended as f64)
}

/// The 50th, 95th and 99th percentiles (continuous, interpolated) of a time in
/// milliseconds; `null` when there is nothing to measure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Percentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

impl Percentiles {
    /// From PostgreSQL's `percentile_cont(ARRAY[0.5, 0.95, 0.99])`, which is `NULL` over
    /// no rows.
    pub fn from_array(values: Option<Vec<f64>>) -> Self {
        match values.as_deref() {
            Some([p50, p95, p99]) => Percentiles {
                p50: Some(*p50),
                p95: Some(*p95),
                p99: Some(*p99),
            },
            _ => Percentiles::default(),
        }
    }
}

/// `(current − previous) / previous`; `None` when the previous figure is 0 or unknown.
pub fn relative_change(current: Option<f64>, previous: Option<f64>) -> Option<f64> {
    match (current, previous) {
        (Some(current), Some(previous)) if previous != 0.0 => Some((current - previous) / previous),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_success_rate_ignores_what_did_not_end() {
        let counts = ExecutionCounts {
            total: 10,
            queued: 2,
            running: 1,
            succeeded: 3,
            failed: 1,
            dead: 1,
            cancelled: 1,
            timed_out: 1,
        };
        assert_eq!(counts.failures(), 3);
        assert_eq!(counts.success_rate(), Some(0.5));
        assert_eq!(ExecutionCounts::default().success_rate(), None);
    }

    #[test]
    fn percentiles_and_changes() {
        let p = Percentiles::from_array(Some(vec![1.0, 2.0, 3.0]));
        assert_eq!((p.p50, p.p95, p.p99), (Some(1.0), Some(2.0), Some(3.0)));
        assert_eq!(Percentiles::from_array(None), Percentiles::default());
        assert_eq!(relative_change(Some(15.0), Some(10.0)), Some(0.5));
        assert_eq!(relative_change(Some(15.0), Some(0.0)), None);
        assert_eq!(relative_change(None, Some(1.0)), None);
    }
}
