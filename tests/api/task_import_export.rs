//! `GET /tasks/export` and `POST /tasks/import`: a round trip through JSON and CSV gives the
//! same definitions; hostile input (too many rows, malformed CSV, a bad cron, formulas,
//! another owner's names) is refused or neutralised, and nothing leaks across owners.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    action_support::create_secret,
    helpers::{TestApp, TestUser, problem, problem_fields, spawn_app, spawn_app_with},
};

/// Creates a task; answers its id.
async fn create(app: &TestApp, user: &TestUser, body: Value) -> String {
    let response = app.post_as(&user.access_token, "/tasks", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "create {body}");
    let task: Value = response.json().await.expect("task");
    task["id"].as_str().expect("id").to_owned()
}

fn http_task(name: &str) -> Value {
    json!({"name": name, "action": {"type": "HTTP_REQUEST",
        "config": {"url": "https://example.com/hook"}}})
}

/// `GET path` as the user: status and body text.
async fn export(app: &TestApp, user: &TestUser, query: &str) -> (StatusCode, String, String) {
    let response = app
        .get_as(&user.access_token, &format!("/tasks/export?{query}"))
        .await;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("text"))
}

/// `POST /tasks/import?query` with this body and content type.
async fn import(
    app: &TestApp,
    user: &TestUser,
    query: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(&format!("/tasks/import?{query}")))
        .bearer_auth(&user.access_token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let answer: Value = response.json().await.expect("JSON answer");
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
    (status, answer)
}

