//! The dispatcher's decisions, driven one tick at a time: catch-up after downtime, every
//! concurrency policy, pause and resume, the schedule window, jitter, and racing ticks.

use chrono::{DateTime, Duration as TimeDelta, Utc};
use nocron::{
    executions::control,
    scheduler::{dispatcher, worker},
    tasks::{
        self,
        model::{CatchUpPolicy, ConcurrencyPolicy, ScheduleSpec, Task, TaskStatus},
    },
};
use sqlx::PgPool;

use crate::{
    engine_support::{executions, http_task, ledger, spawn_manual_app},
    helpers::TestApp,
};

/// A daily task (midnight UTC) with these policies.
async fn daily_task(
    app: &TestApp,
    concurrency: ConcurrencyPolicy,
    catch_up: CatchUpPolicy,
    catch_up_max: i32,
) -> Task {
    let mut new = http_task("https://example.com/");
    new.schedule = Some(ScheduleSpec::cron("0 0 * * *"));
    new.concurrency_policy = concurrency;
    new.catch_up_policy = catch_up;
    new.catch_up_max = catch_up_max;
    app.create_task(&new).await
}

/// Moves a task's next slot to midnight `days_ago` days back, as if no scheduler had run since.
async fn rewind(db: &PgPool, task: &Task, days_ago: i32) {
    sqlx::query(
        "UPDATE tasks SET next_run_at = date_trunc('day', now()) - $2 * interval '1 day' WHERE id = $1",
    )
    .bind(task.id)
    .bind(days_ago)
    .execute(db)
    .await
    .expect("rewind");
}

async fn slots(db: &PgPool, task: &Task) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar(
        "SELECT scheduled_for FROM executions WHERE task_id = $1 AND scheduled_for IS NOT NULL ORDER BY 1",
    )
    .bind(task.id)
    .fetch_all(db)
    .await
    .expect("slots")
}

async fn next_run_at(db: &PgPool, task: &Task) -> Option<DateTime<Utc>> {
    sqlx::query_scalar("SELECT next_run_at FROM tasks WHERE id = $1")
        .bind(task.id)
        .fetch_one(db)
        .await
        .expect("next_run_at")
}

fn midnight(days_ago: i64) -> DateTime<Utc> {
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    DateTime::from_naive_utc_and_offset(today, Utc) - TimeDelta::days(days_ago)
}

#[tokio::test]
async fn catch_up_policies_decide_what_runs_after_downtime() {
    let app = spawn_manual_app().await;
    let skip = daily_task(&app, ConcurrencyPolicy::Allow, CatchUpPolicy::Skip, 10).await;
    let latest = daily_task(&app, ConcurrencyPolicy::Allow, CatchUpPolicy::Latest, 10).await;
    let all = daily_task(&app, ConcurrencyPolicy::Allow, CatchUpPolicy::All, 3).await;
    for task in [&skip, &latest, &all] {
        rewind(&app.db, task, 9).await;
    }
    let report = dispatcher::dispatch_due(&app.engine()).await.expect("tick");
    assert_eq!(report.tasks, 3);

    assert!(slots(&app.db, &skip).await.is_empty());
    assert_eq!(
        ledger(&app.db, skip.id).await,
        [("OUTSIDE_CATCH_UP".into(), 10)]
    );
    assert_eq!(slots(&app.db, &latest).await, [midnight(0)]);
    assert_eq!(
        ledger(&app.db, latest.id).await,
        [("OUTSIDE_CATCH_UP".into(), 9)]
    );
    assert_eq!(
        slots(&app.db, &all).await,
        [midnight(2), midnight(1), midnight(0)]
    );
    assert_eq!(
        ledger(&app.db, all.id).await,
        [("OUTSIDE_CATCH_UP".into(), 7)]
    );
    // next_run_at moved on from the slots, to tomorrow's midnight.
    for task in [&skip, &latest, &all] {
        assert_eq!(next_run_at(&app.db, task).await, Some(midnight(-1)));
    }
    let report = dispatcher::dispatch_due(&app.engine()).await.expect("tick");
    assert_eq!(report.tasks, 0, "nothing is due twice");
    let owner_view = control::planned_runs(&app.engine(), skip.id, skip.owner_id)
        .await
        .expect("ledger");
    assert_eq!(owner_view.len(), 10);
    assert!(
        control::planned_runs(&app.engine(), skip.id, uuid::Uuid::new_v4())
            .await
            .expect("stranger")
            .is_empty()
    );
}

