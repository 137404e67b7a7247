//! `/users` and `/admin/roles`: visibility (another user's account is a 404), profile
//! updates, admin management, soft delete, and who may grant which role.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, problem, spawn_app, unique_email};

#[tokio::test]
async fn a_user_sees_and_changes_only_their_own_account() {
    let app = spawn_app().await;
    let alice = app.login_as("USER").await;
    let bob = app.login_as("USER").await;
    let bob_path = format!("/users/{}", bob.id);

    assert_eq!(
        app.get_as(&alice.access_token, &bob_path).await.status(),
        404
    );
    let patch = app
        .patch_as(
            &alice.access_token,
            &bob_path,
            &json!({ "name": "Mallory" }),
        )
        .await;
    assert_eq!(patch.status(), 404);
    assert_eq!(
        app.delete_as(&alice.access_token, &bob_path).await.status(),
        404
    );
    let unknown = format!("/users/{}", uuid::Uuid::new_v4());
    assert_eq!(
        app.get_as(&alice.access_token, &unknown).await.status(),
        404
    );
    assert_eq!(
        app.get_as(&alice.access_token, "/users").await.status(),
        403
    );
    let name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
        .bind(bob.id)
        .fetch_one(&app.db)
        .await
        .expect("name");
    assert_eq!(name, "Test User");

    let own = format!("/users/{}", alice.id);
    assert_eq!(app.get_as(&alice.access_token, &own).await.status(), 200);
}

