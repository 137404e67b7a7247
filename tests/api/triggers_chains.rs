//! Task chaining end to end: a finished execution starts the chained task with its result,
//! `on` decides which endings count (a failed attempt with a retry to follow is not an
//! ending), cycles are refused when saved unless the tasks opt in (see
//! `triggers_chain_limits`), and a repeated follow-up queues nothing twice.

use nocron::{
    executions::model::ExecutionStatus,
    scheduler::worker,
    tasks::model::RetryPolicy,
    triggers::chains::{self, Ended},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    capture::CaptureServer,
    engine_support::{executions, spawn_manual_app},
    helpers::{TestApp, TestUser, problem},
    triggers_support::input_of,
};

async fn chain(
    app: &TestApp,
    user: &TestUser,
    task: Uuid,
    source: Uuid,
    on: &str,
) -> reqwest::Response {
    app.chain(user, task, source, on).await
}

#[tokio::test]
async fn a_success_runs_the_chained_task_with_the_result_as_input() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let (user, source) = app.user_with_task(&sink.url("/json")).await;
    let next = app.task_of(&user, &sink.url("/ok")).await;
    let on_failure = app.task_of(&user, &sink.url("/ok")).await;
    let response = chain(&app, &user, next.id, source.id, "SUCCEEDED").await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.expect("json");
    assert_eq!(created["source_task_id"], source.id.to_string());
    assert_eq!(created["on"], "SUCCEEDED");
    assert_eq!(
        chain(&app, &user, on_failure.id, source.id, "DEAD")
            .await
            .status(),
        201
    );
    let list: Value = app
        .get_as(&user.access_token, &format!("/tasks/{}/chains", next.id))
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    let source_execution = app.trigger(&source).await;
    let engine = app.engine();
    worker::run_batch(&engine, 10)
        .await
        .expect("run the source");
    let source_row = executions(&app.db, source.id).await;
    assert_eq!(source_row[0].status, "SUCCEEDED");
    let chained = executions(&app.db, next.id).await;
    assert_eq!(chained.len(), 1, "the chained task was queued");
    assert_eq!(chained[0].trigger_kind, "CHAIN");
    assert!(executions(&app.db, on_failure.id).await.is_empty());

    let (_, input) = input_of(&app, chained[0].id).await;
    assert_eq!(
        input["source"]["execution_id"],
        source_execution.to_string()
    );
    assert_eq!(input["source"]["task_id"], source.id.to_string());
    assert_eq!(input["source"]["status"], "SUCCEEDED");
    assert_eq!(
        input["result"],
        source_row[0].outcome.clone().expect("outcome")
    );
    assert_eq!(input["chain"]["depth"], 1);

    // A repeated follow-up for the same ending queues nothing more.
    let mut conn = app.db.acquire().await.expect("connection");
    let again = chains::enqueue_chained(
        &mut conn,
        &[Ended {
            execution_id: source_execution,
            status: ExecutionStatus::Succeeded,
        }],
        &app.state.settings.chains,
    )
    .await
    .expect("follow-up again");
    assert!(again.queued.is_empty() && again.stopped.is_empty());
    drop(conn);

    worker::run_batch(&engine, 10)
        .await
        .expect("run the chained task");
    assert_eq!(executions(&app.db, next.id).await[0].status, "SUCCEEDED");
    assert_eq!(
        sink.requests_to("/ok").len(),
        1,
        "the chained task's action ran"
    );
    assert_eq!(executions(&app.db, next.id).await.len(), 1);
}

