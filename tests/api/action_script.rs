//! CUSTOM_SCRIPT run by the engine: result and log lines stored, declared secrets usable
//! and redacted, `http(...)` through the guarded client to a real server, a runaway loop
//! ending as TIMED_OUT while the server keeps answering, and escape attempts failing cleanly.

use std::time::{Duration, Instant};

use nocron::{executions::model::ExecutionStatus, tasks::model::ActionType};
use serde_json::json;

use crate::{
    action_support::{create_action_task, create_secret, recorded, run_action, trigger_with},
    capture::CaptureServer,
    engine_support::{has_status, spawn_engine_app, spawn_manual_app, wait_until},
};

#[tokio::test]
async fn a_script_result_and_its_log_lines_are_stored() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let token = "tok_script_5e6f7a8b9c";
    create_secret(&app, &user, "API_TOKEN", token).await;

    let run = run_action(
        &app,
        &user,
        ActionType::CustomScript,
        json!({
            "secrets": ["API_TOKEN"],
            "source": r#"
                log("order " + input.order.id);
                let response = http(#{
                    method: "POST",
                    url: input.base + "/json",
                    headers: #{ authorization: "Bearer " + secrets.API_TOKEN },
                    json: #{ id: input.order.id }
                });
                log("upstream answered " + response.status);
                #{
                    status: response.status,
                    count: response.json.data.count,
                    doubled: input.order.total * 2.0,
                    leaked: secrets.API_TOKEN
                }
            "#
        }),
        json!({"base": sink.base, "order": {"id": 7, "total": 12.5}}),
    )
    .await;
    assert_eq!(run.status, "SUCCEEDED", "{:?} {:?}", run.error, run.logs);
    assert_eq!(
        run.outcome,
        json!({"status": 200, "count": 3, "doubled": 25.0, "leaked": "[REDACTED]"})
    );
    assert!(
        run.logs.contains(&"INFO order 7".to_owned()),
        "{:?}",
        run.logs
    );
    assert!(run.logs.contains(&"INFO upstream answered 200".to_owned()));
    let request = sink.requests().remove(0);
    assert_eq!(request.headers["authorization"], format!("Bearer {token}"));
    assert_eq!(request.body, r#"{"id":7}"#);
    assert!(!run.text.contains(token));
}

#[tokio::test]
async fn a_runaway_loop_times_out_while_the_server_keeps_answering() {
    // The real background workers, so the script runs as it would in production.
    let app = spawn_engine_app(&[]).await;
    let user = app.login_as("USER").await;
    let task = create_action_task(
        &app,
        &user,
        ActionType::CustomScript,
        json!({"source": "let n = 0; loop { n += 1; }", "max_operations": 10_000_000}),
        1,
    )
    .await;
    let started = Instant::now();
    let id = trigger_with(&app, &task, json!({})).await;
    // Claimed by a worker: a busy machine may take a while to get there.
    wait_until(Duration::from_secs(30), "the script to start", || async {
        !has_status(&app.db, id, ExecutionStatus::Queued).await
    })
    .await;
    // While the script spins, the server (on this test's single runtime thread) answers: a
    // blocked runtime would answer only after the script ended, so no answer would come
    // back while it still ran.
    let mut answered_while_running = 0;
    while has_status(&app.db, id, ExecutionStatus::Running).await {
        assert_eq!(app.get("/health").await.status(), 200);
        if has_status(&app.db, id, ExecutionStatus::Running).await {
            answered_while_running += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(started.elapsed() < Duration::from_secs(60), "still running");
    }
    assert!(
        answered_while_running > 0,
        "/health was not answered while the script ran"
    );
    let run = recorded(&app, id).await;
    assert_eq!(run.status, "TIMED_OUT", "{:?}", run.error);
    // Whichever limit stopped it first: the one-second clock, or (on a fast machine) the
    // largest operation budget a task may set.
    match run.outcome["error_code"].as_str() {
        Some("TIMED_OUT") => assert!(started.elapsed() >= Duration::from_secs(1)),
        Some("SCRIPT_OPERATION_LIMIT") => {}
        other => panic!("stopped by {other:?}: {:?}", run.error),
    }
}

#[tokio::test]
async fn exhausting_the_operation_budget_is_a_time_out() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let run = run_action(
        &app,
        &user,
        ActionType::CustomScript,
        json!({"source": "let n = 0; loop { n += 1; }", "max_operations": 100_000}),
        json!({}),
    )
    .await;
    assert_eq!(run.status, "TIMED_OUT");
    let error = run.error.expect("error");
    assert!(error.contains("100000 operations"), "{error}");
    assert_eq!(run.outcome["error_code"], "SCRIPT_OPERATION_LIMIT");
}

#[tokio::test]
async fn escape_attempts_fail_cleanly() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    // Modules and dynamic code do not even compile: refused when the task is saved.
    for source in [
        r#"import "fs" as fs; fs::read("/etc/passwd")"#,
        r#"eval("1 + 1")"#,
        "std_fs",
    ] {
        let new = nocron::tasks::model::NewTask::new(
            user.id,
            "escape",
            ActionType::CustomScript,
            json!({"source": source}),
        );
        let err = nocron::tasks::db::create_task(&app.state.db, &app.state.events, &new)
            .await
            .expect_err(source);
        assert_eq!(
            err.field_errors()[0].field,
            "action.config.source",
            "{source}"
        );
        assert!(
            err.field_errors()[0].message.contains("script error"),
            "{source}"
        );
    }
    // Host functions do not exist, and http() only reaches what the outbound policy allows.
    for (source, expected) in [
        (r#"open("/etc/passwd")"#, "Function not found"),
        (r#"system("id")"#, "Function not found"),
        (
            r#"http(#{ url: "http://169.254.169.254/latest/meta-data/" })"#,
            "169.254.169.254",
        ),
        (r#"http(#{ url: "file:///etc/passwd" })"#, "scheme"),
        (r#"http(#{ url: "http://10.1.2.3:5432/" })"#, "10.1.2.3"),
    ] {
        let run = run_action(
            &app,
            &user,
            ActionType::CustomScript,
            json!({"source": source}),
            json!({}),
        )
        .await;
        assert_eq!(run.status, "DEAD", "{source}");
        let error = run.error.expect("error");
        assert!(error.contains(expected), "{source}: {error}");
    }
}

#[tokio::test]
async fn the_script_transform_template_reshapes_a_webhook_body() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let task: serde_json::Value = app
        .post_as(
            &user.access_token,
            "/tasks/from-template/script-transform",
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    let run: serde_json::Value = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/execute", task["id"].as_str().expect("id")),
            &json!({"input": {"body": [{"sku": "a"}, {"sku": "b"}], "headers": {}}}),
        )
        .await
        .json()
        .await
        .expect("json");
    let id: uuid::Uuid = run["execution_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let recorded = crate::action_support::run_one(&app, id).await;
    assert_eq!(recorded.status, "SUCCEEDED", "{:?}", recorded.error);
    assert_eq!(
        recorded.outcome,
        json!({"items": [{"sku": "a"}, {"sku": "b"}], "count": 2})
    );
    assert!(
        recorded.text.contains("transformed 2 item(s)"),
        "the log line is stored"
    );
}
