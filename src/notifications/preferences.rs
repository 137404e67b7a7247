//! Notification preferences: which channels a user wants, per type, per category and per
//! channel, and quiet hours in the user's time zone.
//!
//! Resolution, for one type and channel: a critical type's email cannot be turned off, then
//! the per-type setting, the per-category one, the per-channel one, and the default (on).
//! `IN_APP` is always on: the inbox is the record of every notification. During quiet hours
//! an `EMAIL` or `WEBHOOK` delivery of a non-critical type waits until they end: deferred,
//! never dropped.

use std::collections::HashSet;

use chrono::{DateTime, Duration, LocalResult, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{Channel, NotificationCategory, NotificationType};
use crate::{
    error::{AppError, FieldError},
    text_enum,
};

/// Most entries in each list of settings.
pub const MAX_ENTRIES: usize = 100;

/// A channel turned on or off for every type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSetting {
    /// `EMAIL` or `WEBHOOK` (`IN_APP` is always on).
    pub channel: Channel,
    /// On or off.
    pub enabled: bool,
}

/// A channel turned on or off for one category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategorySetting {
    /// The category.
    pub category: NotificationCategory,
    /// `EMAIL` or `WEBHOOK`.
    pub channel: Channel,
    /// On or off.
    pub enabled: bool,
}

/// A channel turned on or off for one type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeSetting {
    /// The type.
    #[serde(rename = "type")]
    pub kind: NotificationType,
    /// `EMAIL` or `WEBHOOK`.
    pub channel: Channel,
    /// On or off.
    pub enabled: bool,
}

/// A daily window, in a time zone, when only critical notifications go out at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// Local start, `HH:MM`.
    #[schema(example = "22:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// Local end, `HH:MM` (before `start`: the window spans midnight).
    #[schema(example = "07:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub end: String,
    /// IANA time zone.
    #[schema(example = "America/New_York")]
    pub timezone: String,
}

/// A user's notification preferences (`GET/PUT /notifications/preferences`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Per channel, for every type.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub channels: Vec<ChannelSetting>,
    /// Per category and channel.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub categories: Vec<CategorySetting>,
    /// Per type and channel.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub types: Vec<TypeSetting>,
    /// Quiet hours, or none.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
}

text_enum! {
    /// Which setting decided a resolved value.
    pub enum Source {
        /// A critical type's email is always sent.
        Critical = "CRITICAL",
        /// The per-type setting.
        Type = "TYPE",
        /// The per-category setting.
        Category = "CATEGORY",
        /// The per-channel setting.
        Channel = "CHANNEL",
        /// Nothing was set: on.
        Default = "DEFAULT",
    }
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    (text.len() == 5)
        .then(|| NaiveTime::parse_from_str(text, "%H:%M").ok())
        .flatten()
}

impl Preferences {
    /// Checks the settings; each error names its field (`types[2].channel`, …).
    pub fn validate(&self) -> Result<(), AppError> {
        let mut errors = Vec::new();
        let mut fail = |field: String, message: &str| {
            errors.push(FieldError {
                field,
                message: message.to_owned(),
            })
        };
        for (name, len) in [
            ("channels", self.channels.len()),
            ("categories", self.categories.len()),
            ("types", self.types.len()),
        ] {
            if len > MAX_ENTRIES {
                fail(name.to_owned(), "has more than 100 entries");
            }
        }
        let mut seen = HashSet::new();
        for (i, s) in self.channels.iter().enumerate() {
            if s.channel == Channel::InApp {
                fail(format!("channels[{i}].channel"), "IN_APP is always on");
            } else if !seen.insert(s.channel.as_str()) {
                fail(format!("channels[{i}]"), "repeats a channel");
            }
        }
        let mut seen = HashSet::new();
        for (i, s) in self.categories.iter().enumerate() {
            if s.channel == Channel::InApp {
                fail(format!("categories[{i}].channel"), "IN_APP is always on");
            } else if !seen.insert((s.category.as_str(), s.channel.as_str())) {
                fail(format!("categories[{i}]"), "repeats a category and channel");
            }
        }
        let mut seen = HashSet::new();
        for (i, s) in self.types.iter().enumerate() {
            if s.channel == Channel::InApp {
                fail(format!("types[{i}].channel"), "IN_APP is always on");
            } else if !seen.insert((s.kind.as_str(), s.channel.as_str())) {
                fail(format!("types[{i}]"), "repeats a type and channel");
            }
        }
        if let Some(quiet) = &self.quiet_hours {
            let start = parse_time(&quiet.start);
            let end = parse_time(&quiet.end);
            if start.is_none() {
                fail("quiet_hours.start".into(), "must be a time HH:MM");
            }
            if end.is_none() {
                fail("quiet_hours.end".into(), "must be a time HH:MM");
            }
            if start.is_some() && start == end {
                fail("quiet_hours.end".into(), "must differ from start");
            }
            if quiet.timezone.parse::<Tz>().is_err() {
                fail("quiet_hours.timezone".into(), "is not an IANA time zone");
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::validation(errors))
        }
    }

