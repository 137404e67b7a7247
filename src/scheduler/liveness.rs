//! When this process's dispatcher and workers last went round their loops, for the health
//! details page. Kept per instance id (several applications may share a process in tests),
//! in memory only: it describes this process, nothing a restart must keep.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

use chrono::{DateTime, Utc};

/// The last loop turns of one instance's engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Beats {
    /// When the dispatcher last finished a tick.
    pub dispatcher_tick: Option<DateTime<Utc>>,
    /// When the workers last polled the queue.
    pub worker_poll: Option<DateTime<Utc>>,
}

fn registry() -> &'static Mutex<HashMap<String, Beats>> {
    static BEATS: OnceLock<Mutex<HashMap<String, Beats>>> = OnceLock::new();
    BEATS.get_or_init(Mutex::default)
}

fn record(instance_id: &str, update: impl FnOnce(&mut Beats)) {
    if let Ok(mut map) = registry().lock() {
        match map.get_mut(instance_id) {
            Some(beats) => update(beats),
            None => {
                let mut beats = Beats::default();
                update(&mut beats);
                map.insert(instance_id.to_owned(), beats);
            }
        }
    }
}

/// Records a finished dispatcher tick.
pub fn dispatcher_ticked(instance_id: &str) {
    record(instance_id, |beats| {
        beats.dispatcher_tick = Some(Utc::now())
    });
}

/// Records a worker poll of the queue.
pub fn worker_polled(instance_id: &str) {
    record(instance_id, |beats| beats.worker_poll = Some(Utc::now()));
}

/// The instance's last beats (all `None` before its loops first turn).
pub fn beats(instance_id: &str) -> Beats {
    registry()
        .lock()
        .ok()
        .and_then(|map| map.get(instance_id).copied())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn beats_are_kept_per_instance() {
        super::dispatcher_ticked("liveness-test-a");
        super::worker_polled("liveness-test-b");
        assert!(super::beats("liveness-test-a").dispatcher_tick.is_some());
        assert!(super::beats("liveness-test-a").worker_poll.is_none());
        assert!(super::beats("liveness-test-b").worker_poll.is_some());
        assert!(super::beats("liveness-test-c").dispatcher_tick.is_none());
    }
}
