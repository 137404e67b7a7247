//! Start lateness: each claimed attempt records how long after it was due a worker started
//! it, on the execution (`lateness_ms`) and in the Prometheus histogram.

use nocron::scheduler::worker;
use serde_json::Value;
use uuid::Uuid;

use crate::engine_support::{MANUAL_ENGINE, spawn_engine_app};

/// Queues an API execution of `task_id` that fell due `overdue_seconds` ago.
async fn queue_overdue(db: &sqlx::PgPool, task_id: Uuid, overdue_seconds: i32) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO executions (id, task_id, trigger_kind, run_after)
         VALUES (gen_random_uuid(), $1, 'API', now() - make_interval(secs => $2))
         RETURNING id",
    )
    .bind(task_id)
    .bind(f64::from(overdue_seconds))
    .fetch_one(db)
    .await
    .expect("queue an overdue execution")
}

#[tokio::test]
async fn a_started_execution_records_how_late_it_started_and_the_histogram_counts_it() {
    let app = spawn_engine_app(MANUAL_ENGINE).await;
    let (user, task) = app.user_with_task("https://example.com/").await;
    let slightly = queue_overdue(&app.db, task.id, 2).await;
    let very = queue_overdue(&app.db, task.id, 40).await;

    let claimed = worker::claim(&app.engine(), 10).await.expect("claim");
    assert_eq!(claimed.len(), 2);

    // The recorded figure is the claim's own start time less the due time, never less than
    // the time the execution had already waited.
    for (id, overdue_ms) in [(slightly, 2_000), (very, 40_000)] {
        let (lateness, measured): (Option<i64>, f64) = sqlx::query_as(
            "SELECT lateness_ms,
                    extract(epoch FROM started_at - run_after)::float8 * 1000
             FROM executions WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&app.db)
        .await
        .expect("execution");
        let lateness = lateness.expect("recorded at the claim");
        assert!(lateness >= overdue_ms, "{lateness} ms");
        assert!(
            (lateness as f64 - measured).abs() < 5.0,
            "{lateness} vs {measured}"
        );

        let response = app
            .get_as(&user.access_token, &format!("/executions/{id}"))
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("execution");
        assert_eq!(body["lateness_ms"], lateness);
    }

    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    let bucket = |le: &str| {
        metrics
            .lines()
            .find(|line| {
                line.starts_with("nocron_execution_start_lateness_seconds_bucket{")
                    && line.contains(r#"trigger="API""#)
                    && line.contains(&format!(r#"le="{le}""#))
            })
            .and_then(|line| line.rsplit(' ').next())
            .map(str::to_owned)
    };
    // One start within 30 s of its due time, both within +Inf.
    assert_eq!(bucket("30").as_deref(), Some("1"), "{metrics}");
    assert_eq!(bucket("+Inf").as_deref(), Some("2"), "{metrics}");
}
