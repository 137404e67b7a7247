//! What the server tells strangers about itself: `/api/status` gives them the version and
//! health only (the host name and pid are for admins), `/metrics` can require a token
//! (`METRICS_TOKEN`) and move to its own listener (`METRICS_ADDR`), and no scrape names the
//! host or process.

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDatabase, problem, spawn_app, spawn_app_with, test_settings};

const METRICS_TOKEN: &str = "scrape-token-0123456789abcdef";

/// The host name and process id, as they would appear in an instance id.
fn host_and_pid() -> (String, String) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    (host.clone(), format!("{host}-{}", std::process::id()))
}

#[tokio::test]
async fn a_stranger_probing_api_status_learns_only_the_version_and_health() {
    let app = spawn_app().await;
    let (_, host_pid) = host_and_pid();
    let anonymous = app.get("/api/status").await;
    assert_eq!(anonymous.status(), 200);
    let anonymous: Value = anonymous.json().await.expect("json");
    assert_eq!(
        anonymous,
        json!({ "version": env!("CARGO_PKG_VERSION"), "health": "ok" })
    );
    assert!(!anonymous.to_string().contains(&host_pid));
    // A signed-in user who is not an admin learns no more.
    let user = app.login_as("USER").await;
    let as_user = app.get_json_as(&user.access_token, "/api/status").await;
    assert_eq!(as_user, anonymous);
    // A credential that does not authenticate is refused, not ignored.
    let forged = app.get_as("not-a-token", "/api/status").await;
    assert_eq!(forged.status(), 401);
    // An admin gets the detail, including the instance id.
    let admin = app.login_as("ADMIN").await;
    let as_admin = app.get_json_as(&admin.access_token, "/api/status").await;
    let instance = as_admin["detail"]["instance_id"]
        .as_str()
        .expect("instance");
    assert!(instance.starts_with(&host_pid), "{instance}");
    assert_eq!(as_admin["detail"]["environment"], "test");
}

async fn scrape(app: &TestApp, base: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{base}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("scrape")
}

#[tokio::test]
async fn scraping_metrics_without_the_metrics_token_is_refused() {
    let app = spawn_app_with(&[("METRICS_TOKEN", METRICS_TOKEN)]).await;
    let base = app.address.clone();
    let anonymous = scrape(&app, &base, None).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Bearer realm=\"metrics\""
    );
    let refusal = problem(anonymous).await;
    assert!(!refusal.to_string().contains(METRICS_TOKEN));
    for wrong in ["scrape-token-0123456789abcdeX", "scrape-token", ""] {
        assert_eq!(
            scrape(&app, &base, Some(wrong)).await.status(),
            401,
            "{wrong}"
        );
    }
    // A user's access token is not the metrics token.
    let admin = app.login_as("ADMIN").await;
    assert_eq!(
        scrape(&app, &base, Some(&admin.access_token))
            .await
            .status(),
        401
    );
    let allowed = scrape(&app, &base, Some(METRICS_TOKEN)).await;
    assert_eq!(allowed.status(), 200);
    let text = allowed.text().await.expect("text");
    assert!(text.contains("process_resident_memory_bytes"));
}

#[tokio::test]
async fn a_public_scrape_names_neither_the_host_nor_the_process() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health").await.status(), 200);
    let text = app.get("/metrics").await.text().await.expect("text");
    let (_, host_pid) = host_and_pid();
    assert!(!text.contains(&host_pid), "the scrape names the instance");
    assert!(!text.contains(&*app.state.instance_id));
    for label in ["hostname=", "host=", "pid=", "instance="] {
        assert!(!text.contains(label), "the scrape carries a {label} label");
    }
}

#[tokio::test]
async fn metrics_on_their_own_address_are_gone_from_the_public_port_and_stop_with_the_app() {
    let database = TestDatabase::create().await;
    let settings = test_settings(
        &database.url(),
        &[
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("METRICS_TOKEN", METRICS_TOKEN),
        ],
    );
    let application = nocron::app::Application::build(settings)
        .await
        .expect("build");
    let metrics_port = application.metrics_port().expect("a metrics listener");
    assert_ne!(metrics_port, application.port());
    let mut app = TestApp::start(application, database).await;
    let metrics_base = format!("http://127.0.0.1:{metrics_port}");

    // The public port no longer serves them, token or not.
    let public = scrape(&app, &app.address.clone(), Some(METRICS_TOKEN)).await;
    assert_eq!(public.status(), 404);
    assert_eq!(problem(public).await["code"], "NOT_FOUND");
    // The metrics listener does, still behind the token, and serves nothing else.
    assert_eq!(scrape(&app, &metrics_base, None).await.status(), 401);
    let served = scrape(&app, &metrics_base, Some(METRICS_TOKEN)).await;
    assert_eq!(served.status(), 200);
    assert!(
        served
            .text()
            .await
            .expect("text")
            .contains("db_pool_connections")
    );
    let other = app
        .client
        .get(format!("{metrics_base}/api/status"))
        .send()
        .await
        .expect("request");
    assert_eq!(other.status(), 404);

    app.stop().await;
    let after = reqwest::Client::new()
        .get(format!("{metrics_base}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await;
    assert!(after.is_err(), "the metrics listener outlived the app");
}
