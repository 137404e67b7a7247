//! Liveness, readiness (including a database that goes away and comes back), status, metrics.

use std::time::Duration;

use serde_json::Value;
use sqlx::Executor;

use crate::helpers::spawn_app;

#[tokio::test]
async fn liveness_reports_version_uptime_and_memory() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64());
    assert!(body["memory_rss_bytes"].as_u64().expect("rss") > 1_000_000);
}

async fn readiness(app: &crate::helpers::TestApp) -> (u16, Value) {
    let response = app.get("/health/ready").await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn check<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .expect("check present")
}

#[tokio::test]
async fn readiness_follows_the_database_away_and_back() {
    let app = spawn_app().await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");

    let name = &app.database.name;
    let mut admin = app.database.admin_connection().await;
    admin
        .execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false").as_str())
        .await
        .expect("disallow");
    admin
        .execute(
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
            .as_str(),
        )
        .await
        .expect("terminate");

    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(check(&body, "database")["ok"], false);
    assert!(check(&body, "database")["error"].is_string());

    admin
        .execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true").as_str())
        .await
        .expect("allow");
    // The pool replaces its dead connections on the next acquire; allow attempts for 30 s.
    let mut recovered = None;
    for _ in 0..300 {
        let (status, body) = readiness(&app).await;
        if status == 200 {
            recovered = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = recovered.expect("readiness recovers by itself once the database is back");
    assert_eq!(check(&body, "database")["ok"], true);
}

#[tokio::test]
async fn readiness_fails_when_a_migration_is_missing() {
    let app = spawn_app().await;
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&app.db)
    .await
    .expect("forget a migration");
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503);
    assert_eq!(check(&body, "database")["ok"], true);
    assert_eq!(check(&body, "migrations")["ok"], false);
    assert!(
        check(&body, "migrations")["error"]
            .as_str()
            .expect("error")
            .contains("pending")
    );
}

#[tokio::test]
async fn status_reports_build_and_environment_to_admins() {
    let app = spawn_app().await;
    let admin = app.login_as("ADMIN").await;
    let body: Value = app.get_json_as(&admin.access_token, "/api/status").await;
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["health"], "ok");
    assert_eq!(body["detail"]["name"], "nocron");
    assert_eq!(body["detail"]["environment"], "test");
    assert!(
        body["detail"]["instance_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

#[tokio::test]
async fn metrics_expose_requests_pool_and_process() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/no-such-route").await.status(), 404);
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("text");
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/health",status="200"}"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#));
    assert!(text.contains("http_request_duration_seconds_bucket"));
    for gauge in [
        "db_pool_connections",
        "db_pool_idle_connections",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(text.contains(gauge), "missing {gauge}");
    }
}

async fn details_with(app: &crate::helpers::TestApp, bearer: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url("/health/details"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("details");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn health_details_are_for_admins_and_the_metrics_token() {
    let app =
        crate::helpers::spawn_app_with(&[("METRICS_TOKEN", "scrape-me-0123456789abcdef")]).await;
    assert_eq!(app.get("/health/details").await.status(), 401);
    let user = app.login_as("USER").await;
    let (status, body) = details_with(&app, &user.access_token).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = details_with(&app, "scrape-me-wrong").await;
    assert_eq!(status, 401);

    let admin = app.login_as("ADMIN").await;
    let (status, body) = details_with(&app, &admin.access_token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["database"]["status"], "ok");
    assert!(body["database"]["latency_ms"].as_f64().expect("latency") >= 0.0);
    assert!(body["database"]["pool_size"].as_u64().expect("size") >= 1);
    assert_eq!(body["smtp_relay"]["status"], "not_configured");
    assert_eq!(body["stripe"]["status"], "not_configured");
    assert_eq!(body["redis"]["status"], "not_configured");
    assert_eq!(body["inbound_smtp"]["enabled"], false);
    assert!(body["queue"]["queued"].is_i64());
    assert!(body["memory"]["rss_bytes"].as_u64().expect("rss") > 1_000_000);
    assert!(body["uptime_seconds"].is_u64());
    assert!(body["scheduler"]["enabled"].is_boolean());

    let (status, body) = details_with(&app, "scrape-me-0123456789abcdef").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"]["status"], "ok");
}

#[tokio::test]
async fn an_smtp_relay_on_a_closed_port_is_degraded_and_a_real_one_ok() {
    let closed = {
        let spare = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        spare.local_addr().expect("addr").port()
    };
    let down_url = format!("smtp://127.0.0.1:{closed}");
    let app = crate::helpers::spawn_app_with(&[
        ("SMTP_URL", down_url.as_str()),
        ("SMTP_FROM", "noreply@nocron.example"),
    ])
    .await;
    let admin = app.login_as("ADMIN").await;
    let (status, body) = details_with(&app, &admin.access_token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["smtp_relay"]["status"], "degraded", "{body}");
    assert!(body["smtp_relay"]["error"].is_string());
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["database"]["status"], "ok");

    let sink = crate::email::SmtpSink::start(&[]).await;
    let up_url = format!("smtp://127.0.0.1:{}", sink.port);
    let app = crate::helpers::spawn_app_with(&[
        ("SMTP_URL", up_url.as_str()),
        ("SMTP_FROM", "noreply@nocron.example"),
    ])
    .await;
    let admin = app.login_as("ADMIN").await;
    let (status, body) = details_with(&app, &admin.access_token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["smtp_relay"]["status"], "ok", "{body}");
    assert!(body["smtp_relay"]["latency_ms"].as_f64().is_some());
    assert_eq!(body["status"], "ok");
}
