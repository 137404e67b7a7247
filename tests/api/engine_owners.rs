//! Accounts that stop being active stop running: disabling or deleting an account cancels its
//! queued executions, stops its running ones and chains nothing from them; its slots are
//! ledgered `OWNER_INACTIVE`; workers never claim its work; enabling it again catches up under
//! each task's policy.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nocron::{
    scheduler::{dispatcher, model::ExecutionStatus, worker},
    tasks::model::{CatchUpPolicy, ScheduleSpec, Task},
};
use serde_json::json;
use sqlx::PgPool;

use crate::{
    capture::CaptureServer,
    engine_support::{
        count_in, executions, has_status, http_task, ledger, queue_many, spawn_engine_app,
        spawn_manual_app, status_of, wait_until,
    },
    helpers::{TestApp, TestUser},
};

/// A daily (midnight UTC) task of `user` under the `LATEST` catch-up policy whose next slot
/// is midnight three days ago, as if no dispatcher had run since: four slots are due.
async fn overdue_daily_task(app: &TestApp, user: &TestUser) -> Task {
    let mut new = http_task("https://example.com/");
    new.owner_id = user.id;
    new.schedule = Some(ScheduleSpec::cron("0 0 * * *"));
    new.catch_up_policy = CatchUpPolicy::Latest;
    let task = app.create_task(&new).await;
    sqlx::query(
        "UPDATE tasks SET next_run_at = date_trunc('day', now()) - interval '3 days' WHERE id = $1",
    )
    .bind(task.id)
    .execute(&app.db)
    .await
    .expect("rewind");
    task
}

async fn scheduled_slots(db: &PgPool, task: &Task) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar(
        "SELECT scheduled_for FROM executions WHERE task_id = $1 AND scheduled_for IS NOT NULL ORDER BY 1",
    )
    .bind(task.id)
    .fetch_all(db)
    .await
    .expect("slots")
}

#[tokio::test]
async fn disabled_account_keeps_running_attack_cancels_queued_stops_running_and_chains_nothing() {
    let app = spawn_engine_app(&[
        ("SCHEDULER_ENABLED", "false"),
        ("WORKER_CONCURRENCY", "1"),
        ("WORKER_BATCH_SIZE", "1"),
    ])
    .await;
    let sink = CaptureServer::start().await;
    let admin = app.login_as("ADMIN").await;
    let (user, slow) = app.user_with_task(&sink.url("/slow/20000")).await;
    let follower = app.task_of(&user, &sink.url("/ok")).await;
    let chained = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/chains", follower.id),
            &json!({"source_task_id": slow.id, "on": "ANY"}),
        )
        .await;
    assert_eq!(chained.status(), 201);

    let running = app.trigger(&slow).await;
    wait_until(
        Duration::from_secs(10),
        "the worker to start it",
        || async { !sink.requests_to("/slow").is_empty() },
    )
    .await;
    let queued = app.trigger(&slow).await;
    assert_eq!(status_of(&app.db, queued).await, "QUEUED");

    app.set_user_status(&admin.access_token, user.id, "disabled")
        .await;
    // Cancelled in the transaction that disabled the account.
    assert_eq!(status_of(&app.db, queued).await, "CANCELLED");
    wait_until(
        Duration::from_secs(5),
        "the running execution to stop",
        || async { has_status(&app.db, running, ExecutionStatus::Cancelled).await },
    )
    .await;
    // The stopped run's chain on ANY queued nothing, and the cancelled one never ran.
    assert!(executions(&app.db, follower.id).await.is_empty());
    assert_eq!(sink.requests_to("/slow").len(), 1);
}

#[tokio::test]
async fn disabled_account_slots_are_ledgered_owner_inactive_never_claimed_and_caught_up_on_enable()
{
    let app = spawn_manual_app().await;
    let engine = app.engine();
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let task = overdue_daily_task(&app, &user).await;
    app.set_user_status(&admin.access_token, user.id, "disabled")
        .await;

    let report = dispatcher::dispatch_due(&engine).await.expect("tick");
    assert_eq!(report.queued, 0);
    assert_eq!(
        ledger(&app.db, task.id).await,
        [("OWNER_INACTIVE".into(), 4)]
    );
    // Work that reached the queue anyway is never started (nor its secrets opened).
    queue_many(&app.db, task.id, 1).await;
    assert!(worker::claim(&engine, 10).await.expect("claim").is_empty());
    assert_eq!(count_in(&app.db, task.id, ExecutionStatus::Queued).await, 1);

    // Enabled again: LATEST runs the latest missed slot; the others stay in the ledger.
    app.set_user_status(&admin.access_token, user.id, "active")
        .await;
    assert_eq!(
        ledger(&app.db, task.id).await,
        [("OWNER_INACTIVE".into(), 3)]
    );
    let today: DateTime<Utc> = sqlx::query_scalar("SELECT date_trunc('day', now())")
        .fetch_one(&app.db)
        .await
        .expect("today");
    assert_eq!(scheduled_slots(&app.db, &task).await, [today]);
    assert_eq!(worker::claim(&engine, 10).await.expect("claim").len(), 2);
    // A second enable finds nothing left to catch up.
    app.set_user_status(&admin.access_token, user.id, "disabled")
        .await;
    app.set_user_status(&admin.access_token, user.id, "active")
        .await;
    assert_eq!(scheduled_slots(&app.db, &task).await, [today]);
}

#[tokio::test]
async fn deleted_account_keeps_running_attack_its_queue_is_cancelled_and_slots_ledgered() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let task = overdue_daily_task(&app, &user).await;
    let queued = app.trigger(&task).await;
    let deleted = app
        .delete_as(&user.access_token, &format!("/users/{}", user.id))
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(status_of(&app.db, queued).await, "CANCELLED");
    let report = dispatcher::dispatch_due(&app.engine()).await.expect("tick");
    assert_eq!(report.queued, 0);
    assert_eq!(
        ledger(&app.db, task.id).await,
        [("OWNER_INACTIVE".into(), 4)]
    );
}
