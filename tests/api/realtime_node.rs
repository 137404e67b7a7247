//! The official `socket.io-client` (npm, driven by `tests/node-client/client.js`) against
//! the gateway as shipped: a token from `POST /auth/login`, the default transports
//! (long-polling upgraded to WebSocket), acknowledgements and events.

use std::{path::PathBuf, process::Stdio, time::Duration};

use nocron::realtime::{Emit, Room, events::names};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

use crate::helpers::spawn_app;

/// The client directory, with its packages installed (`npm ci`) when missing.
pub async fn client_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node-client");
    if !dir.join("node_modules").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .await
            .expect("npm runs (scripts/test installs node and npm)");
        assert!(status.success(), "npm ci in tests/node-client");
    }
    dir
}

/// One `socket.io-client` socket in a Node process, read line by line.
pub struct NodeClient {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl NodeClient {
    /// Connects to `url` with `token`, subscribing to `room` once connected.
    pub async fn start(url: &str, token: &str, room: Option<&str>) -> Self {
        let dir = client_dir().await;
        let mut command = Command::new("node");
        command
            .arg("client.js")
            .arg(url)
            .arg(token)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if let Some(room) = room {
            command.arg(room);
        }
        let mut child = command.spawn().expect("node starts");
        let stdout = child.stdout.take().expect("stdout");
        NodeClient {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next line the client printed.
    pub async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(15), self.lines.next_line())
            .await
            .expect("the node client printed in time")
            .expect("read")
            .expect("the node client is running");
        serde_json::from_str(&line).expect("a JSON line")
    }

    /// Reads lines until one of type `kind` and returns it.
    pub async fn until(&mut self, kind: &str) -> Value {
        loop {
            let line = self.next().await;
            if line["type"] == kind {
                return line;
            }
        }
    }
}

impl Drop for NodeClient {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[tokio::test]
async fn the_official_client_connects_with_a_login_token_and_receives_events() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let login: Value = app
        .login(&user.email, &user.password)
        .await
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("access_token");

    let mut client = NodeClient::start(&app.address, token, Some("admin")).await;
    assert_eq!(client.next().await, json!({"type": "connect"}));
    let ack = client.next().await;
    assert_eq!(ack["type"], "ack");
    assert!(
        ack["reply"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("ADMIN")),
        "{ack}"
    );

    let payload = json!({"v": 1, "title": "hello from nocron"});
    let emit = Emit::new(
        names::NOTIFICATION_CREATED,
        &payload,
        vec![Room::user(user.id)],
    )
    .expect("json");
    assert!(app.realtime.emit(emit));
    assert_eq!(
        client.next().await,
        json!({"type": "event", "name": names::NOTIFICATION_CREATED, "payload": payload})
    );
}

#[tokio::test]
async fn the_official_client_sees_why_it_was_refused() {
    let app = spawn_app().await;
    let mut client = NodeClient::start(&app.address, "not-a-token", None).await;
    let refused = client.next().await;
    assert_eq!(refused["type"], "connect_error", "{refused}");
    assert!(
        refused["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{refused}"
    );
}
