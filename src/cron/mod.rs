//! Cron schedules in IANA time zones, with explicit daylight-saving rules.
//!
//! croner parses the expression and finds matching wall-clock times; this module evaluates
//! them on a plain calendar (croner never sees a zone, so its own DST heuristics never
//! apply) and maps each wall-clock match to UTC itself:
//!
//! - **Wall-clock schedules** (the hour field names particular hours, e.g. `30 2 * * *`):
//!   a match inside a skipped hour runs once at the end of the gap
//!   ([`SkippedHour::RunAtGapEnd`], several matches in one gap collapse into that one run)
//!   or not at all ([`SkippedHour::Skip`]); a match inside a repeated hour runs at its first
//!   occurrence ([`RepeatedHour::Once`]) or at both ([`RepeatedHour::Twice`]).
//! - **Interval schedules** (the hour field is `*`, e.g. `*/15 * * * *`, `* * * * * *`,
//!   `@hourly`): they fire at every real instant whose local time matches. A skipped hour
//!   has no such instants and a repeated hour has twice as many, so the cadence continues
//!   in absolute time across a transition, with neither a duplicate nor a hole, and the DST
//!   policy does not apply.
//!
//! A leaf of the crate: the engine reads fire times through [`schedule`], and [`explain`]
//! serves `POST /cron/explain`; nothing here knows tasks or executions.

pub mod explain;
pub mod schedule;
mod syntax;
#[cfg(test)]
mod tests;

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What to do with a wall-clock time that falls in the hour skipped when clocks go forward.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SkippedHour {
    /// Run once, at the first instant after the gap (e.g. 02:30 → 03:00 EDT).
    #[default]
    RunAtGapEnd,
    /// Do not run that day.
    Skip,
}

/// What to do with a wall-clock time that occurs twice when clocks go back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RepeatedHour {
    /// Run once, at the first occurrence (the earlier offset).
    #[default]
    Once,
    /// Run at both occurrences.
    Twice,
}

/// How a wall-clock schedule treats daylight-saving transitions. Interval schedules (hour
/// field `*`) keep their cadence in absolute time and ignore it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DstPolicy {
    /// The hour skipped when clocks go forward.
    pub skipped: SkippedHour,
    /// The hour repeated when clocks go back.
    pub repeated: RepeatedHour,
}

/// Why a cron expression or time zone was refused; `field` is `cron` or `timezone`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CronError {
    /// `cron` or `timezone`.
    pub field: &'static str,
    /// Where and why, for a person (`field 2 (hour) value 25 is out of range 0-23`).
    pub message: String,
}

impl CronError {
    fn cron(message: impl Into<String>) -> Self {
        CronError {
            field: "cron",
            message: message.into(),
        }
    }
}

/// A parsed cron expression bound to a time zone and a DST policy.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expression: String,
    cron: croner::Cron,
    timezone: Tz,
    dst: DstPolicy,
    interval: bool,
}

/// How a run's instant relates to its wall-clock match, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// The wall-clock time exists once.
    Regular,
    /// The wall-clock time fell in a skipped hour; the run was moved to the end of the gap.
    MovedToGapEnd,
    /// The first of two occurrences of a repeated wall-clock time.
    RepeatedFirst,
    /// The second of two occurrences of a repeated wall-clock time.
    RepeatedSecond,
}

/// One fire time with the wall-clock match it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// When it fires.
    pub at: DateTime<Utc>,
    /// The wall-clock time the expression matched (for a moved run, the nonexistent time).
    pub wall_clock: NaiveDateTime,
    /// How `at` was derived from `wall_clock`.
    pub kind: SlotKind,
}

/// A change of UTC offset in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The first instant with the new offset.
    pub at: DateTime<Utc>,
    /// The offset before, in seconds east of UTC.
    pub offset_before: i32,
    /// The offset from `at` on, in seconds east of UTC.
    pub offset_after: i32,
}

/// DST shifts are at most two hours: a repeated hour whose second pass is still ahead of
/// an instant starts within this long after it.
const LOOK_AHEAD: Duration = Duration::hours(3);

/// The first day of the calendar cycle the "never fires" check walks.
const NEVER_CHECK_FROM: (i32, u32, u32) = (2001, 1, 1);
/// Days in the 400-year Gregorian cycle, after which weekdays and leap years repeat.
const GREGORIAN_CYCLE_DAYS: usize = 146_097;

