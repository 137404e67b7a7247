//! Realtime fan-out benchmark: `execution.finished`-sized messages broadcast to 1,000
//! connected Socket.IO clients, on Nocron's gateway and, in the same run, on a minimal Node
//! `socket.io` 4.8 server (`benches/realtime-node/server.js`) with the same clients.
//!
//! Run: `cargo bench --bench realtime` (release). Needs PostgreSQL (`BENCH_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/nocron_bench_realtime`, created if missing)
//! and node with `npm ci` done in `benches/realtime-node` (done here when `node_modules` is
//! missing). Knobs: `BENCH_CLIENTS` (1000), `BENCH_ROUNDS` (40), `BENCH_BURST` (50).
//!
//! The clients are lean WebSocket clients speaking Engine.IO 4 / Socket.IO 5 frames, so the
//! load generator costs the same for both servers. Each round sends a burst of messages to
//! the room all clients are in and waits until every client has every message; delivered
//! messages/s = deliveries / total time; latency = receive time − `sent_us` stamped by the
//! server at emit time.

use std::{
    process::Stdio,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures::{FutureExt, SinkExt, StreamExt};
use nocron::{
    app::Application,
    auth::Role,
    config::Settings,
    realtime::{
        Emit, RealtimeHooks, SocketIdentity,
        events::{ExecutionFinished, OutcomeSummary, PAYLOAD_VERSION, names},
    },
};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, postgres::PgConnectOptions};
use tokio::{io::AsyncBufReadExt, sync::Mutex};

/// One client's latencies in microseconds (its own lock, so never contended while sending).
type Latencies = Arc<std::sync::Mutex<Vec<u32>>>;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

struct Load {
    clients: usize,
    rounds: usize,
    burst: usize,
}

struct Outcome {
    name: &'static str,
    delivered: u64,
    expected: u64,
    elapsed: Duration,
    latencies: Vec<u32>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index] as f64 / 1000.0
    }
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
        burst: env_number("BENCH_BURST", 50),
    };
    // The servers get their own runtime so the clients do not run on their threads.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let payload = sample_payload();
    println!(
        "realtime fan-out: {} clients, {} rounds x {} messages, payload {} bytes",
        load.clients,
        load.rounds,
        load.burst,
        serde_json::to_string(&payload)?.len()
    );

    let nocron = {
        let (address, gateway, shutdown, server) = server_runtime.block_on(start_nocron())?;
        let user = Uuid::new_v4();
        let room = format!("user:{user}");
        let outcome = client_runtime.block_on(run_load(
            "nocron",
            &address,
            &format!("user:{user}"),
            &load,
            |count| {
                for _ in 0..count {
                    let mut body = payload.clone();
                    body["sent_us"] = json!(now_micros());
                    let emit = Emit {
                        rooms: vec![room.clone()],
                        event: names::EXECUTION_FINISHED.into(),
                        payload: body,
                    };
                    // The queue holds 10,000: a burst never fills it, but do not lose one.
                    while !gateway.emit(emit.clone()) {
                        std::thread::yield_now();
                    }
                }
                futures::future::ready(()).boxed()
            },
        ))?;
        shutdown.cancel();
        let _ = server_runtime.block_on(server);
        outcome
    };

    let node = {
        let (mut child, address) = client_runtime.block_on(start_node())?;
        let control = client_runtime.block_on(RawClient::connect(&address, "control"))?;
        let control = Arc::new(Mutex::new(control));
        let user = Uuid::new_v4();
        let room = format!("user:{user}");
        let outcome = client_runtime.block_on(run_load(
            "node socket.io 4.8",
            &address,
            &room,
            &load,
            |count| {
                let frame = format!(
                    "42{}",
                    json!(["burst", {"room": room, "event": names::EXECUTION_FINISHED,
                                     "count": count, "payload": payload}])
                );
                let control = control.clone();
                async move {
                    let _ = control.lock().await.send(frame).await;
                }
                .boxed()
            },
        ))?;
        let _ = child.start_kill();
        outcome
    };

    for outcome in [&nocron, &node] {
        println!(
            "{:<20} delivered {:>9}/{:<9} in {:>7.3} s = {:>10.0} msg/s; latency p50 {:>7.2} ms, p99 {:>7.2} ms, max {:>7.2} ms",
            outcome.name,
            outcome.delivered,
            outcome.expected,
            outcome.elapsed.as_secs_f64(),
            outcome.rate(),
            outcome.percentile(0.50),
            outcome.percentile(0.99),
            outcome.percentile(1.0),
        );
    }
    println!(
        "ratio nocron / node (delivered msg/s): {:.2}x",
        nocron.rate() / node.rate()
    );
    Ok(())
}

