//! API keys: issue, list, scopes, revoke (on this and on another instance), rotate, expiry,
//! and ownership.

use serde_json::{Value, json};

use crate::helpers::{problem, spawn_app};

#[tokio::test]
async fn a_key_is_shown_once_and_authenticates_on_api_v1() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let created = app
        .create_api_key(
            &user.access_token,
            &["tasks:read", "executions:read", "tasks:read"],
        )
        .await;
    let key = created["key"].as_str().expect("key");
    assert!(key.starts_with("nck_"));
    assert_eq!(key.len(), 42);
    assert!(key.starts_with(created["prefix"].as_str().expect("prefix")));
    assert_eq!(created["scopes"], json!(["tasks:read", "executions:read"]));

    let me = app.get_with_key(key, "/api/v1/me").await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["user_id"], user.id.to_string());
    assert_eq!(me["api_key_id"], created["id"]);
    assert_eq!(me["scopes"], json!(["tasks:read", "executions:read"]));
    let bearer = app.get_as(key, "/api/v1/me").await;
    assert_eq!(
        bearer.status(),
        200,
        "Authorization: Bearer nck_… works too"
    );

    // A signed-in user holds every scope on /api/v1.
    let as_user: Value = app
        .get_as(&user.access_token, "/api/v1/me")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(as_user["api_key_id"], Value::Null);
    // A signed-in user holds the whole catalogue, `secrets:use` and the notification
    // scopes included.
    let scopes = as_user["scopes"].as_array().expect("scopes");
    assert_eq!(scopes.len(), 8);
    assert!(scopes.contains(&json!("secrets:use")), "{scopes:?}");
    assert!(scopes.contains(&json!("notifications:read")), "{scopes:?}");

    let list: Vec<Value> = app
        .get_as(&user.access_token, "/api-keys")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list.len(), 1);
    assert!(list[0].get("key").is_none());
    assert!(!list[0].to_string().contains(&key[16..]));
    assert_eq!(list[0]["prefix"], created["prefix"]);

    // API keys do not sign in to the rest of the API.
    assert_eq!(app.get_as(key, "/auth/me").await.status(), 401);
    assert_eq!(app.get_with_key(key, "/api-keys").await.status(), 401);
}