impl CronSchedule {
    /// Parses a 5-field (minute first) or 6-field (second first) expression or a macro
    /// (`@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`, `@annually`)
    /// in an IANA time zone. Refuses expressions that can never fire.
    pub fn parse(expression: &str, timezone: &str, dst: DstPolicy) -> Result<Self, CronError> {
        let cron = syntax::parse_expression(expression).map_err(CronError::cron)?;
        let timezone = parse_timezone(timezone)?;
        let interval = covers_every_hour(&cron);
        let schedule = CronSchedule {
            expression: expression.trim().to_owned(),
            cron,
            timezone,
            dst,
            interval,
        };
        schedule.ensure_it_fires()?;
        Ok(schedule)
    }

    /// The first fire time strictly after `after` (UTC), honouring the DST policy.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_slot_after(after).map(|slot| slot.at)
    }

    /// The next `count` fire times after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        self.upcoming_slots(after, count)
            .into_iter()
            .map(|slot| slot.at)
            .collect()
    }

    /// The next `count` slots after `after`, with how each was derived.
    pub fn upcoming_slots(&self, after: DateTime<Utc>, count: usize) -> Vec<Slot> {
        let mut slots = Vec::with_capacity(count.min(1024));
        let mut cursor = after;
        while slots.len() < count {
            match self.next_slot_after(cursor) {
                Some(slot) => {
                    cursor = slot.at;
                    slots.push(slot);
                }
                None => break,
            }
        }
        slots
    }

    /// Plain-English description ("At 09:00, on Monday, Tuesday, … (Europe/Berlin)").
    pub fn describe(&self) -> String {
        let text = self.cron.describe();
        let text = text.trim_end_matches('.');
        // croner words steps as "At every 10 seconds".
        let text = match text.strip_prefix("At every ") {
            Some(rest) => format!("Every {rest}"),
            None => text.to_owned(),
        };
        format!("{text} ({})", self.timezone.name())
    }

    /// The time zone.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The DST policy.
    pub fn dst_policy(&self) -> DstPolicy {
        self.dst
    }

    /// Whether the schedule is an interval (hour field `*`) that keeps its cadence in
    /// absolute time, rather than a wall-clock schedule subject to the DST policy.
    pub fn is_interval(&self) -> bool {
        self.interval
    }

    /// Wall-clock times in `[from, to)` the expression matches (at most 10,000), whether
    /// or not they exist in the zone; explanations use it to find affected transitions.
    pub fn wall_clock_matches(&self, from: NaiveDateTime, to: NaiveDateTime) -> Vec<NaiveDateTime> {
        const LIMIT: usize = 10_000;
        let mut found = Vec::new();
        let mut cursor = self.next_wall_clock(from, true);
        while let Some(at) = cursor.filter(|at| *at < to && found.len() < LIMIT) {
            found.push(at);
            cursor = self.next_wall_clock(at, false);
        }
        found
    }

    /// The first slot strictly after `after`.
    pub fn next_slot_after(&self, after: DateTime<Utc>) -> Option<Slot> {
        let offset_now = offset_seconds(self.timezone, after);
        let local_now = after
            .naive_utc()
            .checked_add_signed(Duration::seconds(offset_now.into()))?
            .with_nanosecond(0)?;
        let forward = self.scan_forward(after, local_now, offset_now);
        let second_pass = self.second_pass_before(after, local_now, offset_now);
        match (forward, second_pass) {
            (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// The earliest slot after `after` among wall-clock matches from `local_now` on.
    fn scan_forward(
        &self,
        after: DateTime<Utc>,
        local_now: NaiveDateTime,
        offset_now: i32,
    ) -> Option<Slot> {
        let mut search_from = local_now;
        let mut inclusive = true;
        let mut best: Option<Slot> = None;
        loop {
            let Some(wall_clock) = self.next_wall_clock(search_from, inclusive) else {
                return best;
            };
            inclusive = false;
            search_from = wall_clock;
            let resolved = self.resolve(wall_clock);
            let mut best_is_final = false;
            for slot in resolved.slots.into_iter().flatten() {
                if slot.at > after && best.is_none_or(|b| slot.at < b.at) {
                    best = Some(slot);
                    // `after` lies in this repeated hour's second pass: later wall-clock
                    // times repeat later still, and the hour after it is later again.
                    best_is_final =
                        slot.kind == SlotKind::RepeatedSecond && offset_now < resolved.first_offset;
                }
            }
            // Every later wall-clock time maps to instants at or after this one's earliest.
            if let Some(best) = best
                && (best_is_final || resolved.earliest >= best.at)
            {
                return Some(best);
            }
            if let Some(gap_end) = resolved.skip_to {
                // Nothing in the rest of the gap can run; resume the search at its end.
                search_from = gap_end;
                inclusive = true;
            } else if resolved.slots[1].is_none()
                && matches!(resolved.slots[0], Some(slot) if slot.kind == SlotKind::RepeatedFirst)
                && offset_now < resolved.first_offset
                && resolved.earliest <= after
            {
                // In a repeated hour's second pass with one run per time: every first pass
                // of this stretch is behind us, so resume where the stretch ends.
                if let Some(end) = repeat_end(self.timezone, wall_clock) {
                    search_from = end;
                    inclusive = true;
                }
            }
        }
    }

    /// When clocks go back within [`LOOK_AHEAD`], wall-clock times already passed (before
    /// `local_now`) come round again: the first of those second passes after `after`.
    fn second_pass_before(
        &self,
        after: DateTime<Utc>,
        local_now: NaiveDateTime,
        offset_now: i32,
    ) -> Option<Slot> {
        if !(self.interval || self.dst.repeated == RepeatedHour::Twice) {
            return None;
        }
        let ahead = after.checked_add_signed(LOOK_AHEAD)?;
        if offset_seconds(self.timezone, ahead) >= offset_now {
            return None;
        }
        let back = transitions(self.timezone, after, ahead)
            .into_iter()
            .find(|t| t.offset_after < t.offset_before)?;
        // The repeated stretch starts at the transition read on the new, earlier clock.
        let repeat_start = back
            .at
            .naive_utc()
            .checked_add_signed(Duration::seconds(back.offset_after.into()))?;
        let wall_clock = self.next_wall_clock(repeat_start, true)?;
        if wall_clock >= local_now {
            return None;
        }
        self.resolve(wall_clock).slots[1].filter(|slot| slot.at > after)
    }

    /// The next wall-clock match at or after `from` (croner on a zone-less calendar).
    fn next_wall_clock(&self, from: NaiveDateTime, inclusive: bool) -> Option<NaiveDateTime> {
        self.cron
            .find_next_occurrence(&Utc.from_utc_datetime(&from), inclusive)
            .ok()
            .map(|at| at.naive_utc())
    }

    /// Maps one wall-clock match to its run instants under this schedule's rules.
    fn resolve(&self, wall_clock: NaiveDateTime) -> Resolved {
        let slot = |at: DateTime<Tz>, kind| Slot {
            at: at.with_timezone(&Utc),
            wall_clock,
            kind,
        };
        match self.timezone.from_local_datetime(&wall_clock) {
            LocalResult::Single(at) => Resolved {
                earliest: at.with_timezone(&Utc),
                slots: [Some(slot(at, SlotKind::Regular)), None],
                skip_to: None,
                first_offset: at.offset().fix().local_minus_utc(),
            },
            LocalResult::Ambiguous(first, second) => {
                let both = self.interval || self.dst.repeated == RepeatedHour::Twice;
                Resolved {
                    earliest: first.with_timezone(&Utc),
                    slots: [
                        Some(slot(first, SlotKind::RepeatedFirst)),
                        both.then(|| slot(second, SlotKind::RepeatedSecond)),
                    ],
                    skip_to: None,
                    first_offset: first.offset().fix().local_minus_utc(),
                }
            }
            LocalResult::None => {
                let Some((end_wall_clock, end)) = gap_end(self.timezone, wall_clock) else {
                    // Not a DST gap chrono-tz can close within two days: treat as no run.
                    return Resolved {
                        earliest: DateTime::<Utc>::MAX_UTC,
                        slots: [None, None],
                        skip_to: None,
                        first_offset: 0,
                    };
                };
                let runs = !self.interval && self.dst.skipped == SkippedHour::RunAtGapEnd;
                Resolved {
                    earliest: end.with_timezone(&Utc),
                    slots: [runs.then(|| slot(end, SlotKind::MovedToGapEnd)), None],
                    skip_to: (!runs).then_some(end_wall_clock),
                    first_offset: end.offset().fix().local_minus_utc(),
                }
            }
        }
    }

    /// Every hour, minute and second field matches something, so an expression fires
    /// unless no date matches; the calendar repeats every 400 years, so one cycle of days
    /// decides (a direct walk: croner's search would run on to the year 5000).
    fn ensure_it_fires(&self) -> Result<(), CronError> {
        let (year, month, day) = NEVER_CHECK_FROM;
        let fires = NaiveDate::from_ymd_opt(year, month, day).is_some_and(|first| {
            first
                .iter_days()
                .take(GREGORIAN_CYCLE_DAYS)
                .any(|date| self.matches_date(date))
        });
        if fires {
            Ok(())
        } else {
            Err(CronError::cron(
                "never fires: no date matches the day-of-month, month and day-of-week fields together",
            ))
        }
    }

    fn matches_date(&self, date: NaiveDate) -> bool {
        let pattern = &self.cron.pattern;
        pattern.month_match(date.month()).unwrap_or(false)
            && pattern
                .day_match(date.year(), date.month(), date.day())
                .unwrap_or(false)
    }
}

/// The instants one wall-clock match maps to.
struct Resolved {
    /// The earliest instant of this wall-clock time, whatever the policy keeps (the gap
    /// end for a nonexistent time); monotonic in the wall-clock time.
    earliest: DateTime<Utc>,
    /// The runs kept by the policy, in order.
    slots: [Option<Slot>; 2],
    /// For a dropped nonexistent time: the wall-clock end of its gap.
    skip_to: Option<NaiveDateTime>,
    /// The UTC offset of the earliest instant, in seconds east of UTC.
    first_offset: i32,
}

/// Parses an IANA zone name (`Europe/Berlin`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<Tz, CronError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(CronError {
            field: "timezone",
            message: "is empty; expected an IANA time zone such as Europe/Berlin or UTC".into(),
        });
    }
    Tz::from_str(trimmed).map_err(|_| CronError {
        field: "timezone",
        message: format!("unknown IANA time zone {trimmed:?}"),
    })
}

