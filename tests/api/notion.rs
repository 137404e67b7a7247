//! Notion end to end against the local fake (`notion_fake`): the OAuth round trip and the
//! `/notion/*` routes, and NOTION_SYNC tasks run by the real engine (create a page, query a
//! database into the result, update matching pages, rate limits, Notion's validation errors).

use nocron::{
    executions::{control, model::TriggerKind},
    scheduler::worker,
    tasks::model::{ActionType, NewTask, Task},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    engine_support::{MANUAL_ENGINE, Row, executions, spawn_engine_app},
    helpers::{TestApp, TestUser, problem, spawn_app},
    notion_fake::{CLIENT_ID, CLIENT_SECRET, FakeNotion, INTEGRATION_TOKEN, VERSION, plain},
};

/// Where Notion sends the browser back in production; the tests replay the query on the app.
const REDIRECT_URI: &str = "https://nocron.example/notion/oauth/callback";

const ORDERS: &[(&str, &str)] = &[
    ("Name", "title"),
    ("Amount", "number"),
    ("Status", "select"),
    ("Done", "checkbox"),
    ("Notes", "rich_text"),
];

/// An app with the engine driven by the test, pointed at the fake.
async fn app_for(fake: &FakeNotion) -> TestApp {
    let mut settings = MANUAL_ENGINE.to_vec();
    settings.extend_from_slice(&[
        ("NOTION_API_URL", fake.base.as_str()),
        ("NOTION_CLIENT_ID", CLIENT_ID),
        ("NOTION_CLIENT_SECRET", CLIENT_SECRET),
        ("NOTION_REDIRECT_URI", REDIRECT_URI),
    ]);
    spawn_engine_app(&settings).await
}

/// `GET /notion/oauth/authorize` as the user's browser: the answer and the state cookie it
/// set (`name=value`).
async fn authorize(app: &TestApp, user: &TestUser) -> (Value, String) {
    let response = app
        .get_as(&user.access_token, "/notion/oauth/authorize")
        .await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    (response.json().await.expect("json"), cookie)
}

/// Approves on the fake's consent page: the query Notion redirects the browser back with.
async fn consent(app: &TestApp, authorize: &Value) -> String {
    let consent = authorize["url"].as_str().expect("url");
    let redirect = app.client.get(consent).send().await.expect("consent");
    assert!(redirect.status().is_redirection(), "{}", redirect.status());
    let location = reqwest::Url::parse(redirect.headers()["location"].to_str().expect("location"))
        .expect("redirect URL");
    assert!(location.as_str().starts_with(REDIRECT_URI));
    location.query().expect("query").to_owned()
}

/// The callback as a browser sends it, with the cookie it holds (if any).
async fn callback(app: &TestApp, query: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(&format!("/notion/oauth/callback?{query}")));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("callback")
}

/// Goes through the OAuth dance as a browser would; returns the callback's answer.
async fn connect(app: &TestApp, user: &TestUser) -> reqwest::Response {
    let (authorize, cookie) = authorize(app, user).await;
    let query = consent(app, &authorize).await;
    callback(app, &query, Some(&cookie)).await
}

fn notion_task(owner: Uuid, config: Value) -> NewTask {
    let mut task = NewTask::new(owner, "notion sync", ActionType::NotionSync, config);
    task.retry.max_attempts = 1;
    task
}

/// Queues one run of `task` with `input`, runs one worker batch, returns the execution.
async fn run(app: &TestApp, task: &Task, input: Value) -> Row {
    let queued = control::enqueue(
        &app.engine(),
        task.id,
        task.owner_id,
        TriggerKind::Manual,
        input,
        None,
    )
    .await
    .expect("enqueue")
    .execution_id;
    let ran = worker::run_batch(&app.engine(), 10)
        .await
        .expect("run batch");
    assert_eq!(ran, [queued]);
    executions(&app.db, task.id)
        .await
        .into_iter()
        .find(|row| row.id == queued)
        .expect("execution")
}

