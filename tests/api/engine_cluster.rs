//! The engine as a cluster sees it: three instances on one database, an instance killed in
//! the middle of an execution, a restart after downtime, and database connections killed
//! under a running dispatcher.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use nocron::{
    events::EventBus,
    executions::{control, model::TriggerKind},
    scheduler::engine::{Engine, EngineConfig},
    tasks::{
        self,
        model::{CatchUpPolicy, ScheduleSpec, Task},
    },
};
use sqlx::{Executor, PgPool};
use uuid::Uuid;

use crate::{
    capture::CaptureServer,
    engine_support::{
        Instance, KillableInstance, executions, http_task, ledger, spawn_engine_app, wait_until,
    },
    helpers::TestDatabase,
};

/// An engine handle on a database, for setting things up without an instance.
fn engine_on(db: &PgPool) -> Engine {
    Engine {
        db: db.clone(),
        events: EventBus::default(),
        http: reqwest::Client::new(),
        outbound: std::sync::Arc::new(nocron::net::OutboundPolicy::default()),
        instance_id: "test-setup".into(),
        actions: std::sync::Arc::new(nocron::actions::ActionServices::new(std::sync::Arc::new(
            nocron::secrets::Vault::new(nocron::secrets::MasterKey::generate(), Vec::new()),
        ))),
        notion: std::sync::Arc::new(nocron::notion::NotionAccess::new(
            "https://api.notion.com".parse().expect("url"),
        )),
        config: EngineConfig {
            worker_concurrency: 1,
            worker_batch_size: 1,
            lease: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(1),
            retention_days: 30,
            max_running_per_owner: 1,
            max_queued_per_owner: 10_000,
            priority_ageing_seconds: 60,
            chains: nocron::config::ChainSettings::default(),
            plans: nocron::billing::PlanPolicy::default(),
        },
    }
}

async fn create(db: &PgPool, new: &tasks::model::NewTask) -> Task {
    crate::engine_support::ensure_owner(db, new.owner_id).await;
    tasks::db::create_task(db, &EventBus::default(), new)
        .await
        .expect("create task")
}

#[tokio::test]
async fn three_instances_fire_every_slot_exactly_once() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let sink = CaptureServer::start().await;
    let settings = [
        ("WORKER_CONCURRENCY", "64"),
        // Small claims, so that the instances take turns within a second instead of the first
        // one awake taking every owner's due slots at once.
        ("WORKER_BATCH_SIZE", "4"),
        ("DATABASE_MAX_CONNECTIONS", "12"),
    ];
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(Instance::start(&database, &settings).await);
    }
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let mut new = http_task(&sink.url("/ok"));
        new.schedule = Some(ScheduleSpec::cron("* * * * * *"));
        tasks.push(create(&db, &new).await);
    }
    // Let the cluster fire every second for a while.
    tokio::time::sleep(Duration::from_secs(8)).await;
    for instance in &mut instances {
        instance.stop().await;
    }

    let mut total = 0;
    for task in &tasks {
        let first = task.next_run_at.expect("first slot");
        let next: DateTime<Utc> = sqlx::query_scalar("SELECT next_run_at FROM tasks WHERE id = $1")
            .bind(task.id)
            .fetch_one(&db)
            .await
            .expect("next");
        let fired: Vec<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT scheduled_for FROM executions WHERE task_id = $1 ORDER BY scheduled_for",
        )
        .bind(task.id)
        .fetch_all(&db)
        .await
        .expect("slots");
        let expected: Vec<DateTime<Utc>> = (0..(next - first).num_seconds())
            .map(|s| first + chrono::Duration::seconds(s))
            .collect();
        assert!(
            expected.len() >= 5,
            "the cluster fired for a while ({})",
            expected.len()
        );
        assert_eq!(fired, expected, "every slot exactly once, none missed");
        assert!(ledger(&db, task.id).await.is_empty(), "nothing skipped");
        total += fired.len();
    }
    // Every execution that ran called the sink once: no double runs by workers either.
    let succeeded: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM executions WHERE status = 'SUCCEEDED'")
            .fetch_all(&db)
            .await
            .expect("succeeded");
    let keys: Vec<String> = sink
        .requests_to("/ok")
        .into_iter()
        .map(|r| r.headers["idempotency-key"].clone())
        .collect();
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "no execution called twice");
    assert_eq!(keys.len(), succeeded.len());
    let unfinished: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM executions WHERE status NOT IN ('SUCCEEDED', 'QUEUED')",
    )
    .fetch_one(&db)
    .await
    .expect("unfinished");
    assert_eq!(
        unfinished, 0,
        "only successes, and slots queued just before the stop"
    );
    assert!(
        succeeded.len() * 2 >= total,
        "most slots ran ({} of {total})",
        succeeded.len()
    );
    let instances_used: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT instance_id) FROM executions WHERE status = 'SUCCEEDED'",
    )
    .fetch_one(&db)
    .await
    .expect("instances");
    assert!(
        instances_used >= 2,
        "work was shared ({instances_used} instance)"
    );
}