async fn delete_all(app: &TestApp, user: &TestUser) {
    let page = app
        .get_json_as(&user.access_token, "/tasks?limit=100")
        .await;
    for task in page["items"].as_array().expect("items") {
        let id = task["id"].as_str().expect("id");
        let response = app
            .delete_as(&user.access_token, &format!("/tasks/{id}"))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
}

/// Tasks with a schedule, a webhook trigger, a chain, alert rules and a secret reference.
async fn seed(app: &TestApp, user: &TestUser) {
    create_secret(app, user, "API_TOKEN", "tok_never_exported_123").await;
    let source = create(
        app,
        user,
        json!({"name": "=nightly sync", "description": "-starts with a minus",
               "tags": ["etl", "night"],
               "schedule": {"cron": "0 3 * * *", "timezone": "Europe/Paris"},
               "action": {"type": "HTTP_REQUEST", "config": {
                   "url": "https://example.com/sync",
                   "headers": {"Authorization": "Bearer {{ secrets.API_TOKEN }}"}}},
               "priority": 7, "status": "PAUSED"}),
    )
    .await;
    let follower = create(app, user, http_task("report after sync")).await;
    let response = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{follower}/chains"),
            &json!({"source_task_id": source, "on": "SUCCEEDED"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{follower}/webhooks"),
            &json!({"name": "from CI", "signature": "standard_webhooks"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{source}/alert-rules"),
            &json!({"kind": "DURATION_OVER", "params": {"ms": 60000}, "channels": ["IN_APP"],
                    "repeat_every_minutes": 30}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn export_delete_import_gives_the_same_definitions_in_json_and_csv() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    seed(&app, &user).await;

    let (status, content_type, json_export) = export(&app, &user, "format=json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert!(
        !json_export.contains("tok_never_exported_123"),
        "a secret value leaked: {json_export}"
    );
    assert!(json_export.contains("{{ secrets.API_TOKEN }}"));
    let records: Value = serde_json::from_str(&json_export).expect("a JSON array");
    assert_eq!(records.as_array().expect("array").len(), 2);
    let follower = &records[1];
    assert_eq!(
        follower["chains"],
        json!([{"after": "=nightly sync", "on": "SUCCEEDED"}])
    );
    assert_eq!(follower["webhooks"][0]["name"], "from CI");
    assert!(follower["webhooks"][0].get("secret").is_none());
    assert!(records[0].get("id").is_none(), "ids are not exported");

    let (status, content_type, csv_export) = export(&app, &user, "format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    assert!(!csv_export.contains("tok_never_exported_123"));

    // JSON round trip.
    delete_all(&app, &user).await;
    let (status, report) = import(&app, &user, "", "application/json", json_export.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 2, "{report}");
    assert!(
        report["rows"][1]["webhooks"][0]["url"]
            .as_str()
            .is_some_and(|url| url.contains("/hooks/")),
        "{report}"
    );
    let (_, _, again) = export(&app, &user, "format=json").await;
    assert_eq!(
        serde_json::from_str::<Value>(&again).expect("json"),
        records,
        "the JSON round trip changed a definition"
    );

    // CSV round trip.
    delete_all(&app, &user).await;
    let (status, report) = import(&app, &user, "", "text/csv", csv_export.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["created"], 2, "{report}");
    let (_, _, again) = export(&app, &user, "format=csv").await;
    assert_eq!(again, csv_export, "the CSV round trip changed a definition");
    let (_, _, again) = export(&app, &user, "format=json").await;
    assert_eq!(
        serde_json::from_str::<Value>(&again).expect("json"),
        records
    );
}

#[tokio::test]
async fn csv_export_guards_formulas_and_import_takes_a_multipart_upload() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    create(&app, &user, http_task("=HYPERLINK(\"http://evil\")")).await;
    create(&app, &user, http_task("@SUM(A1)")).await;
    let (_, _, csv_export) = export(&app, &user, "format=csv").await;
    let mut reader = csv::Reader::from_reader(csv_export.as_bytes());
    let names: Vec<String> = reader
        .records()
        .map(|r| r.expect("record")[1].to_owned())
        .collect();
    assert_eq!(names, ["'=HYPERLINK(\"http://evil\")", "'@SUM(A1)"]);

    // The same file as an upload: both match by name and are skipped by default.
    let boundary = "nocron-test-boundary";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"tasks.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv_export}\r\n--{boundary}--\r\n"
    );
    let (status, report) = import(
        &app,
        &user,
        "",
        &format!("multipart/form-data; boundary={boundary}"),
        form,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["skipped"], 2, "{report}");
    assert_eq!(report["rows"][0]["name"], "=HYPERLINK(\"http://evil\")");
}

#[tokio::test]
async fn a_bad_cron_names_its_row_and_field_and_all_or_nothing_writes_nothing() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let mut bad = http_task("bad cron");
    bad["schedule"] = json!({"cron": "61 * * * *"});
    let rows = json!([http_task("fine"), bad]);
    let (status, report) = import(&app, &user, "", "application/json", rows.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["applied"], false);
    assert_eq!(report["rows"][1]["row"], 2);
    assert_eq!(report["rows"][1]["status"], "FAILED");
    assert_eq!(
        report["rows"][1]["errors"][0]["field"], "schedule.cron",
        "{report}"
    );
    assert_eq!(report["rows"][0]["status"], "CREATED");
    let page = app.get_json_as(&user.access_token, "/tasks").await;
    assert_eq!(page["items"], json!([]), "all_or_nothing wrote a row");

    // The same rows as a dry run: the report, nothing written.
    let (status, report) = import(
        &app,
        &user,
        "dry_run=true&mode=partial",
        "application/json",
        rows.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (report["created"].clone(), report["failed"].clone()),
        (json!(1), json!(1))
    );
    assert!(report["rows"][0].get("task_id").is_none());
    let page = app.get_json_as(&user.access_token, "/tasks").await;
    assert_eq!(page["items"], json!([]), "a dry run wrote a row");
    // A dry run of the default mode answers as that import would: 422 with the report.
    let (status, report) = import(
        &app,
        &user,
        "dry_run=true",
        "application/json",
        rows.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (report["dry_run"].clone(), report["applied"].clone()),
        (json!(true), json!(false))
    );

    // Partial: the valid row is imported.
    let (status, report) = import(
        &app,
        &user,
        "mode=partial",
        "application/json",
        rows.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["applied"], true);
    let page = app.get_json_as(&user.access_token, "/tasks").await;
    assert_eq!(page["items"].as_array().expect("items").len(), 1);

    // In CSV the row and column are named the same way.
    let csv = "name,action_type,action_config,schedule\r\n\
               ok,HTTP_REQUEST,\"{\"\"url\"\":\"\"https://example.com/\"\"}\",\r\n\
               late,HTTP_REQUEST,\"{\"\"url\"\":\"\"https://example.com/\"\"}\",\"{\"\"cron\"\":\"\"* * * *\"\"}\"\r\n";
    let (status, report) = import(&app, &user, "", "text/csv", csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(
        report["rows"][1]["errors"][0]["field"], "schedule.cron",
        "{report}"
    );
}

#[tokio::test]
async fn more_than_10000_rows_and_malformed_csv_are_refused() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let mut csv = String::from("name,action_type\n");
    for i in 0..10_001 {
        csv.push_str(&format!("t{i},HTTP_REQUEST\n"));
    }
    let (status, answer) = import(&app, &user, "", "text/csv", csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "rows");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("10000")
    );
    let rows: Vec<Value> = (0..10_001)
        .map(|i| json!({"name": format!("t{i}")}))
        .collect();
    let (status, answer) = import(
        &app,
        &user,
        "",
        "application/json",
        Value::from(rows).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "rows");

    let (status, answer) = import(
        &app,
        &user,
        "",
        "text/csv",
        "name,action_type\na,HTTP_REQUEST,extra\n",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .expect("detail")
            .contains("line 2"),
        "{answer}"
    );
    let (status, answer) = import(&app, &user, "", "text/csv", "nom,action_type\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&answer), ["header[0]"]);
    let (status, _) = import(&app, &user, "", "text/csv", b"name\n\xff\xfe\n".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = import(&app, &user, "", "application/json", "[{").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, answer) = import(&app, &user, "", "application/json", "{}").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&answer), ["body"]);
    let (status, _) = import(&app, &user, "", "text/plain", "x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let page = app.get_json_as(&user.access_token, "/tasks").await;
    assert_eq!(page["items"], json!([]));
}

#[tokio::test]
async fn another_owners_task_names_neither_match_nor_leak() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let other = app.login_as("USER").await;
    create(&app, &other, http_task("their secret project")).await;

    // Their name matches nothing of ours: created, not skipped.
    let (status, report) = import(
        &app,
        &user,
        "",
        "application/json",
        json!([http_task("their secret project")]).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["rows"][0]["status"], "CREATED", "{report}");

    // A chain after their task is not found.
    let mut chained = http_task("mine");
    chained["chains"] = json!([{"after": "their only task", "on": "ANY"}]);
    create(&app, &other, http_task("their only task")).await;
    let (status, report) = import(
        &app,
        &user,
        "",
        "application/json",
        json!([chained]).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{report}");
    assert_eq!(report["rows"][0]["errors"][0]["field"], "chains[0].after");

    // Our export holds our tasks only.
    let (_, _, exported) = export(&app, &user, "format=json").await;
    let records: Value = serde_json::from_str(&exported).expect("json");
    assert_eq!(records.as_array().expect("array").len(), 1);
    assert!(!exported.contains("their only task"));
}

#[tokio::test]
async fn conflicts_are_skipped_updated_or_renamed_by_name_or_external_id() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let mut row = http_task("ping");
    row["external_id"] = json!("crm-1");
    let rows = json!([row]).to_string();
    let (_, report) = import(&app, &user, "", "application/json", rows.clone()).await;
    assert_eq!(report["rows"][0]["status"], "CREATED");
    let id = report["rows"][0]["task_id"].clone();

    let (_, report) = import(&app, &user, "", "application/json", rows.clone()).await;
    assert_eq!(report["rows"][0]["status"], "SKIPPED");
    assert_eq!(report["rows"][0]["task_id"], id);

    // Matched on external_id although the name changed.
    let mut renamed = row.clone();
    renamed["name"] = json!("ping v2");
    renamed["priority"] = json!(9);
    let (_, report) = import(
        &app,
        &user,
        "on_conflict=update",
        "application/json",
        json!([renamed]).to_string(),
    )
    .await;
    assert_eq!(report["rows"][0]["status"], "UPDATED", "{report}");
    assert_eq!(report["rows"][0]["task_id"], id);
    let task = app
        .get_json_as(
            &user.access_token,
            &format!("/tasks/{}", id.as_str().expect("id")),
        )
        .await;
    assert_eq!(
        (task["name"].clone(), task["priority"].clone()),
        (json!("ping v2"), json!(9))
    );

    // By name, renamed.
    let (_, report) = import(
        &app,
        &user,
        "on_conflict=rename",
        "application/json",
        json!([http_task("ping v2"), http_task("ping v2")]).to_string(),
    )
    .await;
    assert_eq!(report["rows"][0]["name"], "ping v2 (2)", "{report}");
    assert_eq!(report["rows"][1]["name"], "ping v2 (3)", "{report}");
    let (status, answer) = import(&app, &user, "on_conflict=merge", "application/json", "[]").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
}

#[tokio::test]
async fn api_keys_need_tasks_read_to_export_and_tasks_write_to_import() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    create(&app, &user, http_task("keyed")).await;
    let reader = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let reader = reader["key"].as_str().expect("key");
    let response = app
        .get_with_key(reader, "/api/v1/tasks/export?format=csv")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let exported = response.text().await.expect("text");
    assert!(exported.contains("keyed"));
    let response = app
        .client
        .post(app.url("/api/v1/tasks/import"))
        .header("x-api-key", reader)
        .header("content-type", "text/csv")
        .body(exported.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = problem(response).await;
    assert_eq!(body["code"], "INSUFFICIENT_SCOPE");

    let writer = app
        .create_api_key(&user.access_token, &["tasks:write"])
        .await;
    let writer = writer["key"].as_str().expect("key");
    let response = app
        .client
        .post(app.url("/api/v1/tasks/import?on_conflict=rename"))
        .header("x-api-key", writer)
        .header("content-type", "text/csv")
        .body(exported)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.expect("report");
    assert_eq!(report["rows"][0]["name"], "keyed (2)");
    let response = app.get_with_key(writer, "/api/v1/tasks/export").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_plan_limit_refuses_an_import_that_would_pass_it() {
    // BASIC allows 10 tasks when billing is on.
    let app = spawn_app_with(&[("STRIPE_SECRET_KEY", "sk_test_billing")]).await;
    let user = app.login_as("USER").await;
    let rows: Vec<Value> = (0..11).map(|i| http_task(&format!("t{i}"))).collect();
    let body = Value::from(rows).to_string();
    let (status, answer) = import(&app, &user, "", "application/json", body.clone()).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{answer}");
    assert_eq!(answer["code"], "PLAN_LIMIT_REACHED");
    assert_eq!(answer["limit_name"], "max_tasks");
    let page = app.get_json_as(&user.access_token, "/tasks").await;
    assert_eq!(page["items"], json!([]));
    // Partial: the first ten are imported, the eleventh is refused with the reason.
    let (status, report) = import(&app, &user, "mode=partial", "application/json", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (report["created"].clone(), report["failed"].clone()),
        (json!(10), json!(1))
    );
    assert!(
        report["rows"][10]["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("10 tasks")),
        "{report}"
    );
}
