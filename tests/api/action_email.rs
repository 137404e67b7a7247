//! EMAIL_SEND run by the engine against a real SMTP server (aiosmtpd): the server's SMTP
//! settings, a task's own SMTP URL from a secret, retries on a temporary failure, and
//! configuration errors named at save.

use nocron::tasks::{
    self,
    model::{ActionType, NewTask},
};
use serde_json::{Value, json};

use crate::{
    action_support::{create_secret, recorded, run_action, trigger_with},
    email::SmtpSink,
    engine_support::{MANUAL_ENGINE, executions, spawn_engine_app, spawn_manual_app},
};

fn header(data: &str, name: &str) -> String {
    let (headers, _) = data.split_once("\r\n\r\n").expect("headers and body");
    headers
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header in {headers}"))
        .to_owned()
}

fn report_config() -> Value {
    json!({
        "to": ["{{ input.owner.name }} <{{ input.owner.email }}>"],
        "cc": ["ops@example.com"],
        "bcc": ["audit@example.com"],
        "reply_to": "support@example.com",
        "subject": "[{{ result.status }}] {{ input.site }} (run {{ execution.attempt }})",
        "text": "{{ input.site }} answered {{ result.http_status }}.",
        "html": "<p>{{ input.note }}</p>"
    })
}

fn report_input() -> Value {
    json!({
        "site": "shop.example.com",
        "owner": {"name": "Ann Lee", "email": "ann@example.com"},
        "note": "<b>down</b>",
        "result": {"status": "DOWN", "http_status": 503}
    })
}

#[tokio::test]
async fn an_email_is_rendered_from_the_input_and_sent_through_the_server_smtp() {
    let mut smtp = SmtpSink::start(&[]).await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let mut settings = MANUAL_ENGINE.to_vec();
    settings.extend([
        ("SMTP_URL", url.as_str()),
        ("SMTP_FROM", "Nocron <alerts@nocron.example>"),
    ]);
    let app = spawn_engine_app(&settings).await;
    let user = app.login_as("USER").await;

    let run = run_action(
        &app,
        &user,
        ActionType::EmailSend,
        report_config(),
        report_input(),
    )
    .await;
    assert_eq!(run.status, "SUCCEEDED", "{:?}", run.error);

    let received = smtp.received().await;
    assert_eq!(received["mail_from"], "alerts@nocron.example");
    let mut rcpt: Vec<&str> = received["rcpt_tos"]
        .as_array()
        .expect("rcpt")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    rcpt.sort();
    assert_eq!(
        rcpt,
        ["ann@example.com", "audit@example.com", "ops@example.com"]
    );
    let data = received["data"].as_str().expect("data");
    assert_eq!(header(data, "Subject"), "[DOWN] shop.example.com (run 1)");
    assert_eq!(header(data, "To"), "\"Ann Lee\" <ann@example.com>");
    assert_eq!(header(data, "Reply-To"), "support@example.com");
    assert!(!data.contains("audit@example.com"), "Bcc stays out");
    assert!(data.contains("shop.example.com answered 503."));
    assert!(
        data.contains("&lt;b&gt;down&lt;&#x2f;b&gt;"),
        "HTML is escaped"
    );
    // The execution records what the server said about this message.
    assert_eq!(
        run.outcome["message_id"].as_str(),
        Some(header(data, "Message-ID").as_str())
    );
    assert!(
        run.outcome["response"]
            .as_str()
            .expect("response")
            .starts_with("250")
    );
    assert_eq!(run.outcome["subject"], "[DOWN] shop.example.com (run 1)");
    assert!(
        run.logs.iter().any(|line| line.contains("250")),
        "{:?}",
        run.logs
    );
}

#[tokio::test]
async fn a_task_sends_through_its_own_smtp_url_from_a_secret() {
    let password = "smtp-pass-7c1d9e";
    let mut smtp = SmtpSink::start(&["--user", "mailer", "--password", password]).await;
    // The server has no SMTP settings of its own.
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    create_secret(
        &app,
        &user,
        "MY_SMTP",
        &format!("smtp://mailer:{password}@127.0.0.1:{}", smtp.port),
    )
    .await;
    let mut config = report_config();
    config["smtp_url"] = json!("{{ secrets.MY_SMTP }}");
    config["from"] = json!("Reports <reports@example.com>");

    let run = run_action(&app, &user, ActionType::EmailSend, config, report_input()).await;
    assert_eq!(run.status, "SUCCEEDED", "{:?}", run.error);
    let received = smtp.received().await;
    assert_eq!(received["auth_user"], "mailer");
    assert_eq!(received["mail_from"], "reports@example.com");
    assert!(!run.text.contains(password), "{}", run.text);
}

