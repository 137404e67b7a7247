//! Task templates over HTTP: the built-in catalogue, saving your own, and making tasks from
//! them with variables.

use std::time::Duration;

use nocron::executions::model::ExecutionStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    capture::CaptureServer,
    engine_support::{has_status, spawn_engine_app, wait_until},
    helpers::{problem, problem_fields, spawn_app},
};

#[tokio::test]
async fn every_built_in_template_makes_a_valid_task() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let list: Value = app.get_json_as(&user.access_token, "/templates").await;
    let templates = list["items"].as_array().expect("items");
    assert!(templates.len() >= 6, "{list}");
    // A task for templates that chain after one.
    let watched: Value = app
        .post_json_as(
            &user.access_token,
            "/tasks",
            &json!({"name": "Watched", "action": {"type": "HTTP_REQUEST",
                    "config": {"url": "https://example.com/"}}}),
        )
        .await;
    for template in templates {
        assert_eq!(template["builtin"], true);
        let id = template["id"].as_str().expect("id");
        // Each variable's example, and a real task for the watched one.
        let mut variables = serde_json::Map::new();
        for variable in template["variables"].as_array().expect("variables") {
            let name = variable["name"].as_str().expect("name");
            assert!(!variable["example"].is_null(), "{id}.{name} has an example");
            let value = if name == "watched_task_id" {
                watched["id"].clone()
            } else {
                variable["example"].clone()
            };
            variables.insert(name.into(), value);
        }
        let created = app
            .post_as(
                &user.access_token,
                &format!("/tasks/from-template/{id}"),
                &json!({ "variables": variables }),
            )
            .await;
        let status = created.status();
        let body: Value = created.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "{id}: {body}");
        assert_eq!(
            body["action"]["type"],
            template["definition"]["action"]["type"]
        );
        let text = body.to_string();
        assert!(!text.contains("vars."), "{id} left a placeholder: {text}");
        if template["definition"].get("chain").is_some() {
            let chains: Value = app
                .get_json_as(
                    &user.access_token,
                    &format!("/tasks/{}/chains", body["id"].as_str().expect("id")),
                )
                .await;
            assert_eq!(chains[0]["source_task_id"], watched["id"], "{id}: {chains}");
        }
    }
    let foreign = app
        .post_as(
            &user.access_token,
            "/tasks/from-template/email-on-failure",
            &json!({"variables": {"watched_task_id": uuid::Uuid::new_v4(), "to": "a@example.com"}}),
        )
        .await;
    assert_eq!(
        problem_fields(&problem(foreign).await),
        ["chain.source_task_id"]
    );
}

#[tokio::test]
async fn variables_are_filled_checked_and_named() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let token = &user.access_token;
    let created = app
        .post_as(
            token,
            "/tasks/from-template/http-uptime-check",
            &json!({"variables": {"url": "https://shop.example.com/health"}}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(
        created.headers()["location"]
            .to_str()
            .expect("location")
            .starts_with("/tasks/")
    );
    let task: Value = created.json().await.expect("json");
    assert_eq!(task["name"], "Uptime: https://shop.example.com/health");
    assert_eq!(
        task["action"]["config"]["url"],
        "https://shop.example.com/health"
    );
    assert_eq!(
        task["action"]["config"]["success"]["max_latency_ms"], 5000,
        "a whole-string placeholder keeps the number type"
    );
    assert_eq!(task["schedule"]["cron"], "*/5 * * * *");
    assert_eq!(task["auto_pause_after_failures"], 12);
    assert_eq!(task["owner_id"], json!(user.id));

    let missing = app
        .post_as(token, "/tasks/from-template/http-uptime-check", &json!({}))
        .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem(missing).await), ["variables.url"]);
    let wrong = app
        .post_as(
            token,
            "/tasks/from-template/http-uptime-check",
            &json!({"variables": {"url": "https://x.example", "max_latency_ms": "fast", "colour": 1}}),
        )
        .await;
    assert_eq!(
        problem_fields(&problem(wrong).await),
        ["variables.max_latency_ms", "variables.colour"]
    );
    let bad_url = app
        .post_as(
            token,
            "/tasks/from-template/http-uptime-check",
            &json!({"variables": {"url": "ftp://x.example"}}),
        )
        .await;
    assert_eq!(
        problem_fields(&problem(bad_url).await),
        ["action.config.url"]
    );
    let unknown = app
        .post_as(token, "/tasks/from-template/no-such-template", &json!({}))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let renamed: Value = app
        .post_json_as(
            token,
            "/tasks/from-template/http-uptime-check",
            &json!({"variables": {"url": "https://a.example"}, "name": "Shop"}),
        )
        .await;
    assert_eq!(renamed["name"], "Shop");
}

