//! Secrets resolved inside the worker: a value reaches the target server and nothing else
//! (execution row, logs, API responses, the server's own tracing output); a missing secret
//! fails the execution by name.

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use nocron::tasks::model::ActionType;
use serde_json::json;

use crate::{
    action_support::{create_secret, run_action},
    capture::CaptureServer,
    engine_support::spawn_manual_app,
};

/// Everything the process traced, at every level, since [`capture_tracing`].
static TRACED: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every tracing event of this test process (each test runs in its own process
/// under nextest) to a buffer.
fn capture_tracing() -> Arc<Mutex<Vec<u8>>> {
    TRACED
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = buffer.clone();
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
                .with_ansi(false)
                .with_writer(move || Sink(writer.clone()))
                .try_init();
            buffer
        })
        .clone()
}

fn traced_text(buffer: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buffer.lock().expect("lock")).into_owned()
}

#[tokio::test]
async fn a_secret_reaches_the_target_and_appears_nowhere_else() {
    let traced = capture_tracing();
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let value = format!("tok_{}", uuid::Uuid::new_v4().simple());
    let created = create_secret(&app, &user, "API_TOKEN", &value).await;

    let run = run_action(
        &app,
        &user,
        ActionType::HttpRequest,
        json!({
            "url": sink.url("/ok"),
            "method": "POST",
            "headers": {"Authorization": "Bearer {{ secrets.API_TOKEN }}"},
            "query": {"key": "{{ secrets.API_TOKEN }}"},
            "body": {"type": "json", "value": {"token": "{{ secrets.API_TOKEN }}"}}
        }),
        json!({}),
    )
    .await;
    assert_eq!(run.status, "SUCCEEDED", "{:?}", run.error);

    let request = sink.requests().remove(0);
    assert_eq!(request.headers["authorization"], format!("Bearer {value}"));
    assert_eq!(request.uri, format!("/ok?key={value}"));
    assert!(request.body.contains(&value));

    // Nowhere in what Nocron stored or answers.
    assert!(!run.text.contains(&value), "stored: {}", run.text);
    assert!(run.text.contains(&run.id.to_string()));
    let listed = app
        .get_as(&user.access_token, "/secrets")
        .await
        .text()
        .await
        .expect("text");
    let one = app
        .get_as(
            &user.access_token,
            &format!("/secrets/{}", created["id"].as_str().expect("id")),
        )
        .await
        .text()
        .await
        .expect("text");
    assert!(listed.contains("API_TOKEN") && one.contains("API_TOKEN"));
    assert!(
        !listed.contains(&value) && !one.contains(&value) && !created.to_string().contains(&value)
    );

    // Nor in the server's tracing output, which did record the run.
    let traced = traced_text(&traced);
    assert!(
        traced.contains(&run.id.to_string()),
        "the capture saw the execution"
    );
    assert!(
        !traced.contains(&value),
        "the secret is in the tracing output"
    );
}

#[tokio::test]
async fn a_missing_secret_fails_the_execution_by_name() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    // Another user's secret of that name is not the owner's.
    let other = app.login_as("USER").await;
    create_secret(&app, &other, "NOT_MINE", "someone-elses-value").await;
    create_secret(&app, &user, "PRESENT", "present-value-123").await;

    let run = run_action(
        &app,
        &user,
        ActionType::HttpRequest,
        json!({
            "url": sink.url("/ok"),
            "headers": {
                "X-A": "{{ secrets.PRESENT }}",
                "X-B": "{{ secrets.NOT_MINE }}",
                "X-C": "{{ secrets.NEVER_CREATED }}"
            }
        }),
        json!({}),
    )
    .await;
    assert_eq!(run.status, "DEAD");
    let error = run.error.expect("error");
    assert!(
        error.contains("NEVER_CREATED") && error.contains("NOT_MINE"),
        "{error}"
    );
    assert!(!error.contains("PRESENT"), "{error}");
    assert!(run.logs.iter().any(|line| line.contains("NEVER_CREATED")));
    assert!(sink.requests().is_empty(), "nothing was sent");
    assert!(!run.text.contains("present-value-123"));
}
