//! `/dashboard/overview`, `/dashboard/metrics`, `/dashboard/recent-tasks` and the live
//! `dashboard.metrics` event: every figure checked against counts this file makes from the
//! executions it inserted; another user's objects never counted; `scope=system` for
//! administrators only.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use nocron::realtime::{Room, events::names};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    analytics_fixtures::{
        QUIET, Run, assert_close, counts, create_task, insert_notification, insert_runs,
        percentile, spawn_quiet_app, success_rate,
    },
    helpers::{problem, problem_fields, spawn_app_with},
    sockets::connect,
};

fn run(task_id: Uuid, status: &'static str, queued_at: DateTime<Utc>, lateness: i64) -> Run {
    Run {
        task_id,
        status,
        queued_at,
        duration_ms: Some(100 + lateness),
        lateness_ms: Some(lateness),
    }
}

#[tokio::test]
async fn the_overview_counts_the_callers_own_objects_in_their_time_zone() {
    let app = spawn_quiet_app().await;
    let user = app.login_as("USER").await;
    let stranger = app.login_as("USER").await;
    let admin = app.login_as("ADMIN").await;
    let hourly = create_task(&app, &user, "hourly", Some("0 * * * *")).await;
    let paused = create_task(&app, &user, "paused", None).await;
    let response = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{paused}/pause"),
            &json!({}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    let failing = create_task(&app, &user, "failing", None).await;
    let theirs = create_task(&app, &stranger, "theirs", Some("30 * * * *")).await;
    for (task, status, failures) in [(failing, "FAILED", 3), (theirs, "ACTIVE", 5)] {
        sqlx::query("UPDATE tasks SET status = $2, consecutive_failures = $3 WHERE id = $1")
            .bind(task)
            .bind(status)
            .bind(failures)
            .execute(&app.db)
            .await
            .expect("fixture");
    }

    // Today in Shanghai (UTC+8, no DST), counted here with chrono-tz.
    let tz: Tz = "Asia/Shanghai".parse().expect("zone");
    let now = Utc::now();
    let midnight = now
        .with_timezone(&tz)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    let day_start = tz
        .from_local_datetime(&midnight)
        .single()
        .expect("one midnight")
        .with_timezone(&Utc);
    let day_end = day_start + Duration::days(1);
    let statuses = [
        "QUEUED",
        "RUNNING",
        "SUCCEEDED",
        "SUCCEEDED",
        "FAILED",
        "DEAD",
        "CANCELLED",
        "TIMED_OUT",
    ];
    let mut runs: Vec<Run> = statuses
        .iter()
        .enumerate()
        .map(|(i, status)| run(hourly, status, day_start + Duration::minutes(i as i64), 10))
        .collect();
    // Yesterday (local): still waiting or running, so they never end within the last 24 h.
    runs.push(run(hourly, "QUEUED", day_start - Duration::minutes(1), 0));
    runs.push(run(failing, "RUNNING", day_start - Duration::hours(3), 5));
    // Ended long ago.
    runs.push(run(failing, "SUCCEEDED", now - Duration::hours(30), 5));
    insert_runs(&app.db, &runs).await;
    let their_runs: Vec<Run> = statuses
        .iter()
        .map(|status| run(theirs, status, day_start + Duration::minutes(30), 1))
        .collect();
    insert_runs(&app.db, &their_runs).await;
    for read in [false, false, true] {
        insert_notification(&app.db, user.id, now, read).await;
    }
    insert_notification(&app.db, stranger.id, now, false).await;

    let overview = app
        .get_json_as(&user.access_token, "/dashboard/overview?tz=Asia/Shanghai")
        .await;
    assert_eq!(overview["scope"], "user");
    assert_eq!(overview["tz"], "Asia/Shanghai");
    assert_eq!(
        overview["tasks"],
        json!({"total": 3, "active": 1, "paused": 1, "stopped": 0, "failed": 1})
    );
    let today: Vec<&Run> = runs
        .iter()
        .filter(|r| r.queued_at >= day_start && r.queued_at < day_end)
        .collect();
    assert_eq!(
        overview["today"]["from"],
        day_start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert_eq!(
        overview["today"]["to"],
        day_end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert_eq!(overview["today"]["executions"], counts(&today));
    let last_day: Vec<&Run> = runs
        .iter()
        .filter(|r| {
            r.finished_at()
                .is_some_and(|f| f > now - Duration::hours(24))
        })
        .collect();
    assert_eq!(
        overview["last_24h"]["succeeded"],
        last_day.iter().filter(|r| r.status == "SUCCEEDED").count()
    );
    assert_eq!(
        overview["last_24h"]["failed"],
        last_day.iter().filter(|r| r.failed()).count()
    );
    assert_close(
        &overview["last_24h"]["success_rate"],
        success_rate(&last_day).as_f64(),
        "last_24h.success_rate",
    );
    let next_run_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT next_run_at FROM tasks WHERE id = $1")
            .bind(hourly)
            .fetch_one(&app.db)
            .await
            .expect("next run");
    assert_eq!(
        overview["next_runs"],
        json!([{"task_id": hourly, "name": "hourly", "next_run_at": next_run_at}])
    );
    assert_eq!(
        overview["failing_tasks"],
        json!([{"task_id": failing, "name": "failing", "status": "FAILED",
                "consecutive_failures": 3}])
    );
    assert_eq!(overview["unread_notifications"], 2);

    // Administrators may ask for everyone's; users may not.
    let refused = app
        .get_as(&user.access_token, "/dashboard/overview?scope=system")
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let system = app
        .get_json_as(
            &admin.access_token,
            "/dashboard/overview?scope=system&tz=Asia/Shanghai",
        )
        .await;
    assert_eq!(system["scope"], "system");
    assert_eq!(system["tasks"]["total"], 4);
    let everyone: Vec<&Run> = today.iter().copied().chain(their_runs.iter()).collect();
    assert_eq!(system["today"]["executions"], counts(&everyone));
    assert_eq!(system["failing_tasks"].as_array().map(Vec::len), Some(2));

    let bad = app
        .get_as(&user.access_token, "/dashboard/overview?tz=Mars/Olympus")
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem(bad).await), ["query.tz"]);
}

#[tokio::test]
async fn metrics_and_recent_tasks_follow_the_executions() {
    let app = spawn_quiet_app().await;
    let user = app.login_as("USER").await;
    let stranger = app.login_as("USER").await;
    let admin = app.login_as("ADMIN").await;
    let first = create_task(&app, &user, "first", None).await;
    let second = create_task(&app, &user, "second", None).await;
    let theirs = create_task(&app, &stranger, "theirs", None).await;
    let now = Utc::now();
    let ago = |minutes: i64| now - Duration::minutes(minutes);
    let runs = vec![
        run(first, "RUNNING", now - Duration::seconds(10), 200),
        run(second, "RUNNING", now - Duration::seconds(20), 300),
        run(first, "QUEUED", now - Duration::seconds(5), 0),
        run(first, "SUCCEEDED", ago(2), 10),
        run(second, "FAILED", ago(3), 40),
        run(first, "TIMED_OUT", ago(4), 60),
        run(second, "DEAD", ago(20), 900),
        run(first, "SUCCEEDED", ago(50), 70),
        run(second, "SUCCEEDED", ago(120), 30),
    ];
    insert_runs(&app.db, &runs).await;
    let their_runs = vec![
        run(theirs, "RUNNING", now - Duration::seconds(3), 1),
        run(theirs, "SUCCEEDED", ago(1), 1),
    ];
    insert_runs(&app.db, &their_runs).await;

    let metrics = app
        .get_json_as(&user.access_token, "/dashboard/metrics")
        .await;
    assert_eq!(metrics["v"], 1);
    assert_eq!(metrics["scope"], "user");
    let hour_ago = now - Duration::hours(1);
    let count = |f: &dyn Fn(&Run) -> bool| runs.iter().filter(|r| f(r)).count();
    let ended_within = |r: &Run, since: DateTime<Utc>| r.finished_at().is_some_and(|f| f > since);
    assert_eq!(metrics["running"], count(&|r| r.status == "RUNNING"));
    assert_eq!(metrics["queued"], count(&|r| r.status == "QUEUED"));
    assert_eq!(
        metrics["succeeded_last_hour"],
        count(&|r| r.status == "SUCCEEDED" && ended_within(r, hour_ago))
    );
    assert_eq!(
        metrics["failed_last_hour"],
        count(&|r| r.failed() && ended_within(r, hour_ago))
    );
    let five = count(&|r| ended_within(r, ago(5)));
    assert_eq!(metrics["finished_last_5m"], five);
    assert_close(
        &metrics["throughput_per_minute"],
        Some(five as f64 / 5.0),
        "throughput",
    );
    let lateness: Vec<i64> = runs
        .iter()
        .filter(|r| r.started_at().is_some_and(|s| s > hour_ago))
        .filter_map(|r| r.lateness_ms)
        .collect();
    assert_close(
        &metrics["p99_lateness_ms"],
        percentile(&lateness, 0.99),
        "p99 lateness",
    );
    let durations: Vec<i64> = runs
        .iter()
        .filter(|r| ended_within(r, hour_ago))
        .filter_map(|r| r.duration_ms)
        .collect();
    assert_close(
        &metrics["p95_duration_ms"],
        percentile(&durations, 0.95),
        "p95 duration",
    );
    let points = metrics["per_minute"].as_array().expect("series");
    assert_eq!(points.len(), 60);
    let at: DateTime<Utc> = metrics["at"]
        .as_str()
        .expect("at")
        .parse()
        .expect("instant");
    let last_minute = at.duration_trunc(TimeDelta::minutes(1)).expect("minute");
    let series_from = last_minute - Duration::minutes(59);
    let mut expected: HashMap<DateTime<Utc>, (i64, i64, i64)> = HashMap::new();
    for r in &runs {
        if let Some(finished) = r.finished_at().filter(|f| *f >= series_from) {
            let entry = expected
                .entry(
                    finished
                        .duration_trunc(TimeDelta::minutes(1))
                        .expect("minute"),
                )
                .or_default();
            entry.0 += 1;
            entry.1 += i64::from(r.status == "SUCCEEDED");
            entry.2 += i64::from(r.failed());
        }
    }
    for (i, point) in points.iter().enumerate() {
        let minute = series_from + Duration::minutes(i as i64);
        let (finished, succeeded, failed) = expected.get(&minute).copied().unwrap_or_default();
        assert_eq!(
            point,
            &json!({"minute": minute, "finished": finished, "succeeded": succeeded,
                    "failed": failed}),
            "minute {i}"
        );
    }

    let refused = app
        .get_as(&user.access_token, "/dashboard/metrics?scope=system")
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let system = app
        .get_json_as(&admin.access_token, "/dashboard/metrics?scope=system")
        .await;
    assert_eq!(system["scope"], "system");
    let all_running = runs
        .iter()
        .chain(&their_runs)
        .filter(|r| r.status == "RUNNING")
        .count();
    assert_eq!(system["running"], all_running);

    // Recent tasks: each task's last ended execution, most recent first.
    let recent = app
        .get_json_as(&user.access_token, "/dashboard/recent-tasks")
        .await;
    let mut last: HashMap<Uuid, &Run> = HashMap::new();
    for r in runs.iter().filter(|r| r.ended()) {
        let entry = last.entry(r.task_id).or_insert(r);
        if r.finished_at() > entry.finished_at() {
            *entry = r;
        }
    }
    let mut expected: Vec<&Run> = last.into_values().collect();
    expected.sort_by_key(|r| std::cmp::Reverse(r.finished_at()));
    let items = recent["items"].as_array().expect("items");
    assert_eq!(items.len(), expected.len());
    for (item, r) in items.iter().zip(&expected) {
        assert_eq!(item["task_id"], r.task_id.to_string());
        assert_eq!(item["last_status"], r.status);
        assert_eq!(item["duration_ms"], json!(r.duration_ms));
        assert_eq!(item["status"], "ACTIVE");
    }
    let one = app
        .get_json_as(&user.access_token, "/dashboard/recent-tasks?limit=1")
        .await;
    assert_eq!(one["items"].as_array().map(Vec::len), Some(1));
    for limit in ["0", "51"] {
        let bad = app
            .get_as(
                &user.access_token,
                &format!("/dashboard/recent-tasks?limit={limit}"),
            )
            .await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY, "{limit}");
        assert_eq!(problem_fields(&problem(bad).await), ["query.limit"]);
    }
    let everyone = app
        .get_json_as(&admin.access_token, "/dashboard/recent-tasks?scope=system")
        .await;
    assert_eq!(everyone["items"].as_array().map(Vec::len), Some(3));
}

