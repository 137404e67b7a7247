//! Schedules on real 2026 transitions, error messages, and property checks over many
//! random instants.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|err| panic!("bad test instant {text}: {err}"))
        .with_timezone(&Utc)
}

fn schedule(expression: &str, zone: &str) -> CronSchedule {
    schedule_with(expression, zone, DstPolicy::default())
}

fn schedule_with(expression: &str, zone: &str, dst: DstPolicy) -> CronSchedule {
    CronSchedule::parse(expression, zone, dst)
        .unwrap_or_else(|err| panic!("{expression} in {zone}: {err}"))
}

const SKIP: DstPolicy = DstPolicy {
    skipped: SkippedHour::Skip,
    repeated: RepeatedHour::Once,
};
const TWICE: DstPolicy = DstPolicy {
    skipped: SkippedHour::RunAtGapEnd,
    repeated: RepeatedHour::Twice,
};

fn runs(s: &CronSchedule, after: &str, count: usize) -> Vec<DateTime<Utc>> {
    s.upcoming(utc(after), count)
}

fn instants(texts: &[&str]) -> Vec<DateTime<Utc>> {
    texts.iter().map(|t| utc(t)).collect()
}

#[test]
fn new_york_spring_forward_runs_a_skipped_time_at_the_end_of_the_gap() {
    let s = schedule("30 2 * * *", "America/New_York");
    assert!(!s.is_interval());
    assert_eq!(
        runs(&s, "2026-03-07T12:00:00Z", 3),
        instants(&[
            "2026-03-08T07:00:00Z", // 02:30 does not exist: 03:00 EDT
            "2026-03-09T06:30:00Z", // 02:30 EDT
            "2026-03-10T06:30:00Z",
        ])
    );
    let slot = s
        .next_slot_after(utc("2026-03-07T12:00:00Z"))
        .expect("a slot");
    assert_eq!(slot.kind, SlotKind::MovedToGapEnd);
    assert_eq!(slot.wall_clock.to_string(), "2026-03-08 02:30:00");
}

#[test]
fn new_york_spring_forward_skip_policy_drops_the_day() {
    let s = schedule_with("30 2 * * *", "America/New_York", SKIP);
    assert_eq!(
        runs(&s, "2026-03-07T12:00:00Z", 2),
        instants(&["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"])
    );
}

#[test]
fn several_times_in_one_gap_collapse_into_one_run() {
    // Every 20 minutes during 02:00-03:59 local: 02:00, 02:20, 02:40 are all in the gap.
    let s = schedule("*/20 2-3 * * *", "America/New_York");
    assert_eq!(
        runs(&s, "2026-03-08T06:00:00Z", 4),
        instants(&[
            "2026-03-08T07:00:00Z", // the gap's three times and 03:00 itself: one run
            "2026-03-08T07:20:00Z",
            "2026-03-08T07:40:00Z",
            "2026-03-09T06:00:00Z",
        ])
    );
}

#[test]
fn new_york_fall_back_runs_a_repeated_time_once_or_twice() {
    let once = schedule("30 1 * * *", "America/New_York");
    assert_eq!(
        runs(&once, "2026-10-31T12:00:00Z", 2),
        instants(&["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"])
    );
    let twice = schedule_with("30 1 * * *", "America/New_York", TWICE);
    assert_eq!(
        runs(&twice, "2026-10-31T12:00:00Z", 3),
        instants(&[
            "2026-11-01T05:30:00Z", // 01:30 EDT
            "2026-11-01T06:30:00Z", // 01:30 EST
            "2026-11-02T06:30:00Z",
        ])
    );
    // Asked from inside the repeated hour's second pass, the second occurrence is next.
    assert_eq!(
        twice.next_after(utc("2026-11-01T06:10:00Z")),
        Some(utc("2026-11-01T06:30:00Z"))
    );
    assert_eq!(
        once.next_after(utc("2026-11-01T06:10:00Z")),
        Some(utc("2026-11-02T06:30:00Z"))
    );
}

