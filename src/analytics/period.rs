//! What every analytics endpoint takes: a time range, an IANA time zone, a bucket and the
//! week's first day, validated once into a [`Period`].
//!
//! Bad values are 422 problems naming the parameter (`query.tz`, `query.to`, `query.from`,
//! `query.bucket`); values that do not parse at all (a malformed date, an unknown bucket)
//! are 400s naming it.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    error::{AppError, AppResult},
    text_enum,
};

/// The longest range a request may cover.
pub const MAX_SPAN_DAYS: i64 = 400;
/// The most buckets one series may hold.
pub const MAX_BUCKETS: i64 = 1000;
/// The range when `from` is not given: this many days before `to`.
pub const DEFAULT_SPAN_DAYS: i64 = 7;

text_enum! {
    /// The width of a series bucket, in the requested time zone's calendar.
    pub enum Bucket {
        /// One wall-clock hour.
        Hour = "hour",
        /// One calendar day, midnight to midnight (23 or 25 hours across a DST change).
        Day = "day",
        /// Seven days from `week_start`.
        Week = "week",
        /// One calendar month.
        Month = "month",
    }
}

text_enum! {
    /// The first day of a week bucket.
    pub enum WeekStart {
        /// Monday (ISO 8601).
        Monday = "monday",
        /// Tuesday.
        Tuesday = "tuesday",
        /// Wednesday.
        Wednesday = "wednesday",
        /// Thursday.
        Thursday = "thursday",
        /// Friday.
        Friday = "friday",
        /// Saturday.
        Saturday = "saturday",
        /// Sunday.
        Sunday = "sunday",
    }
}

/// The query parameters of the analytics endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsParams {
    /// Start of the period, inclusive (RFC 3339); default: 7 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End of the period, exclusive (RFC 3339); default: now. At most 400 days after `from`.
    pub to: Option<DateTime<Utc>>,
    /// IANA time zone the buckets follow (`Europe/Berlin`, `Asia/Shanghai`); default `UTC`.
    #[param(example = "Europe/Berlin")]
    pub tz: Option<String>,
    /// Bucket width of series; default `day`. At most 1000 buckets per request.
    pub bucket: Option<Bucket>,
    /// First day of `week` buckets; default `monday`.
    pub week_start: Option<WeekStart>,
}

/// A validated period.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub to: DateTime<Utc>,
    /// The time zone.
    pub tz: Tz,
    /// The bucket width.
    pub bucket: Bucket,
    /// The first day of week buckets.
    pub week_start: WeekStart,
}

impl Period {
    /// Validates `params`, with `now` as the default end. `series` also bounds the number of
    /// buckets.
    pub fn parse(params: &AnalyticsParams, now: DateTime<Utc>, series: bool) -> AppResult<Self> {
        let tz = parse_tz(params.tz.as_deref())?;
        let to = params.to.unwrap_or(now);
        let from = params
            .from
            .unwrap_or(to - Duration::days(DEFAULT_SPAN_DAYS));
        if to <= from {
            return Err(AppError::invalid_field("query.to", "must be after `from`"));
        }
        if to - from > Duration::days(MAX_SPAN_DAYS) {
            return Err(AppError::invalid_field(
                "query.from",
                format!("the period may cover at most {MAX_SPAN_DAYS} days"),
            ));
        }
        let period = Period {
            from,
            to,
            tz,
            bucket: params.bucket.unwrap_or(Bucket::Day),
            week_start: params.week_start.unwrap_or(WeekStart::Monday),
        };
        let buckets = period.bucket_estimate();
        if series && buckets > MAX_BUCKETS {
            return Err(AppError::invalid_field(
                "query.bucket",
                format!(
                    "{} buckets would make about {buckets} points, more than {MAX_BUCKETS}: \
                     choose a wider bucket or a shorter period",
                    period.bucket
                ),
            ));
        }
        Ok(period)
    }