#[tokio::test]
async fn last_used_is_recorded_without_a_write_per_request() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let created = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let key = created["key"].as_str().expect("key");
    for _ in 0..5 {
        assert_eq!(app.get_with_key(key, "/api/v1/me").await.status(), 200);
    }
    let mut last_used: Option<chrono::DateTime<chrono::Utc>> = None;
    for _ in 0..600 {
        last_used = sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1::uuid")
            .bind(created["id"].as_str().expect("id"))
            .fetch_one(&app.db)
            .await
            .expect("row");
        if last_used.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let first = last_used.expect("last_used_at was recorded");
    for _ in 0..3 {
        app.get_with_key(key, "/api/v1/me").await;
    }
    let list: Vec<Value> = app
        .get_as(&user.access_token, "/api-keys")
        .await
        .json()
        .await
        .expect("json");
    let listed: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(list[0]["last_used_at"].clone()).expect("timestamp");
    assert_eq!(listed, first, "written at most once a minute");
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403_and_unknown_scopes_are_refused() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let created = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let key = created["key"].as_str().expect("key");
    assert_eq!(
        app.get_with_key(key, "/api/v1/scopes/tasks:read")
            .await
            .status(),
        200
    );
    let denied = app.get_with_key(key, "/api/v1/scopes/tasks:write").await;
    assert_eq!(denied.status(), 403);
    let body = problem(denied).await;
    assert_eq!(body["code"], "INSUFFICIENT_SCOPE");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("tasks:write")
    );
    assert_eq!(
        app.get_as(&user.access_token, "/api/v1/scopes/tasks:write")
            .await
            .status(),
        200
    );

    let unknown = app
        .post_as(
            &user.access_token,
            "/api-keys",
            &json!({ "name": "x", "scopes": ["tasks:read", "tasks:delete"] }),
        )
        .await;
    assert_eq!(unknown.status(), 422);
    assert_eq!(problem(unknown).await["errors"][0]["field"], "scopes[1]");
    let empty = app
        .post_as(
            &user.access_token,
            "/api-keys",
            &json!({ "name": "x", "scopes": [] }),
        )
        .await;
    assert_eq!(problem(empty).await["errors"][0]["field"], "scopes");
    let past = app
        .post_as(
            &user.access_token,
            "/api-keys",
            &json!({ "name": "x", "scopes": ["tasks:read"], "expires_at": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(problem(past).await["errors"][0]["field"], "expires_at");
}

#[tokio::test]
async fn revoked_expired_tampered_and_unknown_keys_get_401() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let created = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let key = created["key"].as_str().expect("key").to_owned();
    assert_eq!(app.get_with_key(&key, "/api/v1/me").await.status(), 200);

    let revoke = app
        .delete_as(
            &user.access_token,
            &format!("/api-keys/{}", created["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(revoke.status(), 204);
    let after = app.get_with_key(&key, "/api/v1/me").await;
    assert_eq!(after.status(), 401, "revoked keys stop at the next request");
    assert!(
        problem(after).await["detail"]
            .as_str()
            .expect("detail")
            .contains("revoked")
    );

    // A key that expires ten seconds from now (far longer than the next request takes)
    // works until then, and not after.
    let expiring = app
        .post_as(
            &user.access_token,
            "/api-keys",
            &json!({ "name": "short", "scopes": ["tasks:read"],
                     "expires_at": (chrono::Utc::now() + chrono::Duration::seconds(10)).to_rfc3339() }),
        )
        .await;
    let expiring: Value = expiring.json().await.expect("json");
    let expiring_key = expiring["key"].as_str().expect("key");
    assert_eq!(
        app.get_with_key(expiring_key, "/api/v1/me").await.status(),
        200
    );
    let mut status = 200;
    for _ in 0..600 {
        status = app
            .get_with_key(expiring_key, "/api/v1/me")
            .await
            .status()
            .as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, 401, "expired key");

    let mut tampered = expiring_key.to_owned().into_bytes();
    tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    assert_eq!(
        app.get_with_key(&tampered, "/api/v1/me").await.status(),
        401
    );
    assert_eq!(
        app.get_with_key("nck_unknown", "/api/v1/me").await.status(),
        401
    );
    assert_eq!(app.get("/api/v1/me").await.status(), 401);
}

#[tokio::test]
async fn a_revoke_on_one_instance_applies_on_another_without_waiting_for_its_cache() {
    let app = spawn_app().await;
    let other = app.spawn_sibling(&[]).await;
    let user = app.login_as("USER").await;
    let created = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let key = created["key"].as_str().expect("key");
    let on_other = || {
        other
            .client
            .get(format!("{}/api/v1/me", other.address))
            .header("x-api-key", key)
            .send()
    };
    // The other instance now has the key cached.
    assert_eq!(on_other().await.expect("request").status(), 200);
    assert_eq!(on_other().await.expect("request").status(), 200);

    let revoked_at = std::time::Instant::now();
    let revoke = app
        .delete_as(
            &user.access_token,
            &format!("/api-keys/{}", created["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(revoke.status(), 204);
    // The other instance caches keys for a minute, so only the revocation notice can
    // refuse the key this soon; how soon depends on the machine, not on a timer.
    let mut status = 200;
    while revoked_at.elapsed() < std::time::Duration::from_secs(20) {
        status = on_other().await.expect("request").status().as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        status, 401,
        "the other instance still accepted the key after 20 s"
    );
}

#[tokio::test]
async fn rotating_replaces_the_secret_at_once() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let created = app
        .create_api_key(&user.access_token, &["tasks:execute"])
        .await;
    let old = created["key"].as_str().expect("key");
    assert_eq!(app.get_with_key(old, "/api/v1/me").await.status(), 200);
    let response = app
        .post_as(
            &user.access_token,
            &format!("/api-keys/{}/rotate", created["id"].as_str().expect("id")),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.expect("json");
    let new = rotated["key"].as_str().expect("key");
    assert_ne!(new, old);
    assert_eq!(rotated["id"], created["id"]);
    assert_eq!(rotated["scopes"], json!(["tasks:execute"]));
    assert_eq!(app.get_with_key(old, "/api/v1/me").await.status(), 401);
    assert_eq!(app.get_with_key(new, "/api/v1/me").await.status(), 200);
}

#[tokio::test]
async fn another_users_key_is_not_found() {
    let app = spawn_app().await;
    let alice = app.login_as("USER").await;
    let bob = app.login_as("USER").await;
    let bobs = app.create_api_key(&bob.access_token, &["tasks:read"]).await;
    let id = bobs["id"].as_str().expect("id");
    assert_eq!(
        app.delete_as(&alice.access_token, &format!("/api-keys/{id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.post_as(
            &alice.access_token,
            &format!("/api-keys/{id}/rotate"),
            &json!({})
        )
        .await
        .status(),
        404
    );
    let listed: Vec<Value> = app
        .get_as(&alice.access_token, "/api-keys")
        .await
        .json()
        .await
        .expect("json");
    assert!(listed.is_empty());
    let key = bobs["key"].as_str().expect("key");
    assert_eq!(app.get_with_key(key, "/api/v1/me").await.status(), 200);
}
