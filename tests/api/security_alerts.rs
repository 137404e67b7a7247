//! Security alerts: each rule fires on a scripted attack and stays quiet on normal traffic,
//! a burst makes one alert with a count, blocks answer 429 with `Retry-After`, the life cycle
//! only moves forward, admins hear of HIGH alerts by email and Socket.IO (and the alert
//! webhook), and only admins reach the endpoints.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    capture::CaptureServer,
    email::SmtpSink,
    engine_support::wait_until,
    helpers::{TestApp, spawn_app_with, unique_email},
    sockets::connect,
};

/// Clients are told apart by `X-Forwarded-For`; the per-email lockout is out of the way so
/// the rules' own thresholds are what the tests meet.
const SETTINGS: &[(&str, &str)] = &[
    ("TRUSTED_PROXIES", "127.0.0.1/32"),
    ("LOGIN_LOCKOUT_THRESHOLD", "1000"),
];
const PATIENCE: Duration = Duration::from_secs(15);

async fn spawn(extra: &[(&str, &str)]) -> TestApp {
    let mut settings = SETTINGS.to_vec();
    settings.extend_from_slice(extra);
    spawn_app_with(&settings).await
}

/// The alerts of `rule` about `subject`, as stored.
async fn alerts_of(db: &PgPool, rule: &str, subject: &str) -> Vec<(Uuid, i32, String, Vec<Uuid>)> {
    sqlx::query_as::<_, (Uuid, i32, String, Vec<Uuid>)>(
        "SELECT id, count, severity, event_ids FROM security_alerts
         WHERE rule = $1 AND subject = $2 ORDER BY created_at",
    )
    .bind(rule)
    .bind(subject)
    .fetch_all(db)
    .await
    .expect("alerts")
}

/// Waits until `rule` has an alert about `subject` whose count is at least `count`.
async fn wait_for_alert(app: &TestApp, rule: &str, subject: &str, count: i32) -> Uuid {
    let db = app.db.clone();
    wait_until(PATIENCE, &format!("a {rule} alert about {subject}"), || {
        let db = db.clone();
        async move {
            alerts_of(&db, rule, subject)
                .await
                .first()
                .is_some_and(|a| a.1 >= count)
        }
    })
    .await;
    alerts_of(&app.db, rule, subject).await[0].0
}

async fn get_from(app: &TestApp, ip: &str, agent: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("x-forwarded-for", ip)
        .header("user-agent", agent)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn failed_logins_make_one_alert_and_block_the_pair_progressively() {
    let app = spawn(&[]).await;
    let victim = unique_email("victim");
    app.register(&victim, "correct horse battery staple").await;
    let normal = unique_email("normal");
    app.register(&normal, "correct horse battery staple").await;
    let attacker = "198.51.100.7";

    // Normal traffic: two typos, then the right password.
    for _ in 0..2 {
        let typo = app
            .login_forwarded_for("192.0.2.50", &normal, "wrong")
            .await;
        assert_eq!(typo.status(), 401);
    }
    let ok = app
        .login_forwarded_for("192.0.2.50", &normal, "correct horse battery staple")
        .await;
    assert_eq!(ok.status(), 200);

    // Ten failures from one address: an alert at five, the pair blocked at ten.
    for attempt in 1..=10 {
        let response = app.login_forwarded_for(attacker, &victim, "guess").await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    let blocked = app
        .login_forwarded_for(attacker, &victim, "correct horse battery staple")
        .await;
    assert_eq!(blocked.status(), 429);
    let retry: u64 = blocked.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "first block {retry}s");
    // Only that pair: the owner signs in from elsewhere.
    let elsewhere = app
        .login_forwarded_for("192.0.2.77", &victim, "correct horse battery staple")
        .await;
    assert_eq!(elsewhere.status(), 200);

    let alerts = alerts_of(&app.db, "FAILED_LOGINS", &victim).await;
    assert_eq!(alerts.len(), 1, "one alert for the burst");
    let (_, count, severity, event_ids) = &alerts[0];
    // Ten, unless the burst straddled a window boundary (the estimate may then lag by one).
    assert!((9..=10).contains(count), "count {count}");
    assert_eq!(severity, "MEDIUM");
    assert!((5..=10).contains(&event_ids.len()), "{event_ids:?}");
    assert!(
        alerts_of(&app.db, "FAILED_LOGINS", &normal)
            .await
            .is_empty()
    );

    // The audit events named by the alert are the failed sign-ins.
    let db = app.db.clone();
    let ids = event_ids.clone();
    wait_until(PATIENCE, "the audit events of the failures", || {
        let (db, ids) = (db.clone(), ids.clone());
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM audit_events WHERE id = ANY($1) AND status = 401",
            )
            .bind(&ids)
            .fetch_one(&db)
            .await
            .expect("count")
                == ids.len() as i64
        }
    })
    .await;

    // Once the block ends, ten more failures block the pair twice as long.
    sqlx::query("UPDATE security_login_blocks SET blocked_until = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .expect("end the block");
    for _ in 0..10 {
        assert_eq!(
            app.login_forwarded_for(attacker, &victim, "guess")
                .await
                .status(),
            401
        );
    }
    let again = app.login_forwarded_for(attacker, &victim, "guess").await;
    assert_eq!(again.status(), 429);
    let retry: u64 = again.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((61..=120).contains(&retry), "second block {retry}s");
    assert_eq!(alerts_of(&app.db, "FAILED_LOGINS", &victim).await.len(), 1);
}

