//! Fair share between accounts: one account flooding the queue does not starve the others,
//! each account's running executions are capped over every instance, and an account's queue
//! is capped (429 with `Retry-After` for triggers, `QUEUE_FULL` in the ledger for slots).

use std::time::Duration;

use nocron::{
    executions::model::ExecutionStatus,
    scheduler::{dispatcher, worker},
    tasks::model::{CatchUpPolicy, ConcurrencyPolicy, ScheduleSpec},
};

use crate::{
    capture::CaptureServer,
    engine_support::{
        MANUAL_ENGINE, count_in, http_task, ledger, queue_many, spawn_engine_app, wait_until,
    },
    helpers::problem,
};

#[tokio::test]
async fn queue_flood_attack_twenty_thousand_executions_of_one_account_do_not_starve_another() {
    let app = spawn_engine_app(&[
        ("SCHEDULER_ENABLED", "false"),
        ("WORKER_CONCURRENCY", "4"),
        ("WORKER_BATCH_SIZE", "4"),
        ("MAX_RUNNING_PER_OWNER", "2"),
    ])
    .await;
    let sink = CaptureServer::start().await;
    // Account A queues 20,000 slow executions first...
    let mut flood = http_task(&sink.url("/slow/300"));
    flood.retry.max_attempts = 1;
    let flood = app.create_task(&flood).await;
    queue_many(&app.db, flood.id, 20_000).await;
    // ...then account B queues 10 through the API.
    let (user, task) = app.user_with_task(&sink.url("/ok")).await;
    for _ in 0..10 {
        let response = app.execute_as(&user.access_token, task.id).await;
        assert_eq!(response.status(), 202);
    }
    wait_until(
        Duration::from_secs(20),
        "all of B's executions to finish",
        || async { count_in(&app.db, task.id, ExecutionStatus::Succeeded).await == 10 },
    )
    .await;
    // A is still draining, and never held more than its share of the workers.
    assert!(count_in(&app.db, flood.id, ExecutionStatus::Queued).await > 19_000);
    assert!(count_in(&app.db, flood.id, ExecutionStatus::Running).await <= 2);
}

#[tokio::test]
async fn running_cap_bypass_attack_two_instances_claiming_at_once_stay_under_the_cap() {
    let app = spawn_engine_app(&[MANUAL_ENGINE, &[("MAX_RUNNING_PER_OWNER", "3")]].concat()).await;
    let task = app.create_task(&http_task("https://example.com/")).await;
    let other = app.create_task(&http_task("https://example.com/")).await;
    queue_many(&app.db, task.id, 50).await;
    queue_many(&app.db, other.id, 50).await;
    let first = app.engine();
    let mut second = app.engine();
    second.instance_id = "second-instance".into();
    let (a, b) = tokio::join!(worker::claim(&first, 20), worker::claim(&second, 20));
    let claimed = a.expect("claim").len() + b.expect("claim").len();
    // Each owner gets at most 3 running, whichever instance claims.
    assert_eq!(claimed, 6);
    assert_eq!(
        count_in(&app.db, task.id, ExecutionStatus::Running).await,
        3
    );
    assert_eq!(
        count_in(&app.db, other.id, ExecutionStatus::Running).await,
        3
    );
    assert!(worker::claim(&first, 20).await.expect("claim").is_empty());
}

