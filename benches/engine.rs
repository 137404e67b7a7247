//! The execution engine end to end, on a real PostgreSQL and a real HTTP sink on loopback.
//!
//! 1. Throughput: executions per second with many queued — claim, HTTP GET to the sink,
//!    outcome, log lines and history written — and, when `benches/graphile/node_modules`
//!    exists (`npm ci` there), graphile-worker doing the same GETs against the same database
//!    server and sink in the same run.
//! 2. Firing lateness (`started_at − scheduled_for`, and `queued_at − scheduled_for` for the
//!    dispatcher alone) with 10,000 tasks on a minute schedule and 1,000 on a per-second
//!    schedule, dispatcher and workers running.
//! 3. Dispatcher cost with 10,000 vs 1,000,000 stored tasks and the same number due: the
//!    time of one tick, which should follow the due slots, not the stored tasks.
//!
//! Run with `DATABASE_URL=postgres://…/postgres cargo bench --bench engine` (a database
//! `nocron_bench_engine` is created on that server). Tunables: `BENCH_EXECUTIONS` (20000),
//! `BENCH_CONCURRENCY` (100), `BENCH_LATENESS_SECONDS` (65), `BENCH_STORED_TASKS` (1000000).

use std::{
    process::Command,
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Router, routing::get};
use nocron::{
    events::EventBus,
    net::OutboundPolicy,
    scheduler::{
        dispatcher,
        engine::{Engine, EngineConfig, action_client},
        worker,
    },
};
use sqlx::{
    ConnectOptions, Connection, Executor, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio_util::sync::CancellationToken;

const DATABASE: &str = "nocron_bench_engine";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn fresh_database(server: &PgConnectOptions) -> PgPool {
    let mut admin = PgConnection::connect_with(server)
        .await
        .expect("connect to DATABASE_URL");
    admin
        .execute(format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)").as_str())
        .await
        .expect("drop");
    admin
        .execute(format!("CREATE DATABASE {DATABASE}").as_str())
        .await
        .expect("create");
    let pool = PgPoolOptions::new()
        .max_connections(24)
        .connect_with(server.clone().database(DATABASE))
        .await
        .expect("connect bench database");
    nocron::db::migrate(&pool).await.expect("migrate");
    pool
}

async fn start_sink() -> String {
    let router = Router::new().route("/hit", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sink");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://127.0.0.1:{port}/hit")
}

fn engine(db: &PgPool, concurrency: usize) -> Engine {
    let policy = Arc::new(OutboundPolicy::with_allowed(vec![
        "127.0.0.0/8".parse().expect("cidr"),
    ]));
    let shared = reqwest::Client::new();
    Engine {
        db: db.clone(),
        events: EventBus::default(),
        http: action_client(&policy, &shared),
        outbound: policy,
        instance_id: "bench".into(),
        actions: Arc::new(nocron::actions::ActionServices::new(Arc::new(
            nocron::secrets::Vault::new(nocron::secrets::MasterKey::generate(), Vec::new()),
        ))),
        notion: std::sync::Arc::new(nocron::notion::NotionAccess::new(
            "https://api.notion.com".parse().expect("url"),
        )),
        config: EngineConfig {
            worker_concurrency: concurrency,
            worker_batch_size: concurrency.min(200),
            lease: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            retention_days: 30,
            // One owner queues everything here: let it use every worker slot, so the number
            // measures the claim itself rather than the fairness cap.
            max_running_per_owner: concurrency,
            max_queued_per_owner: usize::MAX,
            priority_ageing_seconds: 60,
            chains: nocron::config::ChainSettings::default(),
            plans: nocron::billing::PlanPolicy::default(),
        },
    }
}

/// Inserts `count` tasks hitting `url` on `cron`, first due at `next_run_at_sql`.
async fn insert_tasks(
    db: &PgPool,
    count: u64,
    url: &str,
    cron: Option<&str>,
    next_run_at_sql: &str,
) {
    let owner: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (id, email, name, password_hash)
         VALUES (gen_random_uuid(), 'bench-' || gen_random_uuid() || '@example.test', 'bench', '!')
         RETURNING id",
    )
    .fetch_one(db)
    .await
    .expect("insert the tasks' owner");
    let sql = format!(
        "INSERT INTO tasks (id, owner_id, name, action_type, action_config, cron, next_run_at, retry_max_attempts)
         SELECT gen_random_uuid(), $4, 'bench ' || n, 'HTTP_REQUEST',
                jsonb_build_object('url', $1::text), $2, {next_run_at_sql}, 1
         FROM generate_series(1, $3) AS n"
    );
    sqlx::query(&sql)
        .bind(url)
        .bind(cron)
        .bind(i64::try_from(count).unwrap_or(i64::MAX))
        .bind(owner)
        .execute(db)
        .await
        .expect("insert tasks");
}