#[tokio::test]
async fn password_spraying_blocks_the_address_and_tells_the_admins_by_email_socket_and_webhook() {
    let mut smtp = SmtpSink::start(&[]).await;
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let hook = CaptureServer::start().await;
    let hook_url = hook.url("/security");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let app = spawn(&[
        ("SMTP_URL", smtp_url.as_str()),
        ("SMTP_FROM", "Nocron <alerts@nocron.example>"),
        ("OUTBOUND_ALLOW_CIDRS", "127.0.0.0/8"),
        ("SECURITY_ALERT_WEBHOOK_URL", hook_url.as_str()),
        ("SECURITY_ALERT_WEBHOOK_SECRET", secret),
    ])
    .await;
    let admin = app.login_as("ADMIN").await;
    let mut socket = connect(&app, &admin.access_token).await;
    let sprayer = "203.0.113.9";

    // Normal traffic: one address, a few users mistyping once each.
    for _ in 0..3 {
        let email = unique_email("typo");
        assert_eq!(
            app.login_forwarded_for("192.0.2.60", &email, "x")
                .await
                .status(),
            401
        );
    }
    // The spray: ten accounts from one address.
    for _ in 0..10 {
        let email = unique_email("sprayed");
        let response = app
            .login_forwarded_for(sprayer, &email, "Summer2026!")
            .await;
        assert_eq!(response.status(), 401);
    }
    let alert_id = wait_for_alert(&app, "PASSWORD_SPRAY", sprayer, 1).await;
    assert!(
        alerts_of(&app.db, "PASSWORD_SPRAY", "192.0.2.60")
            .await
            .is_empty()
    );
    assert_eq!(
        alerts_of(&app.db, "PASSWORD_SPRAY", sprayer).await[0].2,
        "HIGH"
    );

    // The address is refused sign-ins, even with a right password; others are not.
    let refused = app
        .login_forwarded_for(sprayer, &admin.email, &admin.password)
        .await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let fine = app
        .login_forwarded_for("192.0.2.61", &admin.email, &admin.password)
        .await;
    assert_eq!(fine.status(), 200);

    // Socket.IO: the admin room, joined at connect.
    let pushed = socket.event("security_alert").await;
    assert_eq!(pushed["alert_id"], alert_id.to_string());
    assert_eq!(pushed["rule"], "PASSWORD_SPRAY");
    assert_eq!(pushed["severity"], "HIGH");
    assert_eq!(pushed["subject"], sprayer);

    // Email: a critical SECURITY_ALERT to the admin.
    let received = smtp.received().await;
    assert_eq!(received["rcpt_tos"], json!([admin.email]));
    let data = received["data"].as_str().expect("data");
    assert!(data.contains("PASSWORD_SPRAY"), "{data}");
    let stored: (String, bool) = sqlx::query_as(
        "SELECT type, critical FROM notifications WHERE user_id = $1 AND type = 'SECURITY_ALERT'",
    )
    .bind(admin.id)
    .fetch_one(&app.db)
    .await
    .expect("the admin's notification");
    assert_eq!(stored, ("SECURITY_ALERT".to_owned(), true));

    // The webhook: signed the Standard Webhooks way.
    wait_until(PATIENCE, "the alert webhook", || {
        let seen = !hook.requests_to("/security").is_empty();
        async move { seen }
    })
    .await;
    let posted = &hook.requests_to("/security")[0];
    let body: Value = serde_json::from_str(&posted.body).expect("json");
    assert_eq!(body["type"], "security_alert.created");
    assert_eq!(body["data"]["id"], alert_id.to_string());
    let key = nocron::triggers::signature::StandardWebhooksKey::parse(secret).expect("key");
    let expected = key.sign(
        &posted.headers["webhook-id"],
        posted.headers["webhook-timestamp"]
            .parse()
            .expect("timestamp"),
        posted.body.as_bytes(),
    );
    assert_eq!(posted.headers["webhook-signature"], expected);
}