#[test]
fn interval_schedules_keep_their_cadence_across_new_york_transitions() {
    let s = schedule("*/15 * * * *", "America/New_York");
    assert!(s.is_interval());
    for start in ["2026-03-08T05:00:00Z", "2026-11-01T04:00:00Z"] {
        let times = runs(&s, start, 16);
        for pair in times.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::minutes(15), "{times:?}");
        }
    }
    // The repeated hour runs in both passes, with the interval policy ignoring ONCE.
    assert_eq!(
        runs(&s, "2026-11-01T05:50:00Z", 2),
        instants(&["2026-11-01T06:00:00Z", "2026-11-01T06:15:00Z"])
    );
}

#[test]
fn berlin_transitions() {
    let s = schedule("30 2 * * *", "Europe/Berlin");
    assert_eq!(
        runs(&s, "2026-03-28T12:00:00Z", 2),
        instants(&["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"])
    );
    assert_eq!(
        runs(&s, "2026-10-24T12:00:00Z", 2),
        instants(&["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"])
    );
    let twice = schedule_with("30 2 * * *", "Europe/Berlin", TWICE);
    assert_eq!(
        runs(&twice, "2026-10-24T12:00:00Z", 3),
        instants(&[
            "2026-10-25T00:30:00Z",
            "2026-10-25T01:30:00Z",
            "2026-10-26T01:30:00Z"
        ])
    );
}

#[test]
fn berlin_with_seconds() {
    // 02:30:15 does not exist on 2026-03-29: the run moves to 03:00:00 CEST.
    let s = schedule("15 30 2 * * *", "Europe/Berlin");
    assert_eq!(
        runs(&s, "2026-03-28T12:00:00Z", 2),
        instants(&["2026-03-29T01:00:00Z", "2026-03-30T00:30:15Z"])
    );
    let every_ten_seconds = schedule("*/10 * * * * *", "Europe/Berlin");
    let times = runs(&every_ten_seconds, "2026-10-25T00:59:00Z", 20);
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::seconds(10));
    }
}

#[test]
fn lord_howe_half_hour_spring_forward() {
    // 2026-10-04 02:00 LHST (+10:30) becomes 02:30 LHDT (+11): 02:15 does not exist.
    let s = schedule("15 2 * * *", "Australia/Lord_Howe");
    assert_eq!(
        runs(&s, "2026-10-03T00:00:00Z", 2),
        instants(&["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"])
    );
    let skip = schedule_with("15 2 * * *", "Australia/Lord_Howe", SKIP);
    assert_eq!(
        runs(&skip, "2026-10-03T00:00:00Z", 1),
        instants(&["2026-10-04T15:15:00Z"])
    );
}

#[test]
fn lord_howe_half_hour_fall_back() {
    // 2026-04-05 02:00 LHDT (+11) becomes 01:30 LHST (+10:30): 01:30-01:59 happens twice.
    let once = schedule("45 1 * * *", "Australia/Lord_Howe");
    assert_eq!(
        runs(&once, "2026-04-04T00:00:00Z", 2),
        instants(&["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"])
    );
    let twice = schedule_with("45 1 * * *", "Australia/Lord_Howe", TWICE);
    assert_eq!(
        runs(&twice, "2026-04-04T00:00:00Z", 2),
        instants(&["2026-04-04T14:45:00Z", "2026-04-04T15:15:00Z"])
    );
    // 01:15 is before the repeated half hour: once, whatever the policy.
    let before = schedule_with("15 1 * * *", "Australia/Lord_Howe", TWICE);
    assert_eq!(
        runs(&before, "2026-04-04T00:00:00Z", 2),
        instants(&["2026-04-04T14:15:00Z", "2026-04-05T14:45:00Z"])
    );
}

#[test]
fn lord_howe_intervals_keep_their_cadence() {
    let s = schedule("*/15 * * * *", "Australia/Lord_Howe");
    for start in ["2026-04-04T13:00:00Z", "2026-10-03T14:00:00Z"] {
        let times = runs(&s, start, 16);
        for pair in times.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::minutes(15), "{times:?}");
        }
    }
}

