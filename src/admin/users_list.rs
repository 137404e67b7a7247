//! `GET /admin/users`: accounts searched by email or name, filtered by role, status, plan,
//! creation and last sign-in, sorted by a whitelisted field, a page at a time, each with its
//! task count, its executions of the last 30 days and its last sign-in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::model::AccountStatus;
use crate::{
    auth::{Admin, RequireRole, Role},
    billing::plan_code::PlanCode,
    config::Settings,
    error::{AppError, Problem},
    http::{AppJson, AppQuery, cursor},
    state::AppState,
    text_enum,
    users::UserStatus,
};

/// Longest search text.
const MAX_SEARCH_LEN: usize = 200;
/// Deepest offset a page may start at.
const MAX_OFFSET: i64 = 100_000;

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(admin_list_users))
}

text_enum! {
    /// What `GET /admin/users` sorts by.
    pub enum UserSort {
        /// Creation time (the default).
        CreatedAt = "created_at",
        /// Email.
        Email = "email",
        /// Display name.
        Name = "name",
        /// Last sign-in (never signed in last).
        LastLoginAt = "last_login_at",
        /// Number of tasks.
        TaskCount = "task_count",
        /// Executions over the last 30 days.
        Executions30d = "executions_30d",
    }
}

text_enum! {
    /// Sort direction.
    #[schema(as = UserSortOrder)]
    pub enum SortOrder {
        /// Smallest first.
        Asc = "asc",
        /// Largest first (the default).
        Desc = "desc",
    }
}

/// `GET /admin/users` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminUserFilter {
    /// Emails or names containing this text (case-insensitive), at most 200 characters.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Only this role.
    pub role: Option<Role>,
    /// Only this status (deleted accounts only when asked for).
    pub status: Option<AccountStatus>,
    /// Only accounts on this plan (their effective plan).
    pub plan: Option<PlanCode>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// Last signed in at or after (RFC 3339).
    pub last_login_from: Option<DateTime<Utc>>,
    /// Last signed in before (RFC 3339).
    pub last_login_to: Option<DateTime<Utc>>,
    /// Sort field (default `created_at`).
    #[param(inline)]
    pub sort: Option<UserSort>,
    /// Sort direction (default `desc`).
    #[param(inline)]
    pub order: Option<SortOrder>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Rows to skip, 0–100000 (ignored when `cursor` is given).
    #[param(minimum = 0, maximum = 100000)]
    pub offset: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One account in the admin list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserRow {
    /// The user id.
    pub id: Uuid,
    /// Sign-in email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Status.
    pub status: AccountStatus,
    /// The effective plan.
    pub plan: PlanCode,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// Last sign-in, if any.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Tasks owned.
    pub task_count: i64,
    /// Executions queued over the last 30 days.
    pub executions_30d: i64,
}

/// One page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserPage {
    /// The accounts in the requested order.
    pub items: Vec<AdminUserRow>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Where the next page starts.
#[derive(Debug, Serialize, Deserialize)]
struct Position {
    offset: i64,
}

/// List accounts (admins), with search, filters, sorting and pagination.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])),
    params(AdminUserFilter),
    responses(
        (status = 200, description = "A page of accounts", body = AdminUserPage),
        (status = 400, description = "Malformed query parameter", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "Invalid limit, offset, cursor, range or search text", body = Problem),
    ))]
