//! Realtime fan-out benchmark, end to end: `nocron serve` (the release binary, a process of
//! its own) runs real executions whose events reach 1,000 Socket.IO clients, and in the same
//! run a minimal Node `socket.io` 4.8 server (`benches/realtime-node/server.js`) broadcasts
//! the same number of events to the same clients.
//!
//! Run: `cargo bench --bench realtime` (release). Needs PostgreSQL (`BENCH_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/nocron_bench_realtime`, created if missing)
//! and node (`npm ci` is run in `benches/realtime-node` when `node_modules` is missing).
//! Knobs: `BENCH_CLIENTS` (1000), `BENCH_ROUNDS` (40), `BENCH_EXECUTIONS` (executions per
//! round, 2).
//!
//! The clients live in this process, outside both servers: lean WebSocket clients speaking
//! Engine.IO 4 / Socket.IO 5 frames, so the load generator costs the same for both. All of
//! them sign in as one user and sit in that user's room.
//!
//! A Nocron round posts `BENCH_EXECUTIONS` manual runs of an HTTP task (a GET to a sink on
//! loopback) and waits until every client has every run's `execution.finished`; each run
//! sends `execution.queued`, `execution.started` and `execution.finished`, so a round of 2
//! runs is a burst of 6 events. A Node round is a burst of the same number of events.
//! Delivered events/s = deliveries / total time of the rounds. Latencies: event → delivery
//! is the receive time minus the time the server stamped in the event (`queued_at`,
//! `started_at`, `finished_at` for Nocron, where `finished_at` is written by the engine;
//! `sent_us` at emit for Node); trigger → delivery (Nocron only) is the receive time of
//! `execution.finished` minus the moment the round's `POST …/execute` requests were sent:
//! the whole path a user pays for, API, queue, worker, action, relay and fan-out.

use std::{
    collections::HashMap,
    process::Stdio,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures::{SinkExt, StreamExt, future::join_all};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, postgres::PgConnectOptions};
use tokio::{io::AsyncBufReadExt, process::Child};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// One client's latencies in microseconds (its own lock, so never contended while sending).
type Latencies = Arc<std::sync::Mutex<Vec<u32>>>;

struct Load {
    clients: usize,
    rounds: usize,
    executions: usize,
    /// Rounds in flight: the next round starts when the one `window` back is complete.
    window: usize,
}

impl Load {
    /// Events each client receives per round: queued, started and finished per execution.
    fn events_per_round(&self) -> usize {
        self.executions * 3
    }
}

/// What the clients of one server counted.
#[derive(Default)]
struct Counters {
    /// Every event frame.
    delivered: AtomicU64,
    /// `execution.finished` frames: a round is over when every client has its share.
    finished: AtomicU64,
    /// Latencies are kept only while measuring (not in the warm-up round).
    recording: AtomicBool,
}

/// When each execution was requested (µs since the epoch), by execution id.
type Triggered = Arc<std::sync::Mutex<HashMap<Uuid, u64>>>;

/// Per-client latency samples.
#[derive(Clone, Default)]
struct Samples {
    event: Latencies,
    /// `execution.finished` receipts: execution id and receive time (µs since the epoch).
    finished: Arc<std::sync::Mutex<Vec<(Uuid, u64)>>>,
}

