//! Socket.IO test clients (the `rust_socketio` crate, speaking the real Engine.IO v4 /
//! Socket.IO v5 protocol) and an application whose gateway authenticates with test-defined
//! identities.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::Utc;
use futures::FutureExt;
use nocron::auth::Role;
use nocron::realtime::{
    MetricsRequest, MetricsSnapshot, RealtimeHooks, SocketIdentity,
    events::{DashboardMetrics, PAYLOAD_VERSION},
};
use rust_socketio::{
    Event, Payload, TransportType,
    asynchronous::{Client, ClientBuilder},
};
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::helpers::{TestApp, TestDatabase, test_settings};

/// How long a test waits for something the server should do promptly.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The identities and task owners the test gateway knows; tests add to them.
#[derive(Clone, Default)]
pub struct Directory {
    tokens: Arc<Mutex<HashMap<String, SocketIdentity>>>,
    owners: Arc<Mutex<HashMap<Uuid, Uuid>>>,
    metrics_calls: Arc<Mutex<i64>>,
    auth_delay: Arc<Mutex<Duration>>,
}

impl Directory {
    /// A token for a new user with `role`, valid for `lifetime` (or without expiry).
    pub fn user(&self, role: Role, lifetime: Option<Duration>) -> (String, SocketIdentity) {
        let identity = SocketIdentity {
            user_id: Uuid::new_v4(),
            role,
            expires_at: lifetime.map(|l| Utc::now() + l),
        };
        let token = format!("tok_{}", Uuid::new_v4().simple());
        self.tokens
            .lock()
            .expect("lock")
            .insert(token.clone(), identity.clone());
        (token, identity)
    }

    /// A token for an identity the test built itself (e.g. already expired).
    pub fn token_for(&self, identity: SocketIdentity) -> String {
        let token = format!("tok_{}", Uuid::new_v4().simple());
        self.tokens
            .lock()
            .expect("lock")
            .insert(token.clone(), identity);
        token
    }

    /// Makes every handshake's token check take `delay`, as a database lookup would.
    pub fn delay_authentication(&self, delay: Duration) {
        *self.auth_delay.lock().expect("lock") = delay;
    }

    /// Records a task owned by `owner`.
    pub fn task_of(&self, owner: Uuid) -> Uuid {
        let task = Uuid::new_v4();
        self.owners.lock().expect("lock").insert(task, owner);
        task
    }

    /// Gateway hooks answering from this directory. The metrics count their own calls in
    /// `running`, so each tick is distinguishable.
    pub fn hooks(&self) -> RealtimeHooks {
        let tokens = self.tokens.clone();
        let owners = self.owners.clone();
        let calls = self.metrics_calls.clone();
        let auth_delay = self.auth_delay.clone();
        RealtimeHooks::new(move |_state, token: String| {
            let found = tokens.lock().expect("lock").get(&token).cloned();
            let delay = *auth_delay.lock().expect("lock");
            async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                found.ok_or_else(|| "invalid token".to_owned())
            }
        })
        .with_task_owner(move |_state, task: Uuid| {
            let owner = owners.lock().expect("lock").get(&task).copied();
            async move { Ok(owner) }
        })
        .with_metrics(move |_state, request: MetricsRequest| {
            let running = {
                let mut calls = calls.lock().expect("lock");
                *calls += 1;
                *calls
            };
            let metrics = |scope: &str| DashboardMetrics {
                v: PAYLOAD_VERSION,
                at: Utc::now(),
                scope: scope.to_owned(),
                running,
                queued: 0,
                succeeded_last_hour: 0,
                failed_last_hour: 0,
                p95_duration_ms: None,
                scheduler_lag_ms: None,
                finished_last_5m: 0,
                throughput_per_minute: 0.0,
                p99_lateness_ms: None,
                per_minute: Vec::new(),
            };
            let snapshot = MetricsSnapshot {
                system: request.system.then(|| metrics("system")),
                users: request
                    .users
                    .iter()
                    .map(|user| (*user, metrics("user")))
                    .collect(),
            };
            async move { Ok(snapshot) }
        })
    }
}

/// Starts the application with the gateway mounted, answering from `directory`.
pub async fn spawn_realtime_app(directory: &Directory, overrides: &[(&str, &str)]) -> TestApp {
    let database = TestDatabase::create().await;
    spawn_realtime_app_on(database, directory, overrides).await
}

/// [`spawn_realtime_app`] on a given database (several instances may share one).
pub async fn spawn_realtime_app_on(
    database: TestDatabase,
    directory: &Directory,
    overrides: &[(&str, &str)],
) -> TestApp {
    let settings = test_settings(&database.url(), overrides);
    let application = nocron::app::Application::build_with_realtime(settings, directory.hooks())
        .await
        .expect("build the application");
    TestApp::start(application, database).await
}

/// What a test socket observed, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// The server accepted the handshake.
    Connected,
    /// A `connect_error` or transport error, with its text.
    Error(String),
    /// An event with its first argument.
    Event(String, Value),
    /// The connection closed.
    Closed,
}

/// A connected (or refused) Socket.IO client and what it has seen.
pub struct TestSocket {
    /// The client.
    pub client: Client,
    seen: mpsc::UnboundedReceiver<Seen>,
    /// Everything taken from the stream so far.
    pub history: Vec<Seen>,
}