#[tokio::test]
async fn self_updates_change_profile_fields_and_nothing_else() {
    let app = spawn_app().await;
    let alice = app.login_as("USER").await;
    let own = format!("/users/{}", alice.id);
    let response = app
        .patch_as(
            &alice.access_token,
            &own,
            &json!({
                "name": "Alice Liddell", "timezone": "Europe/Paris",
                "role": "SUPER_ADMIN", "id": uuid::Uuid::new_v4(), "owner_id": uuid::Uuid::new_v4(),
                "email": "evil@example.com"
            }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let (name, timezone, role, email): (String, Option<String>, String, String) =
        sqlx::query_as("SELECT name, timezone, role, email::text FROM users WHERE id = $1")
            .bind(alice.id)
            .fetch_one(&app.db)
            .await
            .expect("row");
    assert_eq!(name, "Alice Liddell");
    assert_eq!(timezone.as_deref(), Some("Europe/Paris"));
    assert_eq!(role, "USER");
    assert_eq!(email, alice.email);

    let cleared = app
        .patch_as(&alice.access_token, &own, &json!({ "timezone": null }))
        .await;
    let cleared: Value = cleared.json().await.expect("json");
    assert_eq!(cleared["timezone"], Value::Null);
    assert_eq!(cleared["name"], "Alice Liddell");

    let bad = app
        .patch_as(
            &alice.access_token,
            &own,
            &json!({ "timezone": "Mars/Olympus" }),
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(problem(bad).await["errors"][0]["field"], "timezone");
    let status = app
        .patch_as(&alice.access_token, &own, &json!({ "status": "disabled" }))
        .await;
    assert_eq!(status.status(), 403);
}

#[tokio::test]
async fn admins_list_users_with_filters_and_cursor_pages() {
    let app = spawn_app().await;
    let admin = app.login_as("ADMIN").await;
    for _ in 0..4 {
        app.login_as("USER").await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/users?limit=2&cursor={c}"),
            None => "/users?limit=2".to_owned(),
        };
        let page: Value = app
            .get_as(&admin.access_token, &path)
            .await
            .json()
            .await
            .expect("json");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|u| u["id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "no user appears on two pages");

    let admins: Value = app
        .get_as(&admin.access_token, "/users?role=ADMIN")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(admins["items"].as_array().expect("items").len(), 1);
    assert_eq!(admins["items"][0]["id"], admin.id.to_string());
    let by_email: Value = app
        .get_as(
            &admin.access_token,
            &format!("/users?email={}", &admin.email[..10]),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(by_email["items"].as_array().expect("items").len(), 1);
    let wildcard: Value = app
        .get_as(&admin.access_token, "/users?email=%25")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(wildcard["items"].as_array().expect("items").len(), 0);

    let bad = app.get_as(&admin.access_token, "/users?limit=0").await;
    assert_eq!(bad.status(), 422);
    let bad_role = app.get_as(&admin.access_token, "/users?role=ROOT").await;
    assert_eq!(bad_role.status(), 400);
    assert_eq!(problem(bad_role).await["errors"][0]["field"], "query.role");
}

#[tokio::test]
async fn disabling_an_account_ends_its_tokens_and_keys() {
    let app = spawn_app().await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let key = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let key = key["key"].as_str().expect("key");
    assert_eq!(app.get_with_key(key, "/api/v1/me").await.status(), 200);

    let response = app
        .patch_as(
            &admin.access_token,
            &format!("/users/{}", user.id),
            &json!({ "status": "disabled" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "disabled");
    assert_eq!(
        app.get_as(&user.access_token, "/auth/me").await.status(),
        401
    );
    assert_eq!(app.get_with_key(key, "/api/v1/me").await.status(), 401);
    let login = app.login(&user.email, PASSWORD).await;
    assert_eq!(login.status(), 403);

    let enabled = app
        .patch_as(
            &admin.access_token,
            &format!("/users/{}", user.id),
            &json!({ "status": "active" }),
        )
        .await;
    assert_eq!(enabled.status(), 200);
    assert_eq!(app.login(&user.email, PASSWORD).await.status(), 200);

    // An admin cannot disable another admin.
    let other_admin = app.login_as("ADMIN").await;
    let response = app
        .patch_as(
            &admin.access_token,
            &format!("/users/{}", other_admin.id),
            &json!({ "status": "disabled" }),
        )
        .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn deleting_an_account_revokes_sessions_and_keys_and_frees_the_email() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let key = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let key = key["key"].as_str().expect("key");
    let response = app
        .delete_as(&user.access_token, &format!("/users/{}", user.id))
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        app.get_as(&user.access_token, "/auth/me").await.status(),
        401
    );
    assert_eq!(app.get_with_key(key, "/api/v1/me").await.status(), 401);
    let refresh = app
        .post_json(
            "/auth/refresh",
            &json!({ "refresh_token": user.refresh_token }),
        )
        .await;
    assert_eq!(refresh.status(), 401);
    assert_eq!(app.login(&user.email, PASSWORD).await.status(), 401);
    let (status, live_sessions, live_keys): (String, i64, i64) = sqlx::query_as(
        "SELECT status,
                (SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL),
                (SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL)
         FROM users WHERE id = $1",
    )
    .bind(user.id)
    .fetch_one(&app.db)
    .await
    .expect("row");
    assert_eq!(
        (status.as_str(), live_sessions, live_keys),
        ("deleted", 0, 0)
    );
    app.register(&user.email, PASSWORD).await;
}

#[tokio::test]
async fn a_user_cannot_grant_itself_a_role() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    for role in ["ADMIN", "SUPER_ADMIN", "USER"] {
        let response = app
            .post_as(
                &user.access_token,
                &format!("/admin/roles/{}", user.id),
                &json!({ "role": role }),
            )
            .await;
        assert_eq!(response.status(), 403, "{role}");
    }
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("role");
    assert_eq!(role, "USER");
}

#[tokio::test]
async fn only_a_super_admin_grants_and_removes_admin_roles() {
    let app = spawn_app().await;
    let root = app.login_as("SUPER_ADMIN").await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let grant = |token: String, id: uuid::Uuid, role: &'static str| {
        let app = &app;
        async move {
            app.post_as(
                &token,
                &format!("/admin/roles/{id}"),
                &json!({ "role": role }),
            )
            .await
        }
    };

    let response = grant(admin.access_token.clone(), user.id, "ADMIN").await;
    assert_eq!(response.status(), 403);
    let response = grant(admin.access_token.clone(), admin.id, "SUPER_ADMIN").await;
    assert_eq!(response.status(), 403);
    let response = app
        .delete_as(
            &admin.access_token,
            &format!("/admin/roles/{}/SUPER_ADMIN", root.id),
        )
        .await;
    assert_eq!(response.status(), 403);

    let response = grant(root.access_token.clone(), user.id, "ADMIN").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["role"], "ADMIN");
    // The role change ends the user's old tokens.
    assert_eq!(
        app.get_as(&user.access_token, "/auth/me").await.status(),
        401
    );
    let relogin: Value = app
        .login(&user.email, PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let new_token = relogin["access_token"].as_str().expect("token");
    assert_eq!(app.get_as(new_token, "/users").await.status(), 200);

    let response = app
        .delete_as(
            &root.access_token,
            &format!("/admin/roles/{}/ADMIN", user.id),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["role"], "USER");
    let response = app
        .delete_as(
            &root.access_token,
            &format!("/admin/roles/{}/ADMIN", user.id),
        )
        .await;
    assert_eq!(response.status(), 404);
    let response = app
        .delete_as(
            &root.access_token,
            &format!("/admin/roles/{}/USER", user.id),
        )
        .await;
    assert_eq!(response.status(), 422);
    let response = app
        .delete_as(
            &root.access_token,
            &format!("/admin/roles/{}/ROOT", user.id),
        )
        .await;
    assert_eq!(response.status(), 400);

    let events: Vec<Value> = sqlx::query_scalar(
        "SELECT details FROM security_events WHERE kind = 'role_changed' AND user_id = $1
         ORDER BY created_at",
    )
    .bind(user.id)
    .fetch_all(&app.db)
    .await
    .expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["from"], "USER");
    assert_eq!(events[0]["to"], "ADMIN");
    assert_eq!(events[0]["by"], root.id.to_string());
}

#[tokio::test]
async fn the_last_super_admin_stays() {
    let app = spawn_app().await;
    let root = app.login_as("SUPER_ADMIN").await;
    let own = format!("/admin/roles/{}/SUPER_ADMIN", root.id);
    let response = app.delete_as(&root.access_token, &own).await;
    assert_eq!(response.status(), 409);
    let response = app
        .delete_as(&root.access_token, &format!("/users/{}", root.id))
        .await;
    assert_eq!(response.status(), 409);

    let second = app.login_as("SUPER_ADMIN").await;
    let response = app.delete_as(&root.access_token, &own).await;
    assert_eq!(response.status(), 200);
    let response = app
        .delete_as(
            &second.access_token,
            &format!("/admin/roles/{}/SUPER_ADMIN", second.id),
        )
        .await;
    assert_eq!(response.status(), 409);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'SUPER_ADMIN'")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

#[tokio::test]
async fn create_admin_bootstraps_a_super_admin_from_stdin() {
    use std::io::Write;
    let app = spawn_app().await;
    let email = unique_email("root");
    let run = |email: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nocron"))
            .args(["create-admin", "--email", email, "--password-stdin"])
            .env("DATABASE_URL", app.database.url())
            .env("NOCRON_ENV", "test")
            .env("JWT_SECRET", crate::helpers::TEST_JWT_SECRET)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run nocron create-admin");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .expect("write password");
        child.wait_with_output().expect("wait")
    };
    let output = run(&email);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let login: Value = app
        .login(&email, PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(login["user"]["role"], "SUPER_ADMIN");
    let again = run(&email);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // The password never appears in the output.
    assert!(!String::from_utf8_lossy(&output.stdout).contains(PASSWORD));
    let missing_flag = std::process::Command::new(env!("CARGO_BIN_EXE_nocron"))
        .args(["create-admin", "--email", &unique_email("x")])
        .output()
        .expect("run");
    assert!(!missing_flag.status.success());
}

#[tokio::test]
async fn admins_read_and_delete_users_but_only_super_admins_delete_admins() {
    let app = spawn_app().await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let other_admin = app.login_as("ADMIN").await;
    let path = format!("/users/{}", user.id);
    let read: Value = app
        .get_as(&admin.access_token, &path)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read["email"], user.email);
    assert_eq!(
        app.delete_as(&admin.access_token, &format!("/users/{}", other_admin.id))
            .await
            .status(),
        403
    );
    assert_eq!(
        app.delete_as(&admin.access_token, &path).await.status(),
        204
    );
    assert_eq!(app.get_as(&admin.access_token, &path).await.status(), 404);
    assert_eq!(
        app.get_as(&user.access_token, "/auth/me").await.status(),
        401
    );
    let (kind, by): (String, Value) =
        sqlx::query_as("SELECT kind, details->'by' FROM security_events WHERE user_id = $1")
            .bind(user.id)
            .fetch_one(&app.db)
            .await
            .expect("event");
    assert_eq!(kind, "user_deleted");
    assert_eq!(by, admin.id.to_string());
    let blank = app
        .patch_as(
            &admin.access_token,
            &format!("/users/{}", admin.id),
            &json!({ "name": "  " }),
        )
        .await;
    assert_eq!(problem(blank).await["errors"][0]["field"], "name");
}
