//! Attacks on accounts and their defences: a password change revokes what a thief may hold
//! (other sessions, API keys, on every instance), guessing the current password through
//! `change-password` meets the login rate limit, and an IPv6 client cannot dodge the limit
//! by rotating through its /64.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, problem, problem_fields, spawn_app, spawn_app_with, unique_email,
};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn key_status_on(client: &reqwest::Client, base: &str, key: &str) -> u16 {
    client
        .get(format!("{base}/api/v1/me"))
        .header("x-api-key", key)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

/// Polls until `key` is refused on `base`, for at most 20 s (well inside the minute an
/// instance caches a key, so only the revocation notice can refuse it); the last status.
async fn refused_soon(client: &reqwest::Client, base: &str, key: &str) -> u16 {
    let started = Instant::now();
    let mut status = key_status_on(client, base, key).await;
    while status != 401 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        status = key_status_on(client, base, key).await;
    }
    status
}

#[tokio::test]
async fn a_thief_holding_a_session_and_api_keys_loses_them_all_when_the_owner_changes_the_password()
{
    let app = spawn_app().await;
    let sibling = app.spawn_sibling(&[]).await;
    let owner = app.login_as("USER").await;
    // The thief signed in with the leaked password and made two keys for later.
    let thief: Value = app
        .login(&owner.email, PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let thief_access = thief["access_token"].as_str().expect("token");
    let first = app.create_api_key(thief_access, &["tasks:read"]).await;
    let second = app.create_api_key(thief_access, &["tasks:execute"]).await;
    let keys = [
        first["key"].as_str().expect("key"),
        second["key"].as_str().expect("key"),
    ];
    // Both instances have the keys cached.
    for key in keys {
        assert_eq!(app.get_with_key(key, "/api/v1/me").await.status(), 200);
        assert_eq!(
            key_status_on(&sibling.client, &sibling.address, key).await,
            200
        );
    }

    let changed = app
        .change_password(&owner.access_token, PASSWORD, NEW_PASSWORD, json!({}))
        .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.expect("json");
    assert_eq!(changed["revoked_sessions"], 1);
    let mut listed: Vec<(String, String, String)> = changed["revoked_api_keys"]
        .as_array()
        .expect("revoked_api_keys")
        .iter()
        .map(|k| {
            (
                k["id"].as_str().expect("id").to_owned(),
                k["name"].as_str().expect("name").to_owned(),
                k["prefix"].as_str().expect("prefix").to_owned(),
            )
        })
        .collect();
    listed.sort();
    let mut expected: Vec<(String, String, String)> = [&first, &second]
        .iter()
        .map(|k| {
            (
                k["id"].as_str().expect("id").to_owned(),
                k["name"].as_str().expect("name").to_owned(),
                k["prefix"].as_str().expect("prefix").to_owned(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(changed.get("key").is_none() && !changed.to_string().contains(keys[0]));

    // This instance refuses the keys at once, the other as soon as the notice arrives.
    for key in keys {
        assert_eq!(app.get_with_key(key, "/api/v1/me").await.status(), 401);
        assert_eq!(
            refused_soon(&sibling.client, &sibling.address, key).await,
            401,
            "the other instance still accepted a revoked key after 20 s"
        );
    }
    // The thief's session is over; the owner's goes on with the new tokens.
    assert_eq!(app.get_as(thief_access, "/auth/me").await.status(), 401);
    let owners = changed["access_token"].as_str().expect("access_token");
    assert_eq!(app.get_as(owners, "/auth/me").await.status(), 200);
    let keys_left: Value = app.get_json_as(owners, "/api-keys").await;
    assert_eq!(keys_left, json!([]));
}

#[tokio::test]
async fn a_password_change_may_keep_the_api_keys_when_asked() {
    let app = spawn_app().await;
    let owner = app.login_as("USER").await;
    let created = app
        .create_api_key(&owner.access_token, &["tasks:read"])
        .await;
    let key = created["key"].as_str().expect("key");
    assert_eq!(app.get_with_key(key, "/api/v1/me").await.status(), 200);
    let changed = app
        .change_password(
            &owner.access_token,
            PASSWORD,
            NEW_PASSWORD,
            json!({ "keep_api_keys": true }),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.expect("json");
    assert_eq!(changed["revoked_sessions"], 0);
    assert_eq!(changed["revoked_api_keys"], json!([]));
    assert_eq!(app.get_with_key(key, "/api/v1/me").await.status(), 200);
    // A malformed flag is a 422 naming it, not a 500.
    let bad = app
        .change_password(
            changed["access_token"].as_str().expect("token"),
            NEW_PASSWORD,
            PASSWORD,
            json!({ "keep_api_keys": "yes" }),
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(problem_fields(&problem(bad).await), ["keep_api_keys"]);
}

async fn wrong_guess(app: &TestApp, token: &str, forwarded: &str) -> u16 {
    app.client
        .post(app.url("/auth/change-password"))
        .bearer_auth(token)
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "current_password": "guess guess guess", "new_password": NEW_PASSWORD }))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn guessing_the_current_password_through_change_password_is_rate_limited() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1"),
        ("AUTH_RATE_LIMIT_BURST", "3"),
    ])
    .await;
    let email = unique_email("victim");
    // Registered from another address, so 198.51.100.1's budget is whole.
    let registered = app
        .client
        .post(app.url("/auth/register"))
        .header("x-forwarded-for", "203.0.113.50")
        .json(&json!({ "email": email, "password": PASSWORD, "name": "Vic" }))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let stolen: Value = registered.json().await.expect("json");
    let stolen = stolen["access_token"].as_str().expect("token");

    for _ in 0..3 {
        assert_eq!(wrong_guess(&app, stolen, "198.51.100.1").await, 422);
    }
    assert_eq!(wrong_guess(&app, stolen, "198.51.100.1").await, 429);
    // Moving to fresh addresses does not buy more guesses on this account.
    assert_eq!(wrong_guess(&app, stolen, "198.51.100.2").await, 429);
    let limited = app
        .client
        .post(app.url("/auth/change-password"))
        .bearer_auth(stolen)
        .header("x-forwarded-for", "198.51.100.3")
        .json(&json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }))
        .send()
        .await
        .expect("request");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(problem(limited).await["code"], "RATE_LIMITED");
    // The password did not change.
    assert_eq!(
        app.login_forwarded_for("198.51.100.4", &email, PASSWORD)
            .await
            .status(),
        200
    );
}

