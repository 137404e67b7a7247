//! Chain limits against fan-out attacks: a mesh of chains is held to the executions budget of
//! its root, a cycle to the maximum depth, each with ledger entries naming the reason; the
//! budget holds when two chains of one root end at once; cycles need every task on them to
//! opt in, and a task starts at most `CHAIN_MAX_OUT_DEGREE` tasks.

use std::time::Duration;

use nocron::{
    executions::model::ExecutionStatus,
    triggers::chains::{self, Ended},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    capture::CaptureServer,
    engine_support::{MANUAL_ENGINE, executions, spawn_engine_app, wait_until},
    helpers::{TestApp, problem},
};

/// An app whose engine moves step by step, with these chain limits.
async fn app_with_limits(limits: &[(&'static str, &'static str)]) -> TestApp {
    let mut settings = MANUAL_ENGINE.to_vec();
    settings.extend_from_slice(limits);
    spawn_engine_app(&settings).await
}

/// `root_execution_id` and `chain_depth` of an execution, as `GET /executions/{id}` shows them.
async fn chain_position(app: &TestApp, token: &str, execution: Uuid) -> (Value, i64) {
    let body = app
        .get_json_as(token, &format!("/executions/{execution}"))
        .await;
    (
        body["root_execution_id"].clone(),
        body["chain_depth"].as_i64().expect("chain_depth"),
    )
}

#[tokio::test]
async fn a_chain_fan_out_mesh_stops_at_the_executions_budget_of_its_root() {
    let app = app_with_limits(&[
        ("CHAIN_MAX_EXECUTIONS_PER_ROOT", "7"),
        ("CHAIN_MAX_DEPTH", "50"),
    ])
    .await;
    let sink = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let mut mesh = Vec::new();
    for _ in 0..3 {
        mesh.push(app.cyclic_task_of(&user, &sink.url("/ok")).await);
    }
    // A → B, C; B → A, C; C → A, B.
    for target in &mesh {
        for source in mesh.iter().filter(|s| s.id != target.id) {
            let response = app.chain(&user, target.id, source.id, "ANY").await;
            assert_eq!(
                response.status(),
                201,
                "cycles are allowed: every task opted in"
            );
        }
    }

    let root = app.trigger(&mesh[0]).await;
    app.drain(50).await;

    let mut all = Vec::new();
    for task in &mesh {
        all.extend(executions(&app.db, task.id).await);
    }
    assert_eq!(
        all.len(),
        7,
        "exactly the budget: the root and 6 chained executions"
    );
    assert!(all.iter().all(|row| row.status == "SUCCEEDED"));
    assert_eq!(sink.requests_to("/ok").len(), 7);
    for row in &all {
        let (root_id, depth) = chain_position(&app, &user.access_token, row.id).await;
        if row.id == root {
            assert_eq!((root_id, depth), (Value::Null, 0));
        } else {
            assert_eq!(root_id, json!(root));
            assert!(depth >= 1);
        }
    }
    // Each of the 7 endings fires 2 chains: 6 were queued, the other 8 are in the ledger.
    let mut budget_entries = 0;
    for task in &mesh {
        for entry in app.skipped_entries(&user, task.id).await {
            assert_eq!(entry["reason"], "CHAIN_BUDGET");
            assert_eq!(entry["trigger_kind"], "CHAIN");
            assert!(
                entry["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("CHAIN_MAX_EXECUTIONS_PER_ROOT=7"))
            );
            budget_entries += 1;
        }
    }
    assert_eq!(budget_entries, 8);
    // The engine has nothing left to run and the server answers.
    assert_eq!(app.drain(1).await, 0);
    assert_eq!(app.get("/health").await.status(), 200);
    // A second start gets a fresh budget of its own.
    app.trigger(&mesh[1]).await;
    app.drain(50).await;
    let mut total = 0;
    for task in &mesh {
        total += executions(&app.db, task.id).await.len();
    }
    assert_eq!(total, 14);
}

#[tokio::test]
async fn a_linear_chain_cycle_stops_at_the_maximum_depth_with_a_ledger_entry() {
    let app = app_with_limits(&[("CHAIN_MAX_DEPTH", "3")]).await;
    let sink = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let a = app.cyclic_task_of(&user, &sink.url("/ok")).await;
    let b = app.cyclic_task_of(&user, &sink.url("/ok")).await;
    assert_eq!(app.chain(&user, b.id, a.id, "ANY").await.status(), 201);
    assert_eq!(app.chain(&user, a.id, b.id, "ANY").await.status(), 201);

    let root = app.trigger(&a).await;
    app.drain(20).await;

    // Depths 0 (the root) to 3: A, B, A, B; the fifth link would be 4 deep.
    let runs_of_a = executions(&app.db, a.id).await;
    let runs_of_b = executions(&app.db, b.id).await;
    assert_eq!((runs_of_a.len(), runs_of_b.len()), (2, 2));
    let list = app
        .get_json_as(&user.access_token, "/executions?limit=100")
        .await;
    let mut depths: Vec<i64> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["chain_depth"].as_i64().expect("depth"))
        .collect();
    depths.sort_unstable();
    assert_eq!(depths, vec![0, 1, 2, 3]);
    let (root_of_last, depth) = chain_position(&app, &user.access_token, runs_of_b[1].id).await;
    assert_eq!((root_of_last, depth), (json!(root), 3));

    let ledger = app.skipped_entries(&user, a.id).await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["reason"], "CHAIN_DEPTH");
    assert!(
        ledger[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("CHAIN_MAX_DEPTH=3"))
    );
    assert!(app.skipped_entries(&user, b.id).await.is_empty());
}

