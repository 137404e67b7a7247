//! A real browser (headless Chromium) runs `examples/browser/live.html`: it signs in with
//! `POST /auth/login`, connects with the official `socket.io-client` from npm, subscribes to a
//! task, runs it through the HTTP API and watches the execution live. The page reports what it
//! saw to a loopback endpoint of the test.

use std::{path::PathBuf, process::Stdio, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::header,
    response::IntoResponse,
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::{process::Command, sync::mpsc};

use crate::{
    capture::CaptureServer, engine_support::spawn_engine_app, helpers::TestUser,
    realtime_node::client_dir,
};

/// The Chromium binary: the headless shell package (`chromium-headless-shell`, installed by
/// scripts/test), or a full Chromium.
fn chromium() -> &'static str {
    ["chromium-headless-shell", "chromium", "chromium-browser"]
        .into_iter()
        .find(|name| {
            std::process::Command::new(name)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        })
        .expect("a headless Chromium (scripts/test installs chromium-headless-shell)")
}

/// Serves the example page and the socket.io-client bundle, and takes the page's report.
async fn page_server(listener: tokio::net::TcpListener) -> mpsc::Receiver<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("examples/browser/live.html")).expect("page");
    let bundle = client_dir()
        .await
        .join("node_modules/socket.io-client/dist/socket.io.min.js");
    let bundle = std::fs::read_to_string(bundle).expect("socket.io-client bundle");
    let (reports, received) = mpsc::channel(4);
    let router = Router::new()
        .route(
            "/live.html",
            get(move || async move { ([(header::CONTENT_TYPE, "text/html")], page) }),
        )
        .route(
            "/socket.io.min.js",
            get(move || async move {
                ([(header::CONTENT_TYPE, "text/javascript")], bundle).into_response()
            }),
        )
        .route(
            "/report",
            post(
                |State(reports): State<mpsc::Sender<Value>>, Json(body): Json<Value>| async move {
                    let _ = reports.send(body).await;
                },
            ),
        )
        .with_state(reports);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    received
}

#[tokio::test]
async fn a_browser_page_signs_in_and_watches_an_execution_live() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    let mut reports = page_server(listener).await;
    let app = spawn_engine_app(&[("CORS_ORIGINS", &origin)]).await;
    let sink = CaptureServer::start().await;
    let user: TestUser = app.login_as("USER").await;
    let created = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({"name": "Watched", "action": {"type": "HTTP_REQUEST",
                    "config": {"url": sink.url("/ok")}}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let task: Value = created.json().await.expect("json");
    let task_id = task["id"].as_str().expect("id");

    let profile = std::env::temp_dir().join(format!("nocron-chromium-{}", uuid::Uuid::new_v4()));
    let fragment = format!(
        "api={}&email={}&password={}&task={task_id}&report={origin}/report",
        app.address,
        urlencoding(&user.email),
        urlencoding(&user.password),
    );
    let mut browser = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            &format!("{origin}/live.html#{fragment}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromium");
    let report = tokio::time::timeout(Duration::from_secs(60), reports.recv())
        .await
        .expect("the page reports within a minute")
        .expect("a report");
    let _ = browser.kill().await;
    let _ = std::fs::remove_dir_all(&profile);

    assert_eq!(report["ok"], true, "{report}");
    let execution_id = report["execution_id"].as_str().expect("execution id");
    let names: Vec<&str> = report["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["payload"]["execution_id"] == execution_id)
        .map(|event| event["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names.first(), Some(&"execution.queued"), "{names:?}");
    assert_eq!(names.get(1), Some(&"execution.started"), "{names:?}");
    assert_eq!(names.last(), Some(&"execution.finished"), "{names:?}");
    assert!(names.contains(&"execution.log"), "{names:?}");
    let finished = report["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|event| event["name"] == "execution.finished")
        .expect("finished");
    assert_eq!(finished["payload"]["status"], "SUCCEEDED", "{finished}");
    assert_eq!(
        report["transport"], "websocket",
        "the client upgraded from long-polling"
    );
    assert_eq!(sink.requests_to("/ok").len(), 1);
}

/// Percent-encodes a value for the page's URL fragment.
fn urlencoding(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}