    /// Whether `kind` goes out on `channel`, and which setting decided it.
    pub fn resolve(&self, kind: NotificationType, channel: Channel) -> (bool, Source) {
        if channel == Channel::InApp {
            return (true, Source::Default);
        }
        if kind.critical() && channel == Channel::Email {
            return (true, Source::Critical);
        }
        if let Some(s) = self
            .types
            .iter()
            .find(|s| s.kind == kind && s.channel == channel)
        {
            return (s.enabled, Source::Type);
        }
        if let Some(s) = self
            .categories
            .iter()
            .find(|s| s.category == kind.category() && s.channel == channel)
        {
            return (s.enabled, Source::Category);
        }
        if let Some(s) = self.channels.iter().find(|s| s.channel == channel) {
            return (s.enabled, Source::Channel);
        }
        (true, Source::Default)
    }

    /// When a `kind` delivery created at `now` may go out: `None` at once, otherwise the end
    /// of the quiet hours it falls in. Critical types and `IN_APP` are never held.
    pub fn hold_until(
        &self,
        kind: NotificationType,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if kind.critical() || channel == Channel::InApp {
            return None;
        }
        self.quiet_hours.as_ref().and_then(|q| q.ends_after(now))
    }
}

impl QuietHours {
    /// The end of the window `now` falls in, or `None` outside it. Local times that a DST
    /// change skips move forward to the first one that exists.
    pub fn ends_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (start, end) = (parse_time(&self.start)?, parse_time(&self.end)?);
        let tz: Tz = self.timezone.parse().ok()?;
        let local = now.with_timezone(&tz);
        let time = local.time();
        let (inside, end_date) = if start < end {
            (start <= time && time < end, local.date_naive())
        } else if time >= start {
            (true, local.date_naive() + Duration::days(1))
        } else {
            (time < end, local.date_naive())
        };
        if !inside {
            return None;
        }
        let mut wall = end_date.and_time(end);
        // A gap is at most a few hours; step forward a minute at a time past it.
        for _ in 0..(24 * 60) {
            match tz.from_local_datetime(&wall) {
                LocalResult::Single(at) => return Some(at.with_timezone(&Utc)),
                LocalResult::Ambiguous(earliest, _) => return Some(earliest.with_timezone(&Utc)),
                LocalResult::None => wall += Duration::minutes(1),
            }
        }
        None
    }
}