#[test]
fn utc_and_macros() {
    let after = "2026-05-13T10:20:30Z";
    let cases = [
        ("@hourly", "2026-05-13T11:00:00Z"),
        ("@daily", "2026-05-14T00:00:00Z"),
        ("@midnight", "2026-05-14T00:00:00Z"),
        ("@weekly", "2026-05-17T00:00:00Z"),
        ("@monthly", "2026-06-01T00:00:00Z"),
        ("@yearly", "2027-01-01T00:00:00Z"),
        ("@annually", "2027-01-01T00:00:00Z"),
        ("@DAILY", "2026-05-14T00:00:00Z"),
        ("*/10 * * * * *", "2026-05-13T10:20:40Z"),
        ("0 9 * * MON-FRI", "2026-05-14T09:00:00Z"),
        ("0 0 L * *", "2026-05-31T00:00:00Z"),
    ];
    for (expression, expected) in cases {
        let s = schedule(expression, "UTC");
        assert_eq!(
            s.next_after(utc(after)),
            Some(utc(expected)),
            "{expression}"
        );
    }
}

#[test]
fn descriptions_name_the_zone() {
    let s = schedule("0 9 * * 1-5", "Europe/Berlin");
    let text = s.describe();
    assert!(text.starts_with("At 09:00"), "{text}");
    assert!(text.contains("Monday") && text.contains("Friday"), "{text}");
    assert!(text.ends_with("(Europe/Berlin)"), "{text}");
}

fn cron_error(expression: &str) -> String {
    let err = CronSchedule::parse(expression, "UTC", DstPolicy::default()).expect_err(expression);
    assert_eq!(err.field, "cron", "{expression}");
    err.message
}

#[test]
fn errors_say_where_and_why() {
    assert_eq!(
        cron_error("0 25 * * *"),
        "field 2 (hour) value 25 is out of range 0-23"
    );
    assert_eq!(
        cron_error("61 0 0 * * *"),
        "field 1 (second) value 61 is out of range 0-59"
    );
    assert_eq!(
        cron_error("0 0 32 * *"),
        "field 3 (day of month) value 32 is out of range 1-31"
    );
    assert_eq!(
        cron_error("0 0 * 13 *"),
        "field 4 (month) value 13 is out of range 1-12"
    );
    assert!(cron_error("*/0 * * * *").contains("field 1 (minute)"));
    assert!(cron_error("* * * *").contains("has 4 fields"));
    assert!(cron_error("* * * * * * *").contains("has 7 fields"));
    assert!(cron_error("").contains("is empty"));
    assert!(cron_error("@often").contains("unknown macro"));
    assert!(cron_error("0 x * * *").starts_with("field 2 (hour)"));
    assert!(cron_error("0 0 30 2 *").starts_with("never fires"));
    assert!(cron_error("0 0 31 4,6 *").starts_with("never fires"));
}

#[test]
fn unknown_time_zones_are_refused() {
    let err = CronSchedule::parse("* * * * *", "Mars/Olympus", DstPolicy::default())
        .expect_err("unknown zone");
    assert_eq!(err.field, "timezone");
    assert_eq!(
        err.to_string(),
        "timezone: unknown IANA time zone \"Mars/Olympus\""
    );
    assert_eq!(
        CronSchedule::parse("* * * * *", " ", DstPolicy::default())
            .expect_err("empty")
            .field,
        "timezone"
    );
}

#[test]
fn dst_policy_serializes_in_screaming_snake_case() {
    let value = serde_json::to_value(TWICE).expect("serialize");
    assert_eq!(
        value,
        serde_json::json!({"skipped": "RUN_AT_GAP_END", "repeated": "TWICE"})
    );
    let parsed: DstPolicy =
        serde_json::from_value(serde_json::json!({"skipped": "SKIP"})).expect("partial");
    assert_eq!(parsed, SKIP);
}

#[test]
fn transitions_are_found_to_the_second() {
    let found = transitions(
        chrono_tz::America::New_York,
        utc("2026-01-01T00:00:00Z"),
        utc("2027-01-01T00:00:00Z"),
    );
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].at, utc("2026-03-08T07:00:00Z"));
    assert_eq!(
        (found[0].offset_before, found[0].offset_after),
        (-5 * 3600, -4 * 3600)
    );
    assert_eq!(found[1].at, utc("2026-11-01T06:00:00Z"));
    let lord_howe = transitions(
        chrono_tz::Australia::Lord_Howe,
        utc("2026-01-01T00:00:00Z"),
        utc("2027-01-01T00:00:00Z"),
    );
    assert_eq!(lord_howe[0].at, utc("2026-04-04T15:00:00Z"));
    assert_eq!(lord_howe[1].at, utc("2026-10-03T15:30:00Z"));
}

