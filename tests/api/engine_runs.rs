//! Executions through their life: retries with backoff, dead letters and manual retry,
//! timeouts, auto-pause, cancellation, events, and the hand-back on shutdown.

use std::time::Duration;

use nocron::{
    events::DomainEvent,
    executions::{control, model::ExecutionStatus},
    scheduler::worker,
    tasks::model::RetryPolicy,
};

use crate::{
    capture::CaptureServer,
    engine_support::{
        executions, has_status, http_task, spawn_engine_app, spawn_manual_app, status_of,
        wait_until,
    },
};

#[tokio::test]
async fn failures_are_retried_with_backoff_then_dead_lettered() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let mut new = http_task(&sink.url("/status/500"));
    new.retry = RetryPolicy {
        max_attempts: 3,
        initial_delay_seconds: 10,
        max_delay_seconds: 60,
        multiplier: 3.0,
    };
    let task = app.create_task(&new).await;
    app.trigger(&task).await;
    let engine = app.engine();
    worker::run_batch(&engine, 10).await.expect("attempt 1");

    let rows = executions(&app.db, task.id).await;
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].status.as_str(), rows[0].attempt), ("FAILED", 1));
    assert_eq!((rows[1].status.as_str(), rows[1].attempt), ("QUEUED", 2));
    assert_eq!(rows[1].trigger_kind, "RETRY");
    assert_eq!(rows[1].retry_of, Some(rows[0].id));
    // The retry waits initial_delay ± 20 %.
    let delay: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM r.run_after - f.finished_at)::float8
         FROM executions r JOIN executions f ON f.id = r.retry_of WHERE r.id = $1",
    )
    .bind(rows[1].id)
    .fetch_one(&app.db)
    .await
    .expect("delay");
    assert!((7.9..=12.1).contains(&delay), "first retry after {delay} s");
    // Not claimable before its time.
    assert!(
        worker::run_batch(&engine, 10)
            .await
            .expect("early")
            .is_empty()
    );

    sqlx::query("UPDATE executions SET run_after = now() WHERE status = 'QUEUED'")
        .execute(&app.db)
        .await
        .expect("fast-forward");
    worker::run_batch(&engine, 10).await.expect("attempt 2");
    let delay: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM run_after - clock_timestamp())::float8
         FROM executions WHERE status = 'QUEUED'",
    )
    .fetch_one(&app.db)
    .await
    .expect("second delay");
    // 10 s × 3 = 30 s, ± 20 %.
    assert!(
        (23.0..=36.1).contains(&delay),
        "second retry after {delay} s"
    );
    sqlx::query("UPDATE executions SET run_after = now() WHERE status = 'QUEUED'")
        .execute(&app.db)
        .await
        .expect("fast-forward");
    worker::run_batch(&engine, 10).await.expect("attempt 3");

    let rows = executions(&app.db, task.id).await;
    let statuses: Vec<_> = rows
        .iter()
        .map(|r| (r.status.as_str(), r.attempt))
        .collect();
    assert_eq!(statuses, [("FAILED", 1), ("FAILED", 2), ("DEAD", 3)]);
    assert_eq!(sink.requests().len(), 3);
}

#[tokio::test]
async fn a_dead_execution_can_be_retried_by_hand() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let mut new = http_task(&sink.url("/fail-times/manual/1"));
    new.retry.max_attempts = 1;
    let task = app.create_task(&new).await;
    let first = app.trigger(&task).await;
    let engine = app.engine();
    worker::run_batch(&engine, 10).await.expect("run");
    assert_eq!(status_of(&app.db, first).await, "DEAD");

    // Another owner cannot see it.
    let stranger = uuid::Uuid::new_v4();
    let err = control::retry_execution(&engine, first, stranger)
        .await
        .expect_err("not found");
    assert_eq!(err.code().status(), 404);

    let retried = control::retry_execution(&engine, first, task.owner_id)
        .await
        .expect("retry");
    worker::run_batch(&engine, 10).await.expect("run retry");
    assert_eq!(status_of(&app.db, retried.execution_id).await, "SUCCEEDED");
    let err = control::retry_execution(&engine, retried.execution_id, task.owner_id)
        .await
        .expect_err("a success is not retried");
    assert_eq!(err.code().status(), 409);
}