#[tokio::test]
async fn a_sign_in_from_a_new_network_is_a_low_alert_and_the_user_is_told() {
    let app = spawn(&[]).await;
    let email = unique_email("traveller");
    let password = "correct horse battery staple";
    app.register(&email, password).await;

    // The first sign-in sets the baseline; the same /24 again is normal.
    for ip in ["192.0.2.10", "192.0.2.99"] {
        assert_eq!(
            app.login_forwarded_for(ip, &email, password).await.status(),
            200
        );
    }
    let response = app
        .login_forwarded_for("198.51.100.20", &email, password)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let user_id = body["user"]["id"].as_str().expect("id").to_owned();
    let token = body["access_token"].as_str().expect("token").to_owned();

    let alerts: Vec<(String, String)> =
        sqlx::query_as("SELECT subject, severity FROM security_alerts WHERE rule = 'UNUSUAL_IP'")
            .fetch_all(&app.db)
            .await
            .expect("alerts");
    assert_eq!(
        alerts,
        [(format!("{user_id} 198.51.100.0/24"), "LOW".to_owned())]
    );

    let notifications = app.get_json_as(&token, "/notifications").await;
    let items = notifications["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{notifications}");
    assert_eq!(items[0]["type"], "SECURITY_ALERT");
    assert_eq!(items[0]["title"], "New sign-in from 198.51.100.20");
    // LOW: the admins are not notified.
    let to_admins: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id <> $1::uuid")
            .bind(&user_id)
            .fetch_one(&app.db)
            .await
            .expect("count");
    assert_eq!(to_admins, 0);
}