/// Creates a daily task, makes one execution of it RUNNING, and makes its slot due.
async fn task_with_running_execution(app: &TestApp, policy: ConcurrencyPolicy) -> Task {
    let task = daily_task(app, policy, CatchUpPolicy::Latest, 10).await;
    app.trigger(&task).await;
    let claimed = worker::claim(&app.engine(), 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    rewind(&app.db, &task, 0).await;
    task
}

#[tokio::test]
async fn skip_records_the_overlapping_slot() {
    let app = spawn_manual_app().await;
    let task = task_with_running_execution(&app, ConcurrencyPolicy::Skip).await;
    dispatcher::dispatch_due(&app.engine()).await.expect("tick");
    assert!(slots(&app.db, &task).await.is_empty());
    assert_eq!(
        ledger(&app.db, task.id).await,
        [("SKIPPED_CONCURRENCY".into(), 1)]
    );
}

#[tokio::test]
async fn allow_runs_overlapping_executions() {
    let app = spawn_manual_app().await;
    let task = task_with_running_execution(&app, ConcurrencyPolicy::Allow).await;
    dispatcher::dispatch_due(&app.engine()).await.expect("tick");
    assert_eq!(slots(&app.db, &task).await, [midnight(0)]);
    assert_eq!(
        worker::claim(&app.engine(), 10).await.expect("claim").len(),
        1
    );
}

#[tokio::test]
async fn queue_one_keeps_one_waiting_and_skips_the_rest() {
    let app = spawn_manual_app().await;
    let task = task_with_running_execution(&app, ConcurrencyPolicy::QueueOne).await;
    let engine = app.engine();
    dispatcher::dispatch_due(&engine).await.expect("tick");
    assert_eq!(slots(&app.db, &task).await, [midnight(0)]);
    // It waits while the first one runs.
    assert!(worker::claim(&engine, 10).await.expect("claim").is_empty());
    rewind(&app.db, &task, 1).await;
    sqlx::query("UPDATE tasks SET catch_up_policy = 'ALL' WHERE id = $1")
        .bind(task.id)
        .execute(&app.db)
        .await
        .expect("policy");
    dispatcher::dispatch_due(&engine).await.expect("tick");
    assert_eq!(
        ledger(&app.db, task.id).await,
        [("SKIPPED_CONCURRENCY".into(), 1)]
    );
    // When the running one ends, the waiting one is claimable.
    sqlx::query("UPDATE executions SET status = 'SUCCEEDED' WHERE status = 'RUNNING'")
        .execute(&app.db)
        .await
        .expect("finish");
    let claimed = worker::claim(&engine, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].scheduled_for, Some(midnight(0)));
}

#[tokio::test]
async fn cancel_running_cancels_the_active_run_and_queues_the_new_one() {
    let app = spawn_manual_app().await;
    let task = task_with_running_execution(&app, ConcurrencyPolicy::CancelRunning).await;
    let engine = app.engine();
    dispatcher::dispatch_due(&engine).await.expect("tick");
    let cancel_requested: bool = sqlx::query_scalar(
        "SELECT cancel_requested FROM executions WHERE task_id = $1 AND status = 'RUNNING'",
    )
    .bind(task.id)
    .fetch_one(&app.db)
    .await
    .expect("running");
    assert!(cancel_requested);
    assert_eq!(slots(&app.db, &task).await, [midnight(0)]);
    assert!(worker::claim(&engine, 10).await.expect("claim").is_empty());
}