/// Schedules and zones the property checks run over.
const PROPERTY_CASES: [(&str, &str); 10] = [
    ("*/15 * * * *", "America/New_York"),
    ("30 1 * * *", "America/New_York"),
    ("*/20 2-3 * * *", "America/New_York"),
    ("0 * * * *", "Europe/Berlin"),
    ("30 2 * * *", "Europe/Berlin"),
    ("15 2 * * *", "Australia/Lord_Howe"),
    ("*/10 1-2 * * *", "Australia/Lord_Howe"),
    ("*/7 * * * * *", "Australia/Lord_Howe"),
    ("0 0 L * *", "UTC"),
    ("@weekly", "Pacific/Chatham"),
];

/// A random instant within 2026, biased towards the days around its transitions.
fn random_instant(rng: &mut StdRng) -> DateTime<Utc> {
    let near = [
        "2026-03-08T07:00:00Z",
        "2026-11-01T06:00:00Z",
        "2026-03-29T01:00:00Z",
        "2026-10-25T01:00:00Z",
        "2026-04-04T15:00:00Z",
        "2026-10-03T15:30:00Z",
    ];
    if rng.random_bool(0.7) {
        let centre = utc(near[rng.random_range(0..near.len())]);
        centre + Duration::seconds(rng.random_range(-3 * 3600..3 * 3600))
    } else {
        Utc.timestamp_opt(rng.random_range(1_767_225_600..1_798_761_600), 0)
            .single()
            .unwrap_or_else(Utc::now)
    }
}

#[test]
fn property_next_after_is_strictly_later_monotonic_and_consistent() {
    let mut rng = StdRng::seed_from_u64(0x6e6f_6372_6f6e);
    for (expression, zone) in PROPERTY_CASES {
        for policy in [DstPolicy::default(), SKIP, TWICE] {
            let s = schedule_with(expression, zone, policy);
            for _ in 0..60 {
                let t = random_instant(&mut rng);
                let upcoming = s.upcoming(t, 12);
                assert_eq!(upcoming.len(), 12, "{expression} {zone} after {t}");
                assert!(
                    upcoming[0] > t,
                    "{expression} {zone}: {} <= {t}",
                    upcoming[0]
                );
                for pair in upcoming.windows(2) {
                    assert!(
                        pair[1] > pair[0],
                        "{expression} {zone} not increasing: {pair:?}"
                    );
                }
                // Asking from anywhere between two runs gives the later run: nothing is
                // skipped and nothing fires twice.
                for pair in upcoming.windows(2) {
                    let gap = (pair[1] - pair[0]).num_seconds();
                    let inside = pair[0] + Duration::seconds(rng.random_range(0..gap));
                    assert_eq!(
                        s.next_after(inside),
                        Some(pair[1]),
                        "{expression} {zone} {policy:?} from {inside}"
                    );
                }
            }
        }
    }
}

#[test]
fn property_interval_schedules_match_a_brute_force_scan() {
    // An interval schedule fires at exactly the instants whose local time matches.
    let mut rng = StdRng::seed_from_u64(42);
    for (expression, zone) in [
        ("*/15 * * * *", "America/New_York"),
        ("0 * * * *", "Europe/Berlin"),
        ("*/10 * * * *", "Australia/Lord_Howe"),
        ("5,35 * * * *", "Australia/Lord_Howe"),
    ] {
        let s = schedule(expression, zone);
        let cron = syntax::parse_expression(expression).expect("parses");
        let tz = s.timezone();
        for _ in 0..20 {
            let start = random_instant(&mut rng);
            let start = start - Duration::seconds(start.timestamp().rem_euclid(60));
            let expected: Vec<DateTime<Utc>> = (1..=6 * 60)
                .map(|minute| start + Duration::minutes(minute))
                .filter(|at| {
                    cron.is_time_matching(&at.with_timezone(&tz))
                        .unwrap_or(false)
                })
                .collect();
            let actual: Vec<DateTime<Utc>> = s
                .upcoming(start, expected.len() + 1)
                .into_iter()
                .filter(|at| *at <= start + Duration::minutes(6 * 60))
                .collect();
            assert_eq!(actual, expected, "{expression} {zone} from {start}");
        }
    }
}

