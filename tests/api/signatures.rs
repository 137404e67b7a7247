//! Webhook signatures verified on a real HTTP round trip: the exact bytes and headers a
//! sender puts on the wire reach the verifier unchanged.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use nocron::triggers::signature::{
    SignatureConfig, SignatureVerifier, StandardWebhooksKey, sign_github,
};
use std::sync::Arc;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn receiver(verifier: SignatureVerifier) -> String {
    nocron::install_crypto_provider();
    async fn hook(
        State(verifier): State<Arc<SignatureVerifier>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, String) {
        let now = chrono::Utc::now().timestamp();
        match verifier.verify(&headers, &body, now) {
            Ok(delivery) => (
                StatusCode::ACCEPTED,
                delivery.delivery_id.unwrap_or_default(),
            ),
            Err(err) => (StatusCode::UNAUTHORIZED, err.to_string()),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(Arc::new(verifier));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/hook")
}

#[tokio::test]
async fn standard_webhooks_deliveries_verify_over_http_and_replays_do_not() {
    let verifier = SignatureVerifier::new(
        &SignatureConfig::StandardWebhooks {
            tolerance_seconds: None,
        },
        &[SECRET],
    )
    .expect("verifier");
    let url = receiver(verifier).await;
    let client = reqwest::Client::new();
    let key = StandardWebhooksKey::parse(SECRET).expect("key");
    let body = r#"{"event":"invoice.paid","amount":4200}"#;
    let send = |timestamp: i64, body: &'static str| {
        client
            .post(&url)
            .header("webhook-id", "msg_2xyz")
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                key.sign("msg_2xyz", timestamp, body.as_bytes()),
            )
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let now = chrono::Utc::now().timestamp();
    let accepted = send(now, body).await.expect("send");
    assert_eq!(accepted.status(), 202);
    assert_eq!(accepted.text().await.expect("body"), "msg_2xyz");

    let replayed = send(now - 3600, body).await.expect("send");
    assert_eq!(replayed.status(), 401);
    assert!(replayed.text().await.expect("body").contains("tolerance"));

    // Signed for one body, sent with another.
    let forged = client
        .post(&url)
        .header("webhook-id", "msg_2xyz")
        .header("webhook-timestamp", now.to_string())
        .header(
            "webhook-signature",
            key.sign("msg_2xyz", now, body.as_bytes()),
        )
        .body(r#"{"event":"invoice.paid","amount":1}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn github_deliveries_verify_over_http() {
    let secret = "gh-webhook-secret";
    let verifier = SignatureVerifier::new(&SignatureConfig::Github, &[secret]).expect("verifier");
    let url = receiver(verifier).await;
    let client = reqwest::Client::new();
    let body = r#"{"action":"opened","number":7}"#;
    let ok = client
        .post(&url)
        .header(
            "x-hub-signature-256",
            sign_github(secret.as_bytes(), body.as_bytes()),
        )
        .header("x-github-delivery", "d-1")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 202);
    assert_eq!(ok.text().await.expect("body"), "d-1");
    let wrong = client
        .post(&url)
        .header(
            "x-hub-signature-256",
            sign_github(b"other", body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), 401);
}