struct Outcome {
    name: &'static str,
    delivered: u64,
    expected: u64,
    elapsed: Duration,
    event_latencies: Vec<u32>,
    /// Every `execution.finished` receipt: execution id and receive time.
    finished: Vec<(Uuid, u64)>,
    /// Request → `execution.finished` delivered, in µs (Nocron only).
    trigger_latencies: Vec<u32>,
    /// CPU time the server process used during the measured rounds (user + system).
    server_cpu: Duration,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64()
    }

    /// Deliveries per second of the server's CPU: what the server pays per event, which a
    /// busy machine (sharing cores with the clients) does not blur as it blurs wall time.
    fn per_cpu_second(&self) -> f64 {
        self.delivered as f64 / self.server_cpu.as_secs_f64().max(1e-9)
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; test runners listing or running targets (`--list`,
    // `cargo test --all-targets`) must not start a minute-long benchmark.
    if !std::env::args().any(|arg| arg == "--bench") {
        return Ok(());
    }
    nocron::install_crypto_provider();
    let load = Load {
        clients: env_number("BENCH_CLIENTS", 1000),
        rounds: env_number("BENCH_ROUNDS", 40),
        executions: env_number("BENCH_EXECUTIONS", 2).max(1),
        window: env_number("BENCH_WINDOW", 1).max(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(load))
}

async fn run(load: Load) -> anyhow::Result<()> {
    println!(
        "realtime fan-out: {} clients, {} rounds x {} executions ({} events per client per round), {} round(s) in flight",
        load.clients,
        load.rounds,
        load.executions,
        load.events_per_round(),
        load.window
    );
    let nocron = measure_nocron(&load).await?;
    let node = measure_node(&load).await?;
    for outcome in [&nocron, &node] {
        println!(
            "{:<20} delivered {:>9}/{:<9} in {:>7.3} s = {:>9.0} events/s; event->delivery p50 {:>7.2} ms, p99 {:>7.2} ms, max {:>7.2} ms",
            outcome.name,
            outcome.delivered,
            outcome.expected,
            outcome.elapsed.as_secs_f64(),
            outcome.rate(),
            percentile(&outcome.event_latencies, 0.50),
            percentile(&outcome.event_latencies, 0.99),
            percentile(&outcome.event_latencies, 1.0),
        );
        println!(
            "{:<20} server CPU {:>7.3} s = {:>9.0} deliveries per CPU-second",
            "",
            outcome.server_cpu.as_secs_f64(),
            outcome.per_cpu_second(),
        );
        if !outcome.trigger_latencies.is_empty() {
            println!(
                "{:<20} trigger->execution.finished delivered p50 {:>7.2} ms, p99 {:>7.2} ms, max {:>7.2} ms",
                "",
                percentile(&outcome.trigger_latencies, 0.50),
                percentile(&outcome.trigger_latencies, 0.99),
                percentile(&outcome.trigger_latencies, 1.0),
            );
        }
    }
    println!(
        "ratio nocron / node: delivered events/s {:.2}x, deliveries per server CPU-second {:.2}x",
        nocron.rate() / node.rate(),
        nocron.per_cpu_second() / node.per_cpu_second()
    );
    Ok(())
}

/// Starts `nocron serve` and the sink, signs in, creates the task, and runs the rounds.
async fn measure_nocron(load: &Load) -> anyhow::Result<Outcome> {
    let sink = start_sink().await?;
    let (server, address) = start_nocron().await?;
    let http = reqwest::Client::new();
    let base = format!("http://{address}");
    let email = format!("bench-{}@example.com", Uuid::new_v4().simple());
    let registered: Value = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"email": email, "password": "correct horse battery staple", "name": "Bench"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = registered["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no access token in {registered}"))?
        .to_owned();
    let task: Value = http
        .post(format!("{base}/tasks"))
        .bearer_auth(&token)
        .json(
            &json!({"name": "Fan-out", "action": {"type": "HTTP_REQUEST",
               "config": {"method": "GET", "url": format!("{sink}/hit")}}}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let execute = format!(
        "{base}/tasks/{}/execute",
        task["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no task id in {task}"))?
    );
    let executions = load.executions;
    let triggered = Triggered::default();
    let requested = triggered.clone();
    let post_token = token.clone();
    let server_pid = server.id();
    let mut outcome = run_load(
        "nocron",
        &address,
        &token,
        load,
        executions,
        server_pid,
        move || {
            let http = http.clone();
            let execute = execute.clone();
            let token = post_token.clone();
            let requested = requested.clone();
            async move {
                let sent = now_micros();
                let posts = (0..executions).map(|_| {
                    http.post(&execute)
                        .bearer_auth(&token)
                        .json(&json!({}))
                        .send()
                });
                for response in join_all(posts).await {
                    match response {
                        Ok(response) if response.status().as_u16() == 202 => {
                            let id = response
                                .json::<Value>()
                                .await
                                .ok()
                                .and_then(|body| body["execution_id"].as_str()?.parse().ok());
                            if let (Some(id), Ok(mut map)) = (id, requested.lock()) {
                                map.insert(id, sent);
                            }
                        }
                        Ok(response) => eprintln!("  execute answered {}", response.status()),
                        Err(err) => eprintln!("  execute failed: {err}"),
                    }
                }
            }
        },
    )
    .await?;
    let requested = triggered.lock().unwrap_or_else(|e| e.into_inner());
    let mut trigger: Vec<u32> = outcome
        .finished
        .iter()
        .filter_map(|(id, received)| Some(micros_between(*requested.get(id)?, *received)))
        .collect();
    trigger.sort_unstable();
    outcome.trigger_latencies = trigger;
    Ok(outcome)
}

/// Starts the Node server and runs the same number of events per round through it.
async fn measure_node(load: &Load) -> anyhow::Result<Outcome> {
    let (child, address) = start_node().await?;
    let server_pid = child.id();
    let control = Arc::new(tokio::sync::Mutex::new(
        RawClient::connect(&address, "control").await?,
    ));
    let room = format!("user:{}", Uuid::new_v4());
    let payload = sample_payload();
    let count = load.events_per_round();
    run_load(
        "node socket.io 4.8",
        &address,
        &room.clone(),
        load,
        count,
        server_pid,
        move || {
            let frame = format!(
                "42{}",
                json!(["burst", {"room": room, "event": "execution.finished",
                                 "count": count, "payload": payload}])
            );
            let control = control.clone();
            async move {
                let _ = control.lock().await.send(frame).await;
            }
        },
    )
    .await
}

/// Connects the clients, runs a warm-up round and the measured rounds, and gathers what the
/// clients received. A round ends when every client has `finished_per_round` more
/// `execution.finished` events.
async fn run_load<F, Fut>(
    name: &'static str,
    address: &str,
    token: &str,
    load: &Load,
    finished_per_round: usize,
    server_pid: Option<u32>,
    mut send_round: F,
) -> anyhow::Result<Outcome>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let counters = Arc::new(Counters::default());
    let mut per_client: Vec<Samples> = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..load.clients {
        let client = RawClient::connect(address, token).await?;
        let samples = Samples::default();
        per_client.push(samples.clone());
        readers.push(tokio::spawn(client.read_events(counters.clone(), samples)));
    }
    let per_round = (load.clients * finished_per_round) as u64;
    // Warm-up round (not measured): connections settle, buffers and caches fill.
    send_round().await;
    wait_for(&counters.finished, per_round).await;
    // Let the warm-up's trailing events land before counting from zero.
    tokio::time::sleep(Duration::from_millis(300)).await;
    counters.delivered.store(0, Ordering::SeqCst);
    counters.finished.store(0, Ordering::SeqCst);
    counters.recording.store(true, Ordering::SeqCst);

    let cpu_before = process_cpu(server_pid);
    let started = Instant::now();
    for round in 1..=load.rounds {
        if round > load.window {
            wait_for(&counters.finished, per_round * (round - load.window) as u64).await;
        }
        send_round().await;
    }
    wait_for(&counters.finished, per_round * load.rounds as u64).await;
    let elapsed = started.elapsed();
    let server_cpu = process_cpu(server_pid).saturating_sub(cpu_before);
    counters.recording.store(false, Ordering::SeqCst);
    for reader in readers {
        reader.abort();
    }
    let mut event_latencies: Vec<u32> = per_client
        .iter()
        .flat_map(|s| std::mem::take(&mut *s.event.lock().unwrap_or_else(|e| e.into_inner())))
        .collect();
    event_latencies.sort_unstable();
    let finished = per_client
        .iter()
        .flat_map(|s| std::mem::take(&mut *s.finished.lock().unwrap_or_else(|e| e.into_inner())))
        .collect();
    Ok(Outcome {
        name,
        delivered: counters.delivered.load(Ordering::SeqCst),
        expected: (load.clients * load.events_per_round() * load.rounds) as u64,
        elapsed,
        event_latencies,
        finished,
        trigger_latencies: Vec::new(),
        server_cpu,
    })
}

/// Waits until `counter` reaches `target`, or 10 s without progress (events were lost).
async fn wait_for(counter: &AtomicU64, target: u64) {
    let mut last = counter.load(Ordering::Relaxed);
    let mut last_progress = Instant::now();
    while counter.load(Ordering::Relaxed) < target {
        tokio::time::sleep(Duration::from_micros(200)).await;
        let now = counter.load(Ordering::Relaxed);
        if now != last {
            last = now;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_secs(10) {
            eprintln!("  no progress for 10 s at {now}/{target}: counting the rest as lost");
            return;
        }
    }
}

/// A minimal Socket.IO client over the WebSocket transport.
struct RawClient {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl RawClient {
    async fn connect(address: &str, token: &str) -> anyhow::Result<Self> {
        let url = format!("ws://{address}/socket.io/?EIO=4&transport=websocket");
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
        let open = next_text(&mut socket).await?;
        anyhow::ensure!(
            open.starts_with('0'),
            "expected an Engine.IO open, got {open}"
        );
        socket
            .send(Message::text(format!("40{}", json!({ "token": token }))))
            .await?;
        loop {
            let frame = next_text(&mut socket).await?;
            if frame.starts_with("40") {
                return Ok(RawClient { socket });
            }
            anyhow::ensure!(!frame.starts_with("44"), "refused: {frame}");
            if frame == "2" {
                socket.send(Message::text("3")).await?;
            }
        }
    }

    async fn send(&mut self, frame: String) -> anyhow::Result<()> {
        self.socket.send(Message::text(frame)).await?;
        Ok(())
    }

    async fn read_events(mut self, counters: Arc<Counters>, samples: Samples) {
        while let Some(Ok(message)) = self.socket.next().await {
            let Message::Text(frame) = message else {
                continue;
            };
            let frame = frame.as_str();
            if frame == "2" {
                let _ = self.socket.send(Message::text("3")).await;
                continue;
            }
            let Some(name) = event_name(frame) else {
                continue;
            };
            let finished = name == "execution.finished";
            if counters.recording.load(Ordering::Relaxed) {
                let now = now_micros();
                if let Some(stamp) = event_stamp(frame, name)
                    && let Ok(mut mine) = samples.event.lock()
                {
                    mine.push(micros_between(stamp, now));
                }
                if finished
                    && let Some(id) = execution_id(frame)
                    && let Ok(mut mine) = samples.finished.lock()
                {
                    mine.push((id, now));
                }
            }
            counters.delivered.fetch_add(1, Ordering::Relaxed);
            if finished {
                counters.finished.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn next_text(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> anyhow::Result<String> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.into()),
            None => anyhow::bail!("connection closed"),
        }
    }
}

/// The event name of a Socket.IO event frame (`42["name",…]`).
fn event_name(frame: &str) -> Option<&str> {
    let rest = frame.strip_prefix("42[\"")?;
    Some(&rest[..rest.find('"')?])
}

/// The `execution_id` of an execution event (the Node server's copies have random ones).
fn execution_id(frame: &str) -> Option<Uuid> {
    let key = "\"execution_id\":\"";
    let start = frame.find(key)? + key.len();
    frame.get(start..start + 36)?.parse().ok()
}

/// When the server stamped the event, in µs since the epoch, without parsing the whole JSON:
/// `sent_us` (the Node server), else the event's own time field.
fn event_stamp(frame: &str, name: &str) -> Option<u64> {
    if let Some(start) = frame.find("\"sent_us\":") {
        let digits: String = frame[start + "\"sent_us\":".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        return digits.parse().ok();
    }
    let key = match name {
        "execution.queued" => "\"queued_at\":\"",
        "execution.started" => "\"started_at\":\"",
        "execution.finished" => "\"finished_at\":\"",
        _ => return None,
    };
    let start = frame.find(key)? + key.len();
    let end = start + frame[start..].find('"')?;
    let at = chrono::DateTime::parse_from_rfc3339(&frame[start..end]).ok()?;
    u64::try_from(at.timestamp_micros()).ok()
}

/// User + system CPU time of a process so far, from `/proc/{pid}/stat` (zero when unknown).
fn process_cpu(pid: Option<u32>) -> Duration {
    let Some(stat) = pid.and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
    else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) start at the state, field 3;
    // utime and stime are fields 14 and 15, in clock ticks.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

fn micros_between(earlier: u64, later: u64) -> u32 {
    later.saturating_sub(earlier).min(u32::MAX as u64) as u32
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// An `execution.finished` payload as Nocron sends it (415 bytes), for the Node server.
fn sample_payload() -> Value {
    json!({
        "v": 1,
        "execution_id": Uuid::new_v4(),
        "task_id": Uuid::new_v4(),
        "status": "FAILED",
        "attempt": 2,
        "started_at": chrono::Utc::now(),
        "finished_at": chrono::Utc::now(),
        "duration_ms": 1342,
        "summary": {
            "http_status": 503,
            "error": "upstream answered 503 Service Unavailable",
            "will_retry": true,
            "retry_execution_id": Uuid::new_v4(),
        },
        "sent_us": 0u64,
    })
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An HTTP sink on loopback answering `GET /hit`; returns its base URL.
async fn start_sink() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = axum::Router::new().route("/hit", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{address}"))
}

/// Starts the release `nocron serve` on a free port and waits until it answers `/health`.
async fn start_nocron() -> anyhow::Result<(Child, String)> {
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/nocron_bench_realtime".to_owned());
    ensure_database(&url).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let data_dir = std::env::temp_dir().join("nocron-bench-realtime");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nocron"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NOCRON_ENV", "production")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", &url)
        .env("JWT_SECRET", "bench-secret-bench-secret-bench-secret-0123")
        .env(
            "NOCRON_MASTER_KEY",
            "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI=",
        )
        .env("DATA_DIR", &data_dir)
        .env("OUTBOUND_ALLOW_CIDRS", "127.0.0.1/32")
        .env("REALTIME_CLIENT_BUFFER", "1024")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let address = format!("127.0.0.1:{port}");
    let health = format!("http://{address}/health");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = reqwest::get(&health).await
            && response.status().is_success()
        {
            return Ok((child, address));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "nocron did not start within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url)?;
    let name = options.get_database().unwrap_or("postgres").to_owned();
    let mut admin = sqlx::PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await?;
    }
    Ok(())
}

/// Starts the Node server (installing its packages when missing); returns it and its address.
async fn start_node() -> anyhow::Result<(Child, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/realtime-node");
    if !dir.join("node_modules").exists() {
        let status = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .await?;
        anyhow::ensure!(status.success(), "npm ci failed in {}", dir.display());
    }
    let mut child = tokio::process::Command::new("node")
        .arg("server.js")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = lines
        .next_line()
        .await?
        .ok_or_else(|| anyhow::anyhow!("node exited"))?;
    let port = serde_json::from_str::<Value>(&line)?["port"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no port in {line}"))?;
    Ok((child, format!("127.0.0.1:{port}")))
}
