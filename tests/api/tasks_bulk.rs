//! `POST /tasks/bulk`: one action on many tasks, all or nothing or item by item, with each
//! id's result; another owner's task is reported as not found and never touched.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, problem, problem_fields, spawn_app};

/// Creates a task through the API; answers its id.
async fn task(app: &TestApp, user: &TestUser, name: &str) -> String {
    let response = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({"name": name, "tags": ["a"],
                    "action": {"type": "HTTP_REQUEST", "config": {"url": "https://example.com/"}}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("task");
    body["id"].as_str().expect("id").to_owned()
}

/// The task as the server has it now.
async fn stored(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let response = app
        .get_as(&user.access_token, &format!("/tasks/{id}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("task")
}

async fn bulk(app: &TestApp, user: &TestUser, body: Value) -> (StatusCode, Value) {
    let response = app.post_as(&user.access_token, "/tasks/bulk", &body).await;
    let status = response.status();
    let answer: Value = response.json().await.expect("body");
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{body}: {answer}"
    );
    (status, answer)
}

fn statuses(answer: &Value) -> Vec<&str> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {answer}"))
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect()
}

#[tokio::test]
async fn all_or_nothing_rolls_every_item_back_when_one_is_another_owners() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let other = app.login_as("USER").await;
    let (a, b) = (task(&app, &user, "a").await, task(&app, &user, "b").await);
    let foreign = task(&app, &other, "theirs").await;

    let (status, answer) = bulk(
        &app,
        &user,
        json!({"action": "pause", "ids": [a, foreign, b]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["applied"], false);
    assert_eq!(
        statuses(&answer),
        ["ROLLED_BACK", "NOT_FOUND", "ROLLED_BACK"]
    );
    assert_eq!(answer["failed"], 1);
    for id in [&a, &b] {
        assert_eq!(stored(&app, &user, id).await["status"], "ACTIVE");
    }
    assert_eq!(stored(&app, &other, &foreign).await["status"], "ACTIVE");

    // The same request item by item pauses what it may.
    let (_, answer) = bulk(
        &app,
        &user,
        json!({"action": "pause", "ids": [a, foreign, b], "mode": "partial"}),
    )
    .await;
    assert_eq!(answer["applied"], true);
    assert_eq!(statuses(&answer), ["OK", "NOT_FOUND", "OK"]);
    assert_eq!(answer["succeeded"], 2);
    for id in [&a, &b] {
        assert_eq!(stored(&app, &user, id).await["status"], "PAUSED");
    }
    assert_eq!(stored(&app, &other, &foreign).await["status"], "ACTIVE");

    let (_, answer) = bulk(&app, &user, json!({"action": "resume", "ids": [a, b]})).await;
    assert_eq!(statuses(&answer), ["OK", "OK"]);
    assert_eq!(stored(&app, &user, &a).await["status"], "ACTIVE");
}

#[tokio::test]
async fn tags_priority_execute_and_delete_apply_to_each_task() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let (a, b) = (task(&app, &user, "a").await, task(&app, &user, "b").await);

    let (_, answer) = bulk(
        &app,
        &user,
        json!({"action": "add_tags", "ids": [a, b], "tags": ["nightly", "a"]}),
    )
    .await;
    assert_eq!(statuses(&answer), ["OK", "OK"]);
    assert_eq!(
        stored(&app, &user, &a).await["tags"],
        json!(["a", "nightly"])
    );
    let (_, answer) = bulk(
        &app,
        &user,
        json!({"action": "remove_tags", "ids": [b], "tags": ["a"]}),
    )
    .await;
    assert_eq!(statuses(&answer), ["OK"]);
    assert_eq!(stored(&app, &user, &b).await["tags"], json!(["nightly"]));

    let (_, answer) = bulk(
        &app,
        &user,
        json!({"action": "set_priority", "ids": [a, b], "priority": 8}),
    )
    .await;
    assert_eq!(statuses(&answer), ["OK", "OK"]);
    assert_eq!(stored(&app, &user, &b).await["priority"], 8);

    let (_, answer) = bulk(&app, &user, json!({"action": "execute", "ids": [a]})).await;
    assert_eq!(statuses(&answer), ["OK"]);
    let execution = answer["results"][0]["execution_id"]
        .as_str()
        .expect("queued");
    let response = app
        .get_as(&user.access_token, &format!("/executions/{execution}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let run: Value = response.json().await.expect("execution");
    assert_eq!(run["task_id"], a.as_str());

    let (_, answer) = bulk(&app, &user, json!({"action": "delete", "ids": [a, b]})).await;
    assert_eq!(statuses(&answer), ["OK", "OK"]);
    for id in [&a, &b] {
        let response = app
            .get_as(&user.access_token, &format!("/tasks/{id}"))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn bad_bulk_requests_name_the_field_and_keys_need_their_scope() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let a = task(&app, &user, "a").await;
    let too_many: Vec<String> = (0..1001)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    for (body, field) in [
        (json!({"action": "pause", "ids": []}), "ids"),
        (json!({"action": "pause", "ids": too_many}), "ids"),
        (json!({"action": "pause", "ids": [a, a]}), "ids[1]"),
        (json!({"action": "set_priority", "ids": [a]}), "priority"),
        (
            json!({"action": "set_priority", "ids": [a], "priority": 10}),
            "priority",
        ),
        (json!({"action": "add_tags", "ids": [a]}), "tags"),
        (
            json!({"action": "add_tags", "ids": [a], "tags": [""]}),
            "tags[0]",
        ),
        (json!({"action": "explode", "ids": [a]}), "action"),
    ] {
        let response = app.post_as(&user.access_token, "/tasks/bulk", &body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let problem = problem(response).await;
        assert!(
            problem_fields(&problem).iter().any(|f| f == field),
            "{field}: {problem}"
        );
    }

    let key = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let key = key["key"].as_str().expect("key");
    let response = app
        .send_json_with_key(
            Method::POST,
            key,
            "/api/v1/tasks/bulk",
            &json!({"action": "pause", "ids": [a]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(stored(&app, &user, &a).await["status"], "ACTIVE");
}

#[tokio::test]
async fn a_filter_selects_the_callers_matching_tasks_and_excludes_ids() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let other = app.login_as("USER").await;
    let (a, b) = (
        task(&app, &user, "alpha one").await,
        task(&app, &user, "alpha two").await,
    );
    let beta = task(&app, &user, "beta").await;
    let foreign = task(&app, &other, "alpha theirs").await;

    let (status, answer) = bulk(
        &app,
        &user,
        json!({"action": "pause", "filter": {"q": "alpha", "status": "ACTIVE"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["matched"], 2);
    let ids: Vec<&str> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    assert_eq!(stored(&app, &user, &a).await["status"], "PAUSED");
    assert_eq!(stored(&app, &user, &beta).await["status"], "ACTIVE");
    assert_eq!(stored(&app, &other, &foreign).await["status"], "ACTIVE");

    // The request's audit event names each task it acted on.
    let response = app
        .post_as(
            &user.access_token,
            "/tasks/bulk",
            &json!({"action": "resume", "filter": {"q": "alpha"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("request id")
        .to_owned();
    let event = crate::audit::event_of(&app.db, &request_id).await;
    let targets = event["targets"].as_array().expect("targets");
    for id in [&a, &b] {
        assert!(
            targets
                .iter()
                .any(|t| t["type"] == "task" && t["id"] == id.as_str()),
            "{event}"
        );
    }
    assert!(!targets.iter().any(|t| t["id"] == foreign.as_str()));

    // Nothing matches: nothing to do.
    let (status, answer) = bulk(
        &app,
        &user,
        json!({"action": "resume", "filter": {"tag": "none"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (answer["matched"].clone(), answer["results"].clone()),
        (json!(0), json!([]))
    );

    let (status, answer) = bulk(
        &app,
        &user,
        json!({"action": "pause", "ids": [a], "filter": {"q": "alpha"}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&answer), ["filter"]);
    let (status, answer) = bulk(&app, &user, json!({"action": "pause"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&answer), ["ids"]);
    let (status, answer) = bulk(
        &app,
        &user,
        json!({"action": "pause", "filter": {"q": "x".repeat(201)}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&answer), ["filter.q"]);
}

#[tokio::test]
async fn a_filter_matching_more_than_1000_tasks_is_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    // Stored directly: 1,001 tasks through the API would only slow the test down.
    sqlx::query(
        "INSERT INTO tasks (id, owner_id, name, action_type, action_config, status)
         SELECT gen_random_uuid(), $1, 'many ' || n, 'HTTP_REQUEST',
                '{\"url\": \"https://example.com/\"}', 'ACTIVE'
         FROM generate_series(1, 1001) AS n",
    )
    .bind(user.id)
    .execute(&app.db)
    .await
    .expect("tasks");
    let (status, answer) = bulk(
        &app,
        &user,
        json!({"action": "pause", "filter": {"q": "many"}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(problem_fields(&answer), ["filter"]);
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("1000")
    );
    let paused: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tasks WHERE owner_id = $1 AND status = 'PAUSED'")
            .bind(user.id)
            .fetch_one(&app.db)
            .await
            .expect("count");
    assert_eq!(paused, 0);
    // Exactly 1,000 is allowed.
    sqlx::query("DELETE FROM tasks WHERE owner_id = $1 AND name = 'many 1001'")
        .bind(user.id)
        .execute(&app.db)
        .await
        .expect("delete");
    let (status, answer) = bulk(
        &app,
        &user,
        json!({"action": "add_tags", "tags": ["x"], "filter": {"q": "many"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["matched"], 1000);
    assert_eq!(answer["succeeded"], 1000);
}