async fn admin_list_users(
    axum::extract::State(db): axum::extract::State<PgPool>,
    axum::extract::State(settings): axum::extract::State<std::sync::Arc<Settings>>,
    _admin: RequireRole<Admin>,
    AppQuery(filter): AppQuery<AdminUserFilter>,
) -> Result<AppJson<AdminUserPage>, AppError> {
    let limit = cursor::page_size(filter.limit)?;
    let offset = match &filter.cursor {
        Some(text) => cursor::decode::<Position>(text)?.offset,
        None => filter.offset.unwrap_or(0),
    };
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(AppError::invalid_field(
            "query.offset",
            format!("must be between 0 and {MAX_OFFSET}"),
        ));
    }
    if filter
        .q
        .as_ref()
        .is_some_and(|q| q.chars().count() > MAX_SEARCH_LEN)
    {
        return Err(AppError::invalid_field(
            "query.q",
            format!("must be at most {MAX_SEARCH_LEN} characters"),
        ));
    }
    if let (Some(from), Some(to)) = (filter.created_from, filter.created_to)
        && to <= from
    {
        return Err(AppError::invalid_field(
            "query.created_to",
            "must be after `created_from`",
        ));
    }
    if let (Some(from), Some(to)) = (filter.last_login_from, filter.last_login_to)
        && to <= from
    {
        return Err(AppError::invalid_field(
            "query.last_login_to",
            "must be after `last_login_from`",
        ));
    }
    let pattern = filter.q.as_deref().map(crate::db::contains_pattern);
    let sort = filter.sort.unwrap_or(UserSort::CreatedAt);
    let desc = filter.order.unwrap_or(SortOrder::Desc) == SortOrder::Desc;
    let policy = crate::billing::policy::PlanPolicy::from_settings(&settings);
    let rows = sqlx::query!(
        r#"WITH listed AS (
               SELECT u.id, u.email::text AS email, u.name, u.role, u.status, u.created_at,
                      u.last_login_at,
                      COALESCE((SELECT s.plan FROM subscriptions s
                                WHERE s.user_id = u.id
                                  AND (s.status IN ('active', 'trialing')
                                       OR (s.status = 'past_due'
                                           AND s.past_due_since > now() - make_interval(days => $13)))),
                               $12) AS plan,
                      (SELECT count(*) FROM tasks t WHERE t.owner_id = u.id) AS task_count,
                      (SELECT count(*) FROM executions e
                       WHERE e.owner_id = u.id AND e.queued_at > now() - interval '30 days')
                        AS executions_30d
               FROM users u
               WHERE ($1::text IS NULL OR u.email::text ILIKE $1 OR u.name ILIKE $1)
                 AND ($2::text IS NULL OR u.role = $2)
                 AND (u.status = $3 OR ($3 IS NULL AND u.status <> 'deleted'))
                 AND ($4::timestamptz IS NULL OR u.created_at >= $4)
                 AND ($5::timestamptz IS NULL OR u.created_at < $5)
                 AND ($6::timestamptz IS NULL OR u.last_login_at >= $6)
                 AND ($7::timestamptz IS NULL OR u.last_login_at < $7)
           )
           SELECT id AS "id!", email AS "email!", name AS "name!", role AS "role!",
                  status AS "status!", created_at AS "created_at!", last_login_at,
                  plan AS "plan!", task_count AS "task_count!", executions_30d AS "executions_30d!"
           FROM listed
           WHERE ($11::text IS NULL OR plan = $11)
           ORDER BY
               CASE WHEN $8 = 'email' AND NOT $9 THEN email END ASC,
               CASE WHEN $8 = 'email' AND $9 THEN email END DESC,
               CASE WHEN $8 = 'name' AND NOT $9 THEN name END ASC,
               CASE WHEN $8 = 'name' AND $9 THEN name END DESC,
               CASE WHEN $8 = 'last_login_at' AND NOT $9 THEN last_login_at END ASC NULLS LAST,
               CASE WHEN $8 = 'last_login_at' AND $9 THEN last_login_at END DESC NULLS LAST,
               CASE WHEN $8 = 'task_count' AND NOT $9 THEN task_count END ASC,
               CASE WHEN $8 = 'task_count' AND $9 THEN task_count END DESC,
               CASE WHEN $8 = 'executions_30d' AND NOT $9 THEN executions_30d END ASC,
               CASE WHEN $8 = 'executions_30d' AND $9 THEN executions_30d END DESC,
               CASE WHEN NOT $9 THEN created_at END ASC,
               CASE WHEN $9 THEN created_at END DESC,
               CASE WHEN NOT $9 THEN id END ASC,
               CASE WHEN $9 THEN id END DESC
           OFFSET $14 LIMIT $10"#,
        pattern,
        filter.role.map(Role::as_str),
        filter.status.map(|s| UserStatus::from(s).as_str()),
        filter.created_from,
        filter.created_to,
        filter.last_login_from,
        filter.last_login_to,
        sort.as_str(),
        desc,
        limit + 1,
        filter.plan.map(PlanCode::as_str),
        policy.default_plan.as_str(),
        policy.grace_days,
        offset,
    )
    .fetch_all(&db)
    .await?;
    let more = rows.len() as i64 > limit;
    let items = rows
        .into_iter()
        .take(limit as usize)
        .map(|row| {
            Ok(AdminUserRow {
                id: row.id,
                email: row.email,
                name: row.name,
                role: Role::from_db(&row.role)?,
                status: UserStatus::from_db(&row.status)?.into(),
                plan: row.plan.parse().map_err(|err: String| {
                    AppError::internal(anyhow::anyhow!("unknown plan in the database: {err}"))
                })?,
                created_at: row.created_at,
                last_login_at: row.last_login_at,
                task_count: row.task_count,
                executions_30d: row.executions_30d,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let next_cursor = if more {
        Some(cursor::encode(&Position {
            offset: offset + limit,
        })?)
    } else {
        None
    };
    Ok(AppJson(AdminUserPage { items, next_cursor }))
}