#[tokio::test]
async fn two_chains_ending_at_once_cannot_both_take_the_last_budget_slot() {
    let app = app_with_limits(&[("CHAIN_MAX_EXECUTIONS_PER_ROOT", "4")]).await;
    let sink = CaptureServer::start().await;
    let user = app.login_as("USER").await;
    let a = app.task_of(&user, &sink.url("/ok")).await;
    let b = app.task_of(&user, &sink.url("/ok")).await;
    let c = app.task_of(&user, &sink.url("/ok")).await;
    let d = app.task_of(&user, &sink.url("/ok")).await;
    // A → B, C; B → D; C → D: the root A, B and C use 3 of 4 slots, one D may follow.
    for (target, source) in [(&b, &a), (&c, &a), (&d, &b), (&d, &c)] {
        assert_eq!(
            app.chain(&user, target.id, source.id, "ANY").await.status(),
            201
        );
    }
    app.trigger(&a).await;
    nocron::scheduler::worker::run_batch(&app.engine(), 1)
        .await
        .expect("run the root");
    let ran_b = executions(&app.db, b.id).await[0].id;
    let ran_c = executions(&app.db, c.id).await[0].id;
    // B and C end; their follow-ups run in two transactions at the same time.
    sqlx::query(
        "UPDATE executions SET status = 'SUCCEEDED', finished_at = now() WHERE id = ANY($1)",
    )
    .bind(vec![ran_b, ran_c])
    .execute(&app.db)
    .await
    .expect("end B and C");
    let limits = app.state.settings.chains;
    let mut first = app.db.begin().await.expect("first transaction");
    let queued_first = chains::enqueue_chained(
        &mut first,
        &[Ended {
            execution_id: ran_b,
            status: ExecutionStatus::Succeeded,
        }],
        &limits,
    )
    .await
    .expect("first follow-up");
    assert_eq!(queued_first.queued.len(), 1);
    let db = app.db.clone();
    let second = tokio::spawn(async move {
        let mut tx = db.begin().await.expect("second transaction");
        let done = chains::enqueue_chained(
            &mut tx,
            &[Ended {
                execution_id: ran_c,
                status: ExecutionStatus::Succeeded,
            }],
            &limits,
        )
        .await
        .expect("second follow-up");
        tx.commit().await.expect("commit the second");
        done
    });
    // The second follow-up is at the root's lock (or, without one, already done).
    wait_until(
        Duration::from_secs(10),
        "the second follow-up to wait for the root's lock",
        || async {
            second.is_finished()
                || sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .fetch_one(&app.db)
                .await
                .expect("activity")
                    > 0
        },
    )
    .await;
    first.commit().await.expect("commit the first");
    let queued_second = second.await.expect("second follow-up task");
    assert!(queued_second.queued.is_empty(), "the last slot was taken");
    assert_eq!(queued_second.stopped.len(), 1);
    assert_eq!(executions(&app.db, d.id).await.len(), 1);
    let ledger = app.skipped_entries(&user, d.id).await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["reason"], "CHAIN_BUDGET");
}

