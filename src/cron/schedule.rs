//! The engine's one door to cron evaluation: parse a task's schedule and compute the slot
//! after an instant.
//!
//! Everything in the dispatcher asks this module for fire times; it maps a task's stored
//! DST policy onto the cron module's `CronSchedule`, which does the evaluation.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

use chrono::{DateTime, SubsecRound, Utc};

use crate::{
    cron::{self, CronSchedule, RepeatedHour, SkippedHour},
    text_enum,
};

text_enum! {
    /// How local times in the hour skipped or repeated by a daylight-saving change fire.
    #[schema(as = ScheduleDstPolicy)]
    pub enum DstPolicy {
        /// Skipped hour: run once at the end of the gap. Repeated hour: run once.
        ShiftOnce = "SHIFT_ONCE",
        /// Skipped hour: run at the end of the gap. Repeated hour: run in both.
        ShiftTwice = "SHIFT_TWICE",
        /// Skipped hour: do not run. Repeated hour: run once.
        SkipOnce = "SKIP_ONCE",
        /// Skipped hour: do not run. Repeated hour: run in both.
        SkipTwice = "SKIP_TWICE",
    }
}

/// A parsed schedule: a cron expression read in an IANA time zone under a DST policy.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: CronSchedule,
}

/// Why a schedule was refused; `field` is `cron` or `timezone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// The schedule field at fault.
    pub field: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl From<DstPolicy> for cron::DstPolicy {
    fn from(policy: DstPolicy) -> Self {
        let (skipped, repeated) = match policy {
            DstPolicy::ShiftOnce => (SkippedHour::RunAtGapEnd, RepeatedHour::Once),
            DstPolicy::ShiftTwice => (SkippedHour::RunAtGapEnd, RepeatedHour::Twice),
            DstPolicy::SkipOnce => (SkippedHour::Skip, RepeatedHour::Once),
            DstPolicy::SkipTwice => (SkippedHour::Skip, RepeatedHour::Twice),
        };
        cron::DstPolicy { skipped, repeated }
    }
}

impl Schedule {
    /// Parses a 5- or 6-field expression (seconds first when 6) or a macro such as `@hourly`,
    /// in `timezone`.
    pub fn parse(
        expression: &str,
        timezone: &str,
        dst_policy: DstPolicy,
    ) -> Result<Self, ScheduleError> {
        CronSchedule::parse(expression, timezone, dst_policy.into())
            .map(|cron| Schedule { cron })
            .map_err(|err| ScheduleError {
                field: err.field,
                message: err.message,
            })
    }

    /// Like [`Schedule::parse`], from a process-wide cache. Parsing checks that an expression
    /// fires at all (over a whole Gregorian cycle), which costs far more than computing a slot,
    /// and the dispatcher reads the same few expressions for thousands of tasks every tick.
    pub fn cached(
        expression: &str,
        timezone: &str,
        dst_policy: DstPolicy,
    ) -> Result<Self, ScheduleError> {
        type Key = (String, String, DstPolicy);
        static CACHE: OnceLock<Mutex<HashMap<Key, Schedule>>> = OnceLock::new();
        const CAPACITY: usize = 10_000;
        let cache = CACHE.get_or_init(Mutex::default);
        let key = (expression.to_owned(), timezone.to_owned(), dst_policy);
        if let Ok(map) = cache.lock()
            && let Some(schedule) = map.get(&key)
        {
            return Ok(schedule.clone());
        }
        let schedule = Self::parse(expression, timezone, dst_policy)?;
        if let Ok(mut map) = cache.lock() {
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(key, schedule.clone());
        }
        Ok(schedule)
    }

    /// The first slot strictly after `after`, or `None` when the expression never fires again.
    /// Slots are whole seconds, whatever the fraction of `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .next_after(after.trunc_subsecs(0))
            .map(|slot| slot.trunc_subsecs(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, s)
            .single()
            .expect("valid")
    }

    #[test]
    fn five_and_six_fields_and_macros() {
        let minute = Schedule::parse("*/15 * * * *", "UTC", DstPolicy::ShiftOnce).expect("parse");
        assert_eq!(minute.next_after(at(10, 7, 0)), Some(at(10, 15, 0)));
        let second = Schedule::parse("*/10 * * * * *", "UTC", DstPolicy::ShiftOnce).expect("parse");
        assert_eq!(second.next_after(at(10, 7, 3)), Some(at(10, 7, 10)));
        let hourly = Schedule::parse("@hourly", "UTC", DstPolicy::ShiftOnce).expect("parse");
        assert_eq!(hourly.next_after(at(10, 0, 0)), Some(at(11, 0, 0)));
    }

    #[test]
    fn slots_are_whole_seconds() {
        let every = Schedule::parse("* * * * * *", "UTC", DstPolicy::ShiftOnce).expect("parse");
        let after = at(10, 0, 0) + chrono::TimeDelta::milliseconds(999);
        assert_eq!(every.next_after(after), Some(at(10, 0, 1)));
    }

    #[test]
    fn the_dst_policy_reaches_the_evaluator() {
        // 02:30 does not exist in New York on 2026-03-08.
        let after = Utc
            .with_ymd_and_hms(2026, 3, 8, 0, 0, 0)
            .single()
            .expect("valid");
        let shift =
            Schedule::parse("30 2 * * *", "America/New_York", DstPolicy::ShiftOnce).expect("parse");
        // Runs at the end of the gap, 03:00 EDT = 07:00 UTC.
        let gap_end = Utc
            .with_ymd_and_hms(2026, 3, 8, 7, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(shift.next_after(after), Some(gap_end));
        let skip =
            Schedule::parse("30 2 * * *", "America/New_York", DstPolicy::SkipOnce).expect("parse");
        let next_day = Utc
            .with_ymd_and_hms(2026, 3, 9, 6, 30, 0)
            .single()
            .expect("valid");
        assert_eq!(skip.next_after(after), Some(next_day));
    }

    #[test]
    fn cached_schedules_behave_like_parsed_ones() {
        let parsed = Schedule::parse("*/7 * * * *", "UTC", DstPolicy::ShiftOnce).expect("parse");
        for _ in 0..2 {
            let cached =
                Schedule::cached("*/7 * * * *", "UTC", DstPolicy::ShiftOnce).expect("cached");
            assert_eq!(
                cached.next_after(at(10, 0, 0)),
                parsed.next_after(at(10, 0, 0))
            );
        }
        let err = Schedule::cached("* * *", "UTC", DstPolicy::ShiftOnce).expect_err("bad");
        assert_eq!(err.field, "cron");
    }

    #[test]
    fn the_time_zone_applies() {
        let nine =
            Schedule::parse("0 9 * * *", "Europe/Berlin", DstPolicy::ShiftOnce).expect("parse");
        // 09:00 in Berlin in March (before the switch) is 08:00 UTC.
        assert_eq!(nine.next_after(at(0, 0, 0)), Some(at(8, 0, 0)));
    }

    #[test]
    fn errors_name_the_field() {
        let err =
            Schedule::parse("61 * * * *", "UTC", DstPolicy::ShiftOnce).expect_err("minute 61");
        assert_eq!(err.field, "cron");
        let err =
            Schedule::parse("* * * * *", "Nowhere/City", DstPolicy::ShiftOnce).expect_err("tz");
        assert_eq!(err.field, "timezone");
    }
}
