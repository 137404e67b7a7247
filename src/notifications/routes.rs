//! `/notifications` (and `/api/v1/notifications`): your notifications, with cursor
//! pagination and filters, one with its deliveries, read marks, deletion and the unread
//! count. Another user's notification is a 404.

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    model::{Channel, DeliveryStatus, NotificationCategory, NotificationType},
    store,
};
use crate::{
    auth::{Caller, Scope},
    error::{AppError, AppResult, Problem},
    events::EventBus,
    http::{AppJson, AppPath, AppQuery, cursor},
    state::AppState,
};

/// Routes of this file, relative to `/notifications`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(unread_count))
        .routes(routes!(read_all))
        .routes(routes!(get_notification, delete_notification))
        .routes(routes!(mark_read))
}

/// A notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationOut {
    /// The notification.
    pub id: Uuid,
    /// What it is about.
    #[serde(rename = "type")]
    pub kind: NotificationType,
    /// The type's category.
    pub category: NotificationCategory,
    /// Whether it is critical (security, account).
    pub critical: bool,
    /// One line.
    pub title: String,
    /// The text.
    pub body: String,
    /// Details (task, execution, status, …).
    pub data: Value,
    /// Where in the app it leads.
    pub link: Option<String>,
    /// The task it is about.
    pub task_id: Option<Uuid>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// When you first opened it.
    pub seen_at: Option<DateTime<Utc>>,
    /// When you marked it read.
    pub read_at: Option<DateTime<Utc>>,
    /// When you followed its link.
    pub clicked_at: Option<DateTime<Utc>>,
}

/// One channel's delivery of a notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    /// The channel.
    pub channel: Channel,
    /// Where the delivery is.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i32,
    /// Why the last attempt failed, or why it was not sent.
    pub last_error: Option<String>,
    /// When the provider took it.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it reached the recipient.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// 0 for the first delivery; each resend of a failed one adds a delivery one higher.
    #[schema(minimum = 0, maximum = 3)]
    pub generation: i16,
    /// When the email was first opened (its tracking image loaded).
    pub opened_at: Option<DateTime<Utc>>,
    /// When the email's link was first followed.
    pub clicked_at: Option<DateTime<Utc>>,
}

/// A notification with its deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationDetail {
    /// The notification.
    #[serde(flatten)]
    pub notification: NotificationOut,
    /// One per channel.
    pub deliveries: Vec<DeliveryOut>,
}

/// One page of notifications.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPage {
    /// Newest first.
    pub items: Vec<NotificationOut>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// The unread count.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    /// Notifications not read and not deleted.
    pub count: i64,
}

/// What `read-all` changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadAll {
    /// Notifications newly marked read.
    pub updated: u64,
}

/// `GET /notifications` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationListParams {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (keep the filters while paging).
    pub cursor: Option<String>,
    /// `true`: only unread ones; `false`: only read ones.
    pub unread: Option<bool>,
    /// Only this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<NotificationType>,
    /// Created at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Created before this time.
    pub to: Option<DateTime<Utc>>,
}

/// Position of a page: the last item's creation time and id.
#[derive(Debug, Serialize, Deserialize)]
struct Position(DateTime<Utc>, Uuid);

struct Row {
    id: Uuid,
    kind: NotificationType,
    category: NotificationCategory,
    critical: bool,
    title: String,
    body: String,
    data: Value,
    link: Option<String>,
    task_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    seen_at: Option<DateTime<Utc>>,
    read_at: Option<DateTime<Utc>>,
    clicked_at: Option<DateTime<Utc>>,
}

impl From<Row> for NotificationOut {
    fn from(r: Row) -> Self {
        NotificationOut {
            id: r.id,
            kind: r.kind,
            category: r.category,
            critical: r.critical,
            title: r.title,
            body: r.body,
            data: r.data,
            link: r.link,
            task_id: r.task_id,
            created_at: r.created_at,
            seen_at: r.seen_at,
            read_at: r.read_at,
            clicked_at: r.clicked_at,
        }
    }
}

/// List your notifications, newest first, with filters and cursor pagination.
#[utoipa::path(get, path = "/", tag = "notifications", security(("bearer" = [])),
    params(NotificationListParams),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationPage),
        (status = 400, description = "A query parameter is malformed (`type`, `unread`, `from`, `to`)", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:read`", body = Problem),
        (status = 422, description = "`limit` or `cursor` is invalid, or `to` is not after `from`", body = Problem),
    ))]
async fn list_notifications(
    State(db): State<PgPool>,
    caller: Caller,
    AppQuery(params): AppQuery<NotificationListParams>,
) -> AppResult<AppJson<NotificationPage>> {
    caller.require(Scope::NotificationsRead)?;
    let limit = cursor::page_size(params.limit)?;
    if let (Some(from), Some(to)) = (params.from, params.to)
        && to <= from
    {
        return Err(AppError::invalid_field("query.to", "must be after `from`"));
    }
    let after: Option<Position> = params.cursor.as_deref().map(cursor::decode).transpose()?;
    let mut rows = sqlx::query_as!(
        Row,
        r#"SELECT id, type AS "kind: NotificationType",
                  category AS "category: NotificationCategory", critical, title, body, data,
                  link, task_id, created_at, seen_at, read_at, clicked_at
           FROM notifications
           WHERE user_id = $1 AND deleted_at IS NULL
             AND ($2::bool IS NULL OR (read_at IS NULL) = $2)
             AND ($3::text IS NULL OR type = $3)
             AND ($4::timestamptz IS NULL OR created_at >= $4)
             AND ($5::timestamptz IS NULL OR created_at < $5)
             AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7))
           ORDER BY created_at DESC, id DESC
           LIMIT $8"#,
        caller.owner_id(),
        params.unread,
        params.kind.map(NotificationType::as_str),
        params.from,
        params.to,
        after.as_ref().map(|p| p.0),
        after.as_ref().map_or(Uuid::nil(), |p| p.1),
        limit + 1
    )
    .fetch_all(&db)
    .await?;
    let next_cursor = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.truncate(rows.len() - 1);
        rows.last()
            .map(|last| cursor::encode(&Position(last.created_at, last.id)))
            .transpose()?
    } else {
        None
    };
    Ok(AppJson(NotificationPage {
        items: rows.into_iter().map(NotificationOut::from).collect(),
        next_cursor,
    }))
}

/// How many of your notifications are unread.
#[utoipa::path(get, path = "/unread-count", tag = "notifications", security(("bearer" = [])),
    responses(
        (status = 200, description = "The count", body = UnreadCount),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:read`", body = Problem),
    ))]
