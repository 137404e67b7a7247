//! The engine's one door to cron evaluation: parse a task's schedule and compute the slot
//! after an instant.
//!
//! Everything in the dispatcher asks this module for fire times, so swapping the evaluator
//! (croner + chrono-tz directly today; the cron module's `CronSchedule` with its DST
//! policies when it lands) happens in this one place.

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::{Cron, parser::CronParser, parser::Seconds};

use crate::tasks::model::DstPolicy;

/// A parsed schedule: a cron expression read in an IANA time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    timezone: Tz,
}

/// Why a schedule was refused; `field` is `cron` or `timezone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// The schedule field at fault.
    pub field: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl Schedule {
    /// Parses a 5- or 6-field expression (seconds first when 6) or a macro such as `@hourly`,
    /// in `timezone`.
    pub fn parse(
        expression: &str,
        timezone: &str,
        _dst_policy: DstPolicy,
    ) -> Result<Self, ScheduleError> {
        let timezone: Tz = timezone.parse().map_err(|_| ScheduleError {
            field: "timezone",
            message: format!("{timezone:?} is not an IANA time zone such as Europe/Berlin"),
        })?;
        if expression.trim().is_empty() || expression.len() > 200 {
            return Err(ScheduleError {
                field: "cron",
                message: "must be a cron expression of 5 or 6 fields, or a macro like @hourly"
                    .into(),
            });
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expression)
            .map_err(|err| ScheduleError {
                field: "cron",
                message: format!("{err}"),
            })?;
        Ok(Schedule { cron, timezone })
    }

    /// The first slot strictly after `after`, or `None` when the expression never fires again.
    /// Slots are whole seconds, whatever the fraction of `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.trunc_subsecs(0).with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|next| next.with_timezone(&Utc))
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