async fn failed_login_from(app: &TestApp, client: &str) -> u16 {
    app.login_forwarded_for(client, &unique_email("nobody"), "wrong password")
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn rotating_through_an_ipv6_64_buys_no_fresh_login_budget() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1"),
        ("AUTH_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    assert_eq!(failed_login_from(&app, "2001:db8:aa:1::1").await, 401);
    assert_eq!(failed_login_from(&app, "2001:db8:aa:1::2").await, 401);
    // Another address of the same /64: the same, spent bucket.
    assert_eq!(
        failed_login_from(&app, "2001:db8:aa:1:ffff:ffff:ffff:fffe").await,
        429
    );
    assert_eq!(
        failed_login_from(&app, "[2001:db8:aa:1:1234::9]:443").await,
        429
    );
    // The next /64 is another client.
    assert_eq!(failed_login_from(&app, "2001:db8:aa:2::1").await, 401);
}

#[tokio::test]
async fn change_password_lists_no_keys_for_an_account_without_any() {
    let app = spawn_app().await;
    let owner = app.login_as("USER").await;
    let changed: Value = app
        .change_password(&owner.access_token, PASSWORD, NEW_PASSWORD, json!({}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(changed["revoked_api_keys"], json!([]));
    assert_eq!(changed["token_type"], "Bearer");
}
