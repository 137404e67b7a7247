//! The tasks API over HTTP: definitions, validation, ownership, listing, optimistic
//! concurrency, running (with idempotency keys), status changes, history, next runs,
//! executions, and the same handlers under `/api/v1` with API-key scopes.

use std::{collections::HashSet, time::Duration};

use nocron::executions::model::ExecutionStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    capture::CaptureServer,
    engine_support::{has_status, spawn_engine_app, spawn_manual_app, wait_until},
    helpers::{TestApp, TestUser, problem, problem_fields, spawn_app},
};

fn task_body(name: &str, url: &str) -> Value {
    json!({
        "name": name,
        "tags": ["shop"],
        "action": {"type": "HTTP_REQUEST", "config": {"method": "GET", "url": url}},
        "schedule": {"cron": "*/5 * * * *", "timezone": "Europe/Berlin"},
        "retry": {"max_attempts": 2},
        "concurrency_policy": "SKIP",
    })
}

async fn create(app: &TestApp, user: &TestUser, body: &Value) -> Value {
    let response = app.post_as(&user.access_token, "/tasks", body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "create {body}");
    response.json().await.expect("task json")
}

#[tokio::test]
async fn a_task_is_created_read_and_listed_with_its_defaults_and_version() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let mut body = task_body("Ping", "https://example.com/health");
    // Read-only and foreign fields change nothing.
    body["id"] = json!(Uuid::nil());
    body["owner_id"] = json!(Uuid::nil());
    body["next_run_at"] = json!("2000-01-01T00:00:00Z");
    let response = app.post_as(&user.access_token, "/tasks", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let etag = response.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_owned();
    let task: Value = response.json().await.expect("json");
    let id = task["id"].as_str().expect("id");
    assert_ne!(id, Uuid::nil().to_string());
    assert_eq!(location, format!("/tasks/{id}"));
    assert_eq!(task["owner_id"], json!(user.id));
    assert_eq!(task["status"], "ACTIVE");
    assert_eq!(task["timeout_seconds"], 30);
    assert_eq!(task["retry"]["max_attempts"], 2);
    assert_eq!(task["retry"]["initial_delay_seconds"], 10);
    assert_eq!(task["catch_up_policy"], "LATEST");
    assert_eq!(task["schedule"]["dst_policy"], "SHIFT_ONCE");
    assert_eq!(task["last_execution"], Value::Null);
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(task["next_run_at"].clone()).expect("next_run_at");
    assert!(
        next > chrono::Utc::now() && next.timestamp() % 300 == 0,
        "{next}"
    );

    let read = app.get_as(&user.access_token, &location).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.headers()["etag"].to_str().expect("etag"), etag);
    let read: Value = read.json().await.expect("json");
    assert_eq!(read["name"], "Ping");
    assert_eq!(
        read["action"]["config"]["url"],
        "https://example.com/health"
    );

    let list: Value = app.get_json_as(&user.access_token, "/tasks").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["items"][0]["id"], id);
    assert_eq!(list["next_cursor"], Value::Null);
}

#[tokio::test]
async fn another_owners_task_is_a_404_everywhere() {
    let app = spawn_app().await;
    let owner = app.login_as("USER").await;
    let stranger = app.login_as("USER").await;
    let task = create(&app, &owner, &task_body("Mine", "https://example.com/")).await;
    let id = task["id"].as_str().expect("id");
    let token = &stranger.access_token;
    for path in [
        format!("/tasks/{id}"),
        format!("/tasks/{id}/logs"),
        format!("/tasks/{id}/next-runs"),
    ] {
        let response = app.get_as(token, &path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "GET {path}");
    }
    for action in ["execute", "pause", "resume", "stop", "duplicate"] {
        let response = app
            .post_as(token, &format!("/tasks/{id}/{action}"), &json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "POST {action}");
    }
    let patched = app
        .patch_as(token, &format!("/tasks/{id}"), &json!({"name": "theirs"}))
        .await;
    assert_eq!(patched.status(), StatusCode::NOT_FOUND);
    let deleted = app.delete_as(token, &format!("/tasks/{id}")).await;
    assert_eq!(deleted.status(), StatusCode::NOT_FOUND);
    let list: Value = app.get_json_as(token, "/tasks").await;
    assert_eq!(list["items"], json!([]));
    // The owner's task is untouched.
    let mine: Value = app
        .get_json_as(&owner.access_token, &format!("/tasks/{id}"))
        .await;
    assert_eq!(mine["name"], "Mine");
    assert_eq!(mine["status"], "ACTIVE");
}