/// Whether the hour field allows all 24 hours (an interval schedule).
fn covers_every_hour(cron: &croner::Cron) -> bool {
    (0..24).all(|hour| cron.pattern.hour_match(hour).unwrap_or(false))
}

/// The offset of `tz` at `at`, in seconds east of UTC.
pub fn offset_seconds(tz: Tz, at: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The first valid wall-clock time after nonexistent `wall_clock`, and its instant.
fn gap_end(tz: Tz, wall_clock: NaiveDateTime) -> Option<(NaiveDateTime, DateTime<Tz>)> {
    let exists = |t: NaiveDateTime| !matches!(tz.from_local_datetime(&t), LocalResult::None);
    let end = first_after(wall_clock, exists)?;
    Some((end, tz.from_local_datetime(&end).earliest()?))
}

/// The first wall-clock second after `start` (for which `holds` is false) where `holds`
/// is true, within two days; `holds` must stay true once it is.
fn first_after(
    start: NaiveDateTime,
    holds: impl Fn(NaiveDateTime) -> bool,
) -> Option<NaiveDateTime> {
    let mut probe = start.with_second(0)?;
    let mut found = None;
    for _ in 0..(2 * 24 * 60) {
        probe += Duration::minutes(1);
        if holds(probe) {
            found = Some(probe);
            break;
        }
    }
    let mut yes = found?;
    // Offsets from local mean time can change mid-minute: narrow to the second.
    let mut no = (yes - Duration::minutes(1)).max(start);
    while yes - no > Duration::seconds(1) {
        let middle = no + (yes - no) / 2;
        if holds(middle) {
            yes = middle;
        } else {
            no = middle;
        }
    }
    Some(yes)
}

/// The first wall-clock time after ambiguous `wall_clock` that occurs only once.
fn repeat_end(tz: Tz, wall_clock: NaiveDateTime) -> Option<NaiveDateTime> {
    let repeated =
        |t: NaiveDateTime| matches!(tz.from_local_datetime(&t), LocalResult::Ambiguous(..));
    first_after(wall_clock, |t| !repeated(t))
}

/// Offset changes of `tz` in `(from, to]`, found by sampling every 12 hours and
/// bisecting (zones never change offset twice within 12 hours).
pub fn transitions(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Transition> {
    let step = Duration::hours(12);
    let mut found = Vec::new();
    let mut left = from;
    let mut left_offset = offset_seconds(tz, left);
    while left < to {
        let right = left.checked_add_signed(step).unwrap_or(to).min(to);
        let right_offset = offset_seconds(tz, right);
        if right_offset != left_offset {
            // Bisect on whole seconds: zone rules change offsets on second boundaries.
            let (mut lo, mut hi) = (left.timestamp(), right.timestamp());
            while hi - lo > 1 {
                let middle = lo + (hi - lo) / 2;
                let at = DateTime::from_timestamp(middle, 0).unwrap_or(right);
                if offset_seconds(tz, at) == left_offset {
                    lo = middle;
                } else {
                    hi = middle;
                }
            }
            let hi = DateTime::from_timestamp(hi, 0).unwrap_or(right);
            found.push(Transition {
                at: hi,
                offset_before: left_offset,
                offset_after: offset_seconds(tz, hi),
            });
        }
        left = right;
        left_offset = right_offset;
    }
    found
}