/// The user's stored preferences (the defaults when none are stored or they cannot be
/// read).
pub async fn load(conn: &mut PgConnection, user_id: Uuid) -> Result<Preferences, sqlx::Error> {
    let stored = sqlx::query_scalar!(
        "SELECT settings FROM notification_preferences WHERE user_id = $1",
        user_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(stored
        .and_then(|settings| serde_json::from_value(settings).ok())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use NotificationType as T;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    fn quiet(start: &str, end: &str, timezone: &str) -> QuietHours {
        QuietHours {
            start: start.into(),
            end: end.into(),
            timezone: timezone.into(),
        }
    }

    #[test]
    fn resolution_follows_critical_then_type_category_channel_default() {
        let prefs = Preferences {
            channels: vec![ChannelSetting {
                channel: Channel::Email,
                enabled: false,
            }],
            categories: vec![CategorySetting {
                category: NotificationCategory::Tasks,
                channel: Channel::Email,
                enabled: true,
            }],
            types: vec![TypeSetting {
                kind: T::TaskSucceeded,
                channel: Channel::Email,
                enabled: false,
            }],
            quiet_hours: None,
        };
        let cases = [
            (T::TaskSucceeded, Channel::Email, (false, Source::Type)),
            (T::TaskFailed, Channel::Email, (true, Source::Category)),
            (T::ReportReady, Channel::Email, (false, Source::Channel)),
            (T::SecurityAlert, Channel::Email, (true, Source::Critical)),
            (T::Billing, Channel::Email, (true, Source::Critical)),
            (T::TaskFailed, Channel::Webhook, (true, Source::Default)),
            (T::TaskSucceeded, Channel::InApp, (true, Source::Default)),
        ];
        for (kind, channel, expected) in cases {
            assert_eq!(prefs.resolve(kind, channel), expected, "{kind} {channel}");
        }
        let everything_off = Preferences {
            types: vec![TypeSetting {
                kind: T::SecurityAlert,
                channel: Channel::Email,
                enabled: false,
            }],
            ..Preferences::default()
        };
        assert_eq!(
            everything_off.resolve(T::SecurityAlert, Channel::Email),
            (true, Source::Critical),
            "a critical email cannot be turned off"
        );
        assert_eq!(
            everything_off.resolve(T::SecurityAlert, Channel::Webhook),
            (true, Source::Default)
        );
    }

    #[test]
    fn quiet_hours_span_midnight_in_the_users_zone() {
        let q = quiet("22:00", "07:00", "Europe/Berlin");
        // 23:30 in Berlin (UTC+1 in January): held until 07:00 Berlin, 06:00 UTC.
        assert_eq!(
            q.ends_after(at("2026-01-10T22:30:00Z")),
            Some(at("2026-01-11T06:00:00Z"))
        );
        // 05:00 in Berlin: the same night's end.
        assert_eq!(
            q.ends_after(at("2026-01-11T04:00:00Z")),
            Some(at("2026-01-11T06:00:00Z"))
        );
        assert_eq!(q.ends_after(at("2026-01-11T12:00:00Z")), None);
        let day = quiet("12:00", "13:00", "UTC");
        assert_eq!(
            day.ends_after(at("2026-01-11T12:59:00Z")),
            Some(at("2026-01-11T13:00:00Z"))
        );
        assert_eq!(day.ends_after(at("2026-01-11T13:00:00Z")), None);
    }

    #[test]
    fn quiet_hours_follow_the_new_york_dst_changes() {
        let q = quiet("22:00", "07:00", "America/New_York");
        // Spring forward (2026-03-08): 22:00 EST the night before, ends 07:00 EDT = 11:00 UTC.
        assert_eq!(
            q.ends_after(at("2026-03-08T03:00:00Z")),
            Some(at("2026-03-08T11:00:00Z"))
        );
        // Fall back (2026-11-01): midnight EDT, ends 07:00 EST = 12:00 UTC.
        assert_eq!(
            q.ends_after(at("2026-11-01T04:00:00Z")),
            Some(at("2026-11-01T12:00:00Z"))
        );
        // An end inside the skipped hour moves to the first time that exists (03:00 EDT).
        let gap = quiet("01:00", "02:30", "America/New_York");
        assert_eq!(
            gap.ends_after(at("2026-03-08T06:30:00Z")),
            Some(at("2026-03-08T07:00:00Z"))
        );
        // An end in the repeated hour is its first occurrence (01:30 EDT = 05:30 UTC).
        let repeated = quiet("00:30", "01:30", "America/New_York");
        assert_eq!(
            repeated.ends_after(at("2026-11-01T04:45:00Z")),
            Some(at("2026-11-01T05:30:00Z"))
        );
    }

    #[test]
    fn critical_types_and_in_app_are_never_held() {
        let prefs = Preferences {
            quiet_hours: Some(quiet("00:00", "23:59", "UTC")),
            ..Preferences::default()
        };
        let now = at("2026-01-11T12:00:00Z");
        assert!(
            prefs
                .hold_until(T::TaskFailed, Channel::Email, now)
                .is_some()
        );
        assert!(
            prefs
                .hold_until(T::SecurityAlert, Channel::Email, now)
                .is_none()
        );
        assert!(
            prefs
                .hold_until(T::SecurityAlert, Channel::Webhook, now)
                .is_none()
        );
        assert!(
            prefs
                .hold_until(T::TaskFailed, Channel::InApp, now)
                .is_none()
        );
    }

    #[test]
    fn validation_names_each_field() {
        let prefs = Preferences {
            channels: vec![ChannelSetting {
                channel: Channel::InApp,
                enabled: false,
            }],
            types: vec![
                TypeSetting {
                    kind: T::TaskFailed,
                    channel: Channel::Email,
                    enabled: false,
                },
                TypeSetting {
                    kind: T::TaskFailed,
                    channel: Channel::Email,
                    enabled: true,
                },
            ],
            quiet_hours: Some(quiet("25:00", "7:00", "Mars/Olympus")),
            ..Preferences::default()
        };
        let err = prefs.validate().expect_err("invalid");
        let fields: Vec<&str> = err
            .field_errors()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "channels[0].channel",
                "types[1]",
                "quiet_hours.start",
                "quiet_hours.end",
                "quiet_hours.timezone"
            ]
        );
        assert!(Preferences::default().validate().is_ok());
    }
}