async fn log_lines(app: &TestApp, execution_id: Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT message FROM execution_logs WHERE execution_id = $1 ORDER BY id")
        .bind(execution_id)
        .fetch_all(&app.db)
        .await
        .expect("logs")
}

#[tokio::test]
async fn the_oauth_round_trip_stores_the_token_sealed_and_lists_the_shared_databases() {
    let fake = FakeNotion::start(2).await;
    for title in ["Orders", "Customers", "Invoices"] {
        fake.add_database(title, ORDERS);
    }
    let app = app_for(&fake).await;
    let user = app.login_as("USER").await;

    let authorize: Value = app
        .get_as(&user.access_token, "/notion/oauth/authorize")
        .await
        .json()
        .await
        .expect("json");
    let url = reqwest::Url::parse(authorize["url"].as_str().expect("url")).expect("url");
    assert_eq!(url.path(), "/v1/oauth/authorize");
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["owner"], "user");
    assert_eq!(query["redirect_uri"], REDIRECT_URI);
    assert!(query["state"].len() >= 43, "a 256-bit state");
    assert_eq!(authorize["expires_in"], 600);

    let connected = connect(&app, &user).await;
    assert_eq!(connected.status(), 200);
    let connected: Value = connected.json().await.expect("json");
    assert_eq!(connected["workspace_name"], "Acme Ops");
    assert_eq!(
        connected["workspace_id"],
        "a0a0a0a0-0000-4000-8000-000000000001"
    );
    assert!(connected.get("access_token").is_none());

    // The exchange followed Notion's documentation: Basic client auth, a JSON grant.
    let exchange = fake.requests_to("POST", "/v1/oauth/token").remove(0);
    assert!(exchange.headers["authorization"].starts_with("Basic "));
    assert_eq!(exchange.body["grant_type"], "authorization_code");
    assert_eq!(exchange.body["redirect_uri"], REDIRECT_URI);
    // The token is stored sealed: its plaintext is nowhere in the row.
    let (sealed, key_id): (Vec<u8>, String) =
        sqlx::query_as("SELECT access_token, key_id FROM notion_connections WHERE user_id = $1")
            .bind(user.id)
            .fetch_one(&app.db)
            .await
            .expect("connection row");
    assert!(!key_id.is_empty());
    assert!(!String::from_utf8_lossy(&sealed).contains("ntn_oauth_"));

    // Databases come from /v1/search, page by page (the fake answers two at a time).
    let listed = app.get_as(&user.access_token, "/notion/databases").await;
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.expect("json");
    let titles: Vec<&str> = listed["databases"]
        .as_array()
        .expect("databases")
        .iter()
        .map(|d| d["title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles, ["Orders", "Customers", "Invoices"]);
    assert_eq!(listed["has_more"], false);
    let searches = fake.requests_to("POST", "/v1/search");
    assert_eq!(searches.len(), 2);
    assert!(searches[0].headers["authorization"].starts_with("Bearer ntn_oauth_"));
    assert_eq!(searches[0].headers["notion-version"], VERSION);
    assert_eq!(
        searches[1].body["start_cursor"],
        listed["databases"][2]["id"]
    );

    // Nobody else sees the connection.
    let other = app.login_as("USER").await;
    assert_eq!(
        app.get_as(&other.access_token, "/notion/connection")
            .await
            .status(),
        404
    );
    let mine = app.get_as(&user.access_token, "/notion/connection").await;
    assert_eq!(mine.status(), 200);

    // Disconnecting deletes the token.
    assert_eq!(
        app.delete_as(&user.access_token, "/notion/connection")
            .await
            .status(),
        204
    );
    let after = app.get_as(&user.access_token, "/notion/databases").await;
    assert_eq!(after.status(), 409);
    assert_eq!(
        app.delete_as(&user.access_token, "/notion/connection")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn a_state_works_once_and_a_declined_consent_connects_nothing() {
    let fake = FakeNotion::start(100).await;
    let app = app_for(&fake).await;
    let user = app.login_as("USER").await;
    let (authorize, cookie) = authorize(&app, &user).await;
    let url = reqwest::Url::parse(authorize["url"].as_str().expect("url")).expect("url");
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let declined = callback(
        &app,
        &format!("error=access_denied&state={state}"),
        Some(&cookie),
    )
    .await;
    assert_eq!(declined.status(), 400);
    // The state was used up by the declined attempt.
    let replay = callback(&app, &format!("code=anything&state={state}"), Some(&cookie)).await;
    assert_eq!(replay.status(), 400);
    let forged = app.get("/notion/oauth/callback?code=x&state=forged").await;
    assert_eq!(forged.status(), 400);
    assert_eq!(problem(forged).await["code"], "BAD_REQUEST");
    assert!(fake.requests_to("POST", "/v1/oauth/token").is_empty());
    assert_eq!(
        app.get_as(&user.access_token, "/notion/connection")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn a_victims_browser_cannot_finish_an_attackers_notion_connection_without_the_state_cookie() {
    let fake = FakeNotion::start(100).await;
    let app = app_for(&fake).await;
    let attacker = app.login_as("USER").await;
    let victim = app.login_as("USER").await;
    // The attacker starts a flow on their own account, approves it, and instead of following
    // the redirect sends the callback link to the victim.
    let (attackers_authorize, attackers_cookie) = authorize(&app, &attacker).await;
    let link = consent(&app, &attackers_authorize).await;
    // The cookie is for this flow only, unreadable by scripts, sent on the top-level
    // redirect back from Notion, and only over https when the callback is https.
    let set_cookie = app
        .get_as(&attacker.access_token, "/notion/oauth/authorize")
        .await
        .headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Max-Age=600",
        "Path=/notion/oauth/callback",
    ] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains(&link), "the cookie is not the state");

    // The victim's browser has no cookie for that flow...
    let no_cookie = callback(&app, &link, None).await;
    assert_eq!(no_cookie.status(), 400);
    let refusal = problem(no_cookie).await;
    assert_eq!(refusal["code"], "BAD_REQUEST");
    assert!(
        refusal["detail"]
            .as_str()
            .expect("detail")
            .contains("cookie")
    );
    // ...or one of its own flow, which does not match.
    let (_, victims_cookie) = authorize(&app, &victim).await;
    let other_cookie = callback(&app, &link, Some(&victims_cookie)).await;
    assert_eq!(other_cookie.status(), 400);
    let forged = callback(&app, &link, Some("nocron_notion_oauth=AAAA")).await;
    assert_eq!(forged.status(), 400);
    assert!(fake.requests_to("POST", "/v1/oauth/token").is_empty());
    for user in [&victim, &attacker] {
        assert_eq!(
            app.get_as(&user.access_token, "/notion/connection")
                .await
                .status(),
            404
        );
    }

    // The browser that started the flow finishes it, and the cookie is cleared.
    let finished = callback(&app, &link, Some(&attackers_cookie)).await;
    assert_eq!(finished.status(), 200);
    let cleared = finished.headers()["set-cookie"].to_str().expect("ascii");
    assert!(cleared.starts_with("nocron_notion_oauth=;") && cleared.contains("Max-Age=0"));
    assert_eq!(
        app.get_as(&attacker.access_token, "/notion/connection")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get_as(&victim.access_token, "/notion/connection")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn without_notion_settings_the_routes_say_so() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let authorize = app
        .get_as(&user.access_token, "/notion/oauth/authorize")
        .await;
    assert_eq!(authorize.status(), 404);
    assert_eq!(
        problem(authorize).await["code"],
        "INTEGRATION_NOT_CONFIGURED"
    );
    let callback = app.get("/notion/oauth/callback?code=x&state=y").await;
    assert_eq!(callback.status(), 404);
    let databases = app.get_as(&user.access_token, "/notion/databases").await;
    assert_eq!(databases.status(), 409);
    assert_eq!(app.get("/notion/databases").await.status(), 401);
}

#[tokio::test]
async fn a_create_page_task_sends_notions_documented_request() {
    let fake = FakeNotion::start(100).await;
    let database = fake.add_database("Orders", ORDERS);
    let app = app_for(&fake).await;
    let user = app.login_as("USER").await;
    let task = app
        .create_task(&notion_task(
            user.id,
            json!({
                "operation": "create_page",
                "database_id": database.replace('-', ""),
                "token": INTEGRATION_TOKEN,
                "properties": {
                    "Name": {"title": "Order {{ input.order.number }}"},
                    "Amount": {"number": "{{ input.order.total }}"},
                    "Status": {"select": {"name": "{{ input.order.status }}"}},
                    "Notes": {"rich_text": [{"type": "text", "text": {"content": "from {{ input.source }}"}}]}
                },
                "children": [{"object": "block", "type": "paragraph", "paragraph": {"rich_text": [{"type": "text", "text": {"content": "{{ input.source }}"}}]}}]
            }),
        ))
        .await;
    let execution = run(
        &app,
        &task,
        json!({"order": {"number": 42, "total": 99.5, "status": "open"}, "source": "shop"}),
    )
    .await;
    assert_eq!(execution.status, "SUCCEEDED", "{:?}", execution.error);

    let sent = fake.requests_to("POST", "/v1/pages").remove(0);
    assert_eq!(
        sent.headers["authorization"],
        format!("Bearer {INTEGRATION_TOKEN}")
    );
    assert_eq!(sent.headers["notion-version"], VERSION);
    assert!(sent.headers["content-type"].starts_with("application/json"));
    assert_eq!(sent.body["parent"], json!({"database_id": database}));
    assert_eq!(
        sent.body["properties"]["Name"]["title"],
        json!([{"type": "text", "text": {"content": "Order 42"}}])
    );
    assert_eq!(sent.body["properties"]["Amount"]["number"], json!(99.5));
    assert_eq!(
        sent.body["children"][0]["paragraph"]["rich_text"][0]["text"]["content"],
        "shop"
    );

    let pages = fake.pages_of(&database);
    assert_eq!(pages.len(), 1);
    assert_eq!(plain(&pages[0]["properties"]["Name"]["title"]), "Order 42");
    assert_eq!(pages[0]["properties"]["Status"]["select"]["name"], "open");
    let outcome = execution.outcome.expect("outcome");
    assert_eq!(outcome["operation"], "create_page");
    assert_eq!(outcome["page"]["id"], pages[0]["id"]);
    assert_eq!(outcome["page"]["url"], pages[0]["url"]);
    // The token is in neither the outcome nor the log.
    let logs = log_lines(&app, execution.id).await.join("\n");
    assert!(logs.contains("created Notion page"));
    assert!(!logs.contains(INTEGRATION_TOKEN) && !outcome.to_string().contains(INTEGRATION_TOKEN));
}

#[tokio::test]
async fn without_a_token_the_owners_connection_is_used() {
    let fake = FakeNotion::start(100).await;
    let database = fake.add_database("Orders", ORDERS);
    let app = app_for(&fake).await;
    let user = app.login_as("USER").await;
    let config = json!({
        "operation": "create_page",
        "database_id": database,
        "properties": {"Name": {"title": "{{ input.name }}"}}
    });
    let task = app.create_task(&notion_task(user.id, config.clone())).await;
    // Not connected yet: a clear failure, not a call with no token.
    let unconnected = run(&app, &task, json!({"name": "first"})).await;
    assert_eq!(unconnected.status, "DEAD");
    assert!(unconnected.error.expect("error").contains("connect Notion"));
    assert!(fake.requests_to("POST", "/v1/pages").is_empty());

    assert_eq!(connect(&app, &user).await.status(), 200);
    let connected = run(&app, &task, json!({"name": "second"})).await;
    assert_eq!(connected.status, "SUCCEEDED", "{:?}", connected.error);
    let sent = fake.requests_to("POST", "/v1/pages").remove(0);
    assert!(sent.headers["authorization"].starts_with("Bearer ntn_oauth_"));

    // Another user's task does not get this user's connection.
    let stranger = app.login_as("USER").await;
    let theirs = app.create_task(&notion_task(stranger.id, config)).await;
    assert_eq!(
        run(&app, &theirs, json!({"name": "third"})).await.status,
        "DEAD"
    );
    assert_eq!(fake.pages_of(&database).len(), 1);
}

#[tokio::test]
async fn a_query_reads_every_page_of_results_up_to_the_limit() {
    let fake = FakeNotion::start(2).await;
    let database = fake.add_database("Orders", ORDERS);
    for i in 1..=6 {
        fake.add_page(
            &database,
            json!({
                "Name": {"title": [{"text": {"content": format!("Order {i}")}}]},
                "Done": {"checkbox": i % 3 == 0},
            }),
        );
    }
    let app = app_for(&fake).await;
    let user = app.login_as("USER").await;
    let open = app
        .create_task(&notion_task(
            user.id,
            json!({
                "operation": "query_database",
                "database_id": database,
                "token": INTEGRATION_TOKEN,
                "filter": {"property": "Done", "checkbox": {"equals": "{{ input.done }}"}},
                "sorts": [{"property": "Name", "direction": "ascending"}]
            }),
        ))
        .await;
    let execution = run(&app, &open, json!({"done": false})).await;
    assert_eq!(execution.status, "SUCCEEDED", "{:?}", execution.error);
    let outcome = execution.outcome.expect("outcome");
    assert_eq!(outcome["count"], 4);
    assert_eq!(outcome["truncated"], false);
    let names: Vec<String> = outcome["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|page| plain(&page["properties"]["Name"]["title"]))
        .collect();
    assert_eq!(names, ["Order 1", "Order 2", "Order 4", "Order 5"]);
    let queries = fake.requests_to("POST", &format!("/v1/databases/{database}/query"));
    assert_eq!(queries.len(), 2, "two pages of two");
    assert_eq!(
        queries[0].body["filter"]["checkbox"]["equals"],
        json!(false)
    );
    assert!(queries[0].body.get("start_cursor").is_none());
    assert_eq!(queries[1].body["start_cursor"], outcome["results"][2]["id"]);

    // A limit stops early and says more matched.
    let capped = app
        .create_task(&notion_task(
            user.id,
            json!({
                "operation": "query_database",
                "database_id": database,
                "token": INTEGRATION_TOKEN,
                "limit": 3
            }),
        ))
        .await;
    let outcome = run(&app, &capped, json!({}))
        .await
        .outcome
        .expect("outcome");
    assert_eq!(outcome["count"], 3);
    assert_eq!(outcome["truncated"], true);
}

#[tokio::test]
async fn update_pages_patches_each_page_the_filter_matches() {
    let fake = FakeNotion::start(100).await;
    let database = fake.add_database("Orders", ORDERS);
    let mut ids = Vec::new();
    for (name, status) in [("A", "open"), ("B", "shipped"), ("C", "open")] {
        ids.push(fake.add_page(
            &database,
            json!({
                "Name": {"title": [{"text": {"content": name}}]},
                "Status": {"select": {"name": status}},
                "Done": {"checkbox": false}
            }),
        ));
    }
    let app = app_for(&fake).await;
    let user = app.login_as("USER").await;
    let task = app
        .create_task(&notion_task(
            user.id,
            json!({
                "operation": "update_pages",
                "database_id": database,
                "token": INTEGRATION_TOKEN,
                "filter": {"property": "Status", "select": {"equals": "open"}},
                "properties": {"Done": {"checkbox": true}, "Notes": {"rich_text": "closed by {{ input.who }}"}}
            }),
        ))
        .await;
    let execution = run(&app, &task, json!({"who": "nightly job"})).await;
    assert_eq!(execution.status, "SUCCEEDED", "{:?}", execution.error);
    let outcome = execution.outcome.expect("outcome");
    assert_eq!(outcome["matched"], 2);
    assert_eq!(outcome["updated"], json!([ids[0], ids[2]]));
    assert_eq!(outcome["titles"], json!(["A", "C"]));
    for (id, done) in [(&ids[0], true), (&ids[1], false), (&ids[2], true)] {
        let page = fake.page(id);
        assert_eq!(page["properties"]["Done"]["checkbox"], done, "{id}");
    }
    assert_eq!(
        plain(&fake.page(&ids[2])["properties"]["Notes"]["rich_text"]),
        "closed by nightly job"
    );
    let patches = fake.requests_to("PATCH", &format!("/v1/pages/{}", ids[0]));
    assert_eq!(patches[0].headers["notion-version"], VERSION);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_when_retry_after_fits_and_retried_later_when_not() {
    let fake = FakeNotion::start(100).await;
    let database = fake.add_database("Orders", ORDERS);
    let app = app_for(&fake).await;
    let user = app.login_as("USER").await;
    let config = json!({
        "operation": "create_page",
        "database_id": database,
        "token": INTEGRATION_TOKEN,
        "properties": {"Name": {"title": "{{ input.name }}"}}
    });
    let task = app.create_task(&notion_task(user.id, config.clone())).await;
    fake.rate_limit("/v1/pages", 1, 1);
    let waited = run(&app, &task, json!({"name": "patient"})).await;
    assert_eq!(waited.status, "SUCCEEDED", "{:?}", waited.error);
    assert_eq!(fake.requests_to("POST", "/v1/pages").len(), 2);
    let logs = log_lines(&app, waited.id).await;
    assert!(
        logs.iter()
            .any(|l| l.contains("Notion rate limit: waiting 1 s")),
        "{logs:?}"
    );

    // Retry-After beyond the attempt's deadline: the attempt fails as retryable and the
    // task's retry policy runs it again.
    let mut retried = notion_task(user.id, config);
    retried.timeout_seconds = 5;
    retried.retry.max_attempts = 2;
    retried.retry.initial_delay_seconds = 1;
    let task = app.create_task(&retried).await;
    fake.rate_limit("/v1/pages", 1, 120);
    let first = run(&app, &task, json!({"name": "later"})).await;
    assert_eq!(first.status, "FAILED");
    let outcome = first.outcome.expect("outcome");
    assert_eq!(outcome["status"], 429);
    assert_eq!(outcome["code"], "rate_limited");
    assert_eq!(outcome["retryable"], true);
    assert_eq!(outcome["retry_after_seconds"], 120);
    let retry = executions(&app.db, task.id).await;
    assert_eq!(retry.len(), 2, "a retry is queued");
    let (app_ref, task_id) = (&app, task.id);
    crate::engine_support::wait_until(
        std::time::Duration::from_secs(10),
        "the retry",
        move || async move {
            worker::run_batch(&app_ref.engine(), 10)
                .await
                .expect("batch");
            executions(&app_ref.db, task_id).await[1].status == "SUCCEEDED"
        },
    )
    .await;
}

#[tokio::test]
async fn notions_validation_errors_fail_with_its_code_and_message_and_are_not_retryable() {
    let fake = FakeNotion::start(100).await;
    let database = fake.add_database("Orders", ORDERS);
    let app = app_for(&fake).await;
    let user = app.login_as("USER").await;
    let task = app
        .create_task(&notion_task(
            user.id,
            json!({
                "operation": "create_page",
                "database_id": database,
                "token": INTEGRATION_TOKEN,
                "properties": {"Name": {"title": "x"}, "Colour": {"select": {"name": "red"}}}
            }),
        ))
        .await;
    let execution = run(&app, &task, json!({})).await;
    assert_eq!(execution.status, "DEAD");
    let outcome = execution.outcome.expect("outcome");
    assert_eq!(outcome["status"], 400);
    assert_eq!(outcome["code"], "validation_error");
    assert_eq!(outcome["message"], "Colour is not a property that exists.");
    assert_eq!(outcome["retryable"], false);
    let error = execution.error.expect("error");
    assert!(
        error.contains("validation_error") && error.contains("not retryable"),
        "{error}"
    );

    // A database the integration cannot see is Notion's 404 object_not_found.
    let missing = app
        .create_task(&notion_task(
            user.id,
            json!({
                "operation": "query_database",
                "database_id": Uuid::new_v4(),
                "token": INTEGRATION_TOKEN
            }),
        ))
        .await;
    let outcome = run(&app, &missing, json!({}))
        .await
        .outcome
        .expect("outcome");
    assert_eq!(outcome["code"], "object_not_found");
    // A wrong token is Notion's 401.
    let wrong = app
        .create_task(&notion_task(
            user.id,
            json!({
                "operation": "query_database",
                "database_id": database,
                "token": "secret_wrong"
            }),
        ))
        .await;
    let outcome = run(&app, &wrong, json!({})).await.outcome.expect("outcome");
    assert_eq!(outcome["code"], "unauthorized");
}

#[tokio::test]
async fn a_bad_configuration_is_refused_when_the_task_is_saved() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let errors = nocron::actions::validate_config(
        ActionType::NotionSync,
        &json!({"operation": "update_pages", "database_id": "not-an-id", "properties": {}}),
    );
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "action.config.database_id",
            "action.config.properties",
            "action.config.filter"
        ]
    );
    let refused = nocron::tasks::db::create_task(
        &app.db,
        &app.state.events,
        &notion_task(
            user.id,
            json!({"operation": "create_page", "database_id": Uuid::new_v4()}),
        ),
    )
    .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn rotating_the_master_key_reseals_notion_tokens() {
    use base64::Engine as _;
    use nocron::{
        notion::connection::{self, Grant},
        secrets::{MasterKey, SecretValue, Vault},
    };
    let key = |id: &str, byte: u8| {
        let encoded = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
        MasterKey::parse(&format!("{id}:{encoded}")).expect("key")
    };
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let old = Vault::new(key("old", 1), vec![]);
    let grant = Grant {
        access_token: SecretValue::new("ntn_rotate_me".into()),
        workspace_id: "w".into(),
        workspace_name: None,
        workspace_icon: None,
        bot_id: "b".into(),
    };
    connection::save(&app.db, &old, user.id, &grant)
        .await
        .expect("save");
    let rotated = Vault::new(key("new", 2), vec![key("old", 1)]);
    let (count, failed) = connection::rotate_all(&app.db, &rotated)
        .await
        .expect("rotate");
    assert_eq!((count, failed.len()), (1, 0));
    let new_only = Vault::new(key("new", 2), vec![]);
    let token = connection::access_token(&app.db, &new_only, user.id)
        .await
        .expect("load")
        .expect("connected");
    assert_eq!(token.expose(), "ntn_rotate_me");
    // Done: a second run finds nothing; a token sealed for one user opens for no other.
    assert_eq!(
        connection::rotate_all(&app.db, &rotated)
            .await
            .expect("again")
            .0,
        0
    );
    sqlx::query("UPDATE notion_connections SET user_id = $1")
        .bind(app.login_as("USER").await.id)
        .execute(&app.db)
        .await
        .expect("move the row");
    let moved: Uuid = sqlx::query_scalar("SELECT user_id FROM notion_connections")
        .fetch_one(&app.db)
        .await
        .expect("row");
    assert!(
        connection::access_token(&app.db, &new_only, moved)
            .await
            .is_err()
    );
}
