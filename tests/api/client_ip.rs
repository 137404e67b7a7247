//! The client address behind reverse proxies (`TRUSTED_PROXIES`): believed only from a
//! trusted peer, and then used by rate limits, sessions and security events.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, spawn_app_with, unique_email};

async fn login_from(
    app: &TestApp,
    forwarded: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login")
}

async fn session_ips(app: &TestApp, access: &str) -> Vec<String> {
    let list: Vec<Value> = app
        .get_as(access, "/sessions")
        .await
        .json()
        .await
        .expect("sessions");
    let mut ips: Vec<String> = list
        .iter()
        .map(|s| s["ip"].as_str().expect("ip").to_owned())
        .collect();
    ips.sort();
    ips
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_the_one_recorded_and_limited() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8"),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1"),
        ("AUTH_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    let user = app.login_as("USER").await;

    // The client forged the first hop; a second proxy (10.1.2.3) appended the real one.
    let forwarded = "192.0.2.66, 198.51.100.7, 10.1.2.3";
    let signed_in = login_from(&app, forwarded, &user.email, PASSWORD).await;
    assert_eq!(signed_in.status(), 200);
    assert_eq!(
        session_ips(&app, &user.access_token).await,
        ["127.0.0.1", "198.51.100.7"]
    );
    // Failed sign-ins are recorded under the client's address.
    let failed = login_from(&app, "203.0.113.9", &user.email, "not the password").await;
    assert_eq!(failed.status(), 401);
    let ip: String =
        sqlx::query_scalar("SELECT host(ip) FROM security_events WHERE kind = 'login_failed'")
            .fetch_one(&app.db)
            .await
            .expect("event");
    assert_eq!(ip, "203.0.113.9");

    // Each client has its own budget, although every request comes from the same proxy.
    assert_eq!(
        login_from(&app, forwarded, &user.email, PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(
        login_from(&app, forwarded, &user.email, PASSWORD)
            .await
            .status(),
        429
    );
    assert_eq!(
        login_from(&app, "203.0.113.9", &user.email, PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_forwarded_header_from_an_untrusted_peer_is_ignored() {
    // Only 10.0.0.0/8 is trusted: the test client (127.0.0.1) is not a proxy.
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "10.0.0.0/8"),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1"),
        ("AUTH_RATE_LIMIT_BURST", "3"),
    ])
    .await;
    let email = unique_email("spoof");
    // Registration uses one request of 127.0.0.1's budget.
    let (_, access, _) = app.register(&email, PASSWORD).await;
    let spoofed = login_from(&app, "198.51.100.7", &email, PASSWORD).await;
    assert_eq!(spoofed.status(), 200);
    assert_eq!(session_ips(&app, &access).await, ["127.0.0.1", "127.0.0.1"]);
    let failed = login_from(&app, "198.51.100.8", &email, "not the password").await;
    assert_eq!(failed.status(), 401);
    let ip: String =
        sqlx::query_scalar("SELECT host(ip) FROM security_events WHERE kind = 'login_failed'")
            .fetch_one(&app.db)
            .await
            .expect("event");
    assert_eq!(ip, "127.0.0.1");
    // A fresh forged address does not buy a fresh budget.
    let limited = login_from(&app, "198.51.100.9", &email, PASSWORD).await;
    assert_eq!(limited.status(), 429);
}
