//! Graceful shutdown: new connections are refused, in-flight requests finish.

use std::time::Duration;

use sqlx::{Connection, Executor};

use crate::helpers::spawn_app;

/// Waits until a backend of `database` is blocked on a lock (the request is in flight).
async fn wait_for_blocked_query(admin: &mut sqlx::PgConnection, database: &str) {
    for _ in 0..1200 {
        let blocked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
        )
        .bind(database)
        .fetch_one(&mut *admin)
        .await
        .expect("pg_stat_activity");
        if blocked > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the request never reached the database");
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_ones() {
    let mut app = spawn_app().await;
    // Hold a lock the readiness query needs, so a request is provably in flight.
    let mut locker = sqlx::PgConnection::connect_with(&app.database.options)
        .await
        .expect("connect");
    let mut tx = locker.begin().await.expect("begin");
    tx.execute("LOCK TABLE _sqlx_migrations IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");

    let client = app.client.clone();
    let url = app.url("/health/ready");
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    let mut admin = app.database.admin_connection().await;
    wait_for_blocked_query(&mut admin, &app.database.name).await;

    app.shutdown.cancel();
    // The listener closes: new connections are refused while the old request is pending.
    let mut refused = false;
    for _ in 0..2000 {
        if tokio::net::TcpStream::connect(("127.0.0.1", app.port))
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener still accepts after shutdown began");
    assert!(!in_flight.is_finished());

    tx.rollback().await.expect("release the lock");
    let response = in_flight
        .await
        .expect("task")
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    let server = app.server.take().expect("server");
    server.await.expect("join").expect("server stopped cleanly");
}