    /// The period of equal length just before this one.
    pub fn previous(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.from - (self.to - self.from), self.from)
    }

    /// The time zone's IANA name, as PostgreSQL's `AT TIME ZONE` takes it.
    pub fn tz_name(&self) -> &'static str {
        self.tz.name()
    }

    /// Days added to a local time before `date_trunc('week', …)` (and taken away after) so
    /// that weeks start on `week_start` rather than Monday.
    pub fn week_shift_days(&self) -> i32 {
        if self.bucket != Bucket::Week {
            return 0;
        }
        let from_monday = WeekStart::ALL
            .iter()
            .position(|day| *day == self.week_start)
            .unwrap_or(0) as i32;
        (7 - from_monday) % 7
    }

    /// The bucket width as a PostgreSQL interval.
    pub fn step(&self) -> &'static str {
        match self.bucket {
            Bucket::Hour => "1 hour",
            Bucket::Day => "1 day",
            Bucket::Week => "1 week",
            Bucket::Month => "1 month",
        }
    }

    /// At least as many buckets as the series will hold (the first and last may be partial).
    fn bucket_estimate(&self) -> i64 {
        let shortest = match self.bucket {
            Bucket::Hour => 3600,
            Bucket::Day => 23 * 3600,
            Bucket::Week => 7 * 86_400 - 3600,
            Bucket::Month => 28 * 86_400 - 3600,
        };
        (self.to - self.from).num_seconds() / shortest + 2
    }
}

/// Parses the `tz` query parameter (default `UTC`); an unknown zone is a 422 naming
/// `query.tz`.
pub fn parse_tz(raw: Option<&str>) -> AppResult<Tz> {
    match raw {
        None => Ok(Tz::UTC),
        Some(name) => crate::cron::parse_timezone(name)
            .map_err(|err| AppError::invalid_field("query.tz", err.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("instant")
    }

    fn field_of(err: &AppError) -> String {
        err.field_errors()
            .first()
            .map(|e| e.field.clone())
            .unwrap_or_default()
    }

    #[test]
    fn defaults_are_the_last_week_in_utc_by_day() {
        let now = at("2026-12-04T12:00:00Z");
        let period = Period::parse(&AnalyticsParams::default(), now, true).expect("valid");
        assert_eq!(period.to, now);
        assert_eq!(period.from, at("2026-11-27T12:00:00Z"));
        assert_eq!(period.tz_name(), "UTC");
        assert_eq!(period.bucket, Bucket::Day);
        assert_eq!(period.previous(), (at("2026-11-20T12:00:00Z"), period.from));
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let now = at("2026-12-04T12:00:00Z");
        let cases = [
            (
                AnalyticsParams {
                    tz: Some("Mars/Olympus".into()),
                    ..Default::default()
                },
                "query.tz",
            ),
            (
                AnalyticsParams {
                    from: Some(now),
                    to: Some(now),
                    ..Default::default()
                },
                "query.to",
            ),
            (
                AnalyticsParams {
                    from: Some(now - Duration::days(401)),
                    ..Default::default()
                },
                "query.from",
            ),
            (
                AnalyticsParams {
                    from: Some(now - Duration::days(60)),
                    bucket: Some(Bucket::Hour),
                    ..Default::default()
                },
                "query.bucket",
            ),
        ];
        for (params, field) in cases {
            let err = Period::parse(&params, now, true).expect_err(field);
            assert_eq!(err.code(), ErrorCode::ValidationError, "{field}");
            assert_eq!(field_of(&err), field);
        }
    }

    #[test]
    fn weeks_shift_to_their_first_day() {
        let now = at("2026-12-04T12:00:00Z");
        let shift = |bucket, week_start| {
            let params = AnalyticsParams {
                bucket: Some(bucket),
                week_start: Some(week_start),
                ..Default::default()
            };
            Period::parse(&params, now, true)
                .expect("valid")
                .week_shift_days()
        };
        assert_eq!(shift(Bucket::Week, WeekStart::Monday), 0);
        assert_eq!(shift(Bucket::Week, WeekStart::Sunday), 1);
        assert_eq!(shift(Bucket::Week, WeekStart::Saturday), 2);
        assert_eq!(shift(Bucket::Week, WeekStart::Tuesday), 6);
        assert_eq!(shift(Bucket::Day, WeekStart::Sunday), 0);
    }
}
