//! Request ids, CORS, security headers and compression, as a client sees them.

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/no-such-page"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["request_id"], "trace-abc-123");

    let too_long = "x".repeat(200);
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", &too_long)
        .send()
        .await
        .expect("request");
    let generated = response.headers()["x-request-id"].to_str().expect("id");
    assert_ne!(generated, too_long);
    assert!(uuid::Uuid::parse_str(generated).is_ok());
}

#[tokio::test]
async fn cors_preflight_allows_only_configured_origins_with_credentials() {
    let app = spawn_app_with(&[("CORS_ORIGINS", "https://app.example.com")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/health"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.expect("request");
    assert!(allowed.status().is_success());
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .expect("methods")
            .contains("POST")
    );
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .expect("headers")
            .contains("authorization")
    );

    let refused = preflight("https://evil.example").await.expect("request");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn cors_wildcard_never_sends_credentials() {
    let app = spawn_app_with(&[("CORS_ORIGINS", "*")]).await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://anything.example")
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    assert!(
        response.headers()["access-control-expose-headers"]
            .to_str()
            .expect("expose")
            .contains("x-request-id")
    );
}

#[tokio::test]
async fn no_cors_headers_by_default() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("request");
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn security_headers_on_every_response_and_hsts_behind_https() {
    let app = spawn_app().await;
    for path in ["/health", "/missing"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert!(
            headers.get("strict-transport-security").is_none(),
            "no HSTS over plain HTTP"
        );
    }
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("request");
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .expect("hsts")
            .starts_with("max-age=")
    );
}

#[tokio::test]
async fn responses_are_compressed_when_asked() {
    let app = spawn_app().await;
    for encoding in ["gzip", "br"] {
        let response = app
            .client
            .get(app.url("/api-json"))
            .header("accept-encoding", encoding)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-encoding"], encoding);
    }
}
