//! Identity benchmarks against a real server on loopback and a real PostgreSQL
//! (`DATABASE_URL`, a server where a scratch database can be created):
//!
//! - login latency (argon2id verification, session insert, JWT signing): median and p95;
//! - the cost of API-key authentication: `GET /api/v1/me` with `X-API-Key` against the
//!   unauthenticated `GET /api/status` (interleaved sequential requests on keep-alive
//!   connections), and `authenticate_token` alone, in process;
//! - failed logins for registered and unknown emails, which must cost the same.
//!
//! Run with `cargo bench --bench auth`.

use std::time::{Duration, Instant};

use nocron::{app::Application, config::Settings};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};

const LOGINS: usize = 200;
const REQUESTS: usize = 3000;
const WARM_UP: usize = 200;
const IN_PROCESS: usize = 5000;

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

async fn timed(request: reqwest::RequestBuilder) -> Duration {
    let started = Instant::now();
    let response = request.send().await.expect("request");
    assert!(response.status().is_success(), "{}", response.status());
    response.bytes().await.expect("body");
    started.elapsed()
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; test runners that list or smoke-run every target
    // (`cargo test --all-targets`, `cargo nextest run --all-targets`) do not, and get no
    // benchmark and no tests.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
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
    let application_state = application.state().clone();
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
    // Wrong passwords: for registered emails (each tried once, so none locks) and for
    // unknown ones. The two must cost the same.
    let accounts = LOGINS / 2;
    for i in 0..accounts {
        let response = client
            .post(format!("{base}/auth/register"))
            .json(&json!({ "email": format!("user-{i}@example.com"), "password": password, "name": "B" }))
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), 201);
    }
    // Interleaved, so background load affects both sides alike; a new email each time
    // because failures on one email would lock it.
    let failed_login = |email: String| {
        let request = client
            .post(format!("{base}/auth/login"))
            .json(&json!({ "email": email, "password": "not the password" }));
        async move {
            let started = Instant::now();
            let response = request.send().await.expect("login");
            assert_eq!(response.status(), 401);
            response.bytes().await.expect("body");
            started.elapsed()
        }
    };
    let mut wrong = Vec::with_capacity(accounts);
    let mut unknown = Vec::with_capacity(accounts);
    for i in 0..accounts {
        // Alternate which goes first, so neither side always follows the other.
        if i % 2 == 0 {
            wrong.push(failed_login(format!("user-{i}@example.com")).await);
            unknown.push(failed_login(format!("nobody-{i}@example.com")).await);
        } else {
            unknown.push(failed_login(format!("nobody-{i}@example.com")).await);
            wrong.push(failed_login(format!("user-{i}@example.com")).await);
        }
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
    // Interleaved, so load from other processes affects both sides alike.
    let status_url = format!("{base}/api/status");
    let keyed_url = format!("{base}/api/v1/me");
    let jwt_url = format!("{base}/auth/me");
    let mut public = Vec::with_capacity(REQUESTS);
    let mut keyed = Vec::with_capacity(REQUESTS);
    let mut jwt = Vec::with_capacity(REQUESTS);
    for i in 0..WARM_UP + REQUESTS {
        let a = timed(client.get(&status_url)).await;
        let b = timed(client.get(&keyed_url).header("x-api-key", &key)).await;
        let c = timed(client.get(&jwt_url).bearer_auth(&token)).await;
        if i >= WARM_UP {
            public.push(a);
            keyed.push(b);
            jwt.push(c);
        }
    }

    // The authentication step alone, in process: a cached API key, and an access token
    // (signature plus the session query).
    let state: nocron::auth::AuthState = axum::extract::FromRef::from_ref(&application_state);
    let mut key_auth = Vec::with_capacity(IN_PROCESS);
    let mut jwt_auth = Vec::with_capacity(IN_PROCESS);
    for _ in 0..IN_PROCESS {
        let started = Instant::now();
        nocron::auth::authenticate_token(&state, &key)
            .await
            .expect("key authenticates");
        key_auth.push(started.elapsed());
        let started = Instant::now();
        nocron::auth::authenticate_token(&state, &token)
            .await
            .expect("token authenticates");
        jwt_auth.push(started.elapsed());
    }

    let login = stats(logins);
    let unknown = stats(unknown);
    let wrong = stats(wrong);
    let public = stats(public);
    let keyed = stats(keyed);
    let jwt = stats(jwt);
    let key_auth = stats(key_auth);
    let jwt_auth = stats(jwt_auth);
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
        "failed login (unknown email), {accounts} sequential: median {}  p95 {}  mean {}",
        ms(unknown.median),
        ms(unknown.p95),
        ms(unknown.mean)
    );
    println!(
        "GET /api/status (no auth), {REQUESTS}: median {}  p95 {}  mean {}",
        ms(public.median),
        ms(public.p95),
        ms(public.mean)
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
    let delta = |a: Duration, b: Duration| (a.as_secs_f64() - b.as_secs_f64()) * 1000.0;
    println!(
        "API-key request minus unauthenticated request: {:+.3} ms at the median, {:+.3} ms mean",
        delta(keyed.median, public.median),
        delta(keyed.mean, public.mean),
    );
    println!(
        "authenticate_token in process, {IN_PROCESS}: API key (cached) median {}  p95 {}; access token median {}  p95 {}",
        us(key_auth.median),
        us(key_auth.p95),
        us(jwt_auth.median),
        us(jwt_auth.p95)
    );

    shutdown.cancel();
    let _ = server_task.await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .expect("drop database");
    let _ = std::fs::remove_dir_all(&data_dir);
}