/// Opens a client on `app` with `auth` as the handshake's auth object, over `transport`.
pub async fn open(app: &TestApp, auth: Option<Value>, transport: TransportType) -> TestSocket {
    open_at(&app.address, auth, transport).await
}

/// [`open`] against a base URL.
pub async fn open_at(address: &str, auth: Option<Value>, transport: TransportType) -> TestSocket {
    let (tx, seen) = mpsc::unbounded_channel();
    let on_connect = tx.clone();
    let on_error = tx.clone();
    let on_close = tx.clone();
    let mut builder = ClientBuilder::new(address)
        .transport_type(transport)
        .reconnect(false)
        .on(Event::Connect, move |_, _| {
            let tx = on_connect.clone();
            async move {
                let _ = tx.send(Seen::Connected);
            }
            .boxed()
        })
        .on(Event::Error, move |payload, _| {
            let tx = on_error.clone();
            async move {
                let _ = tx.send(Seen::Error(text(&payload)));
            }
            .boxed()
        })
        .on(Event::Close, move |_, _| {
            let tx = on_close.clone();
            async move {
                let _ = tx.send(Seen::Closed);
            }
            .boxed()
        })
        .on_any(move |event, payload, _| {
            let tx = tx.clone();
            async move {
                let first = match payload {
                    Payload::Text(mut values) if !values.is_empty() => values.remove(0),
                    _ => Value::Null,
                };
                let _ = tx.send(Seen::Event(event.as_str().to_owned(), first));
            }
            .boxed()
        });
    if let Some(auth) = auth {
        builder = builder.auth(auth);
    }
    let client = builder.connect().await.expect("open the transport");
    TestSocket {
        client,
        seen,
        history: Vec::new(),
    }
}

/// Opens a client with `auth: {token}` and asserts the server accepted it.
pub async fn connect(app: &TestApp, token: &str) -> TestSocket {
    connect_at(&app.address, token).await
}

/// [`connect`] against a base URL.
pub async fn connect_at(address: &str, token: &str) -> TestSocket {
    let mut socket = open_at(
        address,
        Some(serde_json::json!({ "token": token })),
        TransportType::Any,
    )
    .await;
    // A transport error seen first (a long-polling request cut short on a loaded machine, as
    // in `refusal`) is passed over; a refusal, a close, or nothing in time fails.
    loop {
        match socket.next().await {
            Seen::Connected => return socket,
            Seen::Error(message) if message == "EngineIO Error" => continue,
            other => panic!("the handshake is accepted: saw {other:?}"),
        }
    }
}

fn text(payload: &Payload) -> String {
    match payload {
        Payload::Text(values) => values
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect::<Vec<_>>()
            .join(" "),
        #[allow(deprecated)]
        Payload::String(s) => s.clone(),
        Payload::Binary(_) => "<binary>".into(),
    }
}

impl TestSocket {
    /// The next thing seen, waiting at most [`PATIENCE`].
    pub async fn next(&mut self) -> Seen {
        let seen = tokio::time::timeout(PATIENCE, self.seen.recv())
            .await
            .expect("the socket saw nothing in time")
            .expect("the socket's callbacks are gone");
        self.history.push(seen.clone());
        seen
    }

    /// Waits until the handshake is refused with a reason containing `reason` and returns the
    /// whole message. A transport error seen first (a long-polling request cut short on a
    /// loaded machine) is passed over; an accepted connection, or no refusal in time, fails.
    pub async fn refusal(&mut self, reason: &str) -> String {
        loop {
            match self.next().await {
                Seen::Error(message) if message.contains(reason) => return message,
                Seen::Error(_) => continue,
                other => panic!("expected a connect_error saying {reason:?}, got {other:?}"),
            }
        }
    }

    /// Waits for `event` and returns its payload; what comes before it stays in `history`.
    pub async fn event(&mut self, event: &str) -> Value {
        loop {
            if let Seen::Event(name, payload) = self.next().await
                && name == event
            {
                return payload;
            }
        }
    }

    /// Whether `event` with `payload` was seen before now.
    pub fn has_seen(&self, event: &str, payload: &Value) -> bool {
        self.history
            .iter()
            .any(|s| matches!(s, Seen::Event(n, p) if n == event && p == payload))
    }

    /// Sends `event` with `data` and returns the acknowledgement's first argument.
    pub async fn ask(&self, event: &str, data: Value) -> Value {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = Arc::new(Mutex::new(Some(tx)));
        self.client
            .emit_with_ack(event, data, PATIENCE, move |payload, _| {
                let tx = tx.clone();
                async move {
                    // rust_socketio hands an acknowledgement's argument list over as one
                    // JSON array; the server's reply is its first argument.
                    let first = match payload {
                        Payload::Text(mut values) if !values.is_empty() => match values.remove(0) {
                            Value::Array(mut arguments) if !arguments.is_empty() => {
                                arguments.remove(0)
                            }
                            other => other,
                        },
                        _ => Value::Null,
                    };
                    if let Some(tx) = tx.lock().expect("lock").take() {
                        let _ = tx.send(first);
                    }
                }
                .boxed()
            })
            .await
            .expect("emit");
        tokio::time::timeout(PATIENCE, rx)
            .await
            .expect("acknowledged in time")
            .expect("ack callback ran")
    }

    /// `subscribe` to `room`; the acknowledgement.
    pub async fn subscribe(&self, room: &str) -> Value {
        self.ask("subscribe", Value::String(room.to_owned())).await
    }
}
