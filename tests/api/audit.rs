//! The audit trail: one row per request with the `X-Request-Id` the client saw, for denied,
//! refused and successful requests and refused Socket.IO handshakes; credentials redacted;
//! nothing lost at shutdown or during a database outage; the hash chain finds a row changed
//! behind the trigger's back; admins read and export it, users see their own history.

use std::time::{Duration, Instant};

use futures::FutureExt;
use rust_socketio::{Event, TransportType, asynchronous::ClientBuilder};
use serde_json::{Value, json};
use sqlx::{Executor, PgPool};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// How long the writer may take to make queued events visible.
const PATIENCE: Duration = Duration::from_secs(30);

/// A fresh request id, recognisable in the table.
fn request_id(label: &str) -> String {
    format!("audit-{label}-{}", uuid::Uuid::new_v4().simple())
}

/// `GET path` with a request id and, optionally, a bearer token; checks the id is echoed.
async fn get_with_id(
    app: &TestApp,
    path: &str,
    id: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.get(app.url(path)).header("x-request-id", id);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.headers()["x-request-id"], id);
    response
}

/// The stored row of a request id, waiting for the writer.
pub(crate) async fn event_of(db: &PgPool, transaction_id: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let row: Option<Value> = sqlx::query_scalar(
            "SELECT to_jsonb(a) - 'hash' - 'prev_hash' FROM audit_events a WHERE transaction_id = $1",
        )
        .bind(transaction_id)
        .fetch_optional(db)
        .await
        .ok()
        .flatten();
        if let Some(row) = row {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "no audit row for {transaction_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count_of(db: &PgPool, transaction_ids: &[String]) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE transaction_id = ANY($1)")
        .bind(transaction_ids)
        .fetch_one(db)
        .await
        .unwrap_or(0)
}

#[tokio::test]
async fn denied_refused_and_successful_requests_are_recorded_with_their_request_ids() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;

    let anonymous = request_id("401");
    assert_eq!(
        get_with_id(&app, "/tasks", &anonymous, None).await.status(),
        401
    );
    let forbidden = request_id("403");
    let response = get_with_id(
        &app,
        "/admin/audit-logs",
        &forbidden,
        Some(&user.access_token),
    )
    .await;
    assert_eq!(response.status(), 403);
    let ok = request_id("200");
    assert_eq!(
        get_with_id(&app, "/tasks", &ok, Some(&user.access_token))
            .await
            .status(),
        200
    );
    let missing = request_id("404");
    assert_eq!(
        get_with_id(&app, "/no/such/thing", &missing, None)
            .await
            .status(),
        404
    );

    let row = event_of(&app.db, &anonymous).await;
    assert_eq!(row["status"], 401);
    assert_eq!(row["outcome"], "DENIED");
    assert_eq!(row["actor_type"], "ANONYMOUS");
    assert_eq!(row["action"], "tasks.list");
    assert_eq!(row["route"], "/tasks");
    assert_eq!(row["ip"], "127.0.0.1");

    let row = event_of(&app.db, &forbidden).await;
    assert_eq!(row["status"], 403);
    assert_eq!(row["outcome"], "DENIED");
    assert_eq!(row["actor_type"], "USER");
    assert_eq!(row["actor_id"], user.id.to_string());
    assert_eq!(row["actor_email"], user.email);
    assert_eq!(row["action_class"], "ADMIN");

    let row = event_of(&app.db, &ok).await;
    assert_eq!(row["status"], 200);
    assert_eq!(row["outcome"], "SUCCESS");
    assert_eq!(row["actor_id"], user.id.to_string());
    assert_eq!(row["response_body"]["items"], json!([]));

    let row = event_of(&app.db, &missing).await;
    assert_eq!(row["status"], 404);
    assert_eq!(row["outcome"], "FAILURE");
    assert_eq!(row["action"], "http.unmatched");
}

#[tokio::test]
async fn a_refused_socket_handshake_is_recorded_with_its_request_id() {
    let app = spawn_app().await;
    let id = request_id("socket");
    let (refused_tx, mut refused) = tokio::sync::mpsc::unbounded_channel();
    let client = ClientBuilder::new(app.address.clone())
        .transport_type(TransportType::Polling)
        .reconnect(false)
        .opening_header("x-request-id", id.as_str())
        .auth(json!({ "token": "not-a-jwt" }))
        .on(Event::Error, move |_, _| {
            let tx = refused_tx.clone();
            async move {
                let _ = tx.send(());
            }
            .boxed()
        })
        .connect()
        .await
        .expect("open the transport");
    tokio::time::timeout(PATIENCE, refused.recv())
        .await
        .expect("the handshake is refused");

    let row = event_of(&app.db, &id).await;
    assert_eq!(row["action"], "realtime.connect.failed");
    assert_eq!(row["outcome"], "DENIED");
    assert_eq!(row["action_class"], "SECURITY");
    assert_eq!(row["actor_type"], "ANONYMOUS");
    assert!(
        row["response_body"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("invalid")),
        "{row}"
    );
    let _ = client.disconnect().await;
}

