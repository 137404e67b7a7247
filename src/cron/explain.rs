//! `POST /cron/explain`: what a cron expression means in a time zone, when it fires next
//! (in UTC and local time), and how daylight-saving transitions change those runs.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::cron::{self, CronSchedule, DstPolicy, RepeatedHour, SkippedHour, Transition};
use crate::{
    error::{AppError, AppResult, FieldError, Problem},
    http::AppJson,
    state::AppState,
};

/// How many runs are listed when `count` is omitted, and the most that may be asked for.
const DEFAULT_COUNT: usize = 10;
const MAX_COUNT: usize = 100;
/// Runs are listed up to this far after `after`: it bounds the work for expressions whose
/// runs are decades apart (the endpoint is public), and zone rules further out are guesses.
const HORIZON: Duration = Duration::days(100 * 365);

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(explain))
}

/// A cron expression to explain.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainIn {
    /// 5 fields (minute first), 6 (second first), or a macro such as `@daily`.
    #[schema(example = "30 2 * * *")]
    pub cron: String,
    /// IANA time zone the expression is read in.
    #[schema(example = "America/New_York")]
    pub timezone: String,
    /// How the skipped and the repeated hour are handled (defaults: `RUN_AT_GAP_END`, `ONCE`).
    #[serde(default)]
    pub dst_policy: DstPolicy,
    /// How many runs to list (1-100, default 10); only runs within 100 years are listed.
    #[schema(example = 10, minimum = 1, maximum = 100)]
    pub count: Option<i64>,
    /// List runs strictly after this instant (default: now).
    pub after: Option<DateTime<Utc>>,
}

/// Whether DST policies apply to the schedule.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScheduleKind {
    /// The hour field names particular hours: the DST policy decides skipped and repeated times.
    WallClock,
    /// The hour field is `*`: runs keep their cadence in absolute time across transitions.
    Interval,
}

/// One upcoming run.
#[derive(Debug, Serialize, ToSchema)]
pub struct NextRun {
    /// When it fires, in UTC.
    #[schema(example = "2026-03-08T07:00:00Z")]
    pub utc: DateTime<Utc>,
    /// The same instant in the schedule's zone, with its offset.
    #[schema(example = "2026-03-08T03:00:00-04:00")]
    pub local: String,
    /// The zone's UTC offset at that instant.
    #[schema(example = "-04:00")]
    pub offset: String,
    /// The zone's abbreviation at that instant.
    #[schema(example = "EDT")]
    pub abbreviation: String,
}

/// The explanation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainOut {
    /// The expression, as given.
    pub cron: String,
    /// The time zone.
    pub timezone: String,
    /// The DST policy applied.
    pub dst_policy: DstPolicy,
    /// Wall-clock or interval schedule.
    pub kind: ScheduleKind,
    /// Plain-English description.
    #[schema(example = "At 02:30 (America/New_York)")]
    pub description: String,
    /// The next runs, earliest first.
    pub next_runs: Vec<NextRun>,
    /// Daylight-saving transitions that affect the listed runs, in words.
    pub dst_notes: Vec<String>,
}

/// Explain a cron expression: description, next runs and DST notes.
#[utoipa::path(post, path = "/cron/explain", tag = "scheduler",
    request_body = ExplainIn,
    responses(
        (status = 200, description = "The expression explained", body = ExplainOut),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`cron`, `timezone`, `count` or another field is invalid", body = Problem, content_type = "application/problem+json"),
    ))]
async fn explain(AppJson(body): AppJson<ExplainIn>) -> AppResult<AppJson<ExplainOut>> {
    let count = body.count.unwrap_or(DEFAULT_COUNT as i64);
    let mut errors = Vec::new();
    if !(1..=MAX_COUNT as i64).contains(&count) {
        errors.push(FieldError {
            field: "count".into(),
            message: format!("must be between 1 and {MAX_COUNT}"),
        });
    }
    // Report a bad zone even when the expression is bad too.
    if let Err(err) = cron::parse_timezone(&body.timezone) {
        errors.push(field_error(err));
    }
    let schedule = match CronSchedule::parse(&body.cron, &body.timezone, body.dst_policy) {
        Ok(schedule) => Some(schedule),
        Err(err) if err.field == "cron" => {
            errors.push(field_error(err));
            None
        }
        Err(_) => None,
    };
    let Some(schedule) = schedule.filter(|_| errors.is_empty()) else {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(AppError::validation(errors));
    };
    let after = body.after.unwrap_or_else(Utc::now);
    let count = usize::try_from(count).unwrap_or(DEFAULT_COUNT);
    Ok(AppJson(explanation(
        &schedule, body.cron, after, None, count,
    )))
}

/// The explanation of a parsed schedule: up to `count` runs after `after` (and not after
/// `until`), with the DST notes that concern them.
pub fn explanation(
    schedule: &CronSchedule,
    cron: String,
    after: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    count: usize,
) -> ExplainOut {
    let horizon = after
        .checked_add_signed(HORIZON)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let horizon = until.map_or(horizon, |until| until.min(horizon));
    let mut slots = Vec::with_capacity(count);
    let mut cursor = after;
    while slots.len() < count {
        match schedule.next_slot_after(cursor) {
            Some(slot) if slot.at <= horizon => {
                cursor = slot.at;
                slots.push(slot);
            }
            _ => break,
        }
    }
    let tz = schedule.timezone();
    let dst_notes = match slots.last() {
        Some(last) => cron::transitions(tz, after, last.at)
            .iter()
            .filter_map(|transition| describe_transition(schedule, transition))
            .collect(),
        None => Vec::new(),
    };
    ExplainOut {
        cron,
        timezone: tz.name().to_owned(),
        dst_policy: schedule.dst_policy(),
        kind: if schedule.is_interval() {
            ScheduleKind::Interval
        } else {
            ScheduleKind::WallClock
        },
        description: schedule.describe(),
        next_runs: slots.iter().map(|slot| next_run(tz, slot.at)).collect(),
        dst_notes,
    }
}

