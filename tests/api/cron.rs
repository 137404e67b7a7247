//! `POST /cron/explain`: descriptions, next runs in UTC and local time, DST notes on real
//! transitions, and 422 problems naming the field for bad input.

use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, spawn_app};

impl TestApp {
    /// `POST /cron/explain` expecting 200; returns the body.
    pub async fn explain_cron(&self, body: &Value) -> Value {
        let response = self.post_json("/cron/explain", body).await;
        assert_eq!(response.status(), 200, "explain {body}");
        response.json().await.expect("explain JSON")
    }

    /// `POST /cron/explain` expecting 422; returns the problem's failing field names.
    pub async fn explain_cron_fields(&self, body: &Value) -> (Vec<String>, Value) {
        let response = self.post_json("/cron/explain", body).await;
        assert_eq!(response.status(), 422, "explain {body}");
        let problem = problem(response).await;
        assert_eq!(problem["code"], "VALIDATION_ERROR");
        let fields = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().expect("field").to_owned())
            .collect();
        (fields, problem)
    }
}

fn utc_of(body: &Value) -> Vec<&str> {
    body["next_runs"]
        .as_array()
        .expect("next_runs")
        .iter()
        .map(|run| run["utc"].as_str().expect("utc"))
        .collect()
}

fn notes(body: &Value) -> Vec<&str> {
    body["dst_notes"]
        .as_array()
        .expect("dst_notes")
        .iter()
        .map(|n| n.as_str().expect("note"))
        .collect()
}

#[tokio::test]
async fn spring_forward_in_new_york_moves_the_run_and_says_so() {
    let app = spawn_app().await;
    let body = app
        .explain_cron(&json!({
            "cron": "30 2 * * *",
            "timezone": "America/New_York",
            "count": 3,
            "after": "2026-03-07T12:00:00Z",
        }))
        .await;
    assert_eq!(
        utc_of(&body),
        [
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z",
            "2026-03-10T06:30:00Z"
        ]
    );
    let first = &body["next_runs"][0];
    assert_eq!(first["local"], "2026-03-08T03:00:00-04:00");
    assert_eq!(first["offset"], "-04:00");
    assert_eq!(first["abbreviation"], "EDT");
    assert_eq!(body["kind"], "WALL_CLOCK");
    assert_eq!(
        body["dst_policy"],
        json!({"skipped": "RUN_AT_GAP_END", "repeated": "ONCE"})
    );
    assert_eq!(
        notes(&body),
        [
            "2026-03-08 02:30 does not exist in America/New_York (clocks go forward from 02:00 EST to 03:00 EDT); it runs once at 03:00 EDT"
        ]
    );
    assert!(
        body["description"]
            .as_str()
            .expect("description")
            .ends_with("(America/New_York)")
    );
}

#[tokio::test]
async fn skip_policy_drops_the_run_and_says_so() {
    let app = spawn_app().await;
    let body = app
        .explain_cron(&json!({
            "cron": "30 2 * * *",
            "timezone": "America/New_York",
            "dst_policy": {"skipped": "SKIP"},
            "count": 2,
            "after": "2026-03-07T12:00:00Z",
        }))
        .await;
    assert_eq!(
        utc_of(&body),
        ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]
    );
    let notes = notes(&body);
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("skipped (dst_policy.skipped = SKIP)"),
        "{notes:?}"
    );
}

#[tokio::test]
async fn fall_back_in_berlin_runs_twice_when_asked() {
    let app = spawn_app().await;
    let body = app
        .explain_cron(&json!({
            "cron": "30 2 * * *",
            "timezone": "Europe/Berlin",
            "dst_policy": {"repeated": "TWICE"},
            "count": 3,
            "after": "2026-10-24T12:00:00Z",
        }))
        .await;
    assert_eq!(
        utc_of(&body),
        [
            "2026-10-25T00:30:00Z",
            "2026-10-25T01:30:00Z",
            "2026-10-26T01:30:00Z"
        ]
    );
    let locals: Vec<&str> = body["next_runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["local"].as_str().expect("local"))
        .collect();
    assert_eq!(
        locals,
        [
            "2026-10-25T02:30:00+02:00",
            "2026-10-25T02:30:00+01:00",
            "2026-10-26T02:30:00+01:00"
        ]
    );
    let notes = notes(&body);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("2026-10-25 02:30 occurs twice in Europe/Berlin"),
        "{notes:?}"
    );
    assert!(notes[0].contains("CEST and CET"), "{notes:?}");
}

