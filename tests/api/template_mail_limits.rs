//! Hardening of templates and outbound mail: template bombs refused at save or failing only
//! their own execution (the server lives), recipients and hourly messages per account on
//! the server's SMTP, and SMTP/PostgreSQL hosts resolved through the SSRF policy's resolver
//! with the connection made to the checked address.

use std::time::Duration;

use nocron::tasks::model::{ActionType, NewTask};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    action_support::{create_secret, recorded, run_action, trigger_with},
    email::SmtpSink,
    engine_support::{MANUAL_ENGINE, executions, spawn_engine_app, wait_until},
    helpers::{TestApp, TestUser, problem, spawn_app_with},
};

/// `POST /tasks` with this action; the response.
async fn save_task(app: &TestApp, user: &TestUser, action: Value) -> reqwest::Response {
    app.post_as(
        &user.access_token,
        "/tasks",
        &json!({"name": "limits", "action": action}),
    )
    .await
}

/// The 422 problem's message for `field`.
async fn refused_field(response: reqwest::Response, field: &str) -> String {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = problem(response).await;
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|e| e["field"] == field)
        .and_then(|e| e["message"].as_str())
        .unwrap_or_else(|| panic!("no error for {field} in {problem}"))
        .to_owned()
}

fn mail(text: &str) -> Value {
    json!({"type": "EMAIL_SEND", "config": {"to": ["ann@example.com"], "subject": "s", "text": text}})
}

