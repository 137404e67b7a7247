//! Rate limits and lockout: per IP on register/login/refresh, per account on failed logins,
//! per API key on `/api/v1`; each over-limit answer is a 429 problem with `Retry-After` and
//! `RateLimit-*` headers. Budgets here refill one request a minute, far slower than a test
//! runs, so the counts they check do not depend on the machine's speed; how a limit refills
//! over time is tested on a controlled clock beside the limiter (`auth::rate_limit`), and
//! lockouts end by moving their expiry in the database instead of waiting.

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, problem, spawn_app_with, unique_email};

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds")
}

/// A 429's headers: the burst, nothing left, and a wait of at most one refill interval
/// (`interval` seconds) that the reset repeats.
fn assert_rate_limit_headers(response: &reqwest::Response, limit: &str, interval: u64) {
    let headers = response.headers();
    assert_eq!(headers["ratelimit-limit"], limit);
    assert_eq!(headers["ratelimit-remaining"], "0");
    assert_eq!(headers["ratelimit-reset"], headers["retry-after"]);
    assert!((1..=interval).contains(&retry_after(response)));
}

#[tokio::test]
async fn too_many_logins_from_one_address_get_429() {
    // Three at once, then one a minute. The budget is counted before the body is read, so
    // cheap invalid requests use it up as well as real attempts.
    let app = spawn_app_with(&[
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1"),
        ("AUTH_RATE_LIMIT_BURST", "3"),
    ])
    .await;
    for _ in 0..3 {
        let response = app.login(&unique_email("nobody"), "").await;
        assert_eq!(response.status(), 422);
    }
    let limited = app.login(&unique_email("nobody"), "wrong password").await;
    assert_eq!(limited.status(), 429);
    assert_rate_limit_headers(&limited, "3", 60);
    assert_eq!(problem(limited).await["code"], "RATE_LIMITED");
    // Refresh and register share the budget.
    let refresh = app
        .post_json("/auth/refresh", &json!({ "refresh_token": "x" }))
        .await;
    assert_eq!(refresh.status(), 429);
    assert_rate_limit_headers(&refresh, "3", 60);
}

#[tokio::test]
async fn every_answer_of_a_rate_limited_route_tells_the_budget() {
    let app = spawn_app_with(&[
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1"),
        ("AUTH_RATE_LIMIT_BURST", "3"),
        ("API_KEY_RATE_LIMIT_PER_MINUTE", "1"),
        ("API_KEY_RATE_LIMIT_BURST", "5"),
    ])
    .await;
    // One request a minute comes back, so nothing refills while the test runs; the reset is
    // when the whole burst is back: a minute for each request spent.
    let header = |response: &reqwest::Response, name: &str| -> u64 {
        response.headers()[name]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("number")
    };
    let email = unique_email("budget");
    let (_, access, _) = app.register(&email, PASSWORD).await;
    let success = app.login(&email, PASSWORD).await;
    assert_eq!(success.status(), 200);
    assert_eq!(header(&success, "ratelimit-limit"), 3);
    assert_eq!(header(&success, "ratelimit-remaining"), 1);
    assert_eq!(header(&success, "ratelimit-reset"), 120);
    let failure = app.login(&email, "not the password").await;
    assert_eq!(failure.status(), 401);
    assert_eq!(header(&failure, "ratelimit-limit"), 3);
    assert_eq!(header(&failure, "ratelimit-remaining"), 0);
    assert_eq!(header(&failure, "ratelimit-reset"), 180);
    assert!(!failure.headers().contains_key("retry-after"));

    // Per API key on /api/v1, on success too.
    let key = app.create_api_key(&access, &["tasks:read"]).await;
    let key = key["key"].as_str().expect("key");
    let first = app.get_with_key(key, "/api/v1/me").await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "ratelimit-limit"), 5);
    assert_eq!(header(&first, "ratelimit-remaining"), 4);
    assert_eq!(header(&first, "ratelimit-reset"), 60);
    let second = app.get_with_key(key, "/api/v1/scopes/tasks:write").await;
    assert_eq!(second.status(), 403);
    assert_eq!(header(&second, "ratelimit-remaining"), 3);
    assert_eq!(header(&second, "ratelimit-reset"), 120);

    // Routes without a limit carry no such headers.
    let me = app.get_as(&access, "/auth/me").await;
    assert_eq!(me.status(), 200);
    assert!(!me.headers().contains_key("ratelimit-limit"));
}

