//! Notification throughput on a real PostgreSQL and a real HTTP receiver on loopback.
//!
//! 1. In-app: outbox records of ended executions consumed by `CONSUMERS` concurrent
//!    consumers (rules evaluated, notification and delivery rows stored, all in the
//!    consumer's transaction), in notifications per second. Reference in the same run: the
//!    same number of single-row transactions inserting into a scratch table with the same
//!    concurrency, the database's own ceiling for one-row commits here.
//! 2. Webhooks: queued WEBHOOK deliveries claimed, signed, POSTed to a loopback receiver
//!    answering 204 and recorded, by `CONSUMERS` concurrent workers, in deliveries per
//!    second. Reference in the same run: the same number of plain POSTs of the same body to
//!    the same receiver with the same concurrency (batches of 20, as the worker sends them).
//!
//! Run with `DATABASE_URL=postgres://…/postgres cargo bench --bench notifications` (a
//! database `nocron_bench_notifications` is created on that server). Tunables:
//! `BENCH_NOTIFICATIONS` (20000), `BENCH_WEBHOOKS` (5000), `BENCH_CONSUMERS` (4).

use std::{
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Router, http::StatusCode, routing::post};
use nocron::{
    events::EventBus,
    net::{OutboundPolicy, try_outbound_client},
    notifications::{Notifier, outbox, webhook_delivery},
    secrets::{MasterKey, Vault},
};
use sqlx::{
    Connection, Executor, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

const DATABASE: &str = "nocron_bench_notifications";
const OWNERS: i64 = 100;

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
        .max_connections(16)
        .connect_with(server.clone().database(DATABASE))
        .await
        .expect("connect bench database");
    nocron::db::migrate(&pool).await.expect("migrate");
    pool
}

async fn start_receiver() -> String {
    let router = Router::new().route("/hook", post(|| async { StatusCode::NO_CONTENT }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://127.0.0.1:{port}/hook")
}

fn notifier(db: &PgPool) -> Notifier {
    let policy = Arc::new(OutboundPolicy::with_allowed(vec![
        "127.0.0.0/8".parse().expect("cidr"),
    ]));
    let http = try_outbound_client(policy.clone(), "nocron-bench").expect("client");
    Notifier {
        db: db.clone(),
        events: EventBus::default(),
        instance_id: "bench".into(),
        mailer: None,
        email_max_per_hour: 60,
        http,
        outbound: policy,
        vault: Arc::new(Vault::new(MasterKey::generate(), Vec::new())),
        tracking: None,
    }
}

/// `OWNERS` users with one task each, whose only rule is `SUCCESS` on `channel`.
async fn seed_owners(db: &PgPool, channel: &str) {
    sqlx::query("TRUNCATE users, outbox CASCADE")
        .execute(db)
        .await
        .expect("truncate");
    sqlx::query(
        "WITH owners AS (
             INSERT INTO users (id, email, name, password_hash)
             SELECT gen_random_uuid(), 'bench-' || n || '@example.test', 'bench', '!'
             FROM generate_series(1, $1) AS n
             RETURNING id),
         tasks AS (
             INSERT INTO tasks (id, owner_id, name, action_type)
             SELECT gen_random_uuid(), id, 'bench task', 'HTTP_REQUEST' FROM owners
             RETURNING id)
         INSERT INTO alert_rules (id, task_id, kind, params, channels)
         SELECT gen_random_uuid(), id, 'SUCCESS', '{}', ARRAY[$2] FROM tasks",
    )
    .bind(OWNERS)
    .bind(channel)
    .execute(db)
    .await
    .expect("seed owners");
}

/// `count` outbox records of successful executions, spread over the seeded tasks.
async fn seed_records(db: &PgPool, count: u64) {
    sqlx::query(
        "INSERT INTO outbox (kind, ordering_key, payload)
         SELECT 'execution.ended', t.id,
                jsonb_build_object('execution_id', gen_random_uuid(), 'task_id', t.id,
                                   'owner_id', t.owner_id, 'status', 'SUCCEEDED',
                                   'attempt', 1, 'duration_ms', 12, 'error', NULL,
                                   'consecutive_failures', 0)
         FROM generate_series(1, $1) AS n
         JOIN LATERAL (SELECT id, owner_id FROM tasks ORDER BY id
                       OFFSET (n % $2) LIMIT 1) t ON true",
    )
    .bind(i64::try_from(count).unwrap_or(i64::MAX))
    .bind(OWNERS)
    .execute(db)
    .await
    .expect("seed outbox");
}

async fn consume_all(notifier: &Notifier, consumers: usize) -> Duration {
    let started = Instant::now();
    let workers = (0..consumers).map(|_| {
        let notifier = notifier.clone();
        tokio::spawn(async move {
            // A consumer may find nothing while others hold every task's head row.
            loop {
                outbox::drain(&notifier).await.expect("drain");
                let pending: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE processed_at IS NULL")
                        .fetch_one(&notifier.db)
                        .await
                        .expect("count");
                if pending == 0 {
                    break;
                }
            }
        })
    });
    futures::future::join_all(workers).await;
    started.elapsed()
}

async fn deliver_all(notifier: &Notifier, consumers: usize) -> Duration {
    let started = Instant::now();
    let workers = (0..consumers).map(|_| {
        let notifier = notifier.clone();
        tokio::spawn(async move {
            while webhook_delivery::deliver_due(&notifier)
                .await
                .expect("deliver")
                > 0
            {}
        })
    });
    futures::future::join_all(workers).await;
    started.elapsed()
}

async fn reference_inserts(db: &PgPool, count: u64, consumers: usize) -> Duration {
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_rows (id BIGSERIAL PRIMARY KEY, body JSONB)")
        .execute(db)
        .await
        .expect("scratch table");
    let per_worker = count / consumers as u64;
    let started = Instant::now();
    let workers = (0..consumers).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            for _ in 0..per_worker {
                sqlx::query("INSERT INTO bench_rows (body) VALUES ('{\"a\": 1}')")
                    .execute(&db)
                    .await
                    .expect("insert");
            }
        })
    });
    futures::future::join_all(workers).await;
    started.elapsed()
}