#[tokio::test]
async fn queue_cap_attack_manual_execute_gets_429_with_retry_after_and_slots_are_queue_full() {
    let app = spawn_engine_app(&[MANUAL_ENGINE, &[("MAX_QUEUED_PER_OWNER", "3")]].concat()).await;
    let (user, task) = app.user_with_task("https://example.com/").await;
    for _ in 0..3 {
        assert_eq!(
            app.execute_as(&user.access_token, task.id).await.status(),
            202
        );
    }
    let refused = app.execute_as(&user.access_token, task.id).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1);
    let body = problem(refused).await;
    assert_eq!(body["code"], "RATE_LIMITED");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("MAX_QUEUED_PER_OWNER"))
    );
    assert_eq!(count_in(&app.db, task.id, ExecutionStatus::Queued).await, 3);

    // A webhook delivery to the same account is refused the same way.
    let created = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/webhooks", task.id),
            &serde_json::json!({"name": "flood"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.expect("json");
    let hook = created["url"].as_str().expect("url").to_owned();
    let delivered = app.post_json(&hook, &serde_json::json!({"n": 1})).await;
    assert_eq!(delivered.status(), 429);
    assert!(delivered.headers().contains_key("retry-after"));
    assert_eq!(count_in(&app.db, task.id, ExecutionStatus::Queued).await, 3);

    // The same account's schedule slot is recorded, not queued.
    let mut new = http_task("https://example.com/");
    new.owner_id = user.id;
    new.schedule = Some(ScheduleSpec::cron("0 0 * * *"));
    new.catch_up_policy = CatchUpPolicy::Latest;
    let scheduled = app.create_task(&new).await;
    sqlx::query(
        "UPDATE tasks SET next_run_at = date_trunc('day', now()) - interval '1 day' WHERE id = $1",
    )
    .bind(scheduled.id)
    .execute(&app.db)
    .await
    .expect("rewind");
    let report = dispatcher::dispatch_due(&app.engine()).await.expect("tick");
    assert_eq!(report.queued, 0);
    let reasons = ledger(&app.db, scheduled.id).await;
    assert!(
        reasons.contains(&("QUEUE_FULL".into(), 1)),
        "ledger: {reasons:?}"
    );
    // Another account is not affected.
    let (stranger, theirs) = app.user_with_task("https://example.com/").await;
    assert_eq!(
        app.execute_as(&stranger.access_token, theirs.id)
            .await
            .status(),
        202
    );
}

/// Moves a task's queued executions an hour back, so they are older than anyone's.
async fn backdate_queue(db: &sqlx::PgPool, task_id: uuid::Uuid) {
    sqlx::query(
        "UPDATE executions SET run_after = now() - interval '1 hour'
         WHERE task_id = $1 AND status = 'QUEUED'",
    )
    .bind(task_id)
    .execute(db)
    .await
    .expect("backdate the queue");
}

#[tokio::test]
async fn an_inactive_owners_stale_queue_cannot_starve_active_accounts() {
    let app = spawn_engine_app(MANUAL_ENGINE).await;
    let stale = app.create_task(&http_task("https://example.com/")).await;
    queue_many(&app.db, stale.id, 5).await;
    backdate_queue(&app.db, stale.id).await;
    // Disabled without its queue being cancelled, as a race with the deactivation could
    // leave it: the oldest work in the queue belongs to an account that may not run.
    sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
        .bind(stale.owner_id)
        .execute(&app.db)
        .await
        .expect("disable");
    let active = app.create_task(&http_task("https://example.com/")).await;
    queue_many(&app.db, active.id, 1).await;

    // A batch of one still goes to the active account.
    let claimed = worker::claim(&app.engine(), 1).await.expect("claim");
    let tasks: Vec<_> = claimed.iter().map(|c| c.task_id).collect();
    assert_eq!(tasks, [active.id]);
    assert_eq!(
        count_in(&app.db, stale.id, ExecutionStatus::Queued).await,
        5
    );
}

#[tokio::test]
async fn work_waiting_behind_a_running_queue_one_execution_cannot_starve_other_accounts() {
    let app = spawn_engine_app(&[MANUAL_ENGINE, &[("MAX_RUNNING_PER_OWNER", "3")]].concat()).await;
    let engine = app.engine();
    let mut new = http_task("https://example.com/");
    new.concurrency_policy = ConcurrencyPolicy::QueueOne;
    let serial = app.create_task(&new).await;
    queue_many(&app.db, serial.id, 3).await;
    backdate_queue(&app.db, serial.id).await;
    assert_eq!(worker::claim(&engine, 1).await.expect("claim").len(), 1);
    // The serial task's other executions wait behind the running one, and are the oldest.
    let other = app.create_task(&http_task("https://example.com/")).await;
    queue_many(&app.db, other.id, 1).await;

    let claimed = worker::claim(&engine, 1).await.expect("claim");
    let tasks: Vec<_> = claimed.iter().map(|c| c.task_id).collect();
    assert_eq!(tasks, [other.id]);
    assert_eq!(
        count_in(&app.db, serial.id, ExecutionStatus::Queued).await,
        2
    );
}

#[tokio::test]
async fn a_claim_in_progress_for_one_owner_does_not_leave_another_instance_idle() {
    let app = spawn_engine_app(MANUAL_ENGINE).await;
    let busy = app.create_task(&http_task("https://example.com/")).await;
    queue_many(&app.db, busy.id, 5).await;
    backdate_queue(&app.db, busy.id).await;
    let other = app.create_task(&http_task("https://example.com/")).await;
    queue_many(&app.db, other.id, 1).await;
    // Another instance is claiming for the owner with the oldest work right now.
    let mut held = app.db.begin().await.expect("begin");
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, hashtext($2::uuid::text))")
            .bind(worker::OWNER_CLAIM_LOCK)
            .bind(busy.owner_id)
            .fetch_one(&mut *held)
            .await
            .expect("lock");
    assert!(locked);

    let claimed = worker::claim(&app.engine(), 1).await.expect("claim");
    let tasks: Vec<_> = claimed.iter().map(|c| c.task_id).collect();
    assert_eq!(tasks, [other.id]);
    held.rollback().await.expect("release");
}