/// Ends the lock on `email` as if its time had passed.
async fn expire_lock(app: &TestApp, email: &str) {
    let ended = sqlx::query(
        "UPDATE login_throttle SET locked_until = now() - interval '1 second'
         WHERE email = $1 AND locked_until > now()",
    )
    .bind(email)
    .execute(&app.db)
    .await
    .expect("expire the lock");
    assert_eq!(ended.rows_affected(), 1, "{email} was locked");
}

#[tokio::test]
async fn repeated_failures_lock_the_account_then_its_owner_gets_back_in() {
    let app = spawn_app_with(&[
        ("LOGIN_LOCKOUT_THRESHOLD", "3"),
        ("LOGIN_LOCKOUT_BASE_SECONDS", "60"),
    ])
    .await;
    let email = unique_email("victim");
    app.register(&email, PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(app.login(&email, "not the password").await.status(), 401);
    }
    // Locked: even the right password waits.
    let locked = app.login(&email, PASSWORD).await;
    assert_eq!(locked.status(), 429);
    assert!((1..=60).contains(&retry_after(&locked)));
    assert_eq!(problem(locked).await["code"], "ACCOUNT_LOCKED");

    // An unknown email locks the same way, so a lock reveals nothing.
    let unknown = unique_email("ghost");
    for _ in 0..3 {
        assert_eq!(app.login(&unknown, "not the password").await.status(), 401);
    }
    assert_eq!(app.login(&unknown, "not the password").await.status(), 429);

    // After the lock, further failures lock it again, twice as long.
    expire_lock(&app, &email).await;
    for _ in 0..3 {
        assert_eq!(app.login(&email, "not the password").await.status(), 401);
    }
    let second = app.login(&email, PASSWORD).await;
    assert_eq!(second.status(), 429);
    assert!((61..=120).contains(&retry_after(&second)));
    let lock_seconds: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM locked_until - updated_at)::float8 FROM login_throttle WHERE email = $1",
    )
    .bind(&email)
    .fetch_one(&app.db)
    .await
    .expect("throttle row");
    assert!((119.0..130.0).contains(&lock_seconds), "{lock_seconds}");

    // Once it expires the owner signs in, and the counters start over.
    expire_lock(&app, &email).await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), 200);
    let (locks, failures): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE kind = 'account_locked'),
                count(*) FILTER (WHERE kind = 'login_failed')
         FROM security_events",
    )
    .fetch_one(&app.db)
    .await
    .expect("events");
    assert_eq!((locks, failures), (3, 9));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM login_throttle WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(left, 0);
}

#[tokio::test]
async fn each_api_key_has_its_own_budget() {
    let app = spawn_app_with(&[
        ("API_KEY_RATE_LIMIT_PER_MINUTE", "1"),
        ("API_KEY_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    let user = app.login_as("USER").await;
    let first = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let second = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let first = first["key"].as_str().expect("key");
    let second = second["key"].as_str().expect("key");
    for _ in 0..2 {
        assert_eq!(app.get_with_key(first, "/api/v1/me").await.status(), 200);
    }
    let limited = app.get_with_key(first, "/api/v1/me").await;
    assert_eq!(limited.status(), 429);
    assert_rate_limit_headers(&limited, "2", 60);
    let other = app.get_with_key(second, "/api/v1/me").await;
    assert_eq!(other.status(), 200);
    assert_eq!(other.headers()["ratelimit-remaining"], "1");
}
