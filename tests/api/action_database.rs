//! DATABASE_QUERY run by the engine against a scratch database on the test PostgreSQL
//! server: rows as JSON with bound parameters, the row cap, read-only by default, writes
//! when allowed, the statement timeout, the outbound policy, and Nocron's own database
//! refused.

use std::time::{Duration, Instant};

use nocron::tasks::model::ActionType;
use serde_json::{Value, json};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection, postgres::PgConnectOptions};

use crate::{
    action_support::{create_secret, run_action},
    engine_support::spawn_manual_app,
    helpers::{TestApp, TestUser},
};

/// A database of "the user's", on the same server as the test database.
struct Scratch {
    name: String,
    options: PgConnectOptions,
}

impl Scratch {
    async fn create(app: &TestApp) -> Self {
        let name = format!("actions_scratch_{}", uuid::Uuid::new_v4().simple());
        let mut admin = app.database.admin_connection().await;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create scratch database");
        admin.close().await.ok();
        let scratch = Scratch {
            options: app.database.options.clone().database(&name),
            name,
        };
        let mut conn = scratch.connect().await;
        conn.execute(
            "CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, total numeric(10,2),
                                  placed date, tags jsonb);
             INSERT INTO orders VALUES
               (1, 'Ann', 12.50, '2026-11-01', '[\"vip\"]'),
               (2, 'Bob', 5.00, '2026-11-02', '[]'),
               (3, 'Cy', 99.99, '2026-11-03', null);",
        )
        .await
        .expect("fill scratch database");
        conn.close().await.ok();
        scratch
    }

    fn url(&self) -> String {
        self.options.to_url_lossy().to_string()
    }

    async fn connect(&self) -> PgConnection {
        PgConnection::connect_with(&self.options)
            .await
            .expect("connect scratch")
    }

    async fn count(&self) -> i64 {
        let mut conn = self.connect().await;
        let count = sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&mut conn)
            .await
            .expect("count");
        conn.close().await.ok();
        count
    }

    async fn drop_database(self, app: &TestApp) {
        let mut admin = app.database.admin_connection().await;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await
            .expect("drop scratch");
    }
}

async fn setup() -> (TestApp, TestUser, Scratch) {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    let scratch = Scratch::create(&app).await;
    create_secret(&app, &user, "PG_URL", &scratch.url()).await;
    (app, user, scratch)
}