#[tokio::test]
async fn passwords_and_tokens_are_redacted() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let id = request_id("login");
    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("x-request-id", &id)
        .json(&json!({ "email": user.email, "password": user.password }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    let answered: Value = response.json().await.expect("json");
    let access = answered["access_token"].as_str().expect("token").to_owned();

    let row = event_of(&app.db, &id).await;
    assert_eq!(row["action"], "auth.login");
    assert_eq!(row["action_class"], "AUTH");
    assert_eq!(row["actor_id"], user.id.to_string());
    assert_eq!(row["request_body"]["email"], user.email);
    assert_eq!(row["request_body"]["password"], "[REDACTED]");
    assert_eq!(row["response_body"]["access_token"], "[REDACTED]");
    assert_eq!(row["response_body"]["refresh_token"], "[REDACTED]");
    let text = row.to_string();
    assert!(!text.contains(&user.password), "the password is stored");
    assert!(!text.contains(&access), "the access token is stored");

    // A failed sign-in is named as such, and the user sees their sign-ins.
    let failed = request_id("failed");
    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("x-request-id", &failed)
        .json(&json!({ "email": user.email, "password": "wrong password here" }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 401);
    assert_eq!(
        event_of(&app.db, &failed).await["action"],
        "auth.login.failed"
    );
    let mine = app
        .get_json_as(&user.access_token, "/users/me/audit-logs")
        .await;
    let actions: Vec<&str> = mine["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"auth.login"), "{mine}");
    assert!(!actions.contains(&"tasks.list"), "{mine}");
}

#[tokio::test]
async fn every_event_is_written_after_a_graceful_shutdown() {
    let mut app = spawn_app().await;
    // Hold the table so nothing is written before the shutdown begins.
    let mut locker = app.db.begin().await.expect("begin");
    locker
        .execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let mut ids = Vec::new();
    for i in 0..40 {
        let id = request_id(&format!("stop{i}"));
        assert_eq!(get_with_id(&app, "/tasks", &id, None).await.status(), 401);
        ids.push(id);
    }
    app.shutdown.cancel();
    locker.rollback().await.expect("release");
    app.stop().await;
    assert_eq!(count_of(&app.db, &ids).await, 40);
}

#[tokio::test]
async fn events_queued_during_a_database_outage_are_written_after_it() {
    let app = spawn_app().await;
    let mut admin = app.database.admin_connection().await;
    let name = &app.database.name;
    admin
        .execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false").as_str())
        .await
        .expect("refuse connections");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(&mut admin)
        .await
        .expect("end connections");
    let mut ids = Vec::new();
    for i in 0..10 {
        let id = request_id(&format!("outage{i}"));
        assert_eq!(get_with_id(&app, "/tasks", &id, None).await.status(), 401);
        ids.push(id);
    }
    // Wait until the writer has failed at least once.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let metrics = app.get("/metrics").await.text().await.unwrap_or_default();
        if metrics.contains("audit_write_failures_total") {
            break;
        }
        assert!(Instant::now() < deadline, "the writer never hit the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin
        .execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true").as_str())
        .await
        .expect("allow connections");
    let deadline = Instant::now() + PATIENCE;
    while count_of(&app.db, &ids).await < 10 {
        assert!(Instant::now() < deadline, "events were lost in the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count_of(&app.db, &ids).await, 10);
}

/// Seals everything written so far (the background sealer may be doing it too).
async fn seal_everything(db: &PgPool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        nocron::audit::chain::seal_pending(db).await.expect("seal");
        let unsealed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE hash IS NULL")
                .fetch_one(db)
                .await
                .expect("count");
        if unsealed == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "rows stay unsealed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_trigger_refuses_changes_and_verify_finds_a_row_changed_behind_its_back() {
    let app = spawn_app_with(&[("AUDIT_SEAL_INTERVAL_SECONDS", "3600")]).await;
    let admin = app.login_as("ADMIN").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = request_id(&format!("chain{i}"));
        get_with_id(&app, "/tasks", &id, None).await;
        ids.push(id);
    }
    let target = event_of(&app.db, &ids[2]).await;
    event_of(&app.db, &ids[4]).await;
    seal_everything(&app.db).await;
    let seq = target["seq"].as_i64().expect("seq");

    let update = sqlx::query("UPDATE audit_events SET status = 200 WHERE seq = $1")
        .bind(seq)
        .execute(&app.db)
        .await;
    assert!(update.is_err(), "an UPDATE went through");
    let delete = sqlx::query("DELETE FROM audit_events WHERE seq = $1")
        .bind(seq)
        .execute(&app.db)
        .await;
    assert!(delete.is_err(), "a DELETE went through");
    let hash_rewrite = sqlx::query("UPDATE audit_events SET hash = '\\x00' WHERE seq = $1")
        .bind(seq)
        .execute(&app.db)
        .await;
    assert!(hash_rewrite.is_err(), "a sealed hash was rewritten");

    let report = app
        .get_json_as(&admin.access_token, "/admin/audit-logs/verify")
        .await;
    assert_eq!(report["first_broken_seq"], Value::Null, "{report}");
    assert!(report["verified_through_seq"].as_i64().expect("verified") >= seq + 2);

    let mut conn = app.db.acquire().await.expect("connection");
    conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        .await
        .expect("disable");
    sqlx::query("UPDATE audit_events SET status = 299 WHERE seq = $1")
        .bind(seq)
        .execute(&mut *conn)
        .await
        .expect("tamper");
    conn.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
        .await
        .expect("enable");

    let report = app
        .get_json_as(&admin.access_token, "/admin/audit-logs/verify")
        .await;
    assert_eq!(report["first_broken_seq"], seq, "{report}");
    assert!(report["verified_through_seq"].as_i64().expect("verified") < seq);
}

#[tokio::test]
async fn admins_read_filter_and_export_the_trail_and_users_are_refused() {
    let app = spawn_app().await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let id = request_id("export");
    let formula = "=HYPERLINK(\"http://evil.example\",\"x\")";
    let response = app
        .client
        .get(app.url("/tasks"))
        .header("x-request-id", &id)
        .header("user-agent", formula)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    let stored = event_of(&app.db, &id).await;

    for path in [
        "/admin/audit-logs".to_owned(),
        "/admin/audit-logs/verify".to_owned(),
        "/admin/audit-logs/export?format=csv".to_owned(),
        format!("/admin/audit-logs/{}", stored["id"].as_str().expect("id")),
    ] {
        assert_eq!(
            app.get_as(&user.access_token, &path).await.status(),
            403,
            "{path}"
        );
    }

    let page = app
        .get_json_as(
            &admin.access_token,
            &format!("/admin/audit-logs?transaction_id={id}&outcome=DENIED&action=tasks."),
        )
        .await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["actor"]["type"], "ANONYMOUS");
    assert_eq!(items[0]["user_agent"], formula);
    let one = app
        .get_json_as(
            &admin.access_token,
            &format!("/admin/audit-logs/{}", items[0]["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(one["transaction_id"], id);
    let bad = app
        .get_as(&admin.access_token, "/admin/audit-logs?ip=not-an-ip")
        .await;
    assert_eq!(bad.status(), 422);

    // Paging walks every event once.
    let mut seen = std::collections::HashSet::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(cursor) => format!("/admin/audit-logs?limit=2&cursor={cursor}"),
            None => "/admin/audit-logs?limit=2".to_owned(),
        };
        let page = app.get_json_as(&admin.access_token, &path).await;
        for item in page["items"].as_array().expect("items") {
            assert!(
                seen.insert(item["seq"].as_i64().expect("seq")),
                "seen twice"
            );
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => next = Some(cursor.to_owned()),
            None => break,
        }
    }
    assert!(seen.len() >= 3, "{seen:?}");

    let response = app
        .get_as(
            &admin.access_token,
            &format!("/admin/audit-logs/export?format=csv&transaction_id={id}"),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/csv")
    );
    let text = response.text().await.expect("body");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("header row").clone();
    let column = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
    assert_eq!(records.len(), 1, "{text}");
    assert_eq!(&records[0][column("transaction_id")], id.as_str());
    assert_eq!(&records[0][column("status")], "401");
    assert_eq!(&records[0][column("user_agent")], format!("'{formula}"));

    let response = app
        .get_as(
            &admin.access_token,
            &format!("/admin/audit-logs/export?format=ndjson&transaction_id={id}"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["transaction_id"], id);
    let missing_format = app
        .get_as(&admin.access_token, "/admin/audit-logs/export")
        .await;
    assert_eq!(missing_format.status(), 400);
}