async fn unfinished(db: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM executions WHERE status IN ('QUEUED', 'RUNNING')")
        .fetch_one(db)
        .await
        .expect("count")
}

async fn throughput(db: &PgPool, sink: &str, executions: u64, concurrency: usize) -> f64 {
    db.execute("TRUNCATE tasks CASCADE")
        .await
        .expect("truncate");
    insert_tasks(db, 1, sink, None, "NULL").await;
    sqlx::query(
        "INSERT INTO executions (id, task_id, trigger_kind)
         SELECT gen_random_uuid(), (SELECT id FROM tasks), 'API' FROM generate_series(1, $1)",
    )
    .bind(i64::try_from(executions).unwrap_or(i64::MAX))
    .execute(db)
    .await
    .expect("queue executions");
    db.execute("VACUUM ANALYZE executions")
        .await
        .expect("analyze");
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let workers = tokio::spawn(worker::run(engine(db, concurrency), shutdown.clone()));
    while unfinished(db).await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    shutdown.cancel();
    let _ = workers.await;
    let (succeeded, logs): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM executions WHERE status = 'SUCCEEDED'),
                (SELECT count(*) FROM execution_logs)",
    )
    .fetch_one(db)
    .await
    .expect("verify");
    assert_eq!(succeeded, executions as i64, "every execution succeeded");
    assert!(logs >= executions as i64, "log lines were written");
    executions as f64 / seconds
}