#[tokio::test]
async fn interval_schedules_note_that_they_keep_their_pace() {
    let app = spawn_app().await;
    let body = app
        .explain_cron(&json!({
            "cron": "*/30 * * * *",
            "timezone": "Australia/Lord_Howe",
            "count": 6,
            "after": "2026-10-03T14:00:00Z",
        }))
        .await;
    assert_eq!(body["kind"], "INTERVAL");
    assert_eq!(
        utc_of(&body),
        [
            "2026-10-03T14:30:00Z",
            "2026-10-03T15:00:00Z",
            "2026-10-03T15:30:00Z",
            "2026-10-03T16:00:00Z",
            "2026-10-03T16:30:00Z",
            "2026-10-03T17:00:00Z"
        ]
    );
    let notes = notes(&body);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("keeps its pace in absolute time"),
        "{notes:?}"
    );
    assert!(notes[0].contains("02:00 does not exist"), "{notes:?}");
}

#[tokio::test]
async fn no_notes_when_no_transition_touches_the_runs() {
    let app = spawn_app().await;
    // 09:00 is far from New York's 02:00 transition.
    let body = app
        .explain_cron(&json!({
            "cron": "0 9 * * *",
            "timezone": "America/New_York",
            "count": 5,
            "after": "2026-03-06T00:00:00Z",
        }))
        .await;
    assert_eq!(body["next_runs"].as_array().expect("runs").len(), 5);
    assert!(notes(&body).is_empty());
}

#[tokio::test]
async fn defaults_list_ten_runs_from_now() {
    let app = spawn_app().await;
    let before = chrono::Utc::now();
    let body = app
        .explain_cron(&json!({"cron": "*/10 * * * * *", "timezone": "UTC"}))
        .await;
    let runs = utc_of(&body);
    assert_eq!(runs.len(), 10);
    let first: chrono::DateTime<chrono::Utc> = runs[0].parse().expect("instant");
    assert!(first > before, "{first} is not after {before}");
    assert_eq!(
        body["description"].as_str().expect("description"),
        "Every 10 seconds (UTC)"
    );
}

#[tokio::test]
async fn bad_input_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let (fields, problem) = app
        .explain_cron_fields(&json!({"cron": "0 25 * * *", "timezone": "UTC"}))
        .await;
    assert_eq!(fields, ["cron"]);
    assert_eq!(
        problem["errors"][0]["message"],
        "field 2 (hour) value 25 is out of range 0-23"
    );

    let (fields, problem) = app
        .explain_cron_fields(&json!({"cron": "* * * * *", "timezone": "Mars/Olympus"}))
        .await;
    assert_eq!(fields, ["timezone"]);
    assert_eq!(
        problem["errors"][0]["message"],
        "unknown IANA time zone \"Mars/Olympus\""
    );

    let (fields, _) = app
        .explain_cron_fields(&json!({"cron": "nope", "timezone": "Nowhere", "count": 0}))
        .await;
    assert_eq!(fields, ["count", "cron", "timezone"]);

    for (body, field) in [
        (
            json!({"cron": "* * * * *", "timezone": "UTC", "count": 101}),
            "count",
        ),
        (
            json!({"cron": "* * * * *", "timezone": "UTC", "after": "yesterday"}),
            "after",
        ),
        (
            json!({"cron": "* * * * *", "timezone": "UTC", "dst_policy": {"skipped": "LATER"}}),
            "dst_policy.skipped",
        ),
        (json!({"timezone": "UTC"}), "body"),
        (json!({"cron": 5, "timezone": "UTC"}), "cron"),
        (json!({"cron": "0 0 30 2 *", "timezone": "UTC"}), "cron"),
    ] {
        let (fields, _) = app.explain_cron_fields(&body).await;
        assert_eq!(fields, [field], "{body}");
    }
}

#[tokio::test]
async fn instants_beyond_the_search_horizon_list_no_runs() {
    let app = spawn_app().await;
    let body = app
        .explain_cron(&json!({
            "cron": "* * * * *",
            "timezone": "Europe/Berlin",
            "after": "9999-12-31T23:59:59Z",
        }))
        .await;
    assert_eq!(body["next_runs"], json!([]));
    assert_eq!(body["dst_notes"], json!([]));
}

#[tokio::test]
async fn runs_are_listed_within_a_century() {
    let app = spawn_app().await;
    // 29 February on a Monday: 2044, 2072, 2112, then 2140 (beyond the century).
    let body = app
        .explain_cron(&json!({
            "cron": "0 0 29 2 +MON",
            "timezone": "UTC",
            "count": 100,
            "after": "2026-01-01T00:00:00Z",
        }))
        .await;
    assert_eq!(
        utc_of(&body),
        [
            "2044-02-29T00:00:00Z",
            "2072-02-29T00:00:00Z",
            "2112-02-29T00:00:00Z"
        ]
    );
}

#[tokio::test]
async fn the_endpoint_is_documented_under_the_scheduler_tag() {
    let app = spawn_app().await;
    let spec: Value = app.get("/api-json").await.json().await.expect("spec");
    let operation = &spec["paths"]["/cron/explain"]["post"];
    assert_eq!(operation["tags"], json!(["scheduler"]));
    assert!(operation["responses"]["422"].is_object());
    assert!(spec["components"]["schemas"]["DstPolicy"].is_object());
}
