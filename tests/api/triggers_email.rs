//! Email triggers end to end: real mail sent with lettre to the built-in SMTP listener on
//! loopback, a raw SMTP conversation for the protocol's edges, and inbound mail posted as HTTP.

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Attachment, MultiPart, header::ContentType},
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use crate::{
    engine_support::{MANUAL_ENGINE, executions, spawn_engine_app},
    helpers::{TestApp, TestUser, problem},
    triggers_support::{accepted, input_of},
};

const DOMAIN: &str = "hooks.nocron.test";

async fn spawn_mail_app(extra: &[(&str, &str)]) -> TestApp {
    let mut settings = MANUAL_ENGINE.to_vec();
    settings.extend_from_slice(&[
        ("INBOUND_SMTP_ADDR", "127.0.0.1:0"),
        ("INBOUND_DOMAIN", DOMAIN),
    ]);
    settings.extend_from_slice(extra);
    spawn_engine_app(&settings).await
}

async fn email_trigger(app: &TestApp, user: &TestUser, task_id: uuid::Uuid) -> Value {
    let response = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{task_id}/email-triggers"),
            &json!({"name": "inbox"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

fn mailer(app: &TestApp) -> AsyncSmtpTransport<Tokio1Executor> {
    let addr = app.state.triggers.smtp_addr().expect("SMTP listener bound");
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .build()
}

#[tokio::test]
async fn mail_sent_over_smtp_becomes_the_task_input() {
    let app = spawn_mail_app(&[]).await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/").await;
    let created = email_trigger(&app, &user, task.id).await;
    let address = created["address"].as_str().expect("address").to_owned();
    let token = created["token"].as_str().expect("token");
    assert_eq!(address, format!("task-{token}@{DOMAIN}"));
    assert_eq!(created["http_url"], format!("/hooks/email/{token}"));

    let message = Message::builder()
        .from("Ada Lovelace <ada@example.com>".parse().expect("from"))
        .to(address.to_uppercase().parse().expect("to"))
        .subject("Invoice 42")
        .message_id(Some("<invoice-42@example.com>".into()))
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(
                    "Total: 12 EUR\n.leading dot line".to_owned(),
                    "<p>Total: <b>12 EUR</b></p>".to_owned(),
                ))
                .singlepart(Attachment::new("invoice-42.pdf".to_owned()).body(
                    vec![7u8; 3000],
                    ContentType::parse("application/pdf").expect("type"),
                )),
        )
        .expect("message");
    let response = mailer(&app).send(message.clone()).await.expect("accepted");
    assert!(response.is_positive());

    let rows = executions(&app.db, task.id).await;
    assert_eq!(rows.len(), 1);
    let (kind, input) = input_of(&app, rows[0].id).await;
    assert_eq!(kind, "EMAIL");
    assert_eq!(input["from"], "ada@example.com");
    assert_eq!(input["from_name"], "Ada Lovelace");
    assert_eq!(input["subject"], "Invoice 42");
    let text = input["text"].as_str().expect("text");
    assert!(text.contains("Total: 12 EUR"));
    assert!(
        text.contains("\n.leading dot line"),
        "dot-stuffing undone: {text:?}"
    );
    assert!(
        input["html"]
            .as_str()
            .expect("html")
            .contains("<b>12 EUR</b>")
    );
    assert_eq!(
        input["attachments"],
        json!([{"name": "invoice-42.pdf", "content_type": "application/pdf", "size": 3000}])
    );
    assert_eq!(input["message_id"], "invoice-42@example.com");
    assert_eq!(input["envelope"]["mail_from"], "ada@example.com");
    assert_eq!(
        input["envelope"]["rcpt_to"][0]
            .as_str()
            .map(str::to_lowercase),
        Some(address)
    );

    // The same message delivered again (an MTA retry) does not run the task twice.
    mailer(&app).send(message).await.expect("accepted again");
    assert_eq!(executions(&app.db, task.id).await.len(), 1);

    let list: Value = app
        .get_as(
            &user.access_token,
            &format!("/tasks/{}/email-triggers", task.id),
        )
        .await
        .json()
        .await
        .expect("list");
    assert!(!list.to_string().contains(token));
    assert!(list[0]["last_used_at"].is_string());
}

#[tokio::test]
async fn unknown_recipients_and_oversized_messages_are_refused() {
    let app = spawn_mail_app(&[("INBOUND_EMAIL_MAX_BYTES", "4096")]).await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/").await;
    let created = email_trigger(&app, &user, task.id).await;
    let address = created["address"].as_str().expect("address");

    let unknown = format!("task-{}@{DOMAIN}", "a".repeat(32));
    for recipient in [
        unknown.as_str(),
        "someone@example.com",
        "task-short@hooks.nocron.test",
    ] {
        let message = Message::builder()
            .from("ada@example.com".parse().expect("from"))
            .to(recipient.parse().expect("to"))
            .subject("hi")
            .body("hello".to_owned())
            .expect("message");
        let err = mailer(&app).send(message).await.expect_err("refused");
        assert!(err.is_permanent(), "{recipient}: {err}");
        assert!(err.to_string().contains("550"), "{recipient}: {err}");
    }

    let big = Message::builder()
        .from("ada@example.com".parse().expect("from"))
        .to(address.parse().expect("to"))
        .subject("big")
        .body("x".repeat(70).repeat(100))
        .expect("message");
    let err = mailer(&app).send(big).await.expect_err("too large");
    assert!(err.is_permanent());
    assert!(err.to_string().contains("552"), "{err}");

    // Deleting the trigger makes its address unknown.
    let id = created["id"].as_str().expect("id");
    let response = app
        .delete_as(
            &user.access_token,
            &format!("/tasks/{}/email-triggers/{id}", task.id),
        )
        .await;
    assert_eq!(response.status(), 204);
    let message = Message::builder()
        .from("ada@example.com".parse().expect("from"))
        .to(address.parse().expect("to"))
        .subject("hi")
        .body("hello".to_owned())
        .expect("message");
    let err = mailer(&app).send(message).await.expect_err("refused");
    assert!(err.to_string().contains("550"), "{err}");
    assert!(executions(&app.db, task.id).await.is_empty());
}

/// Sends one command line and reads the whole (possibly multi-line) reply.
async fn command(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    line: &str,
) -> String {
    if !line.is_empty() {
        writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
    }
    let mut reply = String::new();
    loop {
        let mut one = String::new();
        reader.read_line(&mut one).await.expect("read");
        reply.push_str(&one);
        if one.len() < 4 || one.as_bytes()[3] != b'-' {
            return reply;
        }
    }
}

#[tokio::test]
async fn the_smtp_conversation_follows_the_protocol() {
    let app = spawn_mail_app(&[]).await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/").await;
    let created = email_trigger(&app, &user, task.id).await;
    let address = created["address"].as_str().expect("address");
    let stream = TcpStream::connect(app.state.triggers.smtp_addr().expect("bound"))
        .await
        .expect("connect");
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let w = &mut write;
    assert!(command(&mut read, w, "").await.starts_with("220 "));
    assert!(
        command(&mut read, w, "MAIL FROM:<a@b.c>")
            .await
            .starts_with("503")
    );
    let ehlo = command(&mut read, w, "EHLO client.test").await;
    assert!(ehlo.starts_with("250-"));
    assert!(ehlo.contains("SIZE "), "{ehlo}");
    assert!(command(&mut read, w, "DATA").await.starts_with("503"));
    assert!(
        command(&mut read, w, "MAIL FROM:<a@b.c> SIZE=999999999")
            .await
            .starts_with("552")
    );
    assert!(
        command(&mut read, w, "MAIL FROM:<a@b.c>")
            .await
            .starts_with("250")
    );
    assert!(
        command(&mut read, w, "RCPT TO:<nobody@hooks.nocron.test>")
            .await
            .starts_with("550")
    );
    assert!(
        command(&mut read, w, &format!("RCPT TO:<{address}>"))
            .await
            .starts_with("250")
    );
    assert!(command(&mut read, w, "NOOP").await.starts_with("250"));
    assert!(command(&mut read, w, "VRFY x").await.starts_with("252"));
    assert!(command(&mut read, w, "HELP").await.starts_with("502"));
    assert!(
        command(&mut read, w, &"X".repeat(600))
            .await
            .starts_with("500")
    );
    assert!(command(&mut read, w, "RSET").await.starts_with("250"));
    assert!(
        command(&mut read, w, "DATA").await.starts_with("503"),
        "RSET cleared the recipients"
    );
    command(&mut read, w, "MAIL FROM:<>").await;
    command(&mut read, w, &format!("RCPT TO:<{address}>")).await;
    assert!(command(&mut read, w, "DATA").await.starts_with("354"));
    let body = "Subject: raw\r\nFrom: raw@example.com\r\n\r\n..dot\r\nend\r\n.";
    let done = command(&mut read, w, body).await;
    assert!(done.starts_with("250"), "{done}");
    assert!(command(&mut read, w, "QUIT").await.starts_with("221"));

    let rows = executions(&app.db, task.id).await;
    let (_, input) = input_of(&app, rows[0].id).await;
    assert_eq!(input["subject"], "raw");
    let text = input["text"].as_str().expect("text");
    assert!(
        text.starts_with(".dot") && text.contains("end"),
        "dot-stuffing undone: {text:?}"
    );
    assert_eq!(input["envelope"]["mail_from"], "");
}

#[tokio::test]
async fn inbound_mail_can_be_posted_as_http() {
    let app = spawn_engine_app(MANUAL_ENGINE).await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/").await;
    let created = email_trigger(&app, &user, task.id).await;
    assert!(
        created["address"].is_null(),
        "no INBOUND_DOMAIN, no address"
    );
    let url = app.url(created["http_url"].as_str().expect("http_url"));

    let response = app
        .client
        .post(&url)
        .json(&json!({
            "from": "bob@example.com", "to": ["x@example.com"], "subject": "JSON mail",
            "text": "plain", "html": "<p>html</p>", "message_id": "<j-1@example.com>"
        }))
        .send()
        .await
        .expect("post");
    let (first, duplicate) = accepted(response).await;
    assert!(!duplicate);
    let (kind, input) = input_of(&app, first).await;
    assert_eq!(kind, "EMAIL");
    assert_eq!(
        (
            &input["from"],
            &input["subject"],
            &input["text"],
            &input["html"]
        ),
        (
            &json!("bob@example.com"),
            &json!("JSON mail"),
            &json!("plain"),
            &json!("<p>html</p>")
        )
    );
    assert_eq!(input["to"], json!(["x@example.com"]));

    let raw = "From: Carol <carol@example.com>\r\nTo: y@example.com\r\nSubject: Raw mail\r\n\
               Message-ID: <r-1@example.com>\r\n\r\nraw body\r\n";
    let post_raw = || {
        app.client
            .post(&url)
            .header("content-type", "message/rfc822")
            .body(raw)
            .send()
    };
    let (raw_execution, _) = accepted(post_raw().await.expect("post")).await;
    let (_, input) = input_of(&app, raw_execution).await;
    assert_eq!(input["from"], "carol@example.com");
    assert_eq!(input["subject"], "Raw mail");
    let (again, duplicate) = accepted(post_raw().await.expect("post")).await;
    assert_eq!((again, duplicate), (raw_execution, true));

    let response = app
        .client
        .post(&url)
        .header("content-type", "text/csv")
        .body("a,b")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 400);
    assert_eq!(problem(response).await["code"], "INVALID_CONTENT_TYPE");
    let response = app
        .post_json(&format!("/hooks/email/{}", "b".repeat(32)), &json!({}))
        .await;
    assert_eq!(response.status(), 404);
}
