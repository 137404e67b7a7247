//! A real HTTP server on loopback that records every request it gets, for tests of outbound
//! actions. Its routes behave in ways the tests need: succeed, fail with a status, fail a
//! number of times then succeed, answer slowly, hang once, redirect, return a big or a JSON body,
//! echo a header base64-encoded.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers, lower-case names.
    pub headers: HashMap<String, String>,
    /// The body as text.
    pub body: String,
}

#[derive(Clone, Default)]
struct Shared {
    requests: Arc<Mutex<Vec<Captured>>>,
    counters: Arc<Mutex<HashMap<String, u32>>>,
}

/// The running capture server.
pub struct CaptureServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CaptureServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1").await
    }

    /// Starts a server on a free port of a loopback address such as 127.0.0.2.
    pub async fn start_on(ip: &str) -> Self {
        let shared = Shared::default();
        let router = Router::new()
            .route("/ok", any(ok))
            .route("/json", any(json))
            .route("/big", any(big))
            .route("/status/{code}", any(status))
            .route("/slow/{ms}", any(slow))
            .route("/hang-once/{key}", any(hang_once))
            .route("/fail-times/{key}/{times}", any(fail_times))
            .route("/plan/{key}/{plan}", any(plan))
            .route("/redirect/{hops}", any(redirect))
            .route("/redirect-to-localhost/{port}", any(redirect_to_localhost))
            .route("/echo-base64", any(echo_base64))
            .layer(axum::middleware::from_fn_with_state(shared.clone(), record))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .expect("bind capture server");
        let port = listener.local_addr().expect("address").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        CaptureServer {
            base: format!("http://{ip}:{port}"),
            shared,
            task,
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Captured> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Captured> {
        self.requests()
            .into_iter()
            .filter(|r| r.uri.starts_with(prefix))
            .collect()
    }
}

async fn record(
    State(shared): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    shared.requests.lock().expect("lock").push(Captured {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    });
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

async fn ok() -> impl IntoResponse {
    axum::Json(serde_json::json!({"ok": true}))
}

async fn json() -> impl IntoResponse {
    axum::Json(serde_json::json!({"data": {"status": "ok", "count": 3}}))
}

async fn big() -> impl IntoResponse {
    "x".repeat(200 * 1024)
}

async fn status(Path(code): Path<u16>) -> impl IntoResponse {
    StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
}

async fn slow(Path(ms): Path<u64>) -> impl IntoResponse {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "slow"
}

fn count(shared: &Shared, key: &str) -> u32 {
    let mut counters = shared.counters.lock().expect("lock");
    let counter = counters.entry(key.to_owned()).or_default();
    *counter += 1;
    *counter
}

async fn hang_once(State(shared): State<Shared>, Path(key): Path<String>) -> impl IntoResponse {
    if count(&shared, &format!("hang:{key}")) == 1 {
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
    "done"
}

async fn fail_times(
    State(shared): State<Shared>,
    Path((key, times)): Path<(String, u32)>,
) -> impl IntoResponse {
    if count(&shared, &format!("fail:{key}")) <= times {
        (StatusCode::SERVICE_UNAVAILABLE, "not yet")
    } else {
        (StatusCode::OK, "recovered")
    }
}

/// The n-th request to `key` answers as the n-th letter of `plan` says: `f` a 503, `s` a 200;
/// past the end of the plan, a 200.
async fn plan(
    State(shared): State<Shared>,
    Path((key, plan)): Path<(String, String)>,
) -> impl IntoResponse {
    let n = count(&shared, &format!("plan:{key}")) as usize;
    match plan.chars().nth(n - 1) {
        Some('f') => (StatusCode::SERVICE_UNAVAILABLE, "planned failure"),
        _ => (StatusCode::OK, "planned success"),
    }
}

async fn redirect(Path(hops): Path<u32>) -> impl IntoResponse {
    let location = if hops <= 1 {
        "/ok".to_owned()
    } else {
        format!("/redirect/{}", hops - 1)
    };
    (StatusCode::FOUND, [(header::LOCATION, location)])
}

async fn redirect_to_localhost(Path(port): Path<u16>) -> impl IntoResponse {
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("http://127.0.0.1:{port}/ok"))],
    )
}

/// Answers the `x-echo` header's value, base64-encoded, as a text body.
async fn echo_base64(headers: axum::http::HeaderMap) -> impl IntoResponse {
    use base64::Engine as _;
    let value = headers
        .get("x-echo")
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    format!(
        "echo {}",
        base64::engine::general_purpose::STANDARD.encode(value)
    )
}
