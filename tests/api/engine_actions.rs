//! HTTP_REQUEST and API_CALL against a real local server: what is sent, what is recorded,
//! and how the success condition judges the response.

use nocron::{scheduler::worker, tasks::model::ActionType};
use serde_json::{Value, json};

use crate::{
    capture::CaptureServer,
    engine_support::{executions, http_task, spawn_manual_app},
    helpers::TestApp,
};

/// Creates a task with `config`, triggers it once, runs one worker batch, and returns the
/// execution's (status, outcome, error).
async fn run_once(
    app: &TestApp,
    action_type: ActionType,
    config: Value,
) -> (String, Value, Option<String>) {
    let mut new = http_task("http://unused.invalid/");
    new.action_type = action_type;
    new.action_config = config;
    new.retry.max_attempts = 1;
    let task = app.create_task(&new).await;
    app.trigger(&task).await;
    let ran = worker::run_batch(&app.engine(), 10)
        .await
        .expect("run batch");
    assert_eq!(ran.len(), 1);
    let row = executions(&app.db, task.id).await.remove(0);
    (row.status, row.outcome.unwrap_or(Value::Null), row.error)
}

#[tokio::test]
async fn a_request_sends_method_headers_query_body_auth_and_idempotency_key() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let (status, outcome, error) = run_once(
        &app,
        ActionType::HttpRequest,
        json!({
            "url": sink.url("/ok"),
            "method": "POST",
            "headers": {"X-Trace": "abc"},
            "query": {"page": "2"},
            "body": {"type": "json", "value": {"hello": "world"}},
            "auth": {"type": "bearer", "token": "s3cret-token"}
        }),
    )
    .await;
    assert_eq!(status, "SUCCEEDED", "{error:?}");
    assert_eq!(outcome["status"], 200);
    assert_eq!(outcome["body"], r#"{"ok":true}"#);
    let request = sink.requests().remove(0);
    assert_eq!(request.method, "POST");
    assert_eq!(request.uri, "/ok?page=2");
    assert_eq!(request.headers["x-trace"], "abc");
    assert_eq!(request.headers["authorization"], "Bearer s3cret-token");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.body, r#"{"hello":"world"}"#);
    let execution_id: Value = sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM executions")
        .fetch_one(&app.db)
        .await
        .map(|id| Value::String(id.to_string()))
        .expect("id");
    assert_eq!(
        Value::String(request.headers["idempotency-key"].clone()),
        execution_id
    );
    // Credentials never reach the stored outcome or the log lines.
    let stored: String = sqlx::query_scalar(
        "SELECT outcome::text || string_agg(l.message, ' ') FROM executions e
         JOIN execution_logs l ON l.execution_id = e.id GROUP BY e.outcome",
    )
    .fetch_one(&app.db)
    .await
    .expect("stored text");
    assert!(!stored.contains("s3cret-token"));
    assert!(stored.contains("200"));
}

#[tokio::test]
async fn form_text_and_basic_auth_bodies_are_encoded() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    run_once(
        &app,
        ActionType::HttpRequest,
        json!({"url": sink.url("/ok"), "method": "PUT",
               "body": {"type": "form", "value": {"a": "1", "b": "x y"}},
               "auth": {"type": "basic", "username": "u", "password": "p"}}),
    )
    .await;
    run_once(
        &app,
        ActionType::HttpRequest,
        json!({"url": sink.url("/ok"), "method": "POST", "body": {"type": "text", "value": "plain"},
               "auth": {"type": "header", "name": "X-Api-Key", "value": "k1"}}),
    )
    .await;
    let requests = sink.requests();
    assert_eq!(requests[0].body, "a=1&b=x+y");
    assert_eq!(requests[0].headers["authorization"], "Basic dTpw");
    assert_eq!(requests[1].body, "plain");
    assert!(requests[1].headers["content-type"].starts_with("text/plain"));
    assert_eq!(requests[1].headers["x-api-key"], "k1");
}

#[tokio::test]
async fn a_status_outside_the_success_codes_fails() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let (status, outcome, error) = run_once(
        &app,
        ActionType::HttpRequest,
        json!({"url": sink.url("/status/503")}),
    )
    .await;
    assert_eq!(status, "DEAD");
    assert_eq!(outcome["status"], 503);
    assert!(error.expect("error").contains("503"));
    let (status, _, _) = run_once(
        &app,
        ActionType::HttpRequest,
        json!({"url": sink.url("/status/404"), "success": {"status_codes": ["2xx", "404"]}}),
    )
    .await;
    assert_eq!(status, "SUCCEEDED");
}

#[tokio::test]
async fn api_call_captures_json_and_checks_a_json_pointer() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let (status, outcome, _) = run_once(
        &app,
        ActionType::ApiCall,
        json!({"url": sink.url("/json"),
               "success": {"json_pointer": "/data/status", "equals": "ok"}}),
    )
    .await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(outcome["json"]["data"]["count"], 3);
    assert_eq!(sink.requests()[0].headers["accept"], "application/json");
    let (status, _, error) = run_once(
        &app,
        ActionType::ApiCall,
        json!({"url": sink.url("/json"),
               "success": {"json_pointer": "/data/count", "equals": 4}}),
    )
    .await;
    assert_eq!(status, "DEAD");
    assert!(error.expect("error").contains("/data/count"));
    let (status, _, error) =
        run_once(&app, ActionType::ApiCall, json!({"url": sink.url("/big")})).await;
    assert_eq!(status, "DEAD");
    assert!(error.expect("error").contains("JSON"));
}

