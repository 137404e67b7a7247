//! `/analytics/summary` and `/analytics/dashboard` (and their `/api/v1` twins): every figure
//! checked against counts this file makes from the executions it inserted, in UTC, UTC+8
//! and across a DST change; bad parameters named; another user's executions never counted.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    analytics_fixtures::{
        Lcg, Run, assert_close, assert_percentiles, counts, create_task, insert_notification,
        insert_runs, spawn_quiet_app, success_rate,
    },
    helpers::{TestApp, TestUser, problem, problem_fields},
};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 instant")
}

/// `count` runs of `tasks`, spread over `[from, to)` with varied statuses and times.
fn spread(
    rng: &mut Lcg,
    tasks: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    count: usize,
) -> Vec<Run> {
    let span = (to - from).num_seconds() as u64;
    (0..count)
        .map(|_| {
            let status = rng.status();
            Run {
                task_id: tasks[rng.below(tasks.len() as u64) as usize],
                status,
                queued_at: from + Duration::seconds(rng.below(span) as i64),
                duration_ms: Some(rng.below(5000) as i64),
                lateness_ms: Some(rng.below(900) as i64),
            }
        })
        .collect()
}

fn durations(runs: &[&Run]) -> Vec<i64> {
    runs.iter()
        .filter(|r| r.ended())
        .filter_map(|r| r.duration_ms)
        .collect()
}

fn lateness(runs: &[&Run]) -> Vec<i64> {
    runs.iter()
        .filter(|r| r.status != "QUEUED")
        .filter_map(|r| r.lateness_ms)
        .collect()
}

