//! Cost of cron evaluation, the dispatcher's per-slot work: parsing, `next_after` for
//! typical and worst-case schedules (including instants next to DST transitions), and
//! advancing a fleet of 10,000 minute schedules and 1,000 per-second schedules by one slot.
//!
//! Run with `cargo bench --bench cron`. Each figure is the median of 7 rounds.

use std::{hint::black_box, time::Instant};

use chrono::{DateTime, Duration, Utc};
use nocron::cron::{CronSchedule, DstPolicy, RepeatedHour, SkippedHour};

const ROUNDS: usize = 7;

fn utc(text: &str) -> DateTime<Utc> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(at) => at.with_timezone(&Utc),
        Err(err) => panic!("{text}: {err}"),
    }
}

fn schedule(expression: &str, zone: &str, dst: DstPolicy) -> CronSchedule {
    match CronSchedule::parse(expression, zone, dst) {
        Ok(schedule) => schedule,
        Err(err) => panic!("{expression}: {err}"),
    }
}

/// Median time per operation of `op` run `iterations` times, in nanoseconds.
fn measure(iterations: usize, mut op: impl FnMut(usize)) -> f64 {
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for i in 0..iterations {
                op(i);
            }
            started.elapsed().as_nanos() as f64 / iterations as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

fn report(name: &str, nanos: f64) {
    if nanos >= 1_000_000.0 {
        println!("{name:<72} {:>10.2} ms", nanos / 1_000_000.0);
    } else {
        println!("{name:<72} {:>10.2} µs", nanos / 1_000.0);
    }
}

fn main() {
    // `cargo bench` passes --bench; a test runner listing targets (`--list`) must get no
    // output rather than a benchmark run.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let default = DstPolicy::default();
    let twice = DstPolicy {
        skipped: SkippedHour::RunAtGapEnd,
        repeated: RepeatedHour::Twice,
    };
    // Instants spread over 2026, one every 53 minutes.
    let instants: Vec<DateTime<Utc>> = (0..10_000)
        .map(|i| utc("2026-01-01T00:00:00Z") + Duration::minutes(53 * i))
        .collect();

    report(
        "parse \"0 9 * * 1-5\" Europe/Berlin",
        measure(20_000, |_| {
            black_box(CronSchedule::parse("0 9 * * 1-5", "Europe/Berlin", default).ok());
        }),
    );

    report(
        "parse a never-firing expression \"0 0 30 2 *\" (refused)",
        measure(5, |_| {
            black_box(CronSchedule::parse("0 0 30 2 *", "UTC", default).is_err());
        }),
    );
    let rare = schedule("0 0 29 2 +1", "Europe/Berlin", default);
    report(
        "upcoming 100 of \"0 0 29 2 +1\" (Feb 29 on a Monday, ~2,800 years)",
        measure(3, |_| {
            black_box(rare.upcoming(instants[0], 100));
        }),
    );
    report(
        "upcoming 4 of \"0 0 29 2 +1\" (explain's century: 3 runs + 1 beyond)",
        measure(20, |_| {
            black_box(rare.upcoming(instants[0], 4));
        }),
    );

    for (label, expression, zone, policy) in [
        (
            "next_after daily 02:30 America/New_York",
            "30 2 * * *",
            "America/New_York",
            default,
        ),
        (
            "next_after weekdays 09:00 Europe/Berlin",
            "0 9 * * 1-5",
            "Europe/Berlin",
            default,
        ),
        (
            "next_after every 15 min Australia/Lord_Howe",
            "*/15 * * * *",
            "Australia/Lord_Howe",
            default,
        ),
        ("next_after every second UTC", "* * * * * *", "UTC", default),
        (
            "next_after every second Europe/Berlin",
            "* * * * * *",
            "Europe/Berlin",
            default,
        ),
        (
            "next_after last day of month 00:00 UTC",
            "0 0 L * *",
            "UTC",
            default,
        ),
    ] {
        let s = schedule(expression, zone, policy);
        report(
            label,
            measure(instants.len(), |i| {
                black_box(s.next_after(instants[i]));
            }),
        );
    }

    // Worst cases: asked from inside a repeated hour's second pass with a schedule that
    // matches every second of it (the search looks back over the whole first pass), and
    // from just before a skipped hour that an every-second schedule matches throughout.
    let every_second_at_one = schedule("* * 1 * * *", "America/New_York", twice);
    let second_pass = utc("2026-11-01T06:30:00Z");
    report(
        "worst: every second of 01:xx, asked in the repeated hour",
        measure(200, |i| {
            black_box(every_second_at_one.next_after(second_pass + Duration::seconds(i as i64)));
        }),
    );
    let every_second_at_two = schedule("* * 2 * * *", "America/New_York", default);
    let before_gap = utc("2026-03-08T06:59:59Z");
    report(
        "worst: every second of 02:xx, asked just before the gap",
        measure(200, |_| {
            black_box(every_second_at_two.next_after(before_gap));
        }),
    );

    // The dispatcher's shape: advance every task by one slot.
    let zones = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
    ];
    let minute_tasks: Vec<CronSchedule> = (0..10_000)
        .map(|i| {
            schedule(
                &format!("{} * * * *", i % 60),
                zones[i % zones.len()],
                default,
            )
        })
        .collect();
    let second_tasks: Vec<CronSchedule> = (0..1_000)
        .map(|i| schedule("* * * * * *", zones[i % zones.len()], default))
        .collect();
    let now = utc("2026-06-15T12:00:00Z");
    report(
        "advance 10,000 hourly schedules (spread minutes) by one slot (total)",
        measure(1, |_| {
            for task in &minute_tasks {
                black_box(task.next_after(now));
            }
        }),
    );
    report(
        "advance 1,000 per-second schedules by one slot (total)",
        measure(1, |_| {
            for task in &second_tasks {
                black_box(task.next_after(now));
            }
        }),
    );
}