fn query(sql: &str, extra: Value) -> Value {
    let mut config = json!({"connection": "{{ secrets.PG_URL }}", "sql": sql});
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

#[tokio::test]
async fn rows_come_back_as_json_with_bound_parameters_and_a_row_cap() {
    let (app, user, scratch) = setup().await;
    let run = run_action(
        &app,
        &user,
        ActionType::DatabaseQuery,
        query(
            "SELECT id, customer, total, placed, tags FROM orders WHERE total > $1 AND customer <> $2 ORDER BY id;",
            json!({"params": [10, "nobody'; DROP TABLE orders; --"]}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(run.status, "SUCCEEDED", "{:?}", run.error);
    assert_eq!(
        run.outcome["rows"],
        json!([
            {"id": 1, "customer": "Ann", "total": 12.50, "placed": "2026-11-01", "tags": ["vip"]},
            {"id": 3, "customer": "Cy", "total": 99.99, "placed": "2026-11-03", "tags": null}
        ])
    );
    assert_eq!(run.outcome["row_count"], 2);
    assert_eq!(run.outcome["truncated"], false);
    assert_eq!(
        scratch.count().await,
        3,
        "the parameter was bound, not spliced"
    );
    let url = url::Url::parse(&scratch.url()).expect("url");
    if let Some(password) = url.password() {
        assert!(!run.text.contains(password), "the password is redacted");
    }

    let capped = run_action(
        &app,
        &user,
        ActionType::DatabaseQuery,
        query("SELECT id FROM orders ORDER BY id", json!({"max_rows": 2})),
        json!({}),
    )
    .await;
    assert_eq!(capped.status, "SUCCEEDED", "{:?}", capped.error);
    assert_eq!(capped.outcome["rows"], json!([{"id": 1}, {"id": 2}]));
    assert_eq!(capped.outcome["truncated"], true);
    assert_eq!(capped.outcome["truncated_by"], "max_rows");
    scratch.drop_database(&app).await;
}

#[tokio::test]
async fn writes_are_refused_unless_allowed() {
    let (app, user, scratch) = setup().await;
    for (sql, expected) in [
        (
            "INSERT INTO orders VALUES (4, 'Dee', 1, null, null)",
            "cannot execute INSERT in a read-only transaction",
        ),
        (
            "UPDATE orders SET total = 0 RETURNING id",
            "cannot execute UPDATE in a read-only transaction",
        ),
        (
            "WITH gone AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM gone",
            "must be at the top level",
        ),
        (
            "SELECT set_config('transaction_read_only', 'off', true)",
            "read-write mode must be set before any query",
        ),
    ] {
        let run = run_action(
            &app,
            &user,
            ActionType::DatabaseQuery,
            query(sql, json!({})),
            json!({}),
        )
        .await;
        assert_eq!(run.status, "DEAD", "{sql}");
        let error = run.error.expect("error");
        assert!(error.contains(expected), "{sql}: {error}");
    }
    assert_eq!(scratch.count().await, 3);

    let inserted = run_action(
        &app,
        &user,
        ActionType::DatabaseQuery,
        query(
            "INSERT INTO orders (id, customer) VALUES ($1, $2) RETURNING id, customer",
            json!({"allow_writes": true, "params": [4, "Dee"]}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(inserted.status, "SUCCEEDED", "{:?}", inserted.error);
    assert_eq!(
        inserted.outcome["rows"],
        json!([{"id": 4, "customer": "Dee"}])
    );
    let deleted = run_action(
        &app,
        &user,
        ActionType::DatabaseQuery,
        query(
            "DELETE FROM orders WHERE id < $1",
            json!({"allow_writes": true, "params": [3]}),
        ),
        json!({}),
    )
    .await;
    assert_eq!(deleted.status, "SUCCEEDED", "{:?}", deleted.error);
    assert_eq!(deleted.outcome["rows_affected"], 2);
    assert_eq!(scratch.count().await, 2);
    scratch.drop_database(&app).await;
}

#[tokio::test]
async fn the_statement_timeout_ends_the_run() {
    let (app, user, scratch) = setup().await;
    let started = Instant::now();
    let run = run_action(
        &app,
        &user,
        ActionType::DatabaseQuery,
        query("SELECT pg_sleep(20)", json!({"timeout_ms": 300})),
        json!({}),
    )
    .await;
    assert_eq!(run.status, "TIMED_OUT", "{:?}", run.error);
    assert!(
        run.error.expect("error").contains("statement timeout"),
        "the server's reason is kept"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The server is not left running it.
    let mut conn = scratch.connect().await;
    let sleeping: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await
    .expect("activity");
    assert_eq!(sleeping, 0);
    conn.close().await.ok();
    scratch.drop_database(&app).await;
}

#[tokio::test]
async fn nocron_own_database_and_private_hosts_are_refused() {
    let app = spawn_manual_app().await;
    let user = app.login_as("USER").await;
    create_secret(&app, &user, "OWN", &app.database.url()).await;
    create_secret(
        &app,
        &user,
        "PRIVATE",
        "postgres://postgres:pw-private-1@10.20.30.40:5432/app",
    )
    .await;
    let own = run_action(
        &app,
        &user,
        ActionType::DatabaseQuery,
        json!({"connection": "{{ secrets.OWN }}", "sql": "SELECT email FROM users"}),
        json!({}),
    )
    .await;
    assert_eq!(own.status, "DEAD");
    let error = own.error.expect("error");
    assert!(error.contains("Nocron's own database"), "{error}");
    assert!(!own.outcome.to_string().contains("@"));

    let private = run_action(
        &app,
        &user,
        ActionType::DatabaseQuery,
        json!({"connection": "{{ secrets.PRIVATE }}", "sql": "SELECT 1"}),
        json!({}),
    )
    .await;
    assert_eq!(private.status, "DEAD");
    let error = private.error.expect("error");
    assert!(
        error.contains("10.20.30.40") && error.contains("refused"),
        "{error}"
    );
    assert!(!private.text.contains("pw-private-1"));
}

#[tokio::test]
async fn a_broken_statement_is_dead_at_once_while_an_unreachable_server_is_retried() {
    let (app, user, scratch) = setup().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    create_secret(
        &app,
        &user,
        "DOWN_URL",
        &format!("postgres://postgres@127.0.0.1:{port}/app"),
    )
    .await;
    for (connection, sql, expected) in [
        ("{{ secrets.PG_URL }}", "SELEC 1", "DEAD"),
        ("{{ secrets.PG_URL }}", "SELECT nope FROM orders", "DEAD"),
        ("{{ secrets.DOWN_URL }}", "SELECT 1", "FAILED"),
    ] {
        let mut new = nocron::tasks::model::NewTask::new(
            user.id,
            "query",
            ActionType::DatabaseQuery,
            json!({"connection": connection, "sql": sql}),
        );
        new.retry.max_attempts = 3;
        new.retry.initial_delay_seconds = 60;
        let task = app.create_task(&new).await;
        let id = crate::action_support::trigger_with(&app, &task, json!({})).await;
        let run = crate::action_support::run_one(&app, id).await;
        assert_eq!(run.status, expected, "{sql}: {:?}", run.error);
        let all = crate::engine_support::executions(&app.db, task.id).await;
        assert_eq!(all.len(), if expected == "DEAD" { 1 } else { 2 }, "{sql}");
    }
    scratch.drop_database(&app).await;
}

#[tokio::test]
async fn parameters_take_values_from_the_input_given_through_the_api() {
    let (app, user, scratch) = setup().await;
    let created = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({"name": "Orders above", "action": {"type": "DATABASE_QUERY", "config": query(
                "SELECT id FROM orders WHERE total > $1 AND customer <> $2 ORDER BY id",
                json!({"params": ["{{ input.min_total }}", "{{ input.skip | default('nobody') }}"]}),
            )}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let task: Value = created.json().await.expect("json");
    let run: Value = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/execute", task["id"].as_str().expect("id")),
            &json!({"input": {"min_total": 10, "skip": "Cy"}}),
        )
        .await
        .json()
        .await
        .expect("json");
    let id: uuid::Uuid = run["execution_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let recorded = crate::action_support::run_one(&app, id).await;
    assert_eq!(recorded.status, "SUCCEEDED", "{:?}", recorded.error);
    assert_eq!(recorded.outcome["rows"], json!([{"id": 1}]));

    let bad_template = app
        .post_as(
            &user.access_token,
            "/tasks",
            &json!({"name": "Broken", "action": {"type": "DATABASE_QUERY", "config": query(
                "SELECT 1", json!({"params": ["{{ input.x "]}))}}),
        )
        .await;
    assert_eq!(bad_template.status(), 422);
    let problem: Value = bad_template.json().await.expect("json");
    assert_eq!(problem["errors"][0]["field"], "action.config.params[0]");
    scratch.drop_database(&app).await;
}

#[tokio::test]
async fn the_nightly_row_count_template_counts_a_table_by_its_quoted_name() {
    let (app, user, scratch) = setup().await;
    let created = app
        .post_as(
            &user.access_token,
            "/tasks/from-template/nightly-row-count",
            &json!({"variables": {"table": "orders"}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let task: Value = created.json().await.expect("json");
    assert_eq!(
        task["action"]["config"]["connection"],
        "{{ secrets.PG_URL }}"
    );
    let run: Value = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/execute", task["id"].as_str().expect("id")),
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    let id: uuid::Uuid = run["execution_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let recorded = crate::action_support::run_one(&app, id).await;
    assert_eq!(recorded.status, "SUCCEEDED", "{:?}", recorded.error);
    assert_eq!(
        recorded.outcome["rows"],
        json!([{"table_name": "orders", "row_count": 3}])
    );
    scratch.drop_database(&app).await;
}