/// Connects the clients, runs the rounds, and gathers what they received.
async fn run_load<F>(
    name: &'static str,
    address: &str,
    token: &str,
    load: &Load,
    mut send_burst: F,
) -> anyhow::Result<Outcome>
where
    F: FnMut(usize) -> futures::future::BoxFuture<'static, ()>,
{
    let delivered = Arc::new(AtomicU64::new(0));
    let mut per_client: Vec<Latencies> = Vec::new();
    let recording = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..load.clients {
        let client = RawClient::connect(address, token).await?;
        let latencies = Latencies::default();
        per_client.push(latencies.clone());
        readers.push(tokio::spawn(client.read_events(
            delivered.clone(),
            latencies,
            recording.clone(),
        )));
    }
    // Warm-up round (not measured): connections settle and buffers grow.
    send_burst(load.burst).await;
    wait_for(&delivered, (load.clients * load.burst) as u64).await;
    delivered.store(0, Ordering::SeqCst);
    recording.store(true, Ordering::SeqCst);

    let expected_per_round = (load.clients * load.burst) as u64;
    let started = Instant::now();
    for round in 1..=load.rounds {
        send_burst(load.burst).await;
        wait_for(&delivered, expected_per_round * round as u64).await;
    }
    let elapsed = started.elapsed();
    recording.store(false, Ordering::SeqCst);
    for reader in readers {
        reader.abort();
    }
    let mut latencies: Vec<u32> = per_client
        .iter()
        .flat_map(|l| std::mem::take(&mut *l.lock().unwrap_or_else(|e| e.into_inner())))
        .collect();
    latencies.sort_unstable();
    Ok(Outcome {
        name,
        delivered: delivered.load(Ordering::SeqCst),
        expected: expected_per_round * load.rounds as u64,
        elapsed,
        latencies,
    })
}

/// Waits until `counter` reaches `target`, or 10 s without progress (messages were lost).
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

    async fn read_events(
        mut self,
        delivered: Arc<AtomicU64>,
        latencies: Latencies,
        recording: Arc<std::sync::atomic::AtomicBool>,
    ) {
        while let Some(Ok(message)) = self.socket.next().await {
            let Message::Text(frame) = message else {
                continue;
            };
            if frame.as_str() == "2" {
                let _ = self.socket.send(Message::text("3")).await;
                continue;
            }
            if !frame.starts_with("42") {
                continue;
            }
            if recording.load(Ordering::Relaxed)
                && let Some(sent) = sent_micros(frame.as_str())
            {
                let micros = now_micros().saturating_sub(sent).min(u32::MAX as u64) as u32;
                if let Ok(mut mine) = latencies.lock() {
                    mine.push(micros);
                }
            }
            delivered.fetch_add(1, Ordering::Relaxed);
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

/// The `sent_us` stamp of an event frame, without parsing the whole JSON.
fn sent_micros(frame: &str) -> Option<u64> {
    let start = frame.find("\"sent_us\":")? + "\"sent_us\":".len();
    let digits: String = frame[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// An `execution.finished` payload as the workers will send it.
fn sample_payload() -> Value {
    let now = chrono::Utc::now();
    let finished = ExecutionFinished {
        v: PAYLOAD_VERSION,
        execution_id: Uuid::new_v4(),
        task_id: Uuid::new_v4(),
        status: "FAILED".into(),
        attempt: 2,
        started_at: Some(now),
        finished_at: now,
        duration_ms: Some(1342),
        summary: OutcomeSummary {
            http_status: Some(503),
            error: Some("upstream answered 503 Service Unavailable".into()),
            will_retry: true,
            retry_execution_id: Some(Uuid::new_v4()),
        },
    };
    let mut value = serde_json::to_value(finished).unwrap_or(Value::Null);
    value["sent_us"] = json!(0u64);
    value
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

type Started = (
    String,
    nocron::realtime::Gateway,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
);

/// Starts Nocron with the gateway; bench tokens are `user:<uuid>`.
async fn start_nocron() -> anyhow::Result<Started> {
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/nocron_bench_realtime".to_owned());
    ensure_database(&url).await?;
    let data_dir = std::env::temp_dir().join("nocron-bench-realtime");
    let vars = [
        ("NOCRON_ENV", "test"),
        ("PORT", "0"),
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", "bench-secret-bench-secret-bench-secret-0123"),
        ("DATA_DIR", data_dir.to_str().unwrap_or("/tmp")),
        ("REALTIME_CLIENT_BUFFER", "1024"),
    ];
    let settings = Settings::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })?;
    let hooks = RealtimeHooks::new(|_state, token: String| async move {
        let user = token
            .strip_prefix("user:")
            .and_then(|id| Uuid::from_str(id).ok())
            .ok_or_else(|| "invalid token".to_owned())?;
        Ok(SocketIdentity {
            user_id: user,
            role: Role::User,
            expires_at: None,
        })
    });
    let application = Application::build_with_realtime(settings, hooks).await?;
    let address = format!("127.0.0.1:{}", application.port());
    let gateway = application.state().realtime.clone();
    let shutdown = application.shutdown_token();
    let server = tokio::spawn(application.run_until_stopped());
    Ok((address, gateway, shutdown, server))
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
async fn start_node() -> anyhow::Result<(tokio::process::Child, String)> {
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