#[tokio::test]
async fn redelivery_attack_a_repeat_with_a_full_queue_gets_its_execution_not_429() {
    let app = spawn_engine_app(&[MANUAL_ENGINE, &[("MAX_QUEUED_PER_OWNER", "2")]].concat()).await;
    let (user, task) = app.user_with_task("https://example.com/").await;
    let created = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/webhooks", task.id),
            &serde_json::json!({"name": "redelivered"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.expect("json");
    let hook = app.url(created["url"].as_str().expect("url"));
    let deliver = |id: &'static str| {
        app.client
            .post(&hook)
            .header("webhook-id", id)
            .json(&serde_json::json!({"n": 1}))
            .send()
    };
    let execute = |key: &'static str| {
        app.client
            .post(app.url(&format!("/tasks/{}/execute", task.id)))
            .bearer_auth(&user.access_token)
            .header("idempotency-key", key)
            .json(&serde_json::json!({}))
            .send()
    };
    let first = deliver("delivery-1").await.expect("deliver");
    assert_eq!(first.status(), 202);
    let first: serde_json::Value = first.json().await.expect("json");
    let run = execute("order-1").await.expect("execute");
    assert_eq!(run.status(), 202);
    let run: serde_json::Value = run.json().await.expect("json");
    assert_eq!(count_in(&app.db, task.id, ExecutionStatus::Queued).await, 2);

    // The queue is full: repeats are answered with what they created...
    let again = deliver("delivery-1").await.expect("deliver");
    assert_eq!(again.status(), 202);
    let again: serde_json::Value = again.json().await.expect("json");
    assert_eq!(again["execution_id"], first["execution_id"]);
    assert_eq!(again["duplicate"], true);
    let repeat = execute("order-1").await.expect("execute");
    assert_eq!(repeat.status(), 202);
    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    let repeat: serde_json::Value = repeat.json().await.expect("json");
    assert_eq!(repeat["execution_id"], run["execution_id"]);
    // ...and new work is still refused.
    assert_eq!(deliver("delivery-2").await.expect("deliver").status(), 429);
    assert_eq!(execute("order-2").await.expect("execute").status(), 429);
    assert_eq!(count_in(&app.db, task.id, ExecutionStatus::Queued).await, 2);
}