#[tokio::test]
async fn an_admin_burst_is_one_high_alert_and_ordinary_admin_work_is_not() {
    let app = spawn(&[]).await;
    let calm = app.login_as("ADMIN").await;
    let busy = app.login_as("ADMIN").await;
    for _ in 0..10 {
        assert_eq!(
            app.get_as(&calm.access_token, "/admin/security-alerts")
                .await
                .status(),
            200
        );
    }
    for _ in 0..40 {
        assert_eq!(
            app.get_as(&busy.access_token, "/admin/audit-logs?limit=1")
                .await
                .status(),
            200
        );
    }
    wait_for_alert(&app, "ADMIN_BURST", &busy.id.to_string(), 1).await;
    let alerts = alerts_of(&app.db, "ADMIN_BURST", &busy.id.to_string()).await;
    assert_eq!(alerts.len(), 1, "one alert with a count");
    assert!((30..=40).contains(&alerts[0].1), "count {}", alerts[0].1);
    assert_eq!(alerts[0].2, "HIGH");
    // Written in order: the calm admin's requests were evaluated before the burst.
    assert!(
        alerts_of(&app.db, "ADMIN_BURST", &calm.id.to_string())
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn scanner_user_agents_and_refused_api_keys_raise_alerts_and_browsers_do_not() {
    let app = spawn(&[]).await;
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    for _ in 0..3 {
        assert_eq!(
            get_from(&app, "192.0.2.30", firefox, "/tasks")
                .await
                .status(),
            401
        );
    }
    for path in ["/tasks", "/admin/users", "/.env"] {
        get_from(
            &app,
            "203.0.113.66",
            "sqlmap/1.7.2#stable (https://sqlmap.org)",
            path,
        )
        .await;
    }
    wait_for_alert(&app, "SUSPICIOUS_USER_AGENT", "203.0.113.66", 3).await;
    let alerts = alerts_of(&app.db, "SUSPICIOUS_USER_AGENT", "203.0.113.66").await;
    assert_eq!(
        (alerts.len(), alerts[0].1, alerts[0].2.as_str()),
        (1, 3, "MEDIUM")
    );
    assert!(
        alerts_of(&app.db, "SUSPICIOUS_USER_AGENT", "192.0.2.30")
            .await
            .is_empty()
    );

    // API keys: a few refusals are normal; fifty within five minutes are not.
    let owner = app.login_as("USER").await;
    let calm = app
        .create_api_key(&owner.access_token, &["tasks:read"])
        .await;
    let abused = app
        .create_api_key(&owner.access_token, &["tasks:read"])
        .await;
    for _ in 0..5 {
        let refused = app
            .get_with_key(calm["key"].as_str().expect("key"), "/api/v1/notifications")
            .await;
        assert_eq!(refused.status(), 403);
    }
    for _ in 0..50 {
        let refused = app
            .get_with_key(
                abused["key"].as_str().expect("key"),
                "/api/v1/notifications",
            )
            .await;
        assert_eq!(refused.status(), 403);
    }
    let abused_id = abused["id"].as_str().expect("id");
    wait_for_alert(&app, "API_KEY_ABUSE", abused_id, 1).await;
    assert_eq!(
        alerts_of(&app.db, "API_KEY_ABUSE", abused_id).await.len(),
        1
    );
    assert!(
        alerts_of(&app.db, "API_KEY_ABUSE", calm["id"].as_str().expect("id"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn rules_can_be_changed_allow_listed_and_set_to_monitor_only() {
    let app = spawn(&[]).await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    let rules = app
        .get_json_as(&admin.access_token, "/admin/security-alert-rules")
        .await;
    let names: Vec<&str> = rules["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["rule"].as_str().expect("rule"))
        .collect();
    assert_eq!(
        names,
        [
            "FAILED_LOGINS",
            "PASSWORD_SPRAY",
            "UNUSUAL_IP",
            "ADMIN_BURST",
            "SUSPICIOUS_USER_AGENT",
            "API_KEY_ABUSE"
        ]
    );
    assert_eq!(rules["rules"][0]["threshold"], 5);
    assert_eq!(rules["rules"][0]["block_after"], 10);

    let bad = app
        .put_as(
            &admin.access_token,
            "/admin/security-alert-rules",
            &json!({"rules": [{"rule": "ADMIN_BURST", "enabled": true, "monitor_only": false,
                "allow_cidrs": ["10.0.0.0/33"], "threshold": 0, "window_seconds": 60,
                "block_after": 3}]}),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let problem: Value = bad.json().await.expect("json");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        [
            "rules[0].threshold",
            "rules[0].block_after",
            "rules[0].allow_cidrs[0]"
        ]
    );

    // The scanner rule: 198.51.100.0/24 allow-listed, monitor only.
    let put = app
        .put_as(
            &admin.access_token,
            "/admin/security-alert-rules",
            &json!({"rules": [{"rule": "SUSPICIOUS_USER_AGENT", "enabled": true,
                "monitor_only": true, "allow_cidrs": ["198.51.100.0/24"], "threshold": 1,
                "window_seconds": 3600}]}),
        )
        .await;
    assert_eq!(put.status(), 200);
    let changed: Value = put.json().await.expect("json");
    assert_eq!(changed["rules"][4]["monitor_only"], true);
    assert_eq!(
        changed["rules"][4]["allow_cidrs"],
        json!(["198.51.100.0/24"])
    );
    assert!(changed["rules"][4]["updated_at"].is_string());
    assert_eq!(
        app.put_as(
            &user.access_token,
            "/admin/security-alert-rules",
            &json!({"rules": []})
        )
        .await
        .status(),
        403
    );

    get_from(&app, "198.51.100.5", "nikto", "/tasks").await;
    get_from(&app, "203.0.113.5", "nikto", "/tasks").await;
    wait_for_alert(&app, "SUSPICIOUS_USER_AGENT", "203.0.113.5", 1).await;
    assert!(
        alerts_of(&app.db, "SUSPICIOUS_USER_AGENT", "198.51.100.5")
            .await
            .is_empty()
    );
    let monitor_only: bool = sqlx::query_scalar(
        "SELECT monitor_only FROM security_alerts WHERE subject = '203.0.113.5'",
    )
    .fetch_one(&app.db)
    .await
    .expect("alert");
    assert!(monitor_only);
}

#[tokio::test]
async fn alerts_move_forward_only_are_audited_and_only_admins_reach_them() {
    let app = spawn(&[]).await;
    let admin = app.login_as("ADMIN").await;
    let user = app.login_as("USER").await;
    // One after the other, so the second alert is the newer one (two scans in one written
    // batch may be raised in either order).
    get_from(&app, "203.0.113.70", "masscan/1.3", "/tasks").await;
    let first = wait_for_alert(&app, "SUSPICIOUS_USER_AGENT", "203.0.113.70", 1).await;
    get_from(&app, "203.0.113.71", "zgrab/0.x", "/tasks").await;
    let second = wait_for_alert(&app, "SUSPICIOUS_USER_AGENT", "203.0.113.71", 1).await;

    for path in [
        "/admin/security-alerts".to_owned(),
        format!("/admin/security-alerts/{first}"),
        "/admin/security-alert-rules".to_owned(),
    ] {
        assert_eq!(
            app.get_as(&user.access_token, &path).await.status(),
            403,
            "{path}"
        );
        assert_eq!(
            app.get_as(&admin.access_token, &path).await.status(),
            200,
            "{path}"
        );
    }
    let note = json!({"note": "looking"});
    assert_eq!(
        app.post_as(
            &user.access_token,
            &format!("/admin/security-alerts/{first}/acknowledge"),
            &note
        )
        .await
        .status(),
        403
    );

    // Filters and pages.
    let page = app
        .get_json_as(
            &admin.access_token,
            "/admin/security-alerts?rule=SUSPICIOUS_USER_AGENT&status=OPEN&severity=MEDIUM&limit=1",
        )
        .await;
    assert_eq!(page["items"].as_array().expect("items").len(), 1);
    assert_eq!(page["items"][0]["id"], second.to_string());
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let next = app
        .get_json_as(
            &admin.access_token,
            &format!("/admin/security-alerts?rule=SUSPICIOUS_USER_AGENT&limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(next["items"][0]["id"], first.to_string());
    assert!(next["next_cursor"].is_null());
    let none = app
        .get_json_as(
            &admin.access_token,
            "/admin/security-alerts?severity=CRITICAL",
        )
        .await;
    assert_eq!(none["items"], json!([]));

    // OPEN → ACKNOWLEDGED → RESOLVED; nothing after.
    let path = |verb: &str| format!("/admin/security-alerts/{first}/{verb}");
    let empty = app
        .post_as(
            &admin.access_token,
            &path("acknowledge"),
            &json!({"note": " "}),
        )
        .await;
    assert_eq!(empty.status(), 422);
    let acked = app
        .post_as(&admin.access_token, &path("acknowledge"), &note)
        .await;
    assert_eq!(acked.status(), 200);
    assert_eq!(
        acked.json::<Value>().await.expect("json")["status"],
        "ACKNOWLEDGED"
    );
    assert_eq!(
        app.post_as(&admin.access_token, &path("acknowledge"), &note)
            .await
            .status(),
        409
    );
    let resolved = app
        .post_as(
            &admin.access_token,
            &path("resolve"),
            &json!({"note": "blocked at the edge"}),
        )
        .await;
    assert_eq!(resolved.status(), 200);
    let resolved: Value = resolved.json().await.expect("json");
    assert_eq!(resolved["status"], "RESOLVED");
    let steps = resolved["transitions"].as_array().expect("transitions");
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["to_status"], "ACKNOWLEDGED");
    assert_eq!(steps[1]["note"], "blocked at the edge");
    assert_eq!(steps[1]["actor_id"], admin.id.to_string());
    assert_eq!(
        app.post_as(&admin.access_token, &path("false-positive"), &note)
            .await
            .status(),
        409
    );
    assert_eq!(
        app.post_as(
            &admin.access_token,
            &format!("/admin/security-alerts/{}/resolve", Uuid::now_v7()),
            &note
        )
        .await
        .status(),
        404
    );

    // A false positive with a suppression: the subject raises nothing for a while.
    let fp = app
        .post_as(
            &admin.access_token,
            &format!("/admin/security-alerts/{second}/false-positive"),
            &json!({"note": "our own scanner", "suppress_days": 7}),
        )
        .await;
    assert_eq!(fp.status(), 200);
    get_from(&app, "203.0.113.71", "zgrab/0.x", "/tasks").await;
    get_from(&app, "203.0.113.72", "zgrab/0.x", "/tasks").await;
    wait_for_alert(&app, "SUSPICIOUS_USER_AGENT", "203.0.113.72", 1).await;
    let suppressed = alerts_of(&app.db, "SUSPICIOUS_USER_AGENT", "203.0.113.71").await;
    assert_eq!((suppressed.len(), suppressed[0].1), (1, 1));

    // Each transition is a critical admin action in the audit trail.
    let db = app.db.clone();
    wait_until(PATIENCE, "the transitions in the audit trail", || {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM audit_events WHERE critical AND status = 200
                   AND action IN ('admin.security_alerts.acknowledge', 'admin.security_alerts.resolve',
                                  'admin.security_alerts.false_positive')",
            )
            .fetch_one(&db)
            .await
            .expect("count")
                == 3
        }
    })
    .await;
}
