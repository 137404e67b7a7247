//! Scripts calling a real HTTP server on loopback through a reqwest-backed handler, the
//! way the worker wires the sandbox to its HTTP client.

use std::{collections::HashMap, sync::Arc};

use axum::{Json, Router, http::HeaderMap, routing::post};
use nocron::{
    sandbox::{self, HttpHandler, HttpRequest, HttpResponse, SandboxLimits, ScriptContext},
    secrets::SecretValue,
};
use serde_json::{Value, json};

/// Answers with what it received, so the test sees the request the script made.
async fn start_echo_server() -> String {
    async fn echo(headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Json(json!({"received": body, "authorization": auth}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = Router::new().route("/echo", post(echo));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

fn reqwest_handler() -> HttpHandler {
    nocron::install_crypto_provider();
    let client = reqwest::Client::new();
    Arc::new(move |request: HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let method = reqwest::Method::from_bytes(request.method.as_bytes())
                .map_err(|err| err.to_string())?;
            let mut builder = client.request(method, &request.url);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let response = builder.send().await.map_err(|err| err.to_string())?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            let body = response.text().await.map_err(|err| err.to_string())?;
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        })
    })
}

#[tokio::test]
async fn a_script_calls_a_real_server_with_a_secret_and_returns_its_answer() {
    let base = start_echo_server().await;
    let token = "tok_live_abcdef123456";
    let context = ScriptContext {
        input: json!({"base": base, "order": {"id": 7, "total": 12.5}}),
        secrets: HashMap::from([("API_TOKEN".to_owned(), SecretValue::new(token.into()))]),
        http: Some(reqwest_handler()),
    };
    let run = sandbox::run(
        r#"
        let response = http(#{
            method: "POST",
            url: input.base + "/echo",
            headers: #{ authorization: "Bearer " + secrets.API_TOKEN },
            json: #{ order_id: input.order.id, doubled: input.order.total * 2.0 }
        });
        log("status " + response.status);
        #{ status: response.status, received: response.json.received, auth: response.json.authorization }
        "#,
        context,
        &SandboxLimits::default(),
    )
    .await;
    assert_eq!(
        run.result.expect("result"),
        json!({
            "status": 200,
            "received": {"order_id": 7, "doubled": 25.0},
            // The server did get the token; what leaves the sandbox is redacted.
            "auth": "Bearer [REDACTED]"
        })
    );
    assert_eq!(run.logs, ["status 200"]);
}

#[tokio::test]
async fn a_refused_connection_is_an_error_the_script_sees() {
    // A port nothing listens on: bind, note the port, close.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let context = ScriptContext {
        input: json!({"url": format!("http://127.0.0.1:{port}/")}),
        http: Some(reqwest_handler()),
        ..Default::default()
    };
    let run = sandbox::run(
        r#"let seen = ""; try { http_get(input.url); } catch (err) { seen = err; } seen"#,
        context,
        &SandboxLimits::default(),
    )
    .await;
    let message = run.result.expect("caught");
    assert!(
        message.as_str().is_some_and(|m| m.starts_with("http(): ")),
        "{message}"
    );
}