#[tokio::test]
async fn an_attempt_past_its_timeout_is_timed_out() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    // The answer would take a minute: far longer than the timeout plus any slowness here.
    let mut new = http_task(&sink.url("/slow/60000"));
    new.timeout_seconds = 1;
    new.retry.max_attempts = 1;
    let task = app.create_task(&new).await;
    let id = app.trigger(&task).await;
    let started = std::time::Instant::now();
    worker::run_batch(&app.engine(), 10).await.expect("run");
    assert!(started.elapsed() < Duration::from_secs(30));
    let execution = control::load_execution(&app.engine(), id, task.owner_id)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(execution.status, ExecutionStatus::TimedOut);
    assert!(execution.error.expect("error").contains("timed out"));
    assert!(execution.duration_ms.expect("duration") >= 1000);
}

#[tokio::test]
async fn consecutive_dead_executions_auto_pause_the_task_with_a_record() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let mut new = http_task(&sink.url("/status/500"));
    new.retry.max_attempts = 1;
    new.auto_pause_after_failures = Some(2);
    new.schedule = Some(nocron::tasks::model::ScheduleSpec::cron("0 0 1 1 *"));
    let task = app.create_task(&new).await;
    let engine = app.engine();
    app.trigger(&task).await;
    worker::run_batch(&engine, 10).await.expect("run 1");
    let status: String = sqlx::query_scalar("SELECT status FROM tasks WHERE id = $1")
        .bind(task.id)
        .fetch_one(&app.db)
        .await
        .expect("status");
    assert_eq!(status, "ACTIVE");
    app.trigger(&task).await;
    worker::run_batch(&engine, 10).await.expect("run 2");
    let (status, failures): (String, i32) =
        sqlx::query_as("SELECT status, consecutive_failures FROM tasks WHERE id = $1")
            .bind(task.id)
            .fetch_one(&app.db)
            .await
            .expect("task");
    assert_eq!((status.as_str(), failures), ("FAILED", 2));
    let kind: String = sqlx::query_scalar("SELECT kind FROM task_events WHERE task_id = $1")
        .bind(task.id)
        .fetch_one(&app.db)
        .await
        .expect("record");
    assert_eq!(kind, "AUTO_PAUSED");
    // The audit trail records it as a system action, in the same transaction.
    let audited: (String, String) = sqlx::query_as(
        "SELECT actor_type, action FROM audit_events
         WHERE targets @> jsonb_build_array(jsonb_build_object('type', 'task', 'id', $1::text))
           AND actor_type = 'SYSTEM'",
    )
    .bind(task.id.to_string())
    .fetch_one(&app.db)
    .await
    .expect("a system audit event");
    assert_eq!(
        audited,
        ("SYSTEM".to_owned(), "tasks.auto_pause".to_owned())
    );
    // A failed task is not triggered until resumed.
    let err = control::enqueue(
        &engine,
        task.id,
        task.owner_id,
        nocron::executions::model::TriggerKind::Api,
        serde_json::json!({}),
        None,
    )
    .await
    .expect_err("refused");
    assert_eq!(err.code().status(), 409);
}