async fn reference_posts(url: &str, count: u64, consumers: usize) -> Duration {
    let client = reqwest::Client::new();
    let body = vec![b'x'; 400];
    let per_worker = count / consumers as u64;
    let started = Instant::now();
    let workers = (0..consumers).map(|_| {
        let (client, url, body) = (client.clone(), url.to_owned(), body.clone());
        tokio::spawn(async move {
            for _ in 0..per_worker.div_ceil(20) {
                let batch = (0..20).map(|_| client.post(&url).body(body.clone()).send());
                for response in futures::future::join_all(batch).await {
                    response.expect("post");
                }
            }
        })
    });
    futures::future::join_all(workers).await;
    started.elapsed()
}

fn rate(count: u64, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

#[tokio::main]
async fn main() {
    nocron::install_crypto_provider();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let server = PgConnectOptions::from_str(&url).expect("DATABASE_URL");
    let db = fresh_database(&server).await;
    let notifications = env_number("BENCH_NOTIFICATIONS", 20_000);
    let webhooks = env_number("BENCH_WEBHOOKS", 5_000);
    let consumers = env_number("BENCH_CONSUMERS", 4) as usize;
    let notifier = notifier(&db);

    seed_owners(&db, "IN_APP").await;
    seed_records(&db, notifications).await;
    let took = consume_all(&notifier, consumers).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(
        stored as u64, notifications,
        "every record gave one notification"
    );
    let reference = reference_inserts(&db, notifications, consumers).await;
    println!(
        "in-app: {notifications} notifications in {:.2} s = {:.0}/s with {consumers} consumers; \
         reference one-row commits: {:.0}/s; ratio {:.2}",
        took.as_secs_f64(),
        rate(notifications, took),
        rate(notifications, reference),
        rate(notifications, took) / rate(notifications, reference)
    );

    let receiver = start_receiver().await;
    seed_owners(&db, "WEBHOOK").await;
    let owners: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM users")
        .fetch_all(&db)
        .await
        .expect("owners");
    for owner in owners {
        let id = uuid::Uuid::now_v7();
        let sealed = notifier
            .vault
            .seal(
                b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                &nocron::notifications::webhooks::secret_associated_data(id),
            )
            .expect("seal");
        sqlx::query(
            "INSERT INTO notification_webhooks (id, user_id, url, secret_ciphertext, secret_key_id)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(owner)
        .bind(&receiver)
        .bind(sealed.bytes)
        .bind(sealed.key_id)
        .execute(&db)
        .await
        .expect("endpoint");
    }
    seed_records(&db, webhooks).await;
    consume_all(&notifier, consumers).await;
    let took = deliver_all(&notifier, consumers).await;
    let delivered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notification_deliveries
         WHERE channel = 'WEBHOOK' AND status = 'DELIVERED'",
    )
    .fetch_one(&db)
    .await
    .expect("count");
    assert_eq!(delivered as u64, webhooks, "every delivery arrived");
    let reference = reference_posts(&receiver, webhooks, consumers).await;
    println!(
        "webhooks: {webhooks} deliveries in {:.2} s = {:.0}/s with {consumers} workers; \
         reference plain POSTs: {:.0}/s; ratio {:.2}",
        took.as_secs_f64(),
        rate(webhooks, took),
        rate(webhooks, reference),
        rate(webhooks, took) / rate(webhooks, reference)
    );
}
