//! The Redis adapter across a Redis restart: a private `redis-server` is stopped and started
//! again under two running instances, which must deliver locally meanwhile, say `degraded`,
//! and carry events across again within seconds of Redis returning, without a restart.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use nocron::realtime::{Emit, Room, events::names};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::{
    helpers::{TestApp, spawn_app_with},
    sockets::{Seen, TestSocket, connect, connect_at},
};

/// A `redis-server` of the test's own: its own port and directory, nothing saved.
struct PrivateRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("nocron-redis-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let mut redis = PrivateRedis {
            port,
            dir,
            child: None,
        };
        redis.run().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn run(&mut self) {
        let child = spawn_redis(self.port, &self.dir);
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers(self.port).await {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("stop redis-server");
        }
    }
}

fn spawn_redis(port: u16, dir: &Path) -> Child {
    Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server runs (scripts/test installs it)")
}

/// Whether a Redis answers `PING` on `port`.
async fn answers(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut reply)).await,
        Ok(Ok(_))
    ) && &reply == b"+PONG\r\n"
}

/// `/health/ready`'s `realtime` detail.
async fn realtime_health(app: &TestApp) -> Value {
    let body: Value = app.get("/health/ready").await.json().await.expect("json");
    body["realtime"].clone()
}

/// Polls until `/health/ready` says `expected`, for at most 10 s.
async fn until_health(app: &TestApp, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while realtime_health(app).await != expected {
        assert!(
            Instant::now() < deadline,
            "realtime never became {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Emits a fresh marker to `user_id`'s room through `app`.
fn emit_marker(app: &TestApp, user_id: Uuid) -> Value {
    let marker = json!({ "marker": Uuid::new_v4() });
    let emit = Emit::new(
        names::NOTIFICATION_CREATED,
        &marker,
        vec![Room::user(user_id)],
    )
    .expect("serializes");
    assert!(app.realtime.emit(emit));
    marker
}

/// Emits markers through `app` every 200 ms until `socket` receives one; how long it took.
async fn until_crossing(
    app: &TestApp,
    socket: &mut TestSocket,
    user_id: Uuid,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < within,
            "no event crossed within {within:?}"
        );
        let marker = emit_marker(app, user_id);
        let seen = tokio::time::timeout(Duration::from_millis(200), async {
            loop {
                match socket.next().await {
                    Seen::Event(name, payload) if name == names::NOTIFICATION_CREATED => {
                        return payload;
                    }
                    Seen::Closed => panic!("the socket closed"),
                    _ => {}
                }
            }
        })
        .await;
        if seen.is_ok_and(|payload| payload == marker) {
            return started.elapsed();
        }
    }
}

#[tokio::test]
async fn a_redis_restart_leaves_events_crossing_instances_again_within_seconds() {
    let mut redis = PrivateRedis::start().await;
    let url = redis.url();
    let prefix = format!("nocron-test-{}", Uuid::new_v4().simple());
    let settings = [
        ("REDIS_URL", url.as_str()),
        ("REALTIME_REDIS_PREFIX", prefix.as_str()),
    ];
    let instance_a = spawn_app_with(&settings).await;
    let instance_b = instance_a.spawn_sibling(&settings).await;
    let user = instance_a.login_as("USER").await;
    let mut on_a = connect(&instance_a, &user.access_token).await;
    let mut on_b = connect_at(&instance_b.address, &user.access_token).await;

    assert_eq!(realtime_health(&instance_a).await, "ok");
    until_crossing(&instance_a, &mut on_b, user.id, Duration::from_secs(10)).await;

    redis.stop().await;
    until_health(&instance_a, "degraded").await;
    // Local delivery continues while Redis is away.
    let marker = emit_marker(&instance_a, user.id);
    while on_a.event(names::NOTIFICATION_CREATED).await != marker {}

    redis.run().await;
    let took = until_crossing(&instance_a, &mut on_b, user.id, Duration::from_secs(10)).await;
    until_health(&instance_a, "ok").await;
    eprintln!("events crossed again {took:?} after Redis answered");
}
