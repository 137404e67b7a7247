//! Pure decisions of the dispatcher: which due slots of a task run, which are recorded in
//! the planned-run ledger and why, and where the task's `next_run_at` moves. No I/O here, so
//! every catch-up and concurrency rule is unit-tested directly.

use chrono::{DateTime, TimeDelta, Utc};

pub use crate::executions::model::SkipReason;
use crate::{
    cron::schedule::Schedule,
    tasks::model::{CatchUpPolicy, ConcurrencyPolicy},
};

/// A slot this much past due or less is on time, not missed: a dispatcher that was busy, a
/// database that restarted, or a tick that ran late still fires it.
pub const MISFIRE_GRACE: TimeDelta = TimeDelta::seconds(30);

/// Slots examined per task per tick; a task further behind continues on the next tick, so
/// one tick's work stays bounded.
pub const MAX_SLOTS_PER_TICK: usize = 10_000;

/// A slot that will not run, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// The slot.
    pub slot: DateTime<Utc>,
    /// Why.
    pub reason: SkipReason,
}

/// Slots from `first` up to `now`, in order, bounded by `end_at` and [`MAX_SLOTS_PER_TICK`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSlots {
    /// Due slots, oldest first.
    pub due: Vec<DateTime<Utc>>,
    /// The first slot after `end_at`, when the schedule ended here.
    pub after_end: Option<DateTime<Utc>>,
    /// Where `next_run_at` moves (`None`: the schedule has no further slot).
    pub next_run_at: Option<DateTime<Utc>>,
    /// False when the bound cut the enumeration short and more due slots remain.
    pub complete: bool,
}

/// Enumerates the due slots of a schedule starting at `first` (itself a slot).
pub fn due_slots(
    schedule: &Schedule,
    first: DateTime<Utc>,
    end_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DueSlots {
    let mut due = Vec::new();
    let mut cursor = Some(first);
    let mut after_end = None;
    while let Some(slot) = cursor {
        if end_at.is_some_and(|end| slot > end) {
            after_end = Some(slot);
            cursor = None;
            break;
        }
        if slot > now || due.len() >= MAX_SLOTS_PER_TICK {
            break;
        }
        due.push(slot);
        cursor = schedule.next_after(slot);
    }
    DueSlots {
        complete: cursor.is_none_or(|next| next > now),
        due,
        after_end,
        next_run_at: cursor,
    }
}

/// The catch-up decision over due slots: what runs, what is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatchUp {
    /// Slots to run, oldest first.
    pub run: Vec<DateTime<Utc>>,
    /// Slots recorded instead.
    pub skipped: Vec<Skipped>,
}

/// Applies the catch-up policy: on-time slots (within [`MISFIRE_GRACE`]) always run; missed
/// ones follow `policy`. When the enumeration is incomplete, the latest slots are still
/// ahead, so none of this chunk's missed slots run.
pub fn catch_up(
    slots: &DueSlots,
    policy: CatchUpPolicy,
    catch_up_max: usize,
    now: DateTime<Utc>,
) -> CatchUp {
    let cutoff = now - MISFIRE_GRACE;
    let split = slots.due.partition_point(|slot| *slot < cutoff);
    let (missed, on_time) = slots.due.split_at(split);
    let kept_missed = match policy {
        _ if !slots.complete => 0,
        CatchUpPolicy::Skip => 0,
        CatchUpPolicy::Latest if on_time.is_empty() => missed.len().min(1),
        CatchUpPolicy::Latest => 0,
        CatchUpPolicy::All => missed.len().min(catch_up_max),
    };
    let (dropped, kept) = missed.split_at(missed.len() - kept_missed);
    let mut skipped: Vec<Skipped> = dropped
        .iter()
        .map(|&slot| Skipped {
            slot,
            reason: SkipReason::OutsideCatchUp,
        })
        .collect();
    if let Some(slot) = slots.after_end {
        skipped.push(Skipped {
            slot,
            reason: SkipReason::AfterEnd,
        });
    }
    CatchUp {
        run: kept.iter().chain(on_time).copied().collect(),
        skipped,
    }
}

/// The concurrency decision for the slots catch-up kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Admission {
    /// Slots that become executions.
    pub insert: Vec<DateTime<Utc>>,
    /// Slots recorded as `SKIPPED_CONCURRENCY`.
    pub skipped: Vec<DateTime<Utc>>,
    /// Whether the task's active executions are cancelled first.
    pub cancel_active: bool,
}

