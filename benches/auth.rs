//! Identity benchmarks against a real server on loopback and a real PostgreSQL
//! (`DATABASE_URL`, a server where a scratch database can be created):
//!
//! - login latency (argon2id verification, session insert, JWT signing): median and p95;
//! - the cost of API-key authentication: `GET /api/v1/me` with `X-API-Key` against the
//!   unauthenticated `GET /health`, sequential requests on one keep-alive connection.
//!
//! Run with `cargo bench --bench auth`.

use std::time::{Duration, Instant};

use nocron::{app::Application, config::Settings};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};

const LOGINS: usize = 200;
const REQUESTS: usize = 3000;
const WARM_UP: usize = 200;

struct Stats {
    median: Duration,
    p95: Duration,
    mean: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    let total: Duration = samples.iter().sum();
    Stats {
        median: at(0.5),
        p95: at(0.95),
        mean: total / samples.len() as u32,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

async fn time_requests(client: &reqwest::Client, url: &str, key: Option<&str>) -> Vec<Duration> {
    let send = || {
        let mut request = client.get(url);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.send()
    };
    for _ in 0..WARM_UP {
        let response = send().await.expect("request");
        assert!(response.status().is_success());
        response.bytes().await.expect("body");
    }
    let mut samples = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let response = send().await.expect("request");
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.expect("body");
        samples.push(started.elapsed());
    }
    samples
}

#[tokio::main]
async fn main() {
    nocron::install_crypto_provider();
    let server = std::env::var("DATABASE_URL")
        .expect("set DATABASE_URL to a PostgreSQL server where a scratch database can be created");
    let name = format!("nocron_bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server).await.expect("connect");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create database");
    let url = format!(
        "{}/{name}",
        server.rsplit_once('/').expect("url has a path").0
    );

    let data_dir = std::env::temp_dir().join(&name);
    let vars = [
        ("NOCRON_ENV", "test"),
        ("PORT", "0"),
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", "bench-secret-bench-secret-bench-secret-0123"),
        ("DATA_DIR", data_dir.to_str().expect("utf-8")),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1000000"),
        ("AUTH_RATE_LIMIT_BURST", "1000000"),
        ("API_KEY_RATE_LIMIT_PER_MINUTE", "1000000"),
        ("API_KEY_RATE_LIMIT_BURST", "1000000"),
    ];
    let settings = Settings::from_lookup(|var| {
        vars.iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("settings");
    let application = Application::build(settings).await.expect("build");
    let base = format!("http://127.0.0.1:{}", application.port());
    let shutdown = application.shutdown_token();
    let server_task = tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::new();

    let email = "bench@example.com";
    let password = "correct horse battery staple";
    let registered = client
        .post(format!("{base}/auth/register"))
        .json(&json!({ "email": email, "password": password, "name": "Bench" }))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let registered: Value = registered.json().await.expect("json");
    let token = registered["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let mut logins = Vec::with_capacity(LOGINS);
    for _ in 0..LOGINS {
        let started = Instant::now();
        let response = client
            .post(format!("{base}/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body");
        logins.push(started.elapsed());
    }
    let mut unknown = Vec::with_capacity(LOGINS / 4);
    for i in 0..LOGINS / 4 {
        // A new email each time: failures on one email would lock it.
        let started = Instant::now();
        let response = client
            .post(format!("{base}/auth/login"))
            .json(&json!({ "email": format!("nobody-{i}@example.com"), "password": password }))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 401);
        response.bytes().await.expect("body");
        unknown.push(started.elapsed());
    }

    // Wrong passwords: for registered emails (each tried once, so none locks) and for
    // unknown ones. The two must cost the same.
    let accounts = LOGINS / 4;
    for i in 0..accounts {
        let response = client
            .post(format!("{base}/auth/register"))
            .json(&json!({ "email": format!("user-{i}@example.com"), "password": password, "name": "B" }))
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), 201);
    }
    let mut wrong = Vec::with_capacity(accounts);
    for i in 0..accounts {
        let started = Instant::now();
        let response = client
            .post(format!("{base}/auth/login"))
            .json(&json!({ "email": format!("user-{i}@example.com"), "password": "not the password" }))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 401);
        response.bytes().await.expect("body");
        wrong.push(started.elapsed());
    }

    let key: Value = client
        .post(format!("{base}/api-keys"))
        .bearer_auth(&token)
        .json(&json!({ "name": "bench", "scopes": ["tasks:read"] }))
        .send()
        .await
        .expect("create key")
        .json()
        .await
        .expect("json");
    let key = key["key"].as_str().expect("key").to_owned();
    let health = time_requests(&client, &format!("{base}/health"), None).await;
    let keyed = time_requests(&client, &format!("{base}/api/v1/me"), Some(&key)).await;
    let jwt = {
        let url = format!("{base}/auth/me");
        let mut samples = Vec::with_capacity(REQUESTS);
        for i in 0..WARM_UP + REQUESTS {
            let started = Instant::now();
            let response = client
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .expect("me");
            assert!(response.status().is_success());
            response.bytes().await.expect("body");
            if i >= WARM_UP {
                samples.push(started.elapsed());
            }
        }
        samples
    };

    let login = stats(logins);
    let unknown = stats(unknown);
    let wrong = stats(wrong);
    let health = stats(health);
    let keyed = stats(keyed);
    let jwt = stats(jwt);
    println!(
        "failed login (registered email, wrong password), {accounts} sequential: median {}  p95 {}  mean {}",
        ms(wrong.median),
        ms(wrong.p95),
        ms(wrong.mean)
    );
    println!(
        "login (registered email), {LOGINS} sequential:  median {}  p95 {}  mean {}",
        ms(login.median),
        ms(login.p95),
        ms(login.mean)
    );
    println!(
        "failed login (unknown email), {} sequential: median {}  p95 {}  mean {}",
        LOGINS / 4,
        ms(unknown.median),
        ms(unknown.p95),
        ms(unknown.mean)
    );
    println!(
        "GET /health (no auth), {REQUESTS} sequential:   median {}  p95 {}  mean {}",
        ms(health.median),
        ms(health.p95),
        ms(health.mean)
    );
    println!(
        "GET /api/v1/me (API key), {REQUESTS} sequential: median {}  p95 {}  mean {}",
        ms(keyed.median),
        ms(keyed.p95),
        ms(keyed.mean)
    );
    println!(
        "GET /auth/me (JWT + DB), {REQUESTS} sequential: median {}  p95 {}  mean {}",
        ms(jwt.median),
        ms(jwt.p95),
        ms(jwt.mean)
    );
    println!(
        "API-key authentication costs {} at the median ({} mean) over an unauthenticated request",
        ms(keyed.median.saturating_sub(health.median)),
        ms(keyed.mean.saturating_sub(health.mean)),
    );

    shutdown.cancel();
    let _ = server_task.await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .expect("drop database");
    let _ = std::fs::remove_dir_all(&data_dir);
}
