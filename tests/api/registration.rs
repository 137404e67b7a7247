//! Registration with email verification against a real SMTP server: the same 202 for new and
//! taken emails, the token read out of the received mail, single use, expiry, and a pending
//! address that signs in exactly like an unknown one.

use serde_json::{Value, json};

use crate::{
    email::SmtpSink,
    helpers::{PASSWORD, TestApp, problem, spawn_app_with, unique_email},
};

async fn app_with_smtp(sink: &SmtpSink) -> TestApp {
    let url = format!("smtp://127.0.0.1:{}", sink.port);
    spawn_app_with(&[
        ("SMTP_URL", &url),
        ("SMTP_FROM", "Nocron <noreply@nocron.example>"),
        ("REGISTRATION_EMAIL_VERIFICATION", "true"),
    ])
    .await
}

async fn register(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/auth/register",
        &json!({ "email": email, "password": password, "name": "Ann Lee" }),
    )
    .await
}

/// The mail's recipients, subject and (decoded) text.
struct Mail {
    to: Vec<String>,
    subject: String,
    text: String,
}

async fn next_mail(sink: &mut SmtpSink) -> Mail {
    let received = sink.received().await;
    let data = received["data"].as_str().expect("data").to_owned();
    let (headers, body) = data.split_once("\r\n\r\n").expect("headers and body");
    let subject = headers
        .lines()
        .find_map(|line| line.strip_prefix("Subject: "))
        .expect("subject")
        .to_owned();
    // Plain ASCII lines under 78 characters travel as 7bit: the body is the text.
    assert!(
        !headers.contains("Content-Transfer-Encoding: quoted-printable")
            && !headers.contains("Content-Transfer-Encoding: base64"),
        "{headers}"
    );
    Mail {
        to: received["rcpt_tos"]
            .as_array()
            .expect("rcpt")
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        subject,
        text: body.replace("\r\n", "\n"),
    }
}

fn token_in(mail: &Mail) -> String {
    let token = mail
        .text
        .lines()
        .find_map(|line| line.strip_prefix("Verification token: "))
        .unwrap_or_else(|| panic!("no token in {}", mail.text))
        .trim()
        .to_owned();
    // 256 random bits, base64url.
    assert_eq!(token.len(), 43, "{token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    token
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/auth/verify-email", &json!({ "token": token }))
        .await
}

#[tokio::test]
async fn registering_answers_the_same_for_new_and_taken_emails_and_the_mail_tells_them_apart() {
    let mut sink = SmtpSink::start(&[]).await;
    let app = app_with_smtp(&sink).await;
    let email = unique_email("ann");

    let first = register(&app, &email, PASSWORD).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("json");
    assert_eq!(first, json!({ "status": "verification_sent" }));
    let mail = next_mail(&mut sink).await;
    assert_eq!(mail.to, std::slice::from_ref(&email));
    assert_eq!(mail.subject, "Confirm your email address");
    let token = token_in(&mail);

    // Pending: no account yet, so signing in is exactly what an unknown email gets.
    let pending = app.login(&email, PASSWORD).await;
    let unknown = app.login(&unique_email("nobody"), PASSWORD).await;
    assert_eq!(
        (pending.status().as_u16(), unknown.status().as_u16()),
        (401, 401)
    );
    let (mut pending, mut unknown) = (problem(pending).await, problem(unknown).await);
    for problem in [&mut pending, &mut unknown] {
        problem["request_id"] = Value::Null;
    }
    assert_eq!(pending, unknown);

    // The token creates the account; signing in is a separate step, with the password.
    let verified = verify(&app, &token).await;
    assert_eq!(verified.status(), 200);
    let verified: Value = verified.json().await.expect("json");
    assert_eq!(verified, json!({ "verified": true, "email": email }));
    let signed_in = app.login(&email, PASSWORD).await;
    assert_eq!(signed_in.status(), 200);
    let signed_in: Value = signed_in.json().await.expect("json");
    assert_eq!(signed_in["user"]["name"], "Ann Lee");
    let access = signed_in["access_token"].as_str().expect("access token");
    let me: Value = app
        .get_as(access, "/auth/me")
        .await
        .json()
        .await
        .expect("me");
    assert_eq!(me["email"], email);

    // Once only.
    let again = verify(&app, &token).await;
    assert_eq!(again.status(), 422);
    assert_eq!(problem(again).await["errors"][0]["field"], "token");

    // The taken email gets the very same answer; its owner gets a notice, not a token.
    let taken = register(&app, &email, "another good passphrase").await;
    assert_eq!(taken.status(), 202);
    let taken: Value = taken.json().await.expect("json");
    assert_eq!(taken, first);
    let notice = next_mail(&mut sink).await;
    assert_eq!(notice.to, std::slice::from_ref(&email));
    assert_eq!(
        notice.subject,
        "Someone tried to register with your address"
    );
    assert!(!notice.text.contains("Verification token"));
    // The existing password still works and nothing is pending.
    assert_eq!(app.login(&email, PASSWORD).await.status(), 200);
    let pending_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM pending_registrations")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(pending_rows, 0);
}

#[tokio::test]
async fn pre_hijack_the_victims_click_on_the_attackers_registration_starts_no_session() {
    let mut sink = SmtpSink::start(&[]).await;
    let app = app_with_smtp(&sink).await;
    let victim = unique_email("victim");
    let attackers_password = "attacker chose this passphrase";
    // The attacker registers the victim's address with a password of their own.
    assert_eq!(
        register(&app, &victim, attackers_password).await.status(),
        202
    );
    // The victim finds the mail in their mailbox and follows it.
    let token = token_in(&next_mail(&mut sink).await);
    let clicked = verify(&app, &token).await;
    assert_eq!(clicked.status(), 200);
    let clicked: Value = clicked.json().await.expect("json");
    assert_eq!(clicked, json!({ "verified": true, "email": victim }));
    for field in ["access_token", "refresh_token", "user", "token_type"] {
        assert!(clicked.get(field).is_none(), "the click handed out {field}");
    }
    let sessions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1",
    )
    .bind(&victim)
    .fetch_one(&app.db)
    .await
    .expect("count");
    assert_eq!(sessions, 0, "verifying started a session");
    // Only the password opens the account.
    assert_eq!(app.login(&victim, PASSWORD).await.status(), 401);
    let signed_in = app.login(&victim, attackers_password).await;
    assert_eq!(signed_in.status(), 200);
    let signed_in: Value = signed_in.json().await.expect("json");
    assert!(signed_in["access_token"].is_string());
}