#[tokio::test]
async fn template_memory_bomb_is_refused_with_422_when_the_task_is_saved() {
    let app = spawn_app_with(MANUAL_ENGINE).await;
    let user = app.login_as("USER").await;
    let bomb = "{% for i in range(100000) %}{{ 'x' * 100000000 }}{% endfor %}";
    let message = refused_field(
        save_task(&app, &user, mail(bomb)).await,
        "action.config.text",
    )
    .await;
    assert!(message.contains("TEMPLATE_MAX_VALUE_BYTES"), "{message}");

    let loop_bomb = "{% for i in range(100000) %}x{% endfor %}";
    let message = refused_field(
        save_task(&app, &user, mail(loop_bomb)).await,
        "action.config.text",
    )
    .await;
    assert!(
        message.contains("TEMPLATE_MAX_RANGE (10000 items)"),
        "{message}"
    );

    // JSON templates (DATABASE_QUERY parameters) get the same check.
    let query = json!({"type": "DATABASE_QUERY", "config": {
        "connection": "{{ secrets.DB }}", "sql": "SELECT $1::text",
        "params": ["{% for i in range(1000) %}{{ 'y' * 200000 }}{% endfor %}"]}});
    let message = refused_field(
        save_task(&app, &user, query).await,
        "action.config.params[0]",
    )
    .await;
    assert!(
        message.contains("template output exceeds TEMPLATE_MAX_OUTPUT_BYTES (1048576 bytes)"),
        "{message}"
    );

    // A template that only needs input is accepted.
    let fine = save_task(
        &app,
        &user,
        mail("{% for i in range(input.n) %}{{ input.line }}{% endfor %}"),
    )
    .await;
    assert_eq!(fine.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn template_memory_bomb_driven_by_input_fails_its_execution_and_the_server_lives() {
    let mut smtp = SmtpSink::start(&[]).await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    // The real background engine: the worker renders the bomb inside the server process.
    // Alert emails are off, so the sink sees only what the actions send.
    let app = spawn_engine_app(&[
        ("SMTP_URL", url.as_str()),
        ("SMTP_FROM", "n@nocron.example"),
        ("NOTIFICATIONS_ENABLED", "false"),
    ])
    .await;
    let user = app.login_as("USER").await;
    // 10000 x 200 kB = 2 GB of output without a bound; fine at save (no input then).
    let mut new = NewTask::new(
        user.id,
        "bomb",
        ActionType::EmailSend,
        json!({"to": ["ann@example.com"], "subject": "s",
               "text": "{% for i in range(input.n) %}{{ 'x' * input.size }}{% endfor %}"}),
    );
    new.retry.max_attempts = 3;
    let task = app.create_task(&new).await;
    let response = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/execute", task.id),
            &json!({"input": {"n": 10000, "size": 200000}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    wait_until(Duration::from_secs(30), "the execution ends", || async {
        executions(&app.db, task.id)
            .await
            .iter()
            .any(|row| row.status == "DEAD")
    })
    .await;
    let rows = executions(&app.db, task.id).await;
    assert_eq!(rows.len(), 1, "a limit is final, not retried: {rows:?}");
    let run = recorded(&app, rows[0].id).await;
    let error = run.error.expect("error");
    assert_eq!(
        error,
        "action.config.text: template output exceeds TEMPLATE_MAX_OUTPUT_BYTES (1048576 bytes)"
    );
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    // The same worker goes on: the next task's message is the first the sink receives.
    let after = app
        .create_task(&NewTask::new(
            user.id,
            "after",
            ActionType::EmailSend,
            json!({"to": ["ann@example.com"], "subject": "after the bomb", "text": "still here"}),
        ))
        .await;
    let response = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/execute", after.id),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let received = smtp.received().await;
    assert!(
        received["data"]
            .as_str()
            .expect("data")
            .contains("Subject: after the bomb"),
        "{received}"
    );
}

#[tokio::test]
async fn mail_flood_over_the_hourly_limit_fails_its_execution_and_the_smtp_server_gets_only_the_limit()
 {
    let mut smtp = SmtpSink::start(&[]).await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let mut settings = MANUAL_ENGINE.to_vec();
    settings.extend([
        ("SMTP_URL", url.as_str()),
        ("SMTP_FROM", "n@nocron.example"),
        ("EMAIL_MAX_PER_HOUR", "2"),
    ]);
    let app = spawn_engine_app(&settings).await;
    let user = app.login_as("USER").await;
    let config =
        json!({"to": ["victim@example.com"], "subject": "spam {{ input.i }}", "text": "x"});
    for i in 0..2 {
        let run = run_action(
            &app,
            &user,
            ActionType::EmailSend,
            config.clone(),
            json!({"i": i}),
        )
        .await;
        assert_eq!(run.status, "SUCCEEDED", "{:?}", run.error);
        let received = smtp.received().await;
        assert_eq!(received["rcpt_tos"], json!(["victim@example.com"]));
    }
    let mut new = NewTask::new(user.id, "flood", ActionType::EmailSend, config);
    new.retry.max_attempts = 5;
    let task = app.create_task(&new).await;
    let id = trigger_with(&app, &task, json!({"i": 2})).await;
    nocron::scheduler::worker::run_batch(&app.engine(), 10)
        .await
        .expect("run");
    let run = recorded(&app, id).await;
    assert_eq!(run.status, "DEAD", "over the limit is final");
    assert_eq!(
        run.error.as_deref(),
        Some(
            "EMAIL_MAX_PER_HOUR (2 messages per hour) reached for this account; the message was not sent"
        )
    );
    assert_eq!(executions(&app.db, task.id).await.len(), 1, "not retried");
    // The count is durable, in PostgreSQL.
    let sent: i32 = sqlx::query_scalar("SELECT sent FROM outbound_mail_usage WHERE owner_id = $1")
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("usage row");
    assert_eq!(sent, 2);
    // Exactly two messages reached the SMTP server: the sink prints nothing more.
    assert!(
        tokio::time::timeout(Duration::from_secs(2), smtp.next_line())
            .await
            .map_or(true, |line| line.is_none()),
        "a third message reached the SMTP server"
    );
    // Another account has its own quota.
    let other = app.login_as("USER").await;
    let run = run_action(
        &app,
        &other,
        ActionType::EmailSend,
        json!({"to": ["ann@example.com"], "subject": "mine", "text": "x"}),
        json!({}),
    )
    .await;
    assert_eq!(run.status, "SUCCEEDED", "{:?}", run.error);
}

#[tokio::test]
async fn mail_to_too_many_recipients_is_refused_at_save_and_at_send() {
    let app = spawn_app_with(&[
        ("SCHEDULER_ENABLED", "false"),
        ("WORKERS_ENABLED", "false"),
        ("EMAIL_MAX_RECIPIENTS", "2"),
    ])
    .await;
    let user = app.login_as("USER").await;
    let action = json!({"type": "EMAIL_SEND", "config": {
        "to": ["a@example.com"], "cc": ["b@example.com"], "bcc": ["c@example.com"],
        "subject": "s", "text": "t"}});
    let message = refused_field(save_task(&app, &user, action).await, "action.config.to").await;
    assert_eq!(message, "3 recipients exceed EMAIL_MAX_RECIPIENTS (2)");
    // A templated recipient is checked when it is rendered.
    let action = json!({"type": "EMAIL_SEND", "config": {
        "to": ["{{ input.who }}"], "subject": "s", "text": "t"}});
    let saved = save_task(&app, &user, action).await;
    assert_eq!(saved.status(), StatusCode::CREATED);
    let task: Value = saved.json().await.expect("task");
    let task_id: uuid::Uuid = task["id"].as_str().expect("id").parse().expect("uuid");
    let task = nocron::tasks::db::find_task(&app.db, task_id, user.id)
        .await
        .expect("find")
        .expect("task");
    let id = trigger_with(&app, &task, json!({"who": "not an address"})).await;
    let run = crate::action_support::run_one(&app, id).await;
    assert_eq!(run.status, "DEAD");
    let error = run.error.expect("error");
    assert!(
        error.starts_with("action.config.to[0]: \"not an address\" is not a valid email address"),
        "{error}"
    );
}

#[tokio::test]
async fn smtp_rebinding_a_tls_smtp_host_to_loopback_is_refused_by_the_policy_resolver() {
    let smtp = SmtpSink::start(&[]).await;
    // No OUTBOUND_ALLOW_CIDRS: loopback is internal.
    let app = spawn_app_with(MANUAL_ENGINE).await;
    let user = app.login_as("USER").await;
    let port = smtp.port;
    for (name, url) in [
        ("SMTPS", format!("smtps://u:p@localhost:{port}")),
        (
            "STARTTLS",
            format!("smtp://u:p@localhost:{port}?tls=required"),
        ),
    ] {
        create_secret(&app, &user, name, &url).await;
        let run = run_action(
            &app,
            &user,
            ActionType::EmailSend,
            json!({"to": ["ann@example.com"], "subject": "s", "text": "t",
                   "smtp_url": format!("{{{{ secrets.{name} }}}}"), "from": "me@example.com"}),
            json!({}),
        )
        .await;
        assert_eq!(run.status, "DEAD", "{name}");
        let error = run.error.expect("error");
        // The HTTP client's resolver gives the same refusal for a name that resolves inward.
        assert!(
            error.starts_with("smtp_url: localhost resolves only to refused addresses: ")
                && error.contains("is a loopback address"),
            "{name}: {error}"
        );
        assert!(!run.text.contains("u:p@"), "the URL's credentials stay out");
    }
}

#[tokio::test]
async fn database_rebinding_a_verify_full_host_to_loopback_is_refused_by_the_policy_resolver() {
    let app = spawn_app_with(MANUAL_ENGINE).await;
    let user = app.login_as("USER").await;
    let port = app.database.options.get_port();
    create_secret(
        &app,
        &user,
        "DB",
        &format!("postgres://someone:secret@localhost:{port}/postgres?sslmode=verify-full"),
    )
    .await;
    let run = run_action(
        &app,
        &user,
        ActionType::DatabaseQuery,
        json!({"connection": "{{ secrets.DB }}", "sql": "SELECT 1 AS one"}),
        json!({}),
    )
    .await;
    assert_eq!(run.status, "DEAD");
    let error = run.error.expect("error");
    assert!(
        error.starts_with("connection: localhost resolves only to refused addresses: ")
            && error.contains("is a loopback address"),
        "{error}"
    );
}