#[tokio::test]
async fn an_execution_of_a_killed_instance_is_retried_elsewhere_after_its_lease() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let sink = CaptureServer::start().await;
    let lease = [
        ("SCHEDULER_ENABLED", "false"),
        ("EXECUTION_LEASE_SECONDS", "3"),
    ];
    let mut doomed = KillableInstance::start(&database, &lease);
    let mut new = http_task(&sink.url("/hang-once/crash"));
    new.timeout_seconds = 120;
    new.retry.max_attempts = 2;
    let task = create(&db, &new).await;
    let setup = engine_on(&db);
    let first = control::enqueue(
        &setup,
        task.id,
        task.owner_id,
        TriggerKind::Api,
        serde_json::json!({}),
        None,
    )
    .await
    .expect("enqueue")
    .execution_id;
    wait_until(
        Duration::from_secs(10),
        "the doomed instance to run it",
        || async { !sink.requests_to("/hang-once").is_empty() },
    )
    .await;
    doomed.kill();

    let mut survivor = Instance::start(&database, &lease).await;
    wait_until(
        Duration::from_secs(20),
        "the retry to succeed elsewhere",
        || async {
            executions(&db, task.id)
                .await
                .iter()
                .any(|r| r.status == "SUCCEEDED")
        },
    )
    .await;
    survivor.stop().await;

    let rows = executions(&db, task.id).await;
    assert_eq!(rows.len(), 2, "not lost, not duplicated: {rows:?}");
    assert_eq!(rows[0].id, first);
    assert_eq!((rows[0].status.as_str(), rows[0].attempt), ("FAILED", 1));
    assert_eq!(
        rows[0].instance_id.as_deref(),
        Some(doomed.instance_id.as_str())
    );
    assert!(
        rows[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("lease expired")
    );
    assert_eq!((rows[1].status.as_str(), rows[1].attempt), ("SUCCEEDED", 2));
    assert_eq!(
        rows[1].instance_id.as_deref(),
        Some(&*survivor.state.instance_id)
    );
    assert_eq!(sink.requests_to("/hang-once").len(), 2);
}

#[tokio::test]
async fn a_restart_after_downtime_follows_each_catch_up_policy() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let only_scheduler = [("WORKERS_ENABLED", "false")];
    let mut first = Instance::start(&database, &only_scheduler).await;
    let mut by_policy = Vec::new();
    for (policy, max) in [
        (CatchUpPolicy::Skip, 10),
        (CatchUpPolicy::Latest, 10),
        (CatchUpPolicy::All, 2),
    ] {
        let mut new = http_task("https://example.com/");
        new.schedule = Some(ScheduleSpec::cron("0 0 * * *"));
        new.catch_up_policy = policy;
        new.catch_up_max = max;
        by_policy.push(create(&db, &new).await);
    }
    first.stop().await;
    // Downtime: the last slot that was fired is five days old.
    db.execute("UPDATE tasks SET next_run_at = date_trunc('day', now()) - interval '4 days'")
        .await
        .expect("downtime");

    let mut second = Instance::start(&database, &only_scheduler).await;
    wait_until(
        Duration::from_secs(10),
        "the restarted dispatcher to catch up",
        || async {
            let mut done = true;
            for task in &by_policy {
                let recorded: i64 = ledger(&db, task.id).await.iter().map(|(_, n)| n).sum();
                done &= recorded + executions(&db, task.id).await.len() as i64 == 5;
            }
            done
        },
    )
    .await;
    second.stop().await;
    let counts: Vec<usize> =
        futures::future::join_all(by_policy.iter().map(|t| executions(&db, t.id)))
            .await
            .iter()
            .map(Vec::len)
            .collect();
    assert_eq!(counts, [0, 1, 2], "SKIP, LATEST, ALL(max 2)");
}

/// Backends of `database` currently (or last) running `LISTEN`.
async fn listeners(admin: &mut sqlx::PgConnection, database: &str) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(database)
    .fetch_all(&mut *admin)
    .await
    .expect("pg_stat_activity")
}

#[tokio::test]
async fn the_engine_reconnects_and_listens_again_after_its_connections_are_killed() {
    let app = spawn_engine_app(&[]).await;
    let sink = CaptureServer::start().await;
    let mut admin = app.database.admin_connection().await;
    let name = app.database.name.clone();
    // The dispatcher, the workers and the API-key cache each hold a LISTEN connection.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while listeners(&mut admin, &name).await.len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "dispatcher and workers never listened"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let before = listeners(&mut admin, &name).await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .fetch_all(&mut admin)
    .await
    .expect("terminate");
    assert!(killed.len() >= 2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = listeners(&mut admin, &name).await;
        if now.len() >= before.len() && now.iter().all(|pid| !before.contains(pid)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "LISTEN was not re-issued: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // The dispatcher has nothing scheduled and sleeps; only NOTIFY can wake it in time.
    let mut new = http_task(&sink.url("/ok"));
    new.schedule = Some(ScheduleSpec::cron("* * * * * *"));
    let task = app.create_task(&new).await;
    wait_until(
        Duration::from_secs(8),
        "a scheduled execution to succeed",
        || async {
            executions(&app.db, task.id)
                .await
                .iter()
                .any(|r| r.status == "SUCCEEDED")
        },
    )
    .await;
}