#[tokio::test]
async fn saving_a_chain_cycle_needs_every_task_on_it_to_opt_in() {
    let app = app_with_limits(&[]).await;
    let user = app.login_as("USER").await;
    let a = app.cyclic_task_of(&user, "http://127.0.0.1:9/").await;
    let b = app.task_of(&user, "http://127.0.0.1:9/").await;
    let c = app.task_of(&user, "http://127.0.0.1:9/").await;
    // a → b → c
    assert_eq!(app.chain(&user, b.id, a.id, "ANY").await.status(), 201);
    assert_eq!(app.chain(&user, c.id, b.id, "ANY").await.status(), 201);

    // c → a closes a → b → c → a; a opted in, b and c did not.
    let response = app.chain(&user, a.id, c.id, "ANY").await;
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    assert_eq!(body["errors"][0]["field"], "source_task_id");
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("allow_cycles"), "{message}");
    assert!(message.contains(&b.id.to_string()) && message.contains(&c.id.to_string()));
    assert!(
        !message.contains(&a.id.to_string()),
        "a opted in: {message}"
    );

    // b opts in through the API; c still has not.
    let token = &user.access_token;
    let patched = app
        .patch_as(
            token,
            &format!("/tasks/{}", b.id),
            &json!({"allow_cycles": true}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    assert_eq!(
        patched.json::<Value>().await.expect("task")["allow_cycles"],
        true
    );
    assert_eq!(app.chain(&user, a.id, c.id, "ANY").await.status(), 422);
    let patched = app
        .patch_as(
            token,
            &format!("/tasks/{}", c.id),
            &json!({"allow_cycles": true}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    assert_eq!(app.chain(&user, a.id, c.id, "ANY").await.status(), 201);
    let task = app.get_json_as(token, &format!("/tasks/{}", c.id)).await;
    assert_eq!(task["allow_cycles"], true);
}

#[tokio::test]
async fn an_eleventh_chain_out_of_one_task_is_refused() {
    let app = app_with_limits(&[]).await;
    let (user, source) = app.user_with_task("http://127.0.0.1:9/").await;
    for _ in 0..10 {
        let target = app.task_of(&user, "http://127.0.0.1:9/").await;
        assert_eq!(
            app.chain(&user, target.id, source.id, "ANY").await.status(),
            201
        );
    }
    let eleventh = app.task_of(&user, "http://127.0.0.1:9/").await;
    let response = app.chain(&user, eleventh.id, source.id, "ANY").await;
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    assert_eq!(body["errors"][0]["field"], "source_task_id");
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("CHAIN_MAX_OUT_DEGREE=10"), "{message}");
    // Another source is not affected.
    let other = app.task_of(&user, "http://127.0.0.1:9/").await;
    assert_eq!(
        app.chain(&user, eleventh.id, other.id, "ANY")
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_retried_chained_execution_keeps_its_root_and_depth() {
    let app = app_with_limits(&[]).await;
    let sink = CaptureServer::start().await;
    let (user, source) = app.user_with_task(&sink.url("/ok")).await;
    let mut failing = crate::engine_support::http_task(&sink.url("/status/500"));
    failing.owner_id = user.id;
    failing.retry.max_attempts = 2;
    failing.retry.initial_delay_seconds = 0;
    failing.retry.max_delay_seconds = 0;
    let next = app.create_task(&failing).await;
    assert_eq!(
        app.chain(&user, next.id, source.id, "ANY").await.status(),
        201
    );
    let root = app.trigger(&source).await;
    app.drain(10).await;
    let attempts = executions(&app.db, next.id).await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].retry_of, Some(attempts[0].id));
    for attempt in &attempts {
        let position = chain_position(&app, &user.access_token, attempt.id).await;
        assert_eq!(position, (json!(root), 1));
    }
}