#[tokio::test]
async fn body_regex_and_max_latency_are_enforced() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let (status, _, _) = run_once(
        &app,
        ActionType::HttpRequest,
        json!({"url": sink.url("/ok"), "success": {"body_regex": "\"ok\":\\s*true"}}),
    )
    .await;
    assert_eq!(status, "SUCCEEDED");
    let (status, _, error) = run_once(
        &app,
        ActionType::HttpRequest,
        json!({"url": sink.url("/ok"), "success": {"body_regex": "^nope$"}}),
    )
    .await;
    assert_eq!(status, "DEAD");
    assert!(error.expect("error").contains("body_regex"));
    let (status, _, error) = run_once(
        &app,
        ActionType::HttpRequest,
        json!({"url": sink.url("/slow/300"), "success": {"max_latency_ms": 50}}),
    )
    .await;
    assert_eq!(status, "DEAD");
    assert!(error.expect("error").contains("max_latency_ms"));
}

#[tokio::test]
async fn the_body_excerpt_is_capped_at_64_kib() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let (status, outcome, _) = run_once(
        &app,
        ActionType::HttpRequest,
        json!({"url": sink.url("/big")}),
    )
    .await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(outcome["body"].as_str().expect("body").len(), 64 * 1024);
    assert_eq!(outcome["body_truncated"], true);
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_configured_count() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let (status, outcome, _) = run_once(
        &app,
        ActionType::HttpRequest,
        json!({"url": sink.url("/redirect/3"), "max_redirects": 3}),
    )
    .await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(outcome["redirects"], 3);
    assert!(outcome["url"].as_str().expect("url").ends_with("/ok"));
    let (status, _, error) = run_once(
        &app,
        ActionType::HttpRequest,
        json!({"url": sink.url("/redirect/3"), "max_redirects": 2}),
    )
    .await;
    assert_eq!(status, "DEAD");
    assert!(error.expect("error").contains("redirects"));
}

#[tokio::test]
async fn an_unreachable_target_is_a_failure_not_a_crash() {
    let app = spawn_manual_app().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let (status, _, error) = run_once(
        &app,
        ActionType::HttpRequest,
        json!({"url": format!("http://127.0.0.1:{port}/x?token=secret")}),
    )
    .await;
    assert_eq!(status, "DEAD");
    let error = error.expect("error");
    assert!(error.contains("connect"), "{error}");
    assert!(!error.contains("secret"));
}

#[tokio::test]
async fn a_configuration_of_another_type_is_refused_with_field_errors() {
    let app = spawn_manual_app().await;
    // An HTTP configuration does not fit NOTION_SYNC.
    let mut new = http_task("https://example.com/");
    new.action_type = ActionType::NotionSync;
    let err = nocron::tasks::db::create_task(&app.state.db, &app.state.events, &new)
        .await
        .expect_err("refused");
    assert_eq!(err.code().status(), 422);
    assert!(
        err.field_errors()[0].field.starts_with("action.config"),
        "{:?}",
        err.field_errors()
    );
    let mut bad = http_task("file:///etc/passwd");
    bad.schedule = Some(nocron::tasks::model::ScheduleSpec::cron("99 * * * *"));
    let err = nocron::tasks::db::create_task(&app.state.db, &app.state.events, &bad)
        .await
        .expect_err("refused");
    let fields: Vec<_> = err
        .field_errors()
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(fields, ["schedule.cron", "action.config.url"]);
}

#[tokio::test]
async fn the_ssrf_guard_refuses_internal_targets_and_redirect_hops() {
    // Only 127.0.0.2 is allowed: the target below, never 127.0.0.1.
    let app = crate::helpers::spawn_app_with(&[
        ("SCHEDULER_ENABLED", "false"),
        ("WORKERS_ENABLED", "false"),
        ("OUTBOUND_ALLOW_CIDRS", "127.0.0.2/32"),
    ])
    .await;
    let allowed = CaptureServer::start_on("127.0.0.2").await;
    let internal = CaptureServer::start().await;
    let port = internal.base.rsplit(':').next().expect("port").to_owned();
    for url in [
        internal.url("/ok"),
        format!("http://localhost:{port}/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
        format!("http://0x7f000001:{port}/ok"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
    ] {
        let (status, _, error) =
            run_once(&app, ActionType::HttpRequest, json!({ "url": url })).await;
        assert_eq!(status, "DEAD", "{url}");
        let error = error.expect("error");
        assert!(
            error.contains("refused") || error.contains("not allowed"),
            "{url}: {error}"
        );
    }
    let (status, _, error) = run_once(
        &app,
        ActionType::HttpRequest,
        json!({ "url": allowed.url(&format!("/redirect-to-localhost/{port}")) }),
    )
    .await;
    assert_eq!(status, "DEAD");
    assert!(error.expect("error").contains("refused"));
    assert_eq!(allowed.requests().len(), 1);
    assert!(
        internal.requests().is_empty(),
        "no request reached an internal address"
    );
}