#[tokio::test]
async fn dead_chains_fire_only_after_the_last_attempt() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let mut failing = crate::engine_support::http_task(&sink.url("/status/500"));
    failing.owner_id = user.id;
    failing.retry = RetryPolicy {
        max_attempts: 2,
        initial_delay_seconds: 0,
        max_delay_seconds: 0,
        multiplier: 1.0,
    };
    let source = app.create_task(&failing).await;
    let on_dead = app.task_of(&user, &sink.url("/ok")).await;
    let on_success = app.task_of(&user, &sink.url("/ok")).await;
    let on_any = app.task_of(&user, &sink.url("/ok")).await;
    for (task, on) in [
        (&on_dead, "DEAD"),
        (&on_success, "SUCCEEDED"),
        (&on_any, "ANY"),
    ] {
        assert_eq!(
            chain(&app, &user, task.id, source.id, on).await.status(),
            201
        );
    }

    app.trigger(&source).await;
    let engine = app.engine();
    worker::run_batch(&engine, 10).await.expect("attempt 1");
    let rows = executions(&app.db, source.id).await;
    assert_eq!(rows[0].status, "FAILED");
    assert_eq!(rows[1].status, "QUEUED", "a retry follows");
    for task in [&on_dead, &on_success, &on_any] {
        assert!(
            executions(&app.db, task.id).await.is_empty(),
            "a failed attempt with a retry to follow has not ended"
        );
    }

    // The retry runs at once (no delay) and fails for good.
    let ran = worker::run_batch(&engine, 1).await.expect("attempt 2");
    assert_eq!(ran, vec![rows[1].id]);
    assert_eq!(executions(&app.db, source.id).await[1].status, "DEAD");
    let dead_chained = executions(&app.db, on_dead.id).await;
    assert_eq!(dead_chained.len(), 1);
    let (_, input) = input_of(&app, dead_chained[0].id).await;
    assert_eq!(input["source"]["status"], "DEAD");
    assert_eq!(input["source"]["execution_id"], rows[1].id.to_string());
    assert_eq!(input["source"]["attempt"], 2);
    assert!(input["error"].is_string());
    assert_eq!(executions(&app.db, on_any.id).await.len(), 1);
    assert!(executions(&app.db, on_success.id).await.is_empty());
}

#[tokio::test]
async fn cycles_and_foreign_tasks_are_refused_when_saved() {
    let app = spawn_manual_app().await;
    let (user, a) = app.user_with_task("http://127.0.0.1:9/").await;
    let b = app.task_of(&user, "http://127.0.0.1:9/").await;
    let c = app.task_of(&user, "http://127.0.0.1:9/").await;
    // a → b → c
    assert_eq!(
        chain(&app, &user, b.id, a.id, "SUCCEEDED").await.status(),
        201
    );
    assert_eq!(chain(&app, &user, c.id, b.id, "ANY").await.status(), 201);

    // c → a would close a → b → c → a.
    let response = chain(&app, &user, a.id, c.id, "SUCCEEDED").await;
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    assert_eq!(body["errors"][0]["field"], "source_task_id");
    assert!(body["detail"].is_string());
    // As would b → a, and a task after itself.
    assert_eq!(chain(&app, &user, a.id, b.id, "ANY").await.status(), 422);
    let response = chain(&app, &user, a.id, a.id, "ANY").await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        problem(response).await["errors"][0]["field"],
        "source_task_id"
    );
    // The same pair twice is a conflict; a → c (no cycle) is fine.
    assert_eq!(chain(&app, &user, b.id, a.id, "DEAD").await.status(), 409);
    assert_eq!(chain(&app, &user, c.id, a.id, "DEAD").await.status(), 201);
    // A bad `on` names the field.
    let response = chain(&app, &user, c.id, a.id, "FAILED").await;
    assert_eq!(response.status(), 422);
    assert_eq!(problem(response).await["errors"][0]["field"], "on");

    // Another owner's tasks: as the chained task 404, as the source 422.
    let (stranger, theirs) = app.user_with_task("http://127.0.0.1:9/").await;
    assert_eq!(
        chain(&app, &stranger, a.id, theirs.id, "ANY")
            .await
            .status(),
        404
    );
    let response = chain(&app, &stranger, theirs.id, a.id, "ANY").await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        problem(response).await["errors"][0]["field"],
        "source_task_id"
    );
    assert_eq!(
        app.get_as(&stranger.access_token, &format!("/tasks/{}/chains", b.id))
            .await
            .status(),
        404
    );

    // Deleting the chain a → b leaves a → c and b → c.
    let list: Value = app
        .get_as(&user.access_token, &format!("/tasks/{}/chains", b.id))
        .await
        .json()
        .await
        .expect("list");
    let chain_id = list[0]["id"].as_str().expect("id");
    assert_eq!(
        app.delete_as(
            &stranger.access_token,
            &format!("/tasks/{}/chains/{chain_id}", b.id)
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        app.delete_as(
            &user.access_token,
            &format!("/tasks/{}/chains/{chain_id}", b.id)
        )
        .await
        .status(),
        204
    );
    // b → a is no longer a cycle (a no longer leads to b).
    assert_eq!(chain(&app, &user, a.id, b.id, "ANY").await.status(), 201);
}

