//! Every failure answers with a problem document, never a bare 500: unknown routes, wrong
//! methods, malformed or mistyped bodies, validation, oversized bodies, timeouts, panics,
//! and bad configuration at start-up.

use axum::{
    Router,
    routing::{get, post},
};
use nocron::{
    error::AppError,
    http::{AppJson, AppPath, AppQuery, ValidJson, apply_middleware},
};
use serde::Deserialize;
use serde_json::{Value, json};
use validator::Validate;

use crate::helpers::{problem, spawn_app, test_settings};

#[tokio::test]
async fn unknown_route_is_a_404_problem_with_the_request_id() {
    let app = spawn_app().await;
    let response = app.get("/definitely/not/here").await;
    assert_eq!(response.status(), 404);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let body = problem(response).await;
    assert_eq!(body["code"], "NOT_FOUND");
    assert_eq!(body["error_code"], 3001);
    assert_eq!(body["status"], 404);
    assert_eq!(body["type"], "urn:nocron:problem:not-found");
    assert_eq!(body["request_id"], request_id);
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("/definitely/not/here")
    );
}

#[tokio::test]
async fn wrong_method_is_a_405_problem_with_allow() {
    let app = spawn_app().await;
    let response = app
        .client
        .delete(app.url("/health"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 405);
    assert!(
        response.headers()["allow"]
            .to_str()
            .expect("allow")
            .contains("GET")
    );
    let body = problem(response).await;
    assert_eq!(body["code"], "METHOD_NOT_ALLOWED");
    assert!(body["detail"].as_str().expect("detail").contains("DELETE"));
}

#[derive(Deserialize, Validate)]
struct Signup {
    #[validate(email)]
    email: String,
    #[validate(length(min = 8))]
    password: String,
    age: u8,
}

#[derive(Deserialize)]
struct Page {
    #[allow(dead_code)]
    limit: Option<u32>,
}

async fn signup(ValidJson(body): ValidJson<Signup>) -> AppJson<Value> {
    AppJson(json!({ "email": body.email, "age": body.age, "password_len": body.password.len() }))
}

async fn echo(AppJson(body): AppJson<Value>) -> AppJson<Value> {
    AppJson(body)
}

async fn list(AppQuery(_page): AppQuery<Page>) -> &'static str {
    "ok"
}

async fn item(AppPath(id): AppPath<uuid::Uuid>) -> String {
    id.to_string()
}

async fn slow() -> &'static str {
    std::future::pending::<()>().await;
    "never"
}

async fn boom() -> Result<&'static str, AppError> {
    panic!("secret-panic-detail")
}

/// A small app on a real port with the production middleware stack and extractors.
async fn spawn_extractor_app(overrides: &[(&str, &str)]) -> String {
    nocron::install_crypto_provider();
    let settings = test_settings("postgres://unused@127.0.0.1/unused", overrides);
    let router = Router::new()
        .route("/signup", post(signup))
        .route("/echo", post(echo))
        .route("/items", get(list))
        .route("/items/{id}", get(item))
        .route("/slow", get(slow))
        .route("/boom", get(boom));
    let router = apply_middleware(router, &settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let base = spawn_extractor_app(&[]).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/signup"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body = problem(response).await;
    assert_eq!(body["code"], "MALFORMED_JSON");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("not valid JSON")
    );
}

#[tokio::test]
async fn wrong_content_type_is_a_400_problem() {
    let base = spawn_extractor_app(&[]).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/signup"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body = problem(response).await;
    assert_eq!(body["code"], "INVALID_CONTENT_TYPE");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("application/json")
    );
}

#[tokio::test]
async fn wrong_shape_names_the_field_with_422() {
    let base = spawn_extractor_app(&[]).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/signup"))
        .json(&json!({"email": "a@b.example", "password": "longenough", "age": "old"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    assert_eq!(body["code"], "VALIDATION_ERROR");
    assert_eq!(body["errors"][0]["field"], "age");

    let response = client
        .post(format!("{base}/signup"))
        .json(&json!({"email": "a@b.example", "age": 3}))
        .send()
        .await
        .expect("request");
    let body = problem(response).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("password")
    );
}

#[tokio::test]
async fn validation_failures_list_every_field() {
    let base = spawn_extractor_app(&[]).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/signup"))
        .json(&json!({"email": "not-an-email", "password": "short", "age": 30}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["email", "password"]);
}

#[tokio::test]
async fn bad_query_and_path_parameters_name_the_parameter() {
    let base = spawn_extractor_app(&[]).await;
    let response = reqwest::get(format!("{base}/items?limit=many"))
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body = problem(response).await;
    assert_eq!(body["code"], "INVALID_QUERY");
    assert_eq!(body["errors"][0]["field"], "query.limit");

    let response = reqwest::get(format!("{base}/items/not-a-uuid"))
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body = problem(response).await;
    assert_eq!(body["code"], "INVALID_PATH");
    assert_eq!(body["errors"][0]["field"], "id");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .expect("msg")
            .contains("UUID")
    );
}

#[tokio::test]
async fn oversized_bodies_are_a_413_problem() {
    let base = spawn_extractor_app(&[("REQUEST_BODY_LIMIT_BYTES", "1024")]).await;
    let big = json!({ "data": "x".repeat(4096) });
    let response = reqwest::Client::new()
        .post(format!("{base}/echo"))
        .json(&big)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 413);
    let body = problem(response).await;
    assert_eq!(body["code"], "PAYLOAD_TOO_LARGE");
    assert!(body["detail"].as_str().expect("detail").contains("1024"));

    // Within the limit the same route works.
    let small = json!({ "data": "x" });
    let response = reqwest::Client::new()
        .post(format!("{base}/echo"))
        .json(&small)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.expect("json"), small);
}

#[tokio::test]
async fn slow_requests_time_out_with_a_408_problem() {
    let base = spawn_extractor_app(&[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let response = reqwest::get(format!("{base}/slow")).await.expect("request");
    assert_eq!(response.status(), 408);
    assert_eq!(problem(response).await["code"], "REQUEST_TIMEOUT");
}

#[tokio::test]
async fn panics_are_an_opaque_500_problem() {
    let base = spawn_extractor_app(&[]).await;
    let response = reqwest::get(format!("{base}/boom")).await.expect("request");
    assert_eq!(response.status(), 500);
    let text = response.text().await.expect("text");
    assert!(!text.contains("secret-panic-detail"));
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["code"], "INTERNAL_ERROR");
}

#[tokio::test]
async fn bad_configuration_stops_start_up_naming_the_variable() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nocron"))
        .env("PORT", "not-a-port")
        .env("DATA_DIR", std::env::temp_dir().join("nocron-badcfg"))
        .output()
        .expect("run nocron");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PORT"), "{stderr}");
}