#[tokio::test]
async fn a_success_resets_the_failure_count() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    // Fail, succeed, fail: two failures, but never two in a row.
    let mut new = http_task(&sink.url("/plan/reset/fsf"));
    new.retry.max_attempts = 1;
    new.auto_pause_after_failures = Some(2);
    let task = app.create_task(&new).await;
    let engine = app.engine();
    let task_state = || async {
        sqlx::query_as::<_, (String, i32)>(
            "SELECT status, consecutive_failures FROM tasks WHERE id = $1",
        )
        .bind(task.id)
        .fetch_one(&app.db)
        .await
        .expect("task")
    };

    let first = app.trigger(&task).await;
    worker::run_batch(&engine, 10).await.expect("fails");
    assert_eq!(status_of(&app.db, first).await, "DEAD");
    assert_eq!(task_state().await, ("ACTIVE".to_owned(), 1));

    let second = app.trigger(&task).await;
    worker::run_batch(&engine, 10).await.expect("succeeds");
    assert_eq!(status_of(&app.db, second).await, "SUCCEEDED");
    assert_eq!(task_state().await, ("ACTIVE".to_owned(), 0));

    // Without the reset this would be the second failure in a row and pause the task.
    let third = app.trigger(&task).await;
    worker::run_batch(&engine, 10).await.expect("fails again");
    assert_eq!(status_of(&app.db, third).await, "DEAD");
    assert_eq!(task_state().await, ("ACTIVE".to_owned(), 1));
    assert_eq!(sink.requests_to("/plan/reset").len(), 3);
    let paused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM task_events WHERE task_id = $1 AND kind = 'AUTO_PAUSED'",
    )
    .bind(task.id)
    .fetch_one(&app.db)
    .await
    .expect("records");
    assert_eq!(paused, 0);
}

#[tokio::test]
async fn idempotent_triggers_queue_once() {
    let app = spawn_manual_app().await;
    let task = app.create_task(&http_task("https://example.com/")).await;
    let engine = app.engine();
    let trigger = || {
        control::enqueue(
            &engine,
            task.id,
            task.owner_id,
            nocron::executions::model::TriggerKind::Api,
            serde_json::json!({"n": 1}),
            Some("key-1"),
        )
    };
    let first = trigger().await.expect("first");
    let second = trigger().await.expect("second");
    assert!(first.created && !second.created);
    assert_eq!(first.execution_id, second.execution_id);
    assert_eq!(executions(&app.db, task.id).await.len(), 1);
}

#[tokio::test]
async fn cancelling_stops_queued_and_running_executions() {
    let app = spawn_engine_app(&[("SCHEDULER_ENABLED", "false")]).await;
    let sink = CaptureServer::start().await;
    let mut new = http_task(&sink.url("/slow/30000"));
    new.timeout_seconds = 60;
    let task = app.create_task(&new).await;
    let engine = app.engine();
    let mut events = app.state.events.subscribe();
    let running = app.trigger(&task).await;
    wait_until(
        Duration::from_secs(10),
        "the worker to start it",
        || async { !sink.requests().is_empty() },
    )
    .await;
    assert_eq!(status_of(&app.db, running).await, "RUNNING");
    let status = control::cancel_execution(&engine, running, task.owner_id)
        .await
        .expect("cancel");
    assert_eq!(status, ExecutionStatus::Running);
    wait_until(
        Duration::from_secs(5),
        "the running execution to stop",
        || async { has_status(&app.db, running, ExecutionStatus::Cancelled).await },
    )
    .await;
    // Nothing retries a cancelled execution.
    assert_eq!(executions(&app.db, task.id).await.len(), 1);
    let err = control::cancel_execution(&engine, running, task.owner_id)
        .await
        .expect_err("already finished");
    assert_eq!(err.code().status(), 409);

    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    assert!(seen.iter().any(|e| matches!(e, DomainEvent::ExecutionQueued { execution_id, .. } if *execution_id == running)));
    assert!(seen.iter().any(|e| matches!(e, DomainEvent::ExecutionStarted { execution_id, .. } if *execution_id == running)));
    assert!(seen.iter().any(|e| matches!(e, DomainEvent::ExecutionFinished { execution_id, status, .. } if *execution_id == running && *status == ExecutionStatus::Cancelled)));
}

#[tokio::test]
async fn a_queued_execution_is_cancelled_at_once() {
    let app = spawn_manual_app().await;
    let task = app.create_task(&http_task("https://example.com/")).await;
    let id = app.trigger(&task).await;
    let status = control::cancel_execution(&app.engine(), id, task.owner_id)
        .await
        .expect("cancel");
    assert_eq!(status, ExecutionStatus::Cancelled);
    assert!(
        worker::run_batch(&app.engine(), 10)
            .await
            .expect("run")
            .is_empty()
    );
}