#[tokio::test]
async fn paused_slots_are_recorded_on_resume() {
    let app = spawn_manual_app().await;
    let mut new = http_task("https://example.com/");
    new.schedule = Some(ScheduleSpec::cron("*/10 * * * * *"));
    let task = app.create_task(&new).await;
    let events = &app.state.events;
    tasks::db::set_status(&app.db, events, task.id, task.owner_id, TaskStatus::Paused)
        .await
        .expect("pause");
    sqlx::query("UPDATE tasks SET next_run_at = date_trunc('minute', now()) - interval '1 minute' WHERE id = $1")
        .bind(task.id)
        .execute(&app.db)
        .await
        .expect("time passes");
    let report = dispatcher::dispatch_due(&app.engine()).await.expect("tick");
    assert_eq!(report.tasks, 0, "a paused task is not dispatched");
    let resumed =
        tasks::db::set_status(&app.db, events, task.id, task.owner_id, TaskStatus::Active)
            .await
            .expect("resume");
    let paused = ledger(&app.db, task.id).await;
    assert_eq!(paused[0].0, "PAUSED");
    assert!(paused[0].1 >= 6, "{paused:?}");
    assert!(resumed.next_run_at.expect("next") > Utc::now() - TimeDelta::seconds(1));
    assert!(executions(&app.db, task.id).await.is_empty());
    // Another owner's task is not found.
    let err = tasks::db::set_status(
        &app.db,
        events,
        task.id,
        uuid::Uuid::new_v4(),
        TaskStatus::Paused,
    )
    .await
    .expect_err("404");
    assert_eq!(err.code().status(), 404);
}

#[tokio::test]
async fn the_schedule_window_is_respected() {
    let app = spawn_manual_app().await;
    let mut new = http_task("https://example.com/");
    new.catch_up_policy = CatchUpPolicy::All;
    new.schedule = Some(ScheduleSpec {
        end_at: Some(midnight(1) + TimeDelta::hours(1)),
        ..ScheduleSpec::cron("0 0 * * *")
    });
    let ended = app.create_task(&new).await;
    assert_eq!(ended.next_run_at, None, "no slot after end_at");
    rewind(&app.db, &ended, 3).await;
    dispatcher::dispatch_due(&app.engine()).await.expect("tick");
    assert_eq!(
        slots(&app.db, &ended).await,
        [midnight(3), midnight(2), midnight(1)]
    );
    assert_eq!(ledger(&app.db, ended.id).await, [("AFTER_END".into(), 1)]);
    assert_eq!(next_run_at(&app.db, &ended).await, None);

    let mut later = http_task("https://example.com/");
    later.schedule = Some(ScheduleSpec {
        start_at: Some(midnight(-3)),
        ..ScheduleSpec::cron("0 0 * * *")
    });
    let later = app.create_task(&later).await;
    assert_eq!(
        later.next_run_at,
        Some(midnight(-3)),
        "a slot at start_at counts"
    );
}

#[tokio::test]
async fn jitter_delays_each_run_within_its_bound() {
    let app = spawn_manual_app().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut new = http_task("https://example.com/");
        new.schedule = Some(ScheduleSpec {
            jitter_seconds: 5,
            ..ScheduleSpec::cron("0 0 * * *")
        });
        let task = app.create_task(&new).await;
        rewind(&app.db, &task, 0).await;
        tasks.push(task);
    }
    dispatcher::dispatch_due(&app.engine()).await.expect("tick");
    let delays: Vec<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM run_after - scheduled_for)::float8 FROM executions",
    )
    .fetch_all(&app.db)
    .await
    .expect("delays");
    assert_eq!(delays.len(), 20);
    assert!(delays.iter().all(|d| (0.0..=5.0).contains(d)), "{delays:?}");
    assert!(delays.iter().any(|d| *d > 0.0));
}

#[tokio::test]
async fn racing_ticks_fire_each_slot_exactly_once() {
    let app = spawn_manual_app().await;
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let task = daily_task(&app, ConcurrencyPolicy::Allow, CatchUpPolicy::All, 5).await;
        rewind(&app.db, &task, 2).await;
        tasks.push(task);
    }
    let engine = app.engine();
    let ticks = (0..4).map(|_| dispatcher::dispatch_due(&engine));
    let reports = futures::future::join_all(ticks).await;
    let queued: usize = reports.into_iter().map(|r| r.expect("tick").queued).sum();
    assert_eq!(queued, 60 * 3);
    // Even a task whose next_run_at went backwards cannot fire a slot twice.
    rewind(&app.db, &tasks[0], 2).await;
    let again = dispatcher::dispatch_due(&engine).await.expect("tick");
    assert_eq!((again.tasks, again.queued), (1, 0));
    let duplicates: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM executions GROUP BY task_id, scheduled_for HAVING count(*) > 1) d",
    )
    .fetch_one(&app.db)
    .await
    .expect("duplicates");
    assert_eq!(duplicates, 0);
    assert_eq!(slots(&app.db, &tasks[0]).await.len(), 3);
}
