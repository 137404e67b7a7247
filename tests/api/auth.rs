//! Accounts and tokens: register, login, refresh rotation and reuse, logout, password
//! change, `/auth/me`, and every kind of bad access token.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TEST_JWT_SECRET, TestApp, problem, spawn_app, unique_email};

#[tokio::test]
async fn register_returns_the_user_and_a_working_token_pair() {
    let app = spawn_app().await;
    let email = unique_email("ada");
    let response = app
        .post_json(
            "/auth/register",
            &json!({ "email": email, "password": PASSWORD, "name": "Ada", "role": "SUPER_ADMIN" }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"]["name"], "Ada");
    // A role in the body changes nothing.
    assert_eq!(body["user"]["role"], "USER");
    assert!(body["user"].get("password_hash").is_none());
    assert_ne!(body["access_token"], body["refresh_token"]);

    let me = app
        .get_as(body["access_token"].as_str().expect("token"), "/auth/me")
        .await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["id"], body["user"]["id"]);
}

#[tokio::test]
async fn register_refuses_weak_passwords_and_bad_fields_naming_them() {
    let app = spawn_app().await;
    for (password, reason) in [
        ("short1!", "at least 8"),
        ("password123", "common"),
        ("Qwertyuiop", "common"),
    ] {
        let response = app
            .post_json(
                "/auth/register",
                &json!({ "email": unique_email("w"), "password": password, "name": "W" }),
            )
            .await;
        assert_eq!(response.status(), 422, "{password}");
        let body = problem(response).await;
        assert_eq!(body["errors"][0]["field"], "password");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .expect("msg")
                .contains(reason),
            "{body}"
        );
    }
    let long = "x".repeat(129);
    let response = app
        .post_json(
            "/auth/register",
            &json!({ "email": unique_email("w"), "password": long, "name": "W" }),
        )
        .await;
    assert_eq!(response.status(), 422);
    let response = app
        .post_json(
            "/auth/register",
            &json!({ "email": "not-an-email", "password": PASSWORD, "name": "" }),
        )
        .await;
    let body = problem(response).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["email", "name"]);
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_in_any_letter_case() {
    let app = spawn_app().await;
    let email = unique_email("dup");
    app.register(&email, PASSWORD).await;
    let response = app
        .post_json(
            "/auth/register",
            &json!({ "email": email.to_uppercase(), "password": PASSWORD, "name": "Dup" }),
        )
        .await;
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn unicode_passwords_are_kept_whole_and_never_truncated() {
    let app = spawn_app().await;
    let email = unique_email("uni");
    let password = format!("Ünïcødé-пароль-密码-{}", "z".repeat(100));
    app.register(&email, &password).await;
    assert_eq!(app.login(&email, &password).await.status(), 200);
    // A prefix of the password, or another normalisation of it, is wrong.
    let prefix: String = password.chars().take(72).collect();
    assert_eq!(app.login(&email, &prefix).await.status(), 401);
    let decomposed = password.replace('Ü', "U\u{308}");
    assert_eq!(app.login(&email, &decomposed).await.status(), 401);
}

#[tokio::test]
async fn login_failures_say_nothing_about_whether_the_email_exists() {
    let app = spawn_app().await;
    let email = unique_email("known");
    app.register(&email, PASSWORD).await;

    let ok = app.login(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.expect("json");
    assert_eq!(body["user"]["email"], email);

    let wrong_password = app.login(&email, "wrong password here").await;
    let unknown_email = app
        .login(&unique_email("nobody"), "wrong password here")
        .await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), 401);
    let mut a = problem(wrong_password).await;
    let mut b = problem(unknown_email).await;
    a.as_object_mut().expect("object").remove("request_id");
    b.as_object_mut().expect("object").remove("request_id");
    assert_eq!(a, b);
    assert_eq!(a["code"], "INVALID_CREDENTIALS");

    let events: Vec<(String, Option<uuid::Uuid>)> = sqlx::query_as(
        "SELECT kind, user_id FROM security_events WHERE kind = 'login_failed' ORDER BY created_at",
    )
    .fetch_all(&app.db)
    .await
    .expect("events");
    assert_eq!(events.len(), 2);
    assert!(
        events[0].1.is_some(),
        "the known account's failure names it"
    );
    assert!(events[1].1.is_none());
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = spawn_app().await;
    let (user, access1, refresh1) = app.register(&unique_email("rot"), PASSWORD).await;

    let response = app
        .post_json("/auth/refresh", &json!({ "refresh_token": refresh1 }))
        .await;
    assert_eq!(response.status(), 200);
    let pair2: Value = response.json().await.expect("json");
    let refresh2 = pair2["refresh_token"].as_str().expect("refresh").to_owned();
    let access2 = pair2["access_token"].as_str().expect("access").to_owned();
    assert_ne!(refresh2, refresh1);
    assert_eq!(pair2["user"]["id"], user["id"]);
    assert_eq!(app.get_as(&access2, "/auth/me").await.status(), 200);

    // The rotated token is presented again: the family dies.
    let reuse = app
        .post_json("/auth/refresh", &json!({ "refresh_token": refresh1 }))
        .await;
    assert_eq!(reuse.status(), 401);
    let after = app
        .post_json("/auth/refresh", &json!({ "refresh_token": refresh2 }))
        .await;
    assert_eq!(
        after.status(),
        401,
        "the newest token of the family is revoked too"
    );
    assert_eq!(app.get_as(&access2, "/auth/me").await.status(), 401);
    assert_eq!(app.get_as(&access1, "/auth/me").await.status(), 401);

    let (kind, user_id): (String, uuid::Uuid) = sqlx::query_as(
        "SELECT kind, user_id FROM security_events WHERE kind = 'refresh_token_reused'",
    )
    .fetch_one(&app.db)
    .await
    .expect("a reuse event");
    assert_eq!(kind, "refresh_token_reused");
    assert_eq!(user_id.to_string(), user["id"].as_str().expect("id"));

    // Another session of the same user is untouched.
    let other = app
        .login(user["email"].as_str().expect("email"), PASSWORD)
        .await;
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn unknown_and_expired_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    let (_, _, refresh) = app.register(&unique_email("exp"), PASSWORD).await;
    let unknown = app
        .post_json("/auth/refresh", &json!({ "refresh_token": "not-a-token" }))
        .await;
    assert_eq!(unknown.status(), 401);
    sqlx::query("UPDATE sessions SET idle_expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .expect("expire");
    let idle = app
        .post_json("/auth/refresh", &json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(idle.status(), 401);
}

#[tokio::test]
async fn logout_ends_this_session_or_all_of_them() {
    let app = spawn_app().await;
    let email = unique_email("out");
    let (_, access_a, refresh_a) = app.register(&email, PASSWORD).await;
    let b: Value = app
        .login(&email, PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let access_b = b["access_token"].as_str().expect("token").to_owned();
    let c: Value = app
        .login(&email, PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let access_c = c["access_token"].as_str().expect("token").to_owned();

    let response = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(&access_a)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 204);
    assert_eq!(app.get_as(&access_a, "/auth/me").await.status(), 401);
    let refresh = app
        .post_json("/auth/refresh", &json!({ "refresh_token": refresh_a }))
        .await;
    assert_eq!(refresh.status(), 401);
    assert_eq!(app.get_as(&access_b, "/auth/me").await.status(), 200);

    let all = app
        .post_as(&access_b, "/auth/logout", &json!({ "all": true }))
        .await;
    assert_eq!(all.status(), 204);
    assert_eq!(app.get_as(&access_b, "/auth/me").await.status(), 401);
    assert_eq!(app.get_as(&access_c, "/auth/me").await.status(), 401);
}

#[tokio::test]
async fn change_password_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let email = unique_email("chg");
    let (_, access_a, _) = app.register(&email, PASSWORD).await;
    let other: Value = app
        .login(&email, PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let other_access = other["access_token"].as_str().expect("token").to_owned();
    let other_refresh = other["refresh_token"].as_str().expect("token").to_owned();

    let wrong = app
        .post_as(
            &access_a,
            "/auth/change-password",
            &json!({ "current_password": "not my password", "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(wrong.status(), 422);
    assert_eq!(
        problem(wrong).await["errors"][0]["field"],
        "current_password"
    );
    let weak = app
        .post_as(
            &access_a,
            "/auth/change-password",
            &json!({ "current_password": PASSWORD, "new_password": "password1" }),
        )
        .await;
    assert_eq!(problem(weak).await["errors"][0]["field"], "new_password");

    let response = app
        .post_as(
            &access_a,
            "/auth/change-password",
            &json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let fresh: Value = response.json().await.expect("json");
    let fresh_access = fresh["access_token"].as_str().expect("token");
    assert_eq!(app.get_as(fresh_access, "/auth/me").await.status(), 200);
    // Every token issued before carries the old token version.
    assert_eq!(app.get_as(&access_a, "/auth/me").await.status(), 401);
    assert_eq!(app.get_as(&other_access, "/auth/me").await.status(), 401);
    let refresh = app
        .post_json("/auth/refresh", &json!({ "refresh_token": other_refresh }))
        .await;
    assert_eq!(refresh.status(), 401);
    let refresh = app
        .post_json(
            "/auth/refresh",
            &json!({ "refresh_token": fresh["refresh_token"] }),
        )
        .await;
    assert_eq!(refresh.status(), 200, "this session lives on");

    assert_eq!(app.login(&email, PASSWORD).await.status(), 401);
    assert_eq!(
        app.login(&email, "a brand new passphrase").await.status(),
        200
    );
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM security_events WHERE kind = 'password_changed'")
            .fetch_one(&app.db)
            .await
            .expect("count");
    assert_eq!(events, 1);
}

/// The claims of a real access token, to forge variants of it.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.get_as(token, "/auth/me").await.status().as_u16()
}

#[tokio::test]
async fn every_kind_of_bad_access_token_is_a_401() {
    let app = spawn_app().await;
    let (user, access, refresh) = app.register(&unique_email("jwt"), PASSWORD).await;
    let claims = claims_of(&access);
    let now = chrono::Utc::now().timestamp();

    // Control: the same claims re-signed with the right key are accepted.
    assert_eq!(me_status(&app, &sign(&claims, TEST_JWT_SECRET)).await, 200);

    let with = |field: &str, value: Value| {
        let mut forged = claims.clone();
        forged[field] = value;
        sign(&forged, TEST_JWT_SECRET)
    };
    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let alg_none = format!("{header_none}.{body}.");
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .expect("sign");
    let cases = [
        ("alg none", alg_none),
        ("another algorithm", hs512),
        (
            "wrong key",
            sign(&claims, "another-secret-another-secret-0123456789"),
        ),
        ("expired", {
            let mut c = claims.clone();
            c["iat"] = json!(now - 7200);
            c["nbf"] = json!(now - 7200);
            c["exp"] = json!(now - 3600);
            sign(&c, TEST_JWT_SECRET)
        }),
        ("future nbf", with("nbf", json!(now + 3600))),
        ("wrong audience", with("aud", json!("someone-else"))),
        ("wrong issuer", with("iss", json!("evil"))),
        ("another kind", with("typ", json!("refresh"))),
        ("refresh token as access", refresh.clone()),
        (
            "another user's id",
            with("sub", json!(uuid::Uuid::new_v4())),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (name, token) in cases {
        assert_eq!(me_status(&app, &token).await, 401, "{name}");
    }
    let missing = app.get("/auth/me").await;
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let basic = app
        .client
        .get(app.url("/auth/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .expect("request");
    assert_eq!(basic.status(), 401);

    // Bumping the token version kills the token at once.
    sqlx::query("UPDATE users SET token_version = token_version + 1 WHERE id = $1::uuid")
        .bind(user["id"].as_str().expect("id"))
        .execute(&app.db)
        .await
        .expect("bump");
    assert_eq!(
        me_status(&app, &access).await,
        401,
        "token after version bump"
    );
}

#[tokio::test]
async fn two_simultaneous_uses_of_one_refresh_token_count_as_reuse() {
    let app = spawn_app().await;
    let (_, _, refresh) = app.register(&unique_email("race"), PASSWORD).await;
    let body = json!({ "refresh_token": refresh });
    let (a, b) = tokio::join!(
        app.post_json("/auth/refresh", &body),
        app.post_json("/auth/refresh", &body)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 401], "exactly one use wins the row lock");
    let winner: Value = if a.status() == 200 { a } else { b }
        .json()
        .await
        .expect("json");
    let next = app
        .post_json(
            "/auth/refresh",
            &json!({ "refresh_token": winner["refresh_token"] }),
        )
        .await;
    assert_eq!(next.status(), 401, "the loser's reuse revoked the family");
    let access = winner["access_token"].as_str().expect("token");
    assert_eq!(app.get_as(access, "/auth/me").await.status(), 401);
}

/// Asks `other` for `/auth/me` with `token` until it answers 401 (its cache drops the entry
/// when the change's notice arrives, however busy the machine) or 20 s pass.
async fn refused_on(other: &crate::helpers::Sibling, token: &str) -> u16 {
    let started = std::time::Instant::now();
    let mut status = 200;
    while started.elapsed() < std::time::Duration::from_secs(20) {
        status = other
            .client
            .get(format!("{}/auth/me", other.address))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    status
}

#[tokio::test]
async fn a_session_revoked_or_a_user_disabled_on_one_instance_is_refused_on_another() {
    let app = spawn_app().await;
    let other = app.spawn_sibling(&[]).await;
    let email = unique_email("elsewhere");
    let (_, access_a, _) = app.register(&email, PASSWORD).await;
    let b: Value = app
        .login(&email, PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let access_b = b["access_token"].as_str().expect("token").to_owned();
    let on_other = |token: String| {
        other
            .client
            .get(format!("{}/auth/me", other.address))
            .bearer_auth(token)
            .send()
    };
    // Both instances have both sessions cached.
    for token in [&access_a, &access_b] {
        assert_eq!(app.get_as(token, "/auth/me").await.status(), 200);
        assert_eq!(
            on_other(token.clone()).await.expect("request").status(),
            200
        );
        assert_eq!(
            on_other(token.clone()).await.expect("request").status(),
            200
        );
    }

    // Session B signed out from session A on this instance: refused here at once, and on
    // the other instance as soon as the notice arrives, while A stays valid on both.
    let sessions = app.get_json_as(&access_a, "/sessions").await;
    let b_id = sessions
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("session b")
        .to_owned();
    let revoke = app.delete_as(&access_a, &format!("/sessions/{b_id}")).await;
    assert_eq!(revoke.status(), 204);
    assert_eq!(app.get_as(&access_b, "/auth/me").await.status(), 401);
    assert_eq!(
        refused_on(&other, &access_b).await,
        401,
        "the other instance still accepted the revoked session after 20 s"
    );
    assert_eq!(
        on_other(access_a.clone()).await.expect("request").status(),
        200
    );

    // The account disabled by an admin on this instance: its last session is refused on
    // the other instance too.
    let admin = app.login_as("ADMIN").await;
    let me = app.get_json_as(&access_a, "/auth/me").await;
    let user_id: uuid::Uuid = me["id"].as_str().expect("id").parse().expect("uuid");
    app.set_user_status(&admin.access_token, user_id, "disabled")
        .await;
    assert_eq!(app.get_as(&access_a, "/auth/me").await.status(), 401);
    assert_eq!(
        refused_on(&other, &access_a).await,
        401,
        "the other instance still accepted a disabled user's token after 20 s"
    );
}