async fn unread_count(State(db): State<PgPool>, caller: Caller) -> AppResult<AppJson<UnreadCount>> {
    caller.require(Scope::NotificationsRead)?;
    let count = store::unread_count(&db, caller.owner_id()).await?;
    Ok(AppJson(UnreadCount { count }))
}

/// One of your notifications with its deliveries; opening it records `seen_at`.
#[utoipa::path(get, path = "/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The notification")),
    responses(
        (status = 200, description = "The notification", body = NotificationDetail),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:read`", body = Problem),
        (status = 404, description = "No such notification of yours", body = Problem),
    ))]
async fn get_notification(
    State(db): State<PgPool>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<AppJson<NotificationDetail>> {
    caller.require(Scope::NotificationsRead)?;
    let row = sqlx::query_as!(
        Row,
        r#"UPDATE notifications SET seen_at = COALESCE(seen_at, now())
           WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL
           RETURNING id, type AS "kind: NotificationType",
                     category AS "category: NotificationCategory", critical, title, body, data,
                     link, task_id, created_at, seen_at, read_at, clicked_at"#,
        id,
        caller.owner_id()
    )
    .fetch_optional(&db)
    .await?
    .ok_or_else(|| AppError::not_found("notification"))?;
    let deliveries = sqlx::query_as!(
        DeliveryOut,
        r#"SELECT channel AS "channel: Channel", status AS "status: DeliveryStatus", attempts,
                  last_error, sent_at, delivered_at, updated_at, generation, opened_at, clicked_at
           FROM notification_deliveries WHERE notification_id = $1
           ORDER BY channel, generation, id"#,
        id
    )
    .fetch_all(&db)
    .await?;
    Ok(AppJson(NotificationDetail {
        notification: row.into(),
        deliveries,
    }))
}

/// Mark one of your notifications read.
#[utoipa::path(patch, path = "/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The notification")),
    responses(
        (status = 200, description = "The notification, read", body = NotificationOut),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:write`", body = Problem),
        (status = 404, description = "No such notification of yours", body = Problem),
    ))]
async fn mark_read(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<AppJson<NotificationOut>> {
    caller.require(Scope::NotificationsWrite)?;
    let row = sqlx::query_as!(
        Row,
        r#"UPDATE notifications
           SET read_at = COALESCE(read_at, now()), seen_at = COALESCE(seen_at, now())
           WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL
           RETURNING id, type AS "kind: NotificationType",
                     category AS "category: NotificationCategory", critical, title, body, data,
                     link, task_id, created_at, seen_at, read_at, clicked_at"#,
        id,
        caller.owner_id()
    )
    .fetch_optional(&db)
    .await?
    .ok_or_else(|| AppError::not_found("notification"))?;
    store::publish_unread_count(&db, &events, caller.owner_id()).await;
    Ok(AppJson(row.into()))
}

/// Mark all your notifications read.
#[utoipa::path(post, path = "/read-all", tag = "notifications", security(("bearer" = [])),
    responses(
        (status = 200, description = "How many were marked", body = ReadAll),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:write`", body = Problem),
    ))]
async fn read_all(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    caller: Caller,
) -> AppResult<AppJson<ReadAll>> {
    caller.require(Scope::NotificationsWrite)?;
    let updated = sqlx::query!(
        "UPDATE notifications SET read_at = now(), seen_at = COALESCE(seen_at, now())
         WHERE user_id = $1 AND read_at IS NULL AND deleted_at IS NULL",
        caller.owner_id()
    )
    .execute(&db)
    .await?
    .rows_affected();
    store::publish_unread_count(&db, &events, caller.owner_id()).await;
    Ok(AppJson(ReadAll { updated }))
}

/// Delete one of your notifications.
#[utoipa::path(delete, path = "/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The notification")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "The API key lacks `notifications:write`", body = Problem),
        (status = 404, description = "No such notification of yours", body = Problem),
    ))]
async fn delete_notification(
    State(db): State<PgPool>,
    State(events): State<EventBus>,
    caller: Caller,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<StatusCode> {
    caller.require(Scope::NotificationsWrite)?;
    let deleted = sqlx::query!(
        "UPDATE notifications SET deleted_at = now()
         WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
        id,
        caller.owner_id()
    )
    .execute(&db)
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(AppError::not_found("notification"));
    }
    store::publish_unread_count(&db, &events, caller.owner_id()).await;
    Ok(StatusCode::NO_CONTENT)
}