#[tokio::test]
async fn chains_stop_at_the_maximum_depth() {
    let app = spawn_manual_app().await;
    let sink = CaptureServer::start().await;
    let (user, source) = app.user_with_task(&sink.url("/ok")).await;
    let next = app.task_of(&user, &sink.url("/ok")).await;
    assert_eq!(
        chain(&app, &user, next.id, source.id, "ANY").await.status(),
        201
    );
    let execution = app.trigger(&source).await;
    // As if the source execution were itself the end of a chain of the maximum length.
    sqlx::query("UPDATE executions SET chain_depth = $2 WHERE id = $1")
        .bind(execution)
        .bind(app.state.settings.chains.max_depth)
        .execute(&app.db)
        .await
        .expect("deep");
    worker::run_batch(&app.engine(), 10).await.expect("run");
    assert_eq!(executions(&app.db, source.id).await[0].status, "SUCCEEDED");
    assert!(executions(&app.db, next.id).await.is_empty());
    let ledger = app.skipped_entries(&user, next.id).await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["reason"], "CHAIN_DEPTH");
}

#[tokio::test]
async fn a_webhook_delivery_flows_through_a_chain_with_the_engine_running() {
    let app = crate::engine_support::spawn_engine_app(&[]).await;
    let sink = CaptureServer::start().await;
    let (user, first) = app.user_with_task(&sink.url("/json")).await;
    let second = app.task_of(&user, &sink.url("/ok")).await;
    assert_eq!(
        chain(&app, &user, second.id, first.id, "ANY")
            .await
            .status(),
        201
    );
    let hook: Value = app
        .post_as(
            &user.access_token,
            &format!("/tasks/{}/webhooks", first.id),
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("hook");
    let response = app
        .post_json(
            &format!("/hooks/{}", hook["token"].as_str().expect("token")),
            &json!({"order": 7}),
        )
        .await;
    let (execution_id, _) = crate::triggers_support::accepted(response).await;
    crate::engine_support::wait_until(
        std::time::Duration::from_secs(15),
        "the chained task to succeed",
        || async {
            executions(&app.db, second.id)
                .await
                .first()
                .is_some_and(|row| row.status == "SUCCEEDED")
        },
    )
    .await;
    let chained = executions(&app.db, second.id).await;
    let (kind, input) = input_of(&app, chained[0].id).await;
    assert_eq!(kind, "CHAIN");
    assert_eq!(input["source"]["execution_id"], execution_id.to_string());
    assert_eq!(input["source"]["trigger"], "WEBHOOK");
    assert_eq!(input["result"]["status"], 200);
    assert_eq!(sink.requests_to("/json").len(), 1);
    assert_eq!(sink.requests_to("/ok").len(), 1);
}

#[tokio::test]
async fn a_rescued_lease_that_ends_dead_starts_the_chain() {
    let app = spawn_manual_app().await;
    let engine = app.engine();
    let (user, source) = app.user_with_task("http://127.0.0.1:9/").await;
    let on_dead = app.task_of(&user, "http://127.0.0.1:9/").await;
    assert_eq!(
        chain(&app, &user, on_dead.id, source.id, "DEAD")
            .await
            .status(),
        201
    );
    let execution = app.trigger(&source).await;
    assert_eq!(worker::claim(&engine, 10).await.expect("claim").len(), 1);
    // The instance that claimed it stops renewing its lease (as if it crashed).
    sqlx::query("UPDATE executions SET lease_expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .expect("lapse");
    let rescued = nocron::scheduler::maintenance::rescue_expired_leases(&engine)
        .await
        .expect("rescue");
    assert_eq!(rescued, vec![execution]);
    let chained = executions(&app.db, on_dead.id).await;
    assert_eq!(chained.len(), 1);
    let (_, input) = input_of(&app, chained[0].id).await;
    assert_eq!(input["source"]["status"], "DEAD");
    assert!(
        input["error"]
            .as_str()
            .is_some_and(|e| e.contains("lease expired"))
    );
}