#[tokio::test]
async fn an_unreachable_smtp_server_fails_the_attempt_and_the_engine_retries() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let url = format!("smtp://127.0.0.1:{port}");
    let mut settings = MANUAL_ENGINE.to_vec();
    settings.extend([
        ("SMTP_URL", url.as_str()),
        ("SMTP_FROM", "n@nocron.example"),
    ]);
    let app = spawn_engine_app(&settings).await;
    let user = app.login_as("USER").await;
    let mut new = NewTask::new(user.id, "mail", ActionType::EmailSend, report_config());
    new.retry.max_attempts = 2;
    new.retry.initial_delay_seconds = 60;
    let task = app.create_task(&new).await;
    let id = trigger_with(&app, &task, report_input()).await;
    nocron::scheduler::worker::run_batch(&app.engine(), 10)
        .await
        .expect("run");
    let first = recorded(&app, id).await;
    assert_eq!(first.status, "FAILED");
    let error = first.error.expect("error");
    assert!(error.contains("cannot talk to the SMTP server"), "{error}");
    assert!(error.contains("retried"), "{error}");
    let all = executions(&app.db, task.id).await;
    assert_eq!(all.len(), 2, "a retry is queued");
    assert_eq!(all[1].status, "QUEUED");
    assert_eq!(all[1].retry_of, Some(id));
}

#[tokio::test]
async fn configuration_errors_are_named_when_the_task_is_saved() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let new = NewTask::new(
        user.id,
        "mail",
        ActionType::EmailSend,
        json!({
            "to": ["ann@example.com", "not an address"],
            "subject": "{% if %}",
            "html": "ok",
            "smtp_url": "http://mail.example.com"
        }),
    );
    let err = tasks::db::create_task(&app.state.db, &app.state.events, &new)
        .await
        .expect_err("refused");
    let mut fields: Vec<&str> = err
        .field_errors()
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "action.config.smtp_url",
            "action.config.subject",
            "action.config.to[1]"
        ],
        "{err:?}"
    );
}

#[tokio::test]
async fn a_permanent_smtp_rejection_is_not_retried() {
    let smtp = SmtpSink::start(&["--user", "mailer", "--password", "right-password"]).await;
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    create_secret(
        &app,
        &user,
        "MY_SMTP",
        &format!("smtp://mailer:wrong-password@127.0.0.1:{}", smtp.port),
    )
    .await;
    let mut config = report_config();
    config["smtp_url"] = json!("{{ secrets.MY_SMTP }}");
    config["from"] = json!("reports@example.com");
    let mut new = NewTask::new(user.id, "mail", ActionType::EmailSend, config);
    new.retry.max_attempts = 3;
    let task = app.create_task(&new).await;
    let id = trigger_with(&app, &task, report_input()).await;
    nocron::scheduler::worker::run_batch(&app.engine(), 10)
        .await
        .expect("run");
    let run = recorded(&app, id).await;
    assert_eq!(run.status, "DEAD");
    let error = run.error.expect("error");
    assert!(error.contains("535"), "{error}");
    assert!(!run.text.contains("wrong-password"));
    assert_eq!(executions(&app.db, task.id).await.len(), 1, "no retry");
}

#[tokio::test]
async fn an_uptime_check_that_goes_down_emails_through_its_chained_template() {
    let mut smtp = SmtpSink::start(&[]).await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = spawn_engine_app(&[
        ("SMTP_URL", url.as_str()),
        ("SMTP_FROM", "Nocron <alerts@nocron.example>"),
    ])
    .await;
    let sink = crate::capture::CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let token = &user.access_token;
    let uptime: Value = app
        .post_as(
            token,
            "/tasks/from-template/http-uptime-check",
            &json!({"variables": {"url": sink.url("/status/503")}}),
        )
        .await
        .json()
        .await
        .expect("json");
    let uptime_id = uptime["id"].as_str().expect("id");
    // One attempt, so the run is dead at once.
    let patched = app
        .patch_as(
            token,
            &format!("/tasks/{uptime_id}"),
            &json!({"retry": {"max_attempts": 1}}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let alert = app
        .post_as(
            token,
            "/tasks/from-template/email-on-failure",
            &json!({"variables": {"watched_task_id": uptime_id, "to": "oncall@example.com"}}),
        )
        .await;
    assert_eq!(alert.status(), 201);

    let run = app
        .post_as(token, &format!("/tasks/{uptime_id}/execute"), &json!({}))
        .await;
    assert_eq!(run.status(), 202);
    let message = smtp.received().await;
    assert_eq!(message["rcpt_tos"], json!(["oncall@example.com"]));
    let data = message["data"].as_str().expect("data");
    assert!(
        header(data, "Subject").contains("a task failed (DEAD)"),
        "{data}"
    );
    assert!(
        data.contains(uptime_id),
        "the mail names the failed task: {data}"
    );
}