/// Applies the concurrency policy given the task's active executions.
pub fn admit(
    policy: ConcurrencyPolicy,
    slots: Vec<DateTime<Utc>>,
    running: i64,
    queued: i64,
) -> Admission {
    let split_at = |slots: Vec<DateTime<Utc>>, keep: usize| {
        let keep = keep.min(slots.len());
        let mut insert = slots;
        let skipped = insert.split_off(keep);
        (insert, skipped)
    };
    match policy {
        ConcurrencyPolicy::Allow => Admission {
            insert: slots,
            ..Admission::default()
        },
        ConcurrencyPolicy::Skip => {
            let keep = usize::from(running + queued == 0);
            let (insert, skipped) = split_at(slots, keep);
            Admission {
                insert,
                skipped,
                cancel_active: false,
            }
        }
        ConcurrencyPolicy::QueueOne => {
            // One may run and one may wait.
            let capacity = i64::from(running == 0) + 1 - queued;
            let (insert, skipped) = split_at(slots, usize::try_from(capacity).unwrap_or(0));
            Admission {
                insert,
                skipped,
                cancel_active: false,
            }
        }
        ConcurrencyPolicy::CancelRunning => {
            let mut skipped = slots;
            let insert: Vec<_> = skipped.pop().into_iter().collect();
            Admission {
                cancel_active: !insert.is_empty() && running + queued > 0,
                insert,
                skipped,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::model::DstPolicy;
    use chrono::TimeZone;

    fn minutely() -> Schedule {
        Schedule::parse("* * * * *", "UTC", DstPolicy::ShiftOnce).expect("parse")
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 10, minute, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn due_slots_stop_at_now_and_point_at_the_next() {
        let slots = due_slots(&minutely(), at(0), None, at(4) + TimeDelta::seconds(5));
        assert_eq!(slots.due, vec![at(0), at(1), at(2), at(3), at(4)]);
        assert_eq!(slots.next_run_at, Some(at(5)));
        assert!(slots.complete);
    }

    #[test]
    fn the_end_of_the_schedule_is_recorded_once() {
        let slots = due_slots(&minutely(), at(0), Some(at(1)), at(9));
        assert_eq!(slots.due, vec![at(0), at(1)]);
        assert_eq!(slots.after_end, Some(at(2)));
        assert_eq!(slots.next_run_at, None);
        let plan = catch_up(&slots, CatchUpPolicy::All, 10, at(9));
        assert_eq!(
            plan.skipped.last().map(|s| s.reason),
            Some(SkipReason::AfterEnd)
        );
    }

    #[test]
    fn catch_up_policies_after_downtime() {
        let now = at(10) + TimeDelta::seconds(1);
        let slots = due_slots(&minutely(), at(0), None, now);
        // at(10) is on time; at(0)..at(9) were missed.
        let skip = catch_up(&slots, CatchUpPolicy::Skip, 3, now);
        assert_eq!(skip.run, vec![at(10)]);
        assert_eq!(skip.skipped.len(), 10);
        let latest = catch_up(&slots, CatchUpPolicy::Latest, 3, now);
        assert_eq!(latest.run, vec![at(10)]);
        let all = catch_up(&slots, CatchUpPolicy::All, 3, now);
        assert_eq!(all.run, vec![at(7), at(8), at(9), at(10)]);
        assert_eq!(all.skipped.len(), 7);
        assert!(
            all.skipped
                .iter()
                .all(|s| s.reason == SkipReason::OutsideCatchUp)
        );
    }

    #[test]
    fn latest_runs_the_newest_missed_slot_when_none_is_on_time() {
        let now = at(10) + TimeDelta::seconds(45);
        let slots = due_slots(&minutely(), at(7), None, now);
        let latest = catch_up(&slots, CatchUpPolicy::Latest, 3, now);
        assert_eq!(latest.run, vec![at(10)]);
        assert_eq!(latest.skipped.len(), 3);
    }

    #[test]
    fn concurrency_policies() {
        let one = vec![at(1)];
        assert_eq!(
            admit(ConcurrencyPolicy::Allow, one.clone(), 3, 0).insert,
            one
        );
        let skip = admit(ConcurrencyPolicy::Skip, one.clone(), 1, 0);
        assert_eq!((skip.insert.len(), skip.skipped.len()), (0, 1));
        assert_eq!(
            admit(ConcurrencyPolicy::Skip, one.clone(), 0, 0).insert,
            one
        );
        assert_eq!(
            admit(ConcurrencyPolicy::QueueOne, one.clone(), 1, 0).insert,
            one
        );
        let full = admit(ConcurrencyPolicy::QueueOne, one.clone(), 1, 1);
        assert_eq!(full.skipped, one);
        let cancel = admit(ConcurrencyPolicy::CancelRunning, vec![at(1), at(2)], 1, 0);
        assert_eq!(cancel.insert, vec![at(2)]);
        assert_eq!(cancel.skipped, vec![at(1)]);
        assert!(cancel.cancel_active);
    }
}
