//! `/secrets`: a signed-in user's vault. Values go in (create, replace) and never come out:
//! every response carries the name, description and timestamps only. Another user's
//! secret is a 404.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{NewSecret, SecretChanges, SecretMeta, SecretValue, store};
use crate::{
    auth::CurrentUser,
    error::{AppError, Problem},
    http::{AppJson, AppPath, AppQuery},
    secrets::Vault,
    state::AppState,
};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_secret, list_secrets))
        .routes(routes!(get_secret, update_secret, delete_secret))
}

/// `POST /secrets` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretIn {
    /// The name tasks use in `{{ secrets.NAME }}`: a letter or `_` first, then letters,
    /// digits or `_`, at most 64 characters.
    #[schema(
        example = "STRIPE_API_KEY",
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z_][A-Za-z0-9_]*$"
    )]
    pub name: String,
    /// What it is for (at most 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// The value (1 byte to 64 KiB). Stored encrypted; never returned.
    #[schema(example = "sk_live_…", format = Password, max_length = 65536)]
    pub value: String,
}

/// `PATCH /secrets/{id}` body; fields left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretPatch {
    /// A new name (tasks referring to the old name will fail to resolve it).
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z_][A-Za-z0-9_]*$")]
    pub name: Option<String>,
    /// A new description; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
    /// A new value, used by the next execution.
    #[schema(format = Password, max_length = 65536)]
    pub value: Option<String>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `GET /secrets` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SecretFilter {
    /// Page size, 1–100 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretPage {
    /// The secrets, by name.
    pub items: Vec<SecretMeta>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Store a new secret; the response shows its metadata, never the value.
#[utoipa::path(post, path = "/secrets", tag = "secrets", security(("bearer" = [])),
    request_body = SecretIn,
    responses(
        (status = 201, description = "Stored, encrypted", body = SecretMeta),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 409, description = "You already have a secret with this name (field `name`)", body = Problem),
        (status = 422, description = "Invalid name, description or value", body = Problem),
    ))]
async fn create_secret(
    State(db): State<PgPool>,
    State(vault): State<Arc<Vault>>,
    user: CurrentUser,
    AppJson(body): AppJson<SecretIn>,
) -> Result<(StatusCode, AppJson<SecretMeta>), AppError> {
    let meta = store::create(
        &db,
        &vault,
        user.id,
        NewSecret {
            name: body.name,
            description: body.description,
            value: SecretValue::new(body.value),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, AppJson(meta)))
}

/// List your secrets by name (never their values), a page at a time.
#[utoipa::path(get, path = "/secrets", tag = "secrets", security(("bearer" = [])),
    params(SecretFilter),
    responses(
        (status = 200, description = "A page of your secrets, by name", body = SecretPage),
        (status = 400, description = "Invalid query parameter", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 422, description = "Invalid limit", body = Problem),
    ))]
async fn list_secrets(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppQuery(filter): AppQuery<SecretFilter>,
) -> Result<AppJson<SecretPage>, AppError> {
    let limit = crate::http::cursor::page_size(filter.limit)?;
    let mut items = store::list_page(&db, user.id, filter.cursor.as_deref(), limit + 1).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|secret| secret.name.clone())
    } else {
        None
    };
    Ok(AppJson(SecretPage { items, next_cursor }))
}

/// One of your secrets (never its value).
#[utoipa::path(get, path = "/secrets/{id}", tag = "secrets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Secret id")),
    responses(
        (status = 200, description = "The secret's metadata", body = SecretMeta),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such secret of yours", body = Problem),
    ))]
async fn get_secret(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<SecretMeta>, AppError> {
    store::get(&db, user.id, id)
        .await?
        .map(AppJson)
        .ok_or_else(|| AppError::not_found("secret"))
}

/// Rename, describe or replace the value of one of your secrets.
#[utoipa::path(patch, path = "/secrets/{id}", tag = "secrets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Secret id")),
    request_body = SecretPatch,
    responses(
        (status = 200, description = "Updated metadata", body = SecretMeta),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such secret of yours", body = Problem),
        (status = 409, description = "You already have a secret with the new name (field `name`)", body = Problem),
        (status = 422, description = "Invalid name, description or value", body = Problem),
    ))]
async fn update_secret(
    State(db): State<PgPool>,
    State(vault): State<Arc<Vault>>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<SecretPatch>,
) -> Result<AppJson<SecretMeta>, AppError> {
    let changes = SecretChanges {
        name: body.name,
        description: body.description,
        value: body.value.map(SecretValue::new),
    };
    store::update(&db, &vault, user.id, id, changes)
        .await?
        .map(AppJson)
        .ok_or_else(|| AppError::not_found("secret"))
}

/// Delete one of your secrets; tasks referring to it fail until it exists again.
#[utoipa::path(delete, path = "/secrets/{id}", tag = "secrets", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Secret id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such secret of yours", body = Problem),
    ))]
async fn delete_secret(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, AppError> {
    if store::delete(&db, user.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("secret"))
    }
}
