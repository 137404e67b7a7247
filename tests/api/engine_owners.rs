//! Accounts that stop being active stop running: disabling or deleting an account cancels its
//! queued executions, stops its running ones and chains nothing from them; its slots are
//! ledgered `OWNER_INACTIVE`; workers never claim its work; enabling it again catches up under
//! each task's policy.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nocron::{
    executions::{control, model::ExecutionStatus},
    scheduler::{
        dispatcher,
        outcomes::{self, AttemptResult, Completion},
        worker,
    },
    tasks::model::{CatchUpPolicy, ConcurrencyPolicy, ScheduleSpec, Task},
};
use serde_json::json;
use sqlx::PgPool;

use crate::{
    capture::CaptureServer,
    engine_support::{
        MANUAL_ENGINE, count_in, executions, has_status, http_task, ledger, queue_many,
        spawn_engine_app, spawn_manual_app, status_of, wait_until,
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

/// The completion of a claimed attempt whose action failed (attempts left).
fn failed(claimed: &worker::ClaimedExecution) -> Completion {
    Completion {
        id: claimed.id,
        task_id: claimed.task_id,
        attempt: claimed.attempt,
        result: AttemptResult::Failed,
        outcome: serde_json::Value::Null,
        error: Some("HTTP 500".into()),
        duration_ms: 1,
        logs: Vec::new(),
        input: claimed.input.clone(),
        retry: claimed.retry,
        releases_waiting: false,
    }
}

#[tokio::test]
async fn retry_resurrection_attack_a_failing_attempt_cancelled_or_of_a_disabled_account_is_not_retried()
 {
    let app = spawn_manual_app().await;
    let engine = app.engine();
    let user = app.login_as("USER").await;
    let mut new = http_task("https://example.com/");
    new.owner_id = user.id;
    new.retry.max_attempts = 3;
    let task = app.create_task(&new).await;

    // Cancelled through the API while it ran, then its action failed.
    let cancelled = app.trigger(&task).await;
    let claimed = worker::claim(&engine, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let stopping = control::cancel_execution(&engine, cancelled, user.id)
        .await
        .expect("cancel");
    assert_eq!(stopping, ExecutionStatus::Running);
    outcomes::record_completions(&engine, &[failed(&claimed[0])])
        .await
        .expect("record");
    assert_eq!(status_of(&app.db, cancelled).await, "CANCELLED");
    assert_eq!(executions(&app.db, task.id).await.len(), 1, "no retry");

    // The account was disabled while it ran (no cancel flag reached it), then it failed.
    let orphan = app.trigger(&task).await;
    let claimed = worker::claim(&engine, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
        .bind(user.id)
        .execute(&app.db)
        .await
        .expect("disable");
    outcomes::record_completions(&engine, &[failed(&claimed[0])])
        .await
        .expect("record");
    assert_eq!(status_of(&app.db, orphan).await, "CANCELLED");
    assert_eq!(executions(&app.db, task.id).await.len(), 2, "no retry");
    assert_eq!(count_in(&app.db, task.id, ExecutionStatus::Queued).await, 0);
}

/// A daily task of `user` four slots behind (see [`overdue_daily_task`]) that catches up
/// every missed slot under `concurrency`.
async fn overdue_catch_all_task(
    app: &TestApp,
    user: &TestUser,
    concurrency: ConcurrencyPolicy,
) -> Task {
    let task = overdue_daily_task(app, user).await;
    sqlx::query(
        "UPDATE tasks SET catch_up_policy = 'ALL', catch_up_max = 10, concurrency_policy = $2
         WHERE id = $1",
    )
    .bind(task.id)
    .bind(concurrency.as_str())
    .execute(&app.db)
    .await
    .expect("policies");
    task
}

#[tokio::test]
async fn catch_up_flood_attack_enabling_an_account_respects_the_concurrency_policy_and_queue_cap() {
    let app = spawn_engine_app(&[MANUAL_ENGINE, &[("MAX_QUEUED_PER_OWNER", "3")]].concat()).await;
    let admin = app.login_as("ADMIN").await;
    let serial_owner = app.login_as("USER").await;
    let flood_owner = app.login_as("USER").await;
    let serial = overdue_catch_all_task(&app, &serial_owner, ConcurrencyPolicy::QueueOne).await;
    let flood = overdue_catch_all_task(&app, &flood_owner, ConcurrencyPolicy::Allow).await;
    for user in [&serial_owner, &flood_owner] {
        app.set_user_status(&admin.access_token, user.id, "disabled")
            .await;
    }
    dispatcher::dispatch_due(&app.engine()).await.expect("tick");
    for task in [&serial, &flood] {
        assert_eq!(
            ledger(&app.db, task.id).await,
            [("OWNER_INACTIVE".into(), 4)]
        );
    }
    for user in [&serial_owner, &flood_owner] {
        app.set_user_status(&admin.access_token, user.id, "active")
            .await;
    }
    // QUEUE_ONE: one may run and one wait; the other two slots are refused by the policy.
    assert_eq!(
        count_in(&app.db, serial.id, ExecutionStatus::Queued).await,
        2
    );
    assert_eq!(
        ledger(&app.db, serial.id).await,
        [("SKIPPED_CONCURRENCY".into(), 2)]
    );
    // ALLOW: the owner's queue holds three; the fourth slot is recorded as QUEUE_FULL.
    assert_eq!(
        count_in(&app.db, flood.id, ExecutionStatus::Queued).await,
        3
    );
    assert_eq!(ledger(&app.db, flood.id).await, [("QUEUE_FULL".into(), 1)]);
}