#[tokio::test]
async fn the_webhook_relay_forwards_the_execution_input() {
    let app = spawn_engine_app(&[]).await;
    let sink = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let task: Value = app
        .post_json_as(
            &user.access_token,
            "/tasks/from-template/webhook-relay",
            &json!({"variables": {"target_url": sink.url("/ok")}}),
        )
        .await;
    let run: Value = app
        .post_json_as(
            &user.access_token,
            &format!("/tasks/{}/execute", task["id"].as_str().expect("id")),
            &json!({"input": {"event": "order.paid", "amount": 42}}),
        )
        .await;
    let execution: Uuid = run["execution_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    wait_until(Duration::from_secs(10), "the relay succeeds", || {
        has_status(&app.db, execution, ExecutionStatus::Succeeded)
    })
    .await;
    let forwarded = sink.requests_to("/ok");
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].method, "POST");
    assert_eq!(forwarded[0].headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&forwarded[0].body).expect("json body");
    assert_eq!(body, json!({"event": "order.paid", "amount": 42}));
}

#[tokio::test]
async fn your_templates_are_saved_used_and_private() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let stranger = app.login_as("USER").await;
    let token = &user.access_token;
    let task: Value = app
        .post_json_as(
            token,
            "/tasks",
            &json!({"name": "Nightly export", "tags": ["export"],
                    "action": {"type": "HTTP_REQUEST", "config": {"url": "https://example.com/export"}},
                    "schedule": {"cron": "0 2 * * *"}, "status": "PAUSED"}),
        ).await;
    let saved = app
        .post_as(
            token,
            "/templates",
            &json!({"name": "Export", "task_id": task["id"]}),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::CREATED);
    let saved: Value = saved.json().await.expect("json");
    let id = saved["id"].as_str().expect("id");
    assert_eq!(saved["builtin"], false);
    assert_eq!(
        saved["definition"]["action"]["config"]["url"],
        "https://example.com/export"
    );

    let made: Value = app
        .post_json_as(token, &format!("/tasks/from-template/{id}"), &json!({}))
        .await;
    assert_eq!(made["name"], "Nightly export");
    assert_eq!(
        made["status"], "ACTIVE",
        "the saved template does not carry a status"
    );
    assert_ne!(made["id"], task["id"]);

    // With variables of its own.
    let parameterised = app
        .post_as(
            token,
            "/templates",
            &json!({
                "name": "Ping a path",
                "definition": {"name": "Ping {{ vars.path }}",
                               "action": {"type": "HTTP_REQUEST",
                                          "config": {"url": "https://example.com/{{ vars.path }}"}}},
                "variables": [{"name": "path", "description": "Path to ping"}]
            }),
        )
        .await;
    assert_eq!(parameterised.status(), StatusCode::CREATED);
    let parameterised: Value = parameterised.json().await.expect("json");
    let pinged: Value = app
        .post_json_as(
            token,
            &format!(
                "/tasks/from-template/{}",
                parameterised["id"].as_str().expect("id")
            ),
            &json!({"variables": {"path": "status"}}),
        )
        .await;
    assert_eq!(
        pinged["action"]["config"]["url"],
        "https://example.com/status"
    );

    // Private to their owner.
    let theirs = app
        .get_as(&stranger.access_token, &format!("/templates/{id}"))
        .await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let used = app
        .post_as(
            &stranger.access_token,
            &format!("/tasks/from-template/{id}"),
            &json!({}),
        )
        .await;
    assert_eq!(used.status(), StatusCode::NOT_FOUND);
    let their_list: Value = app.get_json_as(&stranger.access_token, "/templates").await;
    assert!(
        their_list["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|t| t["builtin"] == true)
    );
    let stolen = app
        .post_as(
            &stranger.access_token,
            "/templates",
            &json!({"name": "Mine now", "task_id": task["id"]}),
        )
        .await;
    assert_eq!(stolen.status(), StatusCode::NOT_FOUND);

    let builtin = app.delete_as(token, "/templates/webhook-relay").await;
    assert_eq!(builtin.status(), StatusCode::CONFLICT);
    let not_theirs = app
        .delete_as(&stranger.access_token, &format!("/templates/{id}"))
        .await;
    assert_eq!(not_theirs.status(), StatusCode::NOT_FOUND);
    let deleted = app.delete_as(token, &format!("/templates/{id}")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app.get_as(token, &format!("/templates/{id}")).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn templates_that_cannot_make_a_task_are_refused_when_saved() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let token = &user.access_token;
    let undeclared = app
        .post_as(
            token,
            "/templates",
            &json!({"name": "x", "definition": {"name": "{{ vars.who }}",
                    "action": {"type": "HTTP_REQUEST", "config": {"url": "https://example.com"}}}}),
        )
        .await;
    assert_eq!(undeclared.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem(undeclared).await), ["definition"]);
    let invalid_with_defaults = app
        .post_as(
            token,
            "/templates",
            &json!({"name": "x",
                    "definition": {"name": "x", "action": {"type": "HTTP_REQUEST",
                                   "config": {"url": "{{ vars.url }}"}}},
                    "variables": [{"name": "url", "default": "gopher://old"}]}),
        )
        .await;
    assert_eq!(
        problem_fields(&problem(invalid_with_defaults).await),
        ["definition.action.config.url"]
    );
    let neither = app
        .post_as(token, "/templates", &json!({"name": "x"}))
        .await;
    assert_eq!(problem_fields(&problem(neither).await), ["task_id"]);
    let list: Value = app.get_json_as(token, "/templates").await;
    assert!(
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|t| t["builtin"] == true),
        "nothing was saved"
    );
}
