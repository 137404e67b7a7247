//! `POST /notifications/test {channel}` (and under `/api/v1`): sends yourself a `SYSTEM`
//! notification through one channel, so you can check that email reaches you or that your
//! webhook receiver verifies Nocron's signature. Bounded per account and hour.

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    Notifier,
    compose::Content,
    model::{Channel, DeliveryStatus, NotificationType},
    outbox::{Created, push},
    store::{self, NewNotification},
};
use crate::{
    auth::{Caller, Scope},
    db::channels::NOTIFICATION_DELIVERIES,
    error::{AppError, AppResult, ErrorCode, Problem},
    http::AppJson,
    state::AppState,
};

/// Test notifications one account may send an hour.
pub const MAX_TESTS_PER_HOUR: i64 = 10;

/// Routes of this file, relative to `/notifications`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send_test))
}

/// `POST /notifications/test` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestIn {
    /// The channel to try.
    pub channel: Channel,
}

/// One delivery of the test notification, as first stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestDelivery {
    /// The channel.
    pub channel: Channel,
    /// Where it starts: `QUEUED` (the worker sends it next), `DELIVERED` (in-app), or
    /// `NOT_SENT` when the channel is not set up (`last_error` says why).
    pub status: DeliveryStatus,
    /// Why it will not be sent.
    pub last_error: Option<String>,
}

/// The test notification; follow it with `GET /notifications/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    /// The notification.
    pub notification_id: Uuid,
    /// Its deliveries (one per webhook endpoint for `WEBHOOK`).
    pub deliveries: Vec<TestDelivery>,
}

/// Send yourself a test notification through one channel.
#[utoipa::path(post, path = "/test", tag = "notifications", security(("bearer" = [])),
    request_body = TestIn,
    responses(
        (status = 202, description = "Stored; queued deliveries are sent next", body = TestSent),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:write`", body = Problem),
        (status = 422, description = "`channel` is not one of IN_APP, EMAIL, WEBHOOK", body = Problem),
        (status = 429, description = "10 test notifications in the last hour; see `Retry-After`", body = Problem),
    ))]
async fn send_test(
    State(notifier): State<Notifier>,
    caller: Caller,
    AppJson(body): AppJson<TestIn>,
) -> AppResult<(StatusCode, AppJson<TestSent>)> {
    caller.require(Scope::NotificationsWrite)?;
    let user_id = caller.owner_id();
    let content = Content {
        title: "Test notification".to_owned(),
        body: format!(
            "This is a test of your {} channel, sent at your request.",
            body.channel
        ),
        link: "/notifications".to_owned(),
        data: json!({"test": true, "channel": body.channel}),
    };
    let mut tx = notifier.db.begin().await?;
    // Serialises one account's tests so the hourly bound holds.
    sqlx::query!("SELECT id FROM users WHERE id = $1 FOR UPDATE", user_id)
        .fetch_one(&mut *tx)
        .await?;
    let recent = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM notifications
           WHERE user_id = $1 AND type = 'SYSTEM' AND data @> '{"test": true}'
             AND created_at > now() - interval '1 hour'"#,
        user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if recent >= MAX_TESTS_PER_HOUR {
        return Err(AppError::new(
            ErrorCode::RateLimited,
            format!("at most {MAX_TESTS_PER_HOUR} test notifications an hour"),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("600")));
    }
    let channels = [body.channel];
    let (id, created_at) = store::insert(
        &mut tx,
        &NewNotification {
            user_id,
            kind: NotificationType::System,
            content: &content,
            task_id: None,
            rule_id: None,
            channels: &channels,
            email_ready: notifier.mailer.is_some(),
        },
    )
    .await?;
    let deliveries = sqlx::query_as!(
        TestDelivery,
        r#"SELECT channel AS "channel: Channel", status AS "status: DeliveryStatus", last_error
           FROM notification_deliveries WHERE notification_id = $1 ORDER BY id"#,
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    if deliveries
        .iter()
        .any(|d| d.status == DeliveryStatus::Queued)
    {
        sqlx::query!("SELECT pg_notify($1, '')", NOTIFICATION_DELIVERIES)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    push(
        &notifier,
        &[Created {
            id,
            user_id,
            kind: NotificationType::System,
            content,
            created_at,
        }],
    )
    .await;
    Ok((
        StatusCode::ACCEPTED,
        AppJson(TestSent {
            notification_id: id,
            deliveries,
        }),
    ))
}