/// The figures of a `dashboard.metrics` payload, without its timestamp.
fn figures(payload: &Value) -> Value {
    let mut figures = payload.clone();
    if let Some(object) = figures.as_object_mut() {
        object.remove("at");
    }
    figures
}

#[tokio::test]
async fn a_users_dashboard_room_gets_their_own_figures_when_they_change() {
    let mut settings = QUIET.to_vec();
    settings.push(("REALTIME_METRICS_INTERVAL_SECONDS", "1"));
    let app = spawn_app_with(&settings).await;
    let user = app.login_as("USER").await;
    let stranger = app.login_as("USER").await;
    let admin = app.login_as("ADMIN").await;
    let mine = create_task(&app, &user, "mine", None).await;
    let theirs = create_task(&app, &stranger, "theirs", None).await;

    let mut socket = connect(&app, &user.access_token).await;
    assert_eq!(
        socket.subscribe(&Room::user_dashboard(user.id)).await,
        json!({"ok": true})
    );
    let refused = socket.subscribe(&Room::user_dashboard(stranger.id)).await;
    assert!(refused["error"].is_string(), "{refused}");
    assert!(socket.subscribe("dashboard").await["error"].is_string());
    let first = socket.event(names::DASHBOARD_METRICS).await;
    assert_eq!(first["scope"], "user");
    assert_eq!(first["running"], 0);

    // Another user's run changes nothing here; the user's own does.
    let now = Utc::now();
    insert_runs(&app.db, &[run(theirs, "RUNNING", now, 1)]).await;
    insert_runs(&app.db, &[run(mine, "RUNNING", now, 1)]).await;
    let mut previous = first;
    loop {
        let next = socket.event(names::DASHBOARD_METRICS).await;
        assert_ne!(figures(&next), figures(&previous), "pushed only on change");
        assert_eq!(next["scope"], "user");
        let running = next["running"].as_i64().expect("running");
        assert!(running <= 1, "only the user's own executions: {next}");
        if running == 1 {
            break;
        }
        previous = next;
    }

    // An administrator's `dashboard` room counts everyone's.
    let mut admin_socket = connect(&app, &admin.access_token).await;
    assert_eq!(
        admin_socket.subscribe("dashboard").await,
        json!({"ok": true})
    );
    let system = admin_socket.event(names::DASHBOARD_METRICS).await;
    assert_eq!(system["scope"], "system");
    assert_eq!(system["running"], 2);
}