fn in_range(runs: &[Run], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<&Run> {
    runs.iter()
        .filter(|r| r.queued_at >= from && r.queued_at < to)
        .collect()
}

fn check_period(actual: &Value, runs: &[&Run], notifications: usize, what: &str) {
    assert_eq!(actual["executions"], counts(runs), "{what}: executions");
    assert_close(
        &actual["success_rate"],
        success_rate(runs).as_f64(),
        &format!("{what}.success_rate"),
    );
    assert_percentiles(
        &actual["duration_ms"],
        &durations(runs),
        &format!("{what}.duration_ms"),
    );
    assert_percentiles(
        &actual["lateness_ms"],
        &lateness(runs),
        &format!("{what}.lateness_ms"),
    );
    let active: std::collections::HashSet<Uuid> = runs.iter().map(|r| r.task_id).collect();
    assert_eq!(actual["active_tasks"], active.len(), "{what}: active tasks");
    assert_eq!(
        actual["notifications_sent"], notifications,
        "{what}: notifications"
    );
}

#[tokio::test]
async fn the_summary_equals_the_inserted_executions_and_compares_with_the_period_before() {
    let app = spawn_quiet_app().await;
    let user = app.login_as("USER").await;
    let stranger = app.login_as("USER").await;
    let mut tasks = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        tasks.push(create_task(&app, &user, name, None).await);
    }
    let theirs = create_task(&app, &stranger, "theirs", None).await;

    let (from, to) = (at("2026-06-01T00:00:00Z"), at("2026-06-08T00:00:00Z"));
    let previous_from = at("2026-05-25T00:00:00Z");
    let mut rng = Lcg(18);
    let mut runs = spread(&mut rng, &tasks, previous_from, to, 240);
    // Outside both periods: never counted.
    runs.extend(spread(
        &mut rng,
        &tasks,
        at("2026-05-01T00:00:00Z"),
        previous_from,
        20,
    ));
    runs.extend(spread(&mut rng, &tasks, to, at("2026-06-20T00:00:00Z"), 20));
    // Boundaries: `from` belongs to the current period, `to` to neither.
    for queued_at in [from, to, previous_from] {
        runs.push(Run {
            task_id: tasks[0],
            status: "SUCCEEDED",
            queued_at,
            duration_ms: Some(7),
            lateness_ms: Some(1),
        });
    }
    insert_runs(&app.db, &runs).await;
    // Another user's executions in the same period.
    let their_runs = spread(&mut rng, &[theirs], previous_from, to, 60);
    insert_runs(&app.db, &their_runs).await;
    for day in [2, 3, 3, 27] {
        let month = if day > 20 { 5 } else { 6 };
        let created = Utc.with_ymd_and_hms(2026, month, day, 12, 0, 0).unwrap();
        insert_notification(&app.db, user.id, created, day == 3).await;
        insert_notification(&app.db, stranger.id, created, false).await;
    }

    let summary = app
        .get_json_as(
            &user.access_token,
            "/analytics/summary?from=2026-06-01T00:00:00Z&to=2026-06-08T00:00:00Z&tz=Europe/Berlin",
        )
        .await;
    let current = in_range(&runs, from, to);
    let previous = in_range(&runs, previous_from, from);
    assert!(
        current.len() > 100 && previous.len() > 100,
        "fixtures spread"
    );
    assert_eq!(summary["tz"], "Europe/Berlin");
    assert_eq!(summary["current"]["from"], "2026-06-01T00:00:00Z");
    assert_eq!(summary["previous"]["from"], "2026-05-25T00:00:00Z");
    assert_eq!(summary["previous"]["to"], "2026-06-01T00:00:00Z");
    check_period(&summary["current"], &current, 3, "current");
    check_period(&summary["previous"], &previous, 1, "previous");
    let total = |runs: &[&Run]| runs.len() as f64;
    assert_close(
        &summary["change"]["executions"],
        Some((total(&current) - total(&previous)) / total(&previous)),
        "change.executions",
    );
    assert_close(
        &summary["change"]["notifications_sent"],
        Some(2.0),
        "change.notifications",
    );
    let rate = |runs: &[&Run]| success_rate(runs).as_f64().expect("a rate");
    assert_close(
        &summary["change"]["success_rate"],
        Some(rate(&current) - rate(&previous)),
        "change.success_rate",
    );

    // Busiest and failing tasks, counted here.
    let mut per_task: BTreeMap<Uuid, (i64, i64, i64, i64)> = BTreeMap::new();
    for run in &current {
        let entry = per_task.entry(run.task_id).or_default();
        entry.0 += 1;
        entry.1 += i64::from(run.failed());
    }
    for run in &previous {
        if let Some(entry) = per_task.get_mut(&run.task_id) {
            entry.2 += 1;
            entry.3 += i64::from(run.failed());
        }
    }
    let mut busiest: Vec<(Uuid, (i64, i64, i64, i64))> = per_task.clone().into_iter().collect();
    busiest.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
    let listed = summary["busiest_tasks"].as_array().expect("list");
    assert_eq!(listed.len(), 3, "{listed:?}");
    for (item, (task_id, (executions, failures, prev, prev_failures))) in
        listed.iter().zip(&busiest)
    {
        assert_eq!(item["task_id"], task_id.to_string());
        assert_eq!(item["executions"], *executions);
        assert_eq!(item["failures"], *failures);
        assert_eq!(item["previous_executions"], *prev);
        assert_eq!(item["previous_failures"], *prev_failures);
    }
    assert!(listed[0]["name"].is_string());
    let mut failing: Vec<(Uuid, i64)> = per_task
        .iter()
        .filter(|(_, v)| v.1 > 0)
        .map(|(id, v)| (*id, v.1))
        .collect();
    failing.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top_failing: Vec<(String, i64)> = summary["top_failing_tasks"]
        .as_array()
        .expect("list")
        .iter()
        .map(|t| {
            (
                t["task_id"].as_str().expect("id").to_owned(),
                t["failures"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(
        top_failing,
        failing
            .iter()
            .map(|(id, n)| (id.to_string(), *n))
            .collect::<Vec<_>>()
    );
    assert!(
        !summary.to_string().contains(&theirs.to_string()),
        "another user's task is never listed"
    );

    // The other user sees only their own.
    let theirs_summary = app
        .get_json_as(
            &stranger.access_token,
            "/analytics/summary?from=2026-06-01T00:00:00Z&to=2026-06-08T00:00:00Z",
        )
        .await;
    let their_current = in_range(&their_runs, from, to);
    check_period(&theirs_summary["current"], &their_current, 3, "theirs");
}

/// The local calendar days of `runs` in `tz`, counted here with chrono-tz.
fn per_local_day(runs: &[Run], tz: Tz) -> BTreeMap<NaiveDate, Vec<&Run>> {
    let mut days: BTreeMap<NaiveDate, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        days.entry(run.queued_at.with_timezone(&tz).date_naive())
            .or_default()
            .push(run);
    }
    days
}

async fn series(app: &TestApp, user: &TestUser, query: &str) -> Vec<Value> {
    let response = app
        .get_as(&user.access_token, &format!("/analytics/dashboard?{query}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    let body: Value = response.json().await.expect("json");
    body["points"].as_array().expect("points").clone()
}

#[tokio::test]
async fn a_utc_plus_8_users_days_start_at_their_midnight() {
    let app = spawn_quiet_app().await;
    let user = app.login_as("USER").await;
    let task = create_task(&app, &user, "shanghai", None).await;
    let tz: Tz = "Asia/Shanghai".parse().expect("zone");
    let run = |queued_at: &str, status| Run {
        task_id: task,
        status,
        queued_at: at(queued_at),
        duration_ms: Some(100),
        lateness_ms: Some(5),
    };
    // 15:59:59 UTC is 23:59:59 in Shanghai, 16:00 UTC the next local day.
    let runs = vec![
        run("2026-06-01T15:59:59Z", "SUCCEEDED"),
        run("2026-06-01T16:00:00Z", "FAILED"),
        run("2026-06-02T03:00:00Z", "SUCCEEDED"),
        run("2026-06-02T15:59:59Z", "DEAD"),
        run("2026-06-02T16:00:00Z", "SUCCEEDED"),
        run("2026-06-03T10:00:00Z", "CANCELLED"),
    ];
    insert_runs(&app.db, &runs).await;
    let points = series(
        &app,
        &user,
        "from=2026-05-31T16:00:00Z&to=2026-06-03T16:00:00Z&tz=Asia/Shanghai&bucket=day",
    )
    .await;
    let expected = per_local_day(&runs, tz);
    let starts: Vec<&str> = points
        .iter()
        .map(|p| p["start"].as_str().expect("start"))
        .collect();
    assert_eq!(
        starts,
        [
            "2026-05-31T16:00:00Z",
            "2026-06-01T16:00:00Z",
            "2026-06-02T16:00:00Z"
        ]
    );
    for point in &points {
        let local: NaiveDate = point["local_start"].as_str().expect("local")[..10]
            .parse()
            .expect("date");
        let runs = expected.get(&local).cloned().unwrap_or_default();
        assert_eq!(point["executions"], counts(&runs), "{local}");
        assert_eq!(point["local_start"], format!("{local}T00:00:00"));
    }
    // The same runs in UTC fall on other days.
    let utc = series(
        &app,
        &user,
        "from=2026-06-01T00:00:00Z&to=2026-06-04T00:00:00Z&bucket=day",
    )
    .await;
    let utc_days = per_local_day(&runs, Tz::UTC);
    for point in &utc {
        let local: NaiveDate = point["local_start"].as_str().expect("local")[..10]
            .parse()
            .expect("date");
        let runs = utc_days.get(&local).cloned().unwrap_or_default();
        assert_eq!(point["executions"], counts(&runs), "UTC {local}");
    }
}

#[tokio::test]
async fn day_and_week_buckets_follow_a_dst_week_in_berlin() {
    let app = spawn_quiet_app().await;
    let user = app.login_as("USER").await;
    let task = create_task(&app, &user, "berlin", None).await;
    let tz: Tz = "Europe/Berlin".parse().expect("zone");
    // Clocks go from 02:00 to 03:00 on Sunday 2026-03-29. A run every 90 minutes over the
    // week around it, with its status cycling.
    let mut rng = Lcg(29);
    let from = at("2026-03-22T23:00:00Z"); // Monday 23 March, 00:00 CET
    let to = at("2026-03-30T22:00:00Z"); // Tuesday 31 March, 00:00 CEST
    let mut runs = Vec::new();
    let mut queued_at = from;
    while queued_at < to {
        runs.push(Run {
            task_id: task,
            status: rng.status(),
            queued_at,
            duration_ms: Some(rng.below(1000) as i64),
            lateness_ms: Some(rng.below(100) as i64),
        });
        queued_at += Duration::minutes(90);
    }
    insert_runs(&app.db, &runs).await;
    let points = series(
        &app,
        &user,
        "from=2026-03-22T23:00:00Z&to=2026-03-30T22:00:00Z&tz=Europe/Berlin&bucket=day",
    )
    .await;
    assert_eq!(points.len(), 8, "eight local days");
    let expected = per_local_day(&runs, tz);
    for point in &points {
        let local: NaiveDate = point["local_start"].as_str().expect("local")[..10]
            .parse()
            .expect("date");
        let start = tz
            .from_local_datetime(&local.and_hms_opt(0, 0, 0).expect("midnight"))
            .single()
            .expect("midnight exists in Berlin")
            .with_timezone(&Utc);
        assert_eq!(
            point["start"],
            start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let day = expected.get(&local).cloned().unwrap_or_default();
        assert_eq!(point["executions"], counts(&day), "{local}");
        assert_percentiles(&point["duration_ms"], &durations(&day), &format!("{local}"));
    }
    // The DST day is 23 hours long: its bucket holds the runs of those 23 hours only.
    let dst = points
        .iter()
        .find(|p| p["local_start"] == "2026-03-29T00:00:00")
        .expect("the DST day");
    assert_eq!(dst["start"], "2026-03-28T23:00:00Z");
    let next = points
        .iter()
        .find(|p| p["local_start"] == "2026-03-30T00:00:00")
        .expect("the day after");
    assert_eq!(next["start"], "2026-03-29T22:00:00Z");

    // Weeks starting on Sunday: 22 March (CET) and 29 March (the DST Sunday).
    let weeks = series(
        &app,
        &user,
        "from=2026-03-22T23:00:00Z&to=2026-03-30T22:00:00Z&tz=Europe/Berlin&bucket=week&week_start=sunday",
    )
    .await;
    let week_starts: Vec<&str> = weeks
        .iter()
        .map(|p| p["local_start"].as_str().expect("s"))
        .collect();
    assert_eq!(week_starts, ["2026-03-22T00:00:00", "2026-03-29T00:00:00"]);
    let split = at("2026-03-28T23:00:00Z");
    let first: Vec<&Run> = runs.iter().filter(|r| r.queued_at < split).collect();
    let second: Vec<&Run> = runs.iter().filter(|r| r.queued_at >= split).collect();
    assert_eq!(weeks[0]["executions"], counts(&first));
    assert_eq!(weeks[1]["executions"], counts(&second));
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_them() {
    let app = spawn_quiet_app().await;
    let user = app.login_as("USER").await;
    for (query, status, field) in [
        ("tz=Mars/Olympus", 422, "query.tz"),
        ("tz=", 422, "query.tz"),
        (
            "from=2026-06-02T00:00:00Z&to=2026-06-01T00:00:00Z",
            422,
            "query.to",
        ),
        (
            "from=2025-01-01T00:00:00Z&to=2026-06-01T00:00:00Z",
            422,
            "query.from",
        ),
        (
            "from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z&bucket=hour",
            422,
            "query.bucket",
        ),
        ("bucket=year", 400, "query.bucket"),
        ("week_start=someday", 400, "query.week_start"),
        ("from=yesterday", 400, "query.from"),
    ] {
        let response = app
            .get_as(&user.access_token, &format!("/analytics/dashboard?{query}"))
            .await;
        assert_eq!(response.status().as_u16(), status, "{query}");
        let body = problem(response).await;
        assert_eq!(problem_fields(&body), [field], "{query}: {body}");
    }
    let summary = app
        .get_as(&user.access_token, "/analytics/summary?tz=Nowhere/Land")
        .await;
    assert_eq!(summary.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem(summary).await), ["query.tz"]);
    // A long summary is fine with the default bucket.
    let long = app
        .get_as(
            &user.access_token,
            "/analytics/summary?from=2025-06-01T00:00:00Z&to=2026-06-01T00:00:00Z",
        )
        .await;
    assert_eq!(long.status(), StatusCode::OK);
    let anonymous = app.get("/analytics/summary").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_keys_need_analytics_read() {
    let app = spawn_quiet_app().await;
    let user = app.login_as("USER").await;
    let task = create_task(&app, &user, "keyed", None).await;
    let runs: Vec<Run> = ["SUCCEEDED", "SUCCEEDED", "DEAD"]
        .into_iter()
        .enumerate()
        .map(|(i, status)| Run {
            task_id: task,
            status,
            queued_at: at("2026-06-02T10:00:00Z") + Duration::minutes(i as i64),
            duration_ms: Some(10),
            lateness_ms: Some(1),
        })
        .collect();
    insert_runs(&app.db, &runs).await;
    let reader = app
        .create_api_key(&user.access_token, &["analytics:read"])
        .await;
    let reader = reader["key"].as_str().expect("key");
    let other = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let other = other["key"].as_str().expect("key");
    let query = "from=2026-06-01T00:00:00Z&to=2026-06-08T00:00:00Z";
    let summary = app
        .get_with_key(reader, &format!("/api/v1/analytics/summary?{query}"))
        .await;
    assert_eq!(summary.status(), StatusCode::OK);
    let summary: Value = summary.json().await.expect("json");
    let all: Vec<&Run> = runs.iter().collect();
    assert_eq!(summary["current"]["executions"], counts(&all));
    let series = app
        .get_with_key(reader, &format!("/api/v1/analytics/dashboard?{query}"))
        .await;
    assert_eq!(series.status(), StatusCode::OK);
    let series: Value = series.json().await.expect("json");
    let total: i64 = series["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["executions"]["total"].as_i64().expect("n"))
        .sum();
    assert_eq!(total, 3);
    for path in ["summary", "dashboard"] {
        let refused = app
            .get_with_key(other, &format!("/api/v1/analytics/{path}?{query}"))
            .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        let body = problem(refused).await;
        assert_eq!(body["code"], "INSUFFICIENT_SCOPE");
        // Keys are for /api/v1 only.
        let outside = app
            .get_with_key(reader, &format!("/analytics/{path}?{query}"))
            .await;
        assert_eq!(outside.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(json!(summary["tz"]), json!("UTC"));
}
