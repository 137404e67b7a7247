//! Open and click tracking of notification emails, read from the mail the real SMTP sink
//! received, and resends of failed deliveries.

use axum::extract::FromRef;
use nocron::notifications::{Notifier, delivery};
use serde_json::{Value, json};

use crate::{
    email::SmtpSink,
    engine_support::spawn_engine_app,
    helpers::{TestApp, TestUser, problem},
    notifications::MANUAL,
};

const PUBLIC_URL: &str = "https://nocron.example.com";

async fn send_test(app: &TestApp, user: &TestUser, channel: &str) -> String {
    let response = app
        .post_as(
            &user.access_token,
            "/notifications/test",
            &json!({"channel": channel}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let sent: Value = response.json().await.expect("json");
    sent["notification_id"].as_str().expect("id").to_owned()
}

/// The email deliveries of a notification, oldest generation first.
async fn email_deliveries(app: &TestApp, user: &TestUser, id: &str) -> Vec<Value> {
    let detail = app
        .get_json_as(&user.access_token, &format!("/notifications/{id}"))
        .await;
    detail["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter(|d| d["channel"] == "EMAIL")
        .cloned()
        .collect()
}

/// The first path under `prefix` in `text`, up to the end of the token.
fn tracked_path(text: &str, prefix: &str) -> String {
    let start = text
        .find(&format!("{PUBLIC_URL}{prefix}"))
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"))
        + PUBLIC_URL.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_'))
        .collect()
}

#[tokio::test]
async fn an_opened_email_and_its_followed_link_are_recorded_and_lead_only_to_the_notification_link()
{
    let mut smtp = SmtpSink::start(&[]).await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let mut settings = MANUAL.to_vec();
    settings.extend([
        ("SMTP_URL", url.as_str()),
        ("SMTP_FROM", "n@nocron.example"),
        ("PUBLIC_URL", PUBLIC_URL),
    ]);
    let app = spawn_engine_app(&settings).await;
    let user = app.login_as("USER").await;
    let id = send_test(&app, &user, "EMAIL").await;
    let notifier = Notifier::from_ref(&app.state);
    assert_eq!(delivery::deliver_due(&notifier).await.expect("deliver"), 1);

    let received = smtp.received().await;
    let raw = received["data"].as_str().expect("data");
    let message = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a MIME message");
    // As a mail client reads the attributes: the HTML part escapes `/` as `&#x2f;`.
    let html = message
        .body_html(0)
        .expect("html part")
        .replace("&#x2f;", "/");
    let text = message.body_text(0).expect("text part").into_owned();
    let click = tracked_path(&html, "/t/c/");
    let pixel = tracked_path(&html, "/t/o/");
    assert_eq!(
        tracked_path(&text, "/t/c/"),
        click,
        "both parts lead the same way"
    );
    assert!(
        !html.contains("href=\"/notifications\""),
        "the link goes through the tracker: {html}"
    );
    let before = &email_deliveries(&app, &user, &id).await[0];
    assert!(before["opened_at"].is_null() && before["clicked_at"].is_null());

    // The pixel: a GIF, and the opening recorded on the delivery and the notification.
    let response = app.get(&pixel).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/gif");
    assert!(response.bytes().await.expect("body").starts_with(b"GIF89a"));
    let opened = &email_deliveries(&app, &user, &id).await[0];
    assert!(opened["opened_at"].is_string(), "{opened}");
    assert!(opened["clicked_at"].is_null());

    // The click: a redirect to the notification's own link, recorded.
    let response = app.get(&click).await;
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"],
        format!("{PUBLIC_URL}/notifications").as_str()
    );
    let clicked = &email_deliveries(&app, &user, &id).await[0];
    assert!(clicked["clicked_at"].is_string(), "{clicked}");
    let listed = app.get_json_as(&user.access_token, "/notifications").await;
    let item = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|n| n["id"] == id.as_str())
        .expect("listed");
    assert!(item["clicked_at"].is_string() && item["seen_at"].is_string());

    // A changed token, a pixel token on the click route, or a query naming another target
    // are all refused or ignored: the redirect only ever goes to the recorded link.
    let token = click.trim_start_matches("/t/c/");
    let mut changed = token.to_owned().into_bytes();
    changed[4] = if changed[4] == b'A' { b'B' } else { b'A' };
    let changed = String::from_utf8(changed).expect("ascii");
    assert_eq!(app.get(&format!("/t/c/{changed}")).await.status(), 404);
    let pixel_token = pixel.trim_start_matches("/t/o/");
    assert_eq!(app.get(&format!("/t/c/{pixel_token}")).await.status(), 404);
    assert_eq!(app.get("/t/o/not-a-token").await.status(), 404);
    let response = app
        .get(&format!("{click}?next=https://evil.example/"))
        .await;
    assert_eq!(
        response.headers()["location"],
        format!("{PUBLIC_URL}/notifications").as_str()
    );
}

#[tokio::test]
async fn a_failed_email_is_resent_as_a_new_delivery_at_most_three_times() {
    // A relay that refuses the server's login: each attempt is a permanent failure.
    let smtp = SmtpSink::start(&["--user", "mailer", "--password", "right-password"]).await;
    let url = format!("smtp://mailer:wrong-password@127.0.0.1:{}", smtp.port);
    let mut settings = MANUAL.to_vec();
    settings.extend([
        ("SMTP_URL", url.as_str()),
        ("SMTP_FROM", "n@nocron.example"),
    ]);
    let app = spawn_engine_app(&settings).await;
    let user = app.login_as("USER").await;
    let notifier = Notifier::from_ref(&app.state);
    let id = send_test(&app, &user, "EMAIL").await;
    let resend_path = format!("/notifications/{id}/resend");

    // Nothing failed yet: the first delivery is still queued.
    let response = app
        .post_as(&user.access_token, &resend_path, &json!({}))
        .await;
    assert_eq!(response.status(), 409);

    for generation in 1..=3 {
        assert_eq!(delivery::deliver_due(&notifier).await.expect("deliver"), 1);
        let response = app
            .post_as(&user.access_token, &resend_path, &json!({}))
            .await;
        assert_eq!(response.status(), 202, "resend {generation}");
        let added: Value = response.json().await.expect("json");
        assert_eq!(added.as_array().map(Vec::len), Some(1), "{added}");
        assert_eq!(added[0]["channel"], "EMAIL");
        assert_eq!(added[0]["status"], "QUEUED");
        assert_eq!(added[0]["generation"], generation);
    }
    assert_eq!(delivery::deliver_due(&notifier).await.expect("deliver"), 1);
    let response = app
        .post_as(&user.access_token, &resend_path, &json!({}))
        .await;
    assert_eq!(response.status(), 409);
    assert!(
        problem(response).await["detail"]
            .as_str()
            .is_some_and(|d| d.contains("3 times")),
    );

    // Every attempt is kept, each with the status it ended with.
    let deliveries = email_deliveries(&app, &user, &id).await;
    let generations: Vec<_> = deliveries.iter().map(|d| d["generation"].clone()).collect();
    assert_eq!(generations, [json!(0), json!(1), json!(2), json!(3)]);
    assert!(deliveries.iter().all(|d| d["status"] == "UNDELIVERED"));

    // An in-app notification has nothing to resend; another user's is not found.
    let in_app = send_test(&app, &user, "IN_APP").await;
    let response = app
        .post_as(
            &user.access_token,
            &format!("/notifications/{in_app}/resend"),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 409);
    let stranger = app.login_as("USER").await;
    let response = app
        .post_as(&stranger.access_token, &resend_path, &json!({}))
        .await;
    assert_eq!(response.status(), 404);
}