fn field_error(err: cron::CronError) -> FieldError {
    FieldError {
        field: err.field.into(),
        message: err.message,
    }
}

fn next_run(tz: Tz, at: DateTime<Utc>) -> NextRun {
    let local = at.with_timezone(&tz);
    NextRun {
        utc: at,
        local: local.to_rfc3339(),
        offset: local.format("%:z").to_string(),
        abbreviation: local.format("%Z").to_string(),
    }
}

/// A sentence about how `transition` affects the schedule, or `None` when no matching
/// wall-clock time falls in the skipped or repeated stretch.
fn describe_transition(schedule: &CronSchedule, transition: &Transition) -> Option<String> {
    let tz = schedule.timezone();
    // The transition instant read on the clock before and after it.
    let wall_clock_at =
        |offset: i32| (transition.at + Duration::seconds(offset.into())).naive_utc();
    let wall_before = wall_clock_at(transition.offset_before);
    let wall_after = wall_clock_at(transition.offset_after);
    let abbreviation_before = abbreviation(tz, transition.at - Duration::seconds(1));
    let abbreviation_after = abbreviation(tz, transition.at);
    let forward = transition.offset_after > transition.offset_before;
    // The stretch of wall-clock time that is skipped (forward) or repeated (back).
    let (start, end) = if forward {
        (wall_before, wall_after)
    } else {
        (wall_after, wall_before)
    };
    let matches = schedule.wall_clock_matches(start, end);
    if matches.is_empty() {
        return None;
    }
    let date = start.format("%Y-%m-%d");
    let zone = tz.name();
    let clocks = format!(
        "clocks go {} from {} {abbreviation_before} to {} {abbreviation_after}",
        if forward { "forward" } else { "back" },
        clock(wall_before),
        clock(wall_after),
    );
    let times = list_times(&matches);
    let (verb, pronoun) = if matches.len() == 1 {
        ("does", "it")
    } else {
        ("do", "they")
    };
    let policy = schedule.dst_policy();
    let sentence = match (forward, schedule.is_interval()) {
        (true, true) => format!(
            "{date} {times} {verb} not exist in {zone} ({clocks}); this interval schedule has no runs in the skipped time and keeps its pace in absolute time"
        ),
        (false, true) => format!(
            "{date} {times} occur{} twice in {zone} ({clocks}); this interval schedule runs in both passes and keeps its pace in absolute time",
            if matches.len() == 1 { "s" } else { "" }
        ),
        (true, false) => match policy.skipped {
            SkippedHour::RunAtGapEnd => format!(
                "{date} {times} {verb} not exist in {zone} ({clocks}); {pronoun} run{} once at {} {abbreviation_after}",
                if matches.len() == 1 { "s" } else { "" },
                clock(wall_after)
            ),
            SkippedHour::Skip => format!(
                "{date} {times} {verb} not exist in {zone} ({clocks}); skipped (dst_policy.skipped = SKIP)"
            ),
        },
        (false, false) => {
            let occurs = if matches.len() == 1 {
                "occurs"
            } else {
                "occur"
            };
            match policy.repeated {
                RepeatedHour::Once => format!(
                    "{date} {times} {occurs} twice in {zone} ({clocks}); {} once, at the first occurrence ({abbreviation_before})",
                    if matches.len() == 1 {
                        "runs"
                    } else {
                        "each runs"
                    }
                ),
                RepeatedHour::Twice => format!(
                    "{date} {times} {occurs} twice in {zone} ({clocks}); runs at both occurrences ({abbreviation_before} and {abbreviation_after}, dst_policy.repeated = TWICE)"
                ),
            }
        }
    };
    Some(sentence)
}

fn abbreviation(tz: Tz, at: DateTime<Utc>) -> String {
    tz.from_utc_datetime(&at.naive_utc())
        .format("%Z")
        .to_string()
}

/// `02:30`, or `02:30:15` when the seconds matter.
fn clock(time: NaiveDateTime) -> String {
    if chrono::Timelike::second(&time) == 0 {
        time.format("%H:%M").to_string()
    } else {
        time.format("%H:%M:%S").to_string()
    }
}

/// `02:30`, `02:00 and 02:20`, `02:00, 02:20 and 02:40`, or the first three and a count.
fn list_times(times: &[NaiveDateTime]) -> String {
    const SHOWN: usize = 3;
    let shown: Vec<String> = times.iter().take(SHOWN).map(|t| clock(*t)).collect();
    match (shown.as_slice(), times.len()) {
        ([one], _) => one.clone(),
        ([first @ .., last], n) if n <= SHOWN => format!("{} and {last}", first.join(", ")),
        (_, n) => format!("{} and {} more times", shown.join(", "), n - SHOWN),
    }
}