#[test]
fn property_every_zone_around_its_transitions() {
    // Every IANA zone, around each of its transitions in 1995 and 2026 plus one random
    // instant: runs are strictly later, increasing, and found again from between them.
    let mut rng = StdRng::seed_from_u64(7);
    let mut checked = 0;
    for tz in chrono_tz::TZ_VARIANTS {
        let mut probes: Vec<DateTime<Utc>> = [("1995", "1996"), ("2026", "2027")]
            .iter()
            .flat_map(|(from, to)| {
                transitions(
                    tz,
                    utc(&format!("{from}-01-01T00:00:00Z")),
                    utc(&format!("{to}-01-01T00:00:00Z")),
                )
            })
            .map(|t| t.at - Duration::minutes(rng.random_range(0..150)))
            .collect();
        probes.push(random_instant(&mut rng));
        for (expression, policy) in [
            ("30 2 * * *", DstPolicy::default()),
            ("*/20 0-3 * * *", TWICE),
            ("*/20 * * * *", SKIP),
        ] {
            let s = schedule_with(expression, tz.name(), policy);
            for t in &probes {
                let upcoming = s.upcoming(*t, 6);
                assert_eq!(upcoming.len(), 6, "{expression} {tz} after {t}");
                assert!(upcoming[0] > *t, "{expression} {tz} after {t}");
                for pair in upcoming.windows(2) {
                    assert!(pair[1] > pair[0], "{expression} {tz}: {pair:?}");
                    let middle = pair[0] + (pair[1] - pair[0]) / 2;
                    assert_eq!(s.next_after(middle), Some(pair[1]), "{expression} {tz}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 2000, "only {checked} probes");
}

#[test]
fn a_whole_skipped_day_runs_once_at_its_end() {
    // Samoa skipped 2011-12-30 entirely (UTC-10 to UTC+14).
    let s = schedule("0 12 * * *", "Pacific/Apia");
    assert_eq!(
        runs(&s, "2011-12-29T23:00:00Z", 2),
        instants(&["2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z"])
    );
    let skip = schedule_with("0 12 * * *", "Pacific/Apia", SKIP);
    assert_eq!(
        runs(&skip, "2011-12-29T23:00:00Z", 1),
        instants(&["2011-12-30T22:00:00Z"])
    );
}

#[test]
fn far_future_instants_do_not_panic() {
    let s = schedule("*/5 * * * *", "Europe/Berlin");
    assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC), None);
    // croner searches up to the year 5000.
    assert_eq!(
        s.next_after(utc("4999-06-30T23:00:00Z")),
        Some(utc("4999-06-30T23:05:00Z"))
    );
    assert_eq!(s.next_after(utc("6000-01-01T00:00:00Z")), None);
}

#[test]
fn second_passes_of_times_already_passed_on_the_first_pass() {
    // Asked at 01:45 EDT: 01:30 has passed once but comes round again at 01:30 EST.
    let twice = schedule_with("30 1 * * *", "America/New_York", TWICE);
    assert_eq!(
        twice.next_after(utc("2026-11-01T05:45:00Z")),
        Some(utc("2026-11-01T06:30:00Z"))
    );
    let once = schedule("30 1 * * *", "America/New_York");
    assert_eq!(
        once.next_after(utc("2026-11-01T05:45:00Z")),
        Some(utc("2026-11-02T06:30:00Z"))
    );
    // Every second of 01:xx, asked during the second pass: once means the next day.
    let every_second = schedule("* * 1 * * *", "America/New_York");
    assert_eq!(
        every_second.next_after(utc("2026-11-01T06:30:00Z")),
        Some(utc("2026-11-02T06:00:00Z"))
    );
    let every_second_twice = schedule_with("* * 1 * * *", "America/New_York", TWICE);
    assert_eq!(
        every_second_twice.next_after(utc("2026-11-01T06:30:00Z")),
        Some(utc("2026-11-01T06:30:01Z"))
    );
}