#[tokio::test]
async fn pending_registrations_store_neither_the_password_nor_the_token() {
    let mut sink = SmtpSink::start(&[]).await;
    let app = app_with_smtp(&sink).await;
    let email = unique_email("bob");
    assert_eq!(register(&app, &email, PASSWORD).await.status(), 202);
    let token = token_in(&next_mail(&mut sink).await);
    let (password_hash, token_hash, ttl): (String, Vec<u8>, f64) = sqlx::query_as(
        "SELECT password_hash, token_hash, extract(epoch FROM expires_at - created_at)::float8
         FROM pending_registrations WHERE email = $1",
    )
    .bind(&email)
    .fetch_one(&app.db)
    .await
    .expect("pending row");
    assert!(password_hash.starts_with("$argon2id$"), "{password_hash}");
    assert!(!password_hash.contains(PASSWORD));
    assert_eq!(token_hash.len(), 32, "a SHA-256");
    assert!(!String::from_utf8_lossy(&token_hash).contains(&token));
    assert!(
        (86_390.0..86_410.0).contains(&ttl),
        "24 h by default: {ttl}"
    );
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(users, 0, "no account before verification");
}

#[tokio::test]
async fn each_attempt_has_its_own_token_and_the_first_one_used_wins() {
    let mut sink = SmtpSink::start(&[]).await;
    let app = app_with_smtp(&sink).await;
    let email = unique_email("carol");
    assert_eq!(register(&app, &email, PASSWORD).await.status(), 202);
    let owners = token_in(&next_mail(&mut sink).await);
    // A stranger registering the same address does not void the owner's token.
    assert_eq!(
        register(&app, &email, "strangers own passphrase")
            .await
            .status(),
        202
    );
    let strangers = token_in(&next_mail(&mut sink).await);
    assert_ne!(owners, strangers);

    assert_eq!(verify(&app, &owners).await.status(), 200);
    // The other attempt died with it.
    assert_eq!(verify(&app, &strangers).await.status(), 422);
    assert_eq!(app.login(&email, PASSWORD).await.status(), 200);
    assert_eq!(
        app.login(&email, "strangers own passphrase").await.status(),
        401
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_and_cleaned_up() {
    let mut sink = SmtpSink::start(&[]).await;
    let app = app_with_smtp(&sink).await;
    let email = unique_email("dave");
    assert_eq!(register(&app, &email, PASSWORD).await.status(), 202);
    let token = token_in(&next_mail(&mut sink).await);
    sqlx::query("UPDATE pending_registrations SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .expect("expire");
    let expired = verify(&app, &token).await;
    assert_eq!(expired.status(), 422);
    assert_eq!(problem(expired).await["errors"][0]["field"], "token");
    let removed = nocron::auth::verification::delete_expired(&app.db)
        .await
        .expect("cleanup");
    assert_eq!(removed, 1);
    assert_eq!(app.login(&email, PASSWORD).await.status(), 401);
}

#[tokio::test]
async fn bad_registration_input_is_refused_before_anything_is_mailed() {
    let mut sink = SmtpSink::start(&[]).await;
    let app = app_with_smtp(&sink).await;
    let weak = register(&app, &unique_email("eve"), "password").await;
    assert_eq!(weak.status(), 422);
    assert_eq!(problem(weak).await["errors"][0]["field"], "password");
    let bad_token = verify(&app, "").await;
    assert_eq!(bad_token.status(), 422);
    // The next mail is for the next valid registration, not for the refused one.
    let email = unique_email("frank");
    assert_eq!(register(&app, &email, PASSWORD).await.status(), 202);
    assert_eq!(next_mail(&mut sink).await.to, [email]);
}