fn graphile(database_url: &str, sink: &str, jobs: u64, concurrency: usize) -> Option<f64> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/graphile");
    if !std::path::Path::new(dir).join("node_modules").exists() {
        println!("graphile-worker: skipped (run `npm ci` in benches/graphile)");
        return None;
    }
    let output = Command::new("node")
        .current_dir(dir)
        .args([
            "run.mjs",
            "--database-url",
            database_url,
            "--url",
            sink,
            "--jobs",
            &jobs.to_string(),
            "--concurrency",
            &concurrency.to_string(),
        ])
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&output.stdout).into_owned();
    match serde_json::from_str::<serde_json::Value>(line.trim()) {
        Ok(result) => result["per_second"].as_f64(),
        Err(_) => {
            println!(
                "graphile-worker: failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            None
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn lateness_ms(db: &PgPool, cron: &str, column: &str) -> Vec<f64> {
    let sql = format!(
        "SELECT EXTRACT(EPOCH FROM e.{column} - e.scheduled_for)::float8 * 1000
         FROM executions e JOIN tasks t ON t.id = e.task_id
         WHERE t.cron = $1 AND e.{column} IS NOT NULL ORDER BY 1"
    );
    sqlx::query_scalar(&sql)
        .bind(cron)
        .fetch_all(db)
        .await
        .expect("lateness")
}

async fn lateness(db: &PgPool, sink: &str, seconds: u64, concurrency: usize) {
    db.execute("TRUNCATE tasks CASCADE")
        .await
        .expect("truncate");
    insert_tasks(
        db,
        10_000,
        sink,
        Some("* * * * *"),
        "date_trunc('minute', now()) + interval '1 minute'",
    )
    .await;
    insert_tasks(
        db,
        1_000,
        sink,
        Some("* * * * * *"),
        "date_trunc('second', now()) + interval '2 seconds'",
    )
    .await;
    db.execute("VACUUM ANALYZE tasks").await.expect("analyze");
    let shutdown = CancellationToken::new();
    let engine = engine(db, concurrency);
    let dispatch = tokio::spawn(dispatcher::run(engine.clone(), shutdown.clone()));
    let work = tokio::spawn(worker::run(engine, shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    shutdown.cancel();
    let _ = dispatch.await;
    let _ = work.await;
    for (label, cron) in [
        ("minute (10,000 tasks)", "* * * * *"),
        ("per-second (1,000 tasks)", "* * * * * *"),
    ] {
        let started = lateness_ms(db, cron, "started_at").await;
        let queued = lateness_ms(db, cron, "queued_at").await;
        println!(
            "lateness {label}: {} runs; started_at − slot p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
             queued_at − slot p50 {:.1} ms, p99 {:.1} ms",
            started.len(),
            percentile(&started, 50.0),
            percentile(&started, 99.0),
            started.last().copied().unwrap_or(f64::NAN),
            percentile(&queued, 50.0),
            percentile(&queued, 99.0),
        );
    }
}

/// Median time of a dispatcher tick with `due` tasks due among `stored` in total.
async fn tick_cost(db: &PgPool, sink: &str, stored: u64, due: u64) -> (f64, u64) {
    db.execute("TRUNCATE tasks CASCADE")
        .await
        .expect("truncate");
    insert_tasks(
        db,
        stored,
        sink,
        Some("0 0 1 1 *"),
        "now() + interval '300 days'",
    )
    .await;
    db.execute("VACUUM ANALYZE tasks").await.expect("analyze");
    let engine = engine(db, 1);
    let mut samples = Vec::new();
    for _ in 0..7 {
        sqlx::query(
            "UPDATE tasks SET next_run_at = now() - interval '1 second'
             WHERE id IN (SELECT id FROM tasks ORDER BY name DESC LIMIT $1)",
        )
        .bind(i64::try_from(due).unwrap_or(i64::MAX))
        .execute(db)
        .await
        .expect("make due");
        db.execute("DELETE FROM executions").await.expect("clear");
        let started = Instant::now();
        let report = dispatcher::dispatch_due(&engine).await.expect("tick");
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(report.queued as u64, due);
    }
    samples.sort_by(f64::total_cmp);
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096);
    (samples[samples.len() / 2], rss)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; a test runner listing targets (`--list`) must get no
    // output rather than a benchmark run.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    nocron::install_crypto_provider();
    let url = std::env::var("DATABASE_URL").expect("set DATABASE_URL to a PostgreSQL server");
    let server = PgConnectOptions::from_str(&url)
        .expect("DATABASE_URL parses")
        .disable_statement_logging();
    let db = fresh_database(&server).await;
    let sink = start_sink().await;
    let executions = env_number("BENCH_EXECUTIONS", 20_000);
    let concurrency = usize::try_from(env_number("BENCH_CONCURRENCY", 100)).unwrap_or(100);

    let nocron_rate = throughput(&db, &sink, executions, concurrency).await;
    println!(
        "throughput nocron: {executions} executions at {nocron_rate:.0}/s (concurrency {concurrency})"
    );
    let bench_url = match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{DATABASE}"),
        None => url.clone(),
    };
    let graphile_sink = sink.clone();
    let graphile_rate = tokio::task::spawn_blocking(move || {
        graphile(&bench_url, &graphile_sink, executions, concurrency)
    })
    .await
    .ok()
    .flatten();
    if let Some(graphile_rate) = graphile_rate {
        println!(
            "throughput graphile-worker: {graphile_rate:.0}/s; nocron / graphile = {:.2}",
            nocron_rate / graphile_rate
        );
    }

    lateness(
        &db,
        &sink,
        env_number("BENCH_LATENESS_SECONDS", 65),
        concurrency,
    )
    .await;

    let stored = env_number("BENCH_STORED_TASKS", 1_000_000);
    for total in [10_000, stored] {
        let (ms, rss) = tick_cost(&db, &sink, total, 100).await;
        println!(
            "dispatcher tick with 100 due among {total} stored tasks: median {ms:.1} ms (process RSS {} MiB)",
            rss / (1024 * 1024)
        );
    }
    db.close().await;
}
