//! `/sessions`: the device list, signing a device out, and the expired-session cleanup job.

use serde_json::Value;

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with, unique_email};

#[tokio::test]
async fn sessions_list_devices_and_mark_the_current_one() {
    let app = spawn_app().await;
    let email = unique_email("dev");
    let (_, phone_access, _) = app.register(&email, PASSWORD).await;
    let laptop = app
        .client
        .post(app.url("/auth/login"))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        )
        .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    let laptop: Value = laptop.json().await.expect("json");
    let laptop_access = laptop["access_token"].as_str().expect("token");

    let list: Vec<Value> = app
        .get_as(laptop_access, "/sessions")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list.len(), 2);
    let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device"], "Firefox on Linux");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    assert!(current[0]["created_at"].is_string() && current[0]["last_used_at"].is_string());

    let phone_id = list
        .iter()
        .find(|s| s["current"] == false)
        .expect("the other session")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let response = app
        .delete_as(laptop_access, &format!("/sessions/{phone_id}"))
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(app.get_as(&phone_access, "/auth/me").await.status(), 401);
    assert_eq!(app.get_as(laptop_access, "/auth/me").await.status(), 200);
    let again = app
        .delete_as(laptop_access, &format!("/sessions/{phone_id}"))
        .await;
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn another_users_session_is_not_found() {
    let app = spawn_app().await;
    let alice = app.login_as("USER").await;
    let bob = app.login_as("USER").await;
    let bobs: Vec<Value> = app
        .get_as(&bob.access_token, "/sessions")
        .await
        .json()
        .await
        .expect("json");
    let bob_session = bobs[0]["id"].as_str().expect("id");
    let response = app
        .delete_as(&alice.access_token, &format!("/sessions/{bob_session}"))
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        app.get_as(&bob.access_token, "/auth/me").await.status(),
        200
    );
    let malformed = app
        .delete_as(&alice.access_token, "/sessions/not-a-uuid")
        .await;
    assert_eq!(malformed.status(), 400);
}

#[tokio::test]
async fn the_cleanup_job_removes_expired_sessions_only() {
    // Every second, so the test can wait for a run.
    let app = spawn_app_with(&[("SESSION_CLEANUP_CRON", "* * * * * *")]).await;
    let live = app.login_as("USER").await;
    let expired = app.login_as("USER").await;
    sqlx::query(
        "UPDATE sessions SET absolute_expires_at = now() - interval '1 minute',
                idle_expires_at = now() - interval '1 minute'
         WHERE user_id = $1",
    )
    .bind(expired.id)
    .execute(&app.db)
    .await
    .expect("expire");

    let mut remaining = 1;
    for _ in 0..100 {
        remaining =
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions WHERE user_id = $1")
                .bind(expired.id)
                .fetch_one(&app.db)
                .await
                .expect("count");
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        remaining, 0,
        "the expired session was not cleaned up within 10 s"
    );
    let tokens: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
         WHERE s.user_id = $1",
    )
    .bind(expired.id)
    .fetch_one(&app.db)
    .await
    .expect("count");
    assert_eq!(tokens, 0);
    assert_eq!(
        app.get_as(&live.access_token, "/auth/me").await.status(),
        200
    );
}

#[tokio::test]
async fn the_cleanup_job_skips_a_run_while_another_instance_holds_its_lock() {
    let app = spawn_app_with(&[("SESSION_CLEANUP_CRON", "* * * * * *")]).await;
    let user = app.login_as("USER").await;
    // Hold the job's advisory lock as another instance would.
    let mut holder = app.db.begin().await.expect("tx");
    let key = nocron::system_jobs::lock_key("session-cleanup");
    // Waits while a run of the app's own job holds it, then keeps it.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(&mut *holder)
        .await
        .expect("lock");
    sqlx::query(
        "UPDATE sessions SET absolute_expires_at = now() - interval '1 minute' WHERE user_id = $1",
    )
    .bind(user.id)
    .execute(&app.db)
    .await
    .expect("expire");
    // Several scheduled runs (once a second) pass while the lock is held.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id = $1")
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(
        kept, 1,
        "the job ran although another instance held its lock"
    );
    holder.rollback().await.expect("release");
    let mut remaining = 1;
    for _ in 0..100 {
        remaining =
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions WHERE user_id = $1")
                .bind(user.id)
                .fetch_one(&app.db)
                .await
                .expect("count");
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        remaining, 0,
        "the job did not run after the lock was released"
    );
}

#[tokio::test]
async fn a_bad_cleanup_schedule_stops_start_up_naming_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nocron"))
        .arg("migrate")
        .env("SESSION_CLEANUP_CRON", "every full moon")
        .env("DATA_DIR", std::env::temp_dir().join("nocron-badcron"))
        .output()
        .expect("run nocron");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SESSION_CLEANUP_CRON"), "{stderr}");
}