#[tokio::test]
async fn invalid_definitions_name_every_failing_field() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let response = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({
                "name": "",
                "action": {"type": "HTTP_REQUEST", "config": {"url": "ftp://example.com"}},
                "schedule": {"cron": "61 * * * *", "timezone": "Mars/Olympus"},
                "timeout_seconds": 0,
                "retry": {"multiplier": 0.5},
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields = problem_fields(&problem(response).await);
    for field in [
        "name",
        "action.config.url",
        "schedule.cron",
        "timeout_seconds",
        "retry.multiplier",
    ] {
        assert!(fields.contains(&field.to_owned()), "{field} in {fields:?}");
    }
    let unknown_type = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({"name": "x", "action": {"type": "FTP_UPLOAD"}}),
        )
        .await;
    assert_eq!(unknown_type.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem_fields(&problem(unknown_type).await),
        ["action.type"]
    );
    let failed_status = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({"name": "x", "status": "FAILED",
                    "action": {"type": "HTTP_REQUEST", "config": {"url": "https://example.com"}}}),
        )
        .await;
    assert_eq!(failed_status.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem(failed_status).await), ["status"]);
    let list: Value = app.get_json_as(&user.access_token, "/tasks").await;
    assert_eq!(list["items"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn lists_filter_sort_and_page_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let mut names = Vec::new();
    for n in 0..7 {
        let mut body = task_body(&format!("task {n}"), "https://example.com/");
        if n % 2 == 0 {
            body["tags"] = json!(["even"]);
            body["description"] = json!("Checks the Warehouse");
        }
        if n == 3 {
            body["status"] = json!("PAUSED");
        }
        create(&app, &user, &body).await;
        names.push(format!("task {n}"));
    }
    let token = &user.access_token;
    // Page through by name, two at a time.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/tasks?sort=name&limit=2&cursor={c}"),
            None => "/tasks?sort=name&limit=2".to_owned(),
        };
        let page: Value = app.get_json_as(token, &path).await;
        for item in page["items"].as_array().expect("items") {
            seen.push(item["name"].as_str().expect("name").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, names, "every task once, in name order");
    // Newest first by default.
    let newest: Value = app.get_json_as(token, "/tasks?limit=1").await;
    assert_eq!(newest["items"][0]["name"], "task 6");

    let count = |value: Value| value["items"].as_array().map_or(0, Vec::len);
    let even: Value = app.get_json_as(token, "/tasks?tag=even").await;
    assert_eq!(count(even), 4);
    let paused: Value = app.get_json_as(token, "/tasks?status=PAUSED").await;
    assert_eq!(paused["items"][0]["name"], "task 3");
    assert_eq!(count(paused), 1);
    let searched: Value = app.get_json_as(token, "/tasks?q=warehouse").await;
    assert_eq!(count(searched), 4);
    let wildcard: Value = app.get_json_as(token, "/tasks?q=%25").await;
    assert_eq!(count(wildcard), 0, "% is matched literally");
    let by_type: Value = app.get_json_as(token, "/tasks?action_type=API_CALL").await;
    assert_eq!(count(by_type), 0);

    // A cursor belongs to its sort; bad parameters are named.
    let first: Value = app.get_json_as(token, "/tasks?sort=name&limit=2").await;
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let mixed = app
        .get_as(token, &format!("/tasks?sort=created_at&cursor={cursor}"))
        .await;
    assert_eq!(mixed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem(mixed).await), ["query.cursor"]);
    let limit = app.get_as(token, "/tasks?limit=1000").await;
    assert_eq!(problem_fields(&problem(limit).await), ["query.limit"]);
    let status = app.get_as(token, "/tasks?status=RUNNING").await;
    assert_eq!(status.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn patch_merges_put_replaces_and_if_match_refuses_stale_changes() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let task = create(&app, &user, &task_body("Ping", "https://example.com/")).await;
    let path = format!("/tasks/{}", task["id"].as_str().expect("id"));
    let token = &user.access_token;
    let etag = app.get_as(token, &path).await.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_owned();

    let patched = app
        .client
        .patch(app.url(&path))
        .bearer_auth(token)
        .header("content-type", "application/merge-patch+json")
        .header("if-match", &etag)
        .body(r#"{"schedule": {"cron": "0 3 * * *"}, "description": "nightly"}"#)
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), StatusCode::OK);
    let new_etag = patched.headers()["etag"].to_str().expect("etag").to_owned();
    assert_ne!(new_etag, etag);
    let patched: Value = patched.json().await.expect("json");
    assert_eq!(patched["schedule"]["cron"], "0 3 * * *");
    assert_eq!(patched["schedule"]["timezone"], "Europe/Berlin", "kept");
    assert_eq!(patched["name"], "Ping", "kept");
    assert_eq!(patched["description"], "nightly");
    assert_ne!(
        patched["next_run_at"], task["next_run_at"],
        "moved to the new schedule"
    );

    // The old version is refused, and nothing changes.
    let stale = app
        .client
        .patch(app.url(&path))
        .bearer_auth(token)
        .header("if-match", &etag)
        .json(&json!({"name": "stale"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let current: Value = app.get_json_as(token, &path).await;
    assert_eq!(current["name"], "Ping");

    // `null` removes the schedule: the task then runs only when triggered.
    let unscheduled: Value = app
        .patch_as(token, &path, &json!({"schedule": null}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(unscheduled["schedule"], Value::Null);
    assert_eq!(unscheduled["next_run_at"], Value::Null);

    // PUT replaces the whole definition; a status in it moves the task.
    let mut replacement = task_body("Renamed", "https://example.org/");
    replacement["status"] = json!("PAUSED");
    let replaced = app
        .client
        .put(app.url(&path))
        .bearer_auth(token)
        .json(&replacement)
        .send()
        .await
        .expect("put");
    assert_eq!(replaced.status(), StatusCode::OK);
    let replaced: Value = replaced.json().await.expect("json");
    assert_eq!(replaced["name"], "Renamed");
    assert_eq!(
        replaced["description"], "",
        "PUT does not keep omitted fields"
    );
    assert_eq!(replaced["status"], "PAUSED");

    let bad = app
        .patch_as(token, &path, &json!({"schedule": {"cron": "not a cron"}}))
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem(bad).await), ["schedule.cron"]);
    let array = app.patch_as(token, &path, &json!([1])).await;
    assert_eq!(array.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn execute_runs_the_task_once_per_idempotency_key() {
    let app = spawn_engine_app(&[]).await;
    let sink = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let mut body = task_body("Run me", &sink.url("/ok"));
    body["schedule"] = Value::Null;
    let task = create(&app, &user, &body).await;
    let path = format!("/tasks/{}/execute", task["id"].as_str().expect("id"));
    let send = |key: &'static str, input: Value| {
        app.client
            .post(app.url(&path))
            .bearer_auth(&user.access_token)
            .header("idempotency-key", key)
            .json(&json!({"input": input}))
            .send()
    };
    let first = send("order-42", json!({"order": 42}))
        .await
        .expect("execute");
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.expect("json");
    let execution_id: Uuid = first["execution_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let again = send("order-42", json!({"order": 42}))
        .await
        .expect("execute");
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["execution_id"], first["execution_id"]);
    let other_input = send("order-42", json!({"order": 43}))
        .await
        .expect("execute");
    assert_eq!(other_input.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem_fields(&problem(other_input).await),
        ["header.Idempotency-Key"]
    );

    wait_until(Duration::from_secs(10), "the execution succeeds", || {
        has_status(&app.db, execution_id, ExecutionStatus::Succeeded)
    })
    .await;
    assert_eq!(sink.requests_to("/ok").len(), 1, "one run for one key");
    let execution: Value = app
        .get_json_as(&user.access_token, &format!("/executions/{execution_id}"))
        .await;
    assert_eq!(execution["status"], "SUCCEEDED");
    assert_eq!(execution["trigger_kind"], "MANUAL");
    assert_eq!(execution["input"], json!({"order": 42}));
    assert_eq!(execution["outcome"]["status"], 200);
    assert!(
        !execution["logs"].as_array().expect("logs").is_empty(),
        "log lines are included"
    );
    for internal in ["instance_id", "lease_expires_at", "run_after"] {
        assert!(
            execution.get(internal).is_none(),
            "the queue's {internal} is not shown"
        );
    }
    // The task shows it as its last execution.
    let task: Value = app
        .get_json_as(
            &user.access_token,
            &format!("/tasks/{}", task["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(task["last_execution"]["id"], json!(execution_id));
    assert_eq!(task["last_execution"]["status"], "SUCCEEDED");

    // No body at all is an empty input.
    let bare = app
        .client
        .post(app.url(&path))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .expect("execute");
    assert_eq!(bare.status(), StatusCode::ACCEPTED);
    let bad_key = app
        .client
        .post(app.url(&path))
        .bearer_auth(&user.access_token)
        .header("idempotency-key", "")
        .send()
        .await
        .expect("execute");
    assert_eq!(
        problem_fields(&problem(bad_key).await),
        ["header.Idempotency-Key"]
    );
}

#[tokio::test]
async fn status_changes_control_runs_and_a_duplicate_starts_paused() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let token = &user.access_token;
    let task = create(&app, &user, &task_body("Ping", "https://example.com/")).await;
    let id = task["id"].as_str().expect("id");
    let stopped: Value = app
        .post_json_as(token, &format!("/tasks/{id}/stop"), &json!({}))
        .await;
    assert_eq!(stopped["status"], "STOPPED");
    let refused = app
        .post_as(token, &format!("/tasks/{id}/execute"), &json!({}))
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let resumed: Value = app
        .post_json_as(token, &format!("/tasks/{id}/resume"), &json!({}))
        .await;
    assert_eq!(resumed["status"], "ACTIVE");
    assert!(resumed["next_run_at"].is_string());
    let paused: Value = app
        .post_json_as(token, &format!("/tasks/{id}/pause"), &json!({}))
        .await;
    assert_eq!(paused["status"], "PAUSED");

    let copy = app
        .post_as(token, &format!("/tasks/{id}/duplicate"), &json!({}))
        .await;
    assert_eq!(copy.status(), StatusCode::CREATED);
    let copy: Value = copy.json().await.expect("json");
    assert_ne!(copy["id"], task["id"]);
    assert_eq!(copy["name"], "Ping (copy)");
    assert_eq!(copy["status"], "PAUSED");
    assert_eq!(copy["action"], task["action"]);
    assert_eq!(copy["schedule"], task["schedule"]);
    let named: Value = app
        .post_json_as(
            token,
            &format!("/tasks/{id}/duplicate"),
            &json!({"name": "Second"}),
        )
        .await;
    assert_eq!(named["name"], "Second");

    let deleted = app.delete_as(token, &format!("/tasks/{id}")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app.get_as(token, &format!("/tasks/{id}")).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn logs_show_executions_and_skipped_slots_newest_first() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let token = &user.access_token;
    let mut body = task_body("Every minute", "https://example.com/");
    body["schedule"] = json!({"cron": "* * * * *"});
    let task = create(&app, &user, &body).await;
    let id: Uuid = task["id"].as_str().expect("id").parse().expect("uuid");
    app.post_as(token, &format!("/tasks/{id}/pause"), &json!({}))
        .await;
    // The task was paused for three slots (as if time had passed).
    sqlx::query("UPDATE tasks SET next_run_at = date_trunc('minute', now()) - interval '3 minutes' WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .expect("rewind");
    app.post_as(token, &format!("/tasks/{id}/resume"), &json!({}))
        .await;
    let executed: Value = app
        .post_json_as(token, &format!("/tasks/{id}/execute"), &json!({}))
        .await;

    let page: Value = app.get_json_as(token, &format!("/tasks/{id}/logs")).await;
    let items = page["items"].as_array().expect("items");
    assert!(items.len() >= 4, "{page}");
    assert_eq!(items[0]["kind"], "EXECUTION");
    assert_eq!(items[0]["execution_id"], executed["execution_id"]);
    assert_eq!(items[0]["status"], "QUEUED");
    let skipped: Vec<&Value> = items.iter().filter(|i| i["kind"] == "SKIPPED").collect();
    assert!(skipped.len() >= 3, "{page}");
    assert!(
        skipped
            .iter()
            .all(|i| i["reason"] == "PAUSED" && i["status"] == "SKIPPED")
    );
    // Compared as instants: as text, `…:00Z` sorts after `…:00.41Z` of the same second.
    let times: Vec<chrono::DateTime<chrono::Utc>> = items
        .iter()
        .map(|i| i["at"].as_str().expect("at").parse().expect("RFC 3339"))
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");

    // One at a time, every entry once.
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/tasks/{id}/logs?limit=1&cursor={c}"),
            None => format!("/tasks/{id}/logs?limit=1"),
        };
        let page: Value = app.get_json_as(token, &path).await;
        for item in page["items"].as_array().expect("items") {
            assert!(seen.insert(item.to_string()), "repeated {item}");
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), items.len());

    let only_skipped: Value = app
        .get_json_as(token, &format!("/tasks/{id}/logs?status=SKIPPED"))
        .await;
    assert_eq!(
        only_skipped["items"].as_array().map(Vec::len),
        Some(skipped.len())
    );
    let bad = app
        .get_as(token, &format!("/tasks/{id}/logs?status=NOPE"))
        .await;
    assert_eq!(problem_fields(&problem(bad).await), ["query.status"]);
}

#[tokio::test]
async fn next_runs_follow_the_schedule_zone_and_window() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let token = &user.access_token;
    let mut body = task_body("Nightly", "https://example.com/");
    body["schedule"] = json!({"cron": "30 2 * * *", "timezone": "America/New_York",
                              "start_at": "2030-03-01T00:00:00Z", "end_at": "2030-03-12T00:00:00Z"});
    let task = create(&app, &user, &body).await;
    let id = task["id"].as_str().expect("id");
    let runs: Value = app
        .get_json_as(token, &format!("/tasks/{id}/next-runs?count=20"))
        .await;
    let schedule = &runs["schedule"];
    let next = schedule["next_runs"].as_array().expect("runs");
    assert_eq!(next.len(), 11, "1 to 11 March only: {runs}");
    assert_eq!(next[0]["utc"], "2030-03-01T07:30:00Z");
    assert_eq!(next[0]["local"], "2030-03-01T02:30:00-05:00");
    // 10 March 2030: 02:30 does not exist in New York; it runs at 03:00 EDT.
    assert_eq!(next[9]["utc"], "2030-03-10T07:00:00Z");
    assert!(!schedule["dst_notes"].as_array().expect("notes").is_empty());
    assert_eq!(task["next_run_at"], next[0]["utc"]);

    let bad = app
        .get_as(token, &format!("/tasks/{id}/next-runs?count=0"))
        .await;
    assert_eq!(problem_fields(&problem(bad).await), ["query.count"]);
    let mut unscheduled = task_body("On demand", "https://example.com/");
    unscheduled["schedule"] = Value::Null;
    let on_demand = create(&app, &user, &unscheduled).await;
    let none: Value = app
        .get_json_as(
            token,
            &format!("/tasks/{}/next-runs", on_demand["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(none["schedule"], Value::Null);
}

#[tokio::test]
async fn executions_are_cancelled_and_retried_by_their_owner_only() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let stranger = app.login_as("USER").await;
    let task = create(&app, &user, &task_body("Ping", "https://example.com/")).await;
    let id = task["id"].as_str().expect("id");
    let queued: Value = app
        .post_json_as(
            &user.access_token,
            &format!("/tasks/{id}/execute"),
            &json!({}),
        )
        .await;
    let execution = queued["execution_id"].as_str().expect("id");
    let theirs = app
        .post_as(
            &stranger.access_token,
            &format!("/executions/{execution}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let hidden = app
        .get_as(&stranger.access_token, &format!("/executions/{execution}"))
        .await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);

    let cancelled = app
        .post_as(
            &user.access_token,
            &format!("/executions/{execution}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::ACCEPTED);
    let cancelled: Value = cancelled.json().await.expect("json");
    assert_eq!(cancelled["status"], "CANCELLED");
    let again = app
        .post_as(
            &user.access_token,
            &format!("/executions/{execution}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let retried = app
        .post_as(
            &user.access_token,
            &format!("/executions/{execution}/retry"),
            &json!({}),
        )
        .await;
    assert_eq!(retried.status(), StatusCode::ACCEPTED);
    let retried: Value = retried.json().await.expect("json");
    assert_ne!(retried["execution_id"], queued["execution_id"]);
    let retry: Value = app
        .get_json_as(
            &user.access_token,
            &format!(
                "/executions/{}",
                retried["execution_id"].as_str().expect("id")
            ),
        )
        .await;
    assert_eq!(retry["trigger_kind"], "RETRY");
    assert_eq!(retry["retry_of"], queued["execution_id"]);
    assert_eq!(retry["status"], "QUEUED");
}

#[tokio::test]
async fn api_v1_serves_the_same_tasks_to_keys_with_the_right_scopes() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let reader = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let reader = reader["key"].as_str().expect("key");
    let writer = app
        .create_api_key(
            &user.access_token,
            &[
                "tasks:read",
                "tasks:write",
                "tasks:execute",
                "executions:read",
            ],
        )
        .await;
    let writer = writer["key"].as_str().expect("key");
    let body = task_body("Via key", "https://example.com/");

    let refused = app
        .client
        .post(app.url("/api/v1/tasks"))
        .header("x-api-key", reader)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem(refused).await["code"], "INSUFFICIENT_SCOPE");

    let created = app
        .client
        .post(app.url("/api/v1/tasks"))
        .header("x-api-key", writer)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        created_location(&app, writer, &id).await,
        StatusCode::OK,
        "readable with a key"
    );
    // The same task on the dashboard routes, for the signed-in owner.
    let listed: Value = app.get_json_as(&user.access_token, "/tasks").await;
    assert_eq!(listed["items"][0]["id"], id.as_str());
    let listed_by_key: Value = app
        .get_with_key(reader, "/api/v1/tasks")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed_by_key["items"][0]["id"], id.as_str());

    // Keys are for /api/v1 only; a reader cannot run the task.
    let dashboard = app.get_with_key(writer, "/tasks").await;
    assert_eq!(dashboard.status(), StatusCode::UNAUTHORIZED);
    let run_refused = app
        .client
        .post(app.url(&format!("/api/v1/tasks/{id}/execute")))
        .header("x-api-key", reader)
        .send()
        .await
        .expect("post");
    assert_eq!(run_refused.status(), StatusCode::FORBIDDEN);
    let run = app
        .client
        .post(app.url(&format!("/api/v1/tasks/{id}/execute")))
        .header("x-api-key", writer)
        .json(&json!({"input": {"from": "integration"}}))
        .send()
        .await
        .expect("post");
    assert_eq!(run.status(), StatusCode::ACCEPTED);
    let execution = run.json::<Value>().await.expect("json")["execution_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let read: Value = app
        .get_with_key(writer, &format!("/api/v1/executions/{execution}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read["trigger_kind"], "API");
    assert_eq!(read["input"], json!({"from": "integration"}));
    let no_scope = app
        .get_with_key(reader, &format!("/api/v1/executions/{execution}"))
        .await;
    assert_eq!(no_scope.status(), StatusCode::FORBIDDEN);
}

async fn created_location(app: &TestApp, key: &str, id: &str) -> StatusCode {
    app.get_with_key(key, &format!("/api/v1/tasks/{id}"))
        .await
        .status()
}

#[tokio::test]
async fn executions_are_listed_across_tasks_with_filters() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let stranger = app.login_as("USER").await;
    let token = &user.access_token;
    let mut ids = Vec::new();
    for name in ["First", "Second"] {
        let task = create(&app, &user, &task_body(name, "https://example.com/")).await;
        for _ in 0..2 {
            let run: Value = app
                .post_json_as(
                    token,
                    &format!("/tasks/{}/execute", task["id"].as_str().expect("id")),
                    &json!({}),
                )
                .await;
            ids.push(run["execution_id"].as_str().expect("id").to_owned());
        }
    }
    let cancelled = app
        .post_as(token, &format!("/executions/{}/cancel", ids[0]), &json!({}))
        .await;
    assert_eq!(cancelled.status(), StatusCode::ACCEPTED);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/executions?limit=3&cursor={c}"),
            None => "/executions?limit=3".to_owned(),
        };
        let page: Value = app.get_json_as(token, &path).await;
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let only_cancelled: Value = app.get_json_as(token, "/executions?status=CANCELLED").await;
    let items = only_cancelled["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], ids[0].as_str());
    assert_eq!(items[0]["task_name"], "First");
    let theirs: Value = app.get_json_as(&stranger.access_token, "/executions").await;
    assert_eq!(theirs["items"], json!([]));
    let bad = app.get_as(token, "/executions?status=LOST").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}