#[tokio::test]
async fn shutdown_hands_unfinished_executions_back_to_the_queue() {
    let mut app = spawn_engine_app(&[
        ("SCHEDULER_ENABLED", "false"),
        ("SHUTDOWN_GRACE_SECONDS", "1"),
    ])
    .await;
    let sink = CaptureServer::start().await;
    let quick = app.create_task(&http_task(&sink.url("/slow/100"))).await;
    let mut slow_task = http_task(&sink.url("/slow/20000"));
    slow_task.timeout_seconds = 60;
    let slow = app.create_task(&slow_task).await;
    let slow_id = app.trigger(&slow).await;
    let quick_id = app.trigger(&quick).await;
    wait_until(Duration::from_secs(10), "both to start", || async {
        sink.requests().len() == 2
    })
    .await;
    app.stop().await;
    // The quick one finished within the grace period; the slow one went back to the queue
    // without an attempt counted against it.
    assert_eq!(status_of(&app.db, quick_id).await, "SUCCEEDED");
    let (status, instance, attempt): (String, Option<String>, i32) =
        sqlx::query_as("SELECT status, instance_id, attempt FROM executions WHERE id = $1")
            .bind(slow_id)
            .fetch_one(&app.db)
            .await
            .expect("slow");
    assert_eq!((status.as_str(), instance, attempt), ("QUEUED", None, 1));
}

#[tokio::test]
async fn rescue_dead_letters_the_last_attempt_and_keeps_cancellations() {
    let app = spawn_manual_app().await;
    let engine = app.engine();
    let mut new = http_task("https://example.com/");
    new.retry.max_attempts = 1;
    let task = app.create_task(&new).await;
    let last_attempt = app.trigger(&task).await;
    let cancelled = app.trigger(&task).await;
    assert_eq!(worker::claim(&engine, 10).await.expect("claim").len(), 2);
    control::cancel_execution(&engine, cancelled, task.owner_id)
        .await
        .expect("cancel requested");
    // Their instance stops renewing: the leases lapse.
    sqlx::query("UPDATE executions SET lease_expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .expect("lapse");
    let rescued = nocron::scheduler::maintenance::rescue_expired_leases(&engine)
        .await
        .expect("rescue");
    assert_eq!(rescued.len(), 2);
    assert_eq!(status_of(&app.db, last_attempt).await, "DEAD");
    assert_eq!(status_of(&app.db, cancelled).await, "CANCELLED");
    assert_eq!(
        executions(&app.db, task.id).await.len(),
        2,
        "no retry queued"
    );
    assert!(
        nocron::scheduler::maintenance::rescue_expired_leases(&engine)
            .await
            .expect("rescue again")
            .is_empty()
    );
}

#[tokio::test]
async fn retention_prunes_only_old_finished_executions() {
    let app = spawn_manual_app().await;
    let engine = app.engine();
    let task = app.create_task(&http_task("https://example.com/")).await;
    let old = app.trigger(&task).await;
    let recent = app.trigger(&task).await;
    let queued = app.trigger(&task).await;
    sqlx::query(
        "UPDATE executions SET status = 'SUCCEEDED', finished_at = now() - interval '31 days'
         WHERE id = $1",
    )
    .bind(old)
    .execute(&app.db)
    .await
    .expect("age");
    sqlx::query("UPDATE executions SET status = 'SUCCEEDED', finished_at = now() WHERE id = $1")
        .bind(recent)
        .execute(&app.db)
        .await
        .expect("finish");
    let deleted = nocron::scheduler::maintenance::prune_old_executions(&engine)
        .await
        .expect("prune");
    assert_eq!(deleted, 1);
    let left: Vec<uuid::Uuid> = executions(&app.db, task.id)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, [recent, queued]);
}
