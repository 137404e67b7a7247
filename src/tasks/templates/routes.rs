//! `/templates`: list, read, save and delete templates, and the helpers that fill one in.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{Template, TemplateVariable, catalogue, render, store};
use crate::{
    auth::CurrentUser,
    error::{AppError, AppResult, FieldError, Problem},
    http::{AppJson, AppPath, AppQuery, extract::parse_json},
    state::AppState,
    tasks::{
        api::body::TaskIn,
        db,
        model::{ActionType, NewTask},
    },
};

/// Routes of `/templates`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, save_template))
        .routes(routes!(get_template, delete_template))
}

/// `GET /templates` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplateFilter {
    /// Only templates whose tasks have this action type.
    pub action_type: Option<ActionType>,
}

/// The templates you can use.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct TemplateList {
    /// The built-in catalogue first, then yours, oldest first.
    pub items: Vec<Template>,
}

/// `POST /templates` body: a template from one of your tasks or from a definition.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SaveTemplateIn {
    /// Short name, 1–200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// What it does.
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: String,
    /// Copy the definition of this task of yours (give this or `definition`).
    pub task_id: Option<Uuid>,
    /// A task definition as `POST /tasks` takes it, with `{{ vars.NAME }}` placeholders.
    #[schema(value_type = Option<Object>)]
    pub definition: Option<Value>,
    /// The variables the placeholders use.
    #[serde(default)]
    #[schema(max_items = 30)]
    pub variables: Vec<TemplateVariable>,
}

/// The built-in templates and yours.
#[utoipa::path(get, path = "/templates", tag = "templates", security(("bearer" = [])),
    params(TemplateFilter),
    responses(
        (status = 200, description = "The templates", body = TemplateList),
        (status = 400, description = "Unknown action type", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
    ))]
async fn list_templates(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppQuery(filter): AppQuery<TemplateFilter>,
) -> AppResult<AppJson<TemplateList>> {
    let mut items = catalogue::builtins();
    items.extend(store::list(&db, user.id).await?);
    if let Some(action_type) = filter.action_type {
        items.retain(|template| template.action_type() == Some(action_type));
    }
    Ok(AppJson(TemplateList { items }))
}

/// A built-in template (by slug) or one of yours (by id).
#[utoipa::path(get, path = "/templates/{id}", tag = "templates", security(("bearer" = [])),
    params(("id" = String, Path, description = "A built-in slug or your template's id")),
    responses(
        (status = 200, description = "The template", body = Template),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such template", body = Problem),
    ))]
async fn get_template(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath(id): AppPath<String>,
) -> AppResult<AppJson<Template>> {
    Ok(AppJson(find(&db, user.id, &id).await?))
}

/// Save a template: from one of your tasks (`task_id`) or from a definition with
/// `{{ vars.NAME }}` placeholders and the `variables` they use. When every variable has a
/// default, the template is also checked by building a task from it.
#[utoipa::path(post, path = "/templates", tag = "templates", security(("bearer" = [])),
    request_body = SaveTemplateIn,
    responses(
        (status = 201, description = "The saved template", body = Template),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such task of yours", body = Problem),
        (status = 409, description = "You keep the most templates allowed", body = Problem),
        (status = 422, description = "A field is invalid; each failing field is named", body = Problem),
    ))]
async fn save_template(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppJson(input): AppJson<SaveTemplateIn>,
) -> AppResult<(StatusCode, AppJson<Template>)> {
    let name = input.name.trim();
    let mut errors = Vec::new();
    if !(1..=200).contains(&name.chars().count()) {
        errors.push(field("name", "must be 1 to 200 characters"));
    }
    if input.description.chars().count() > 5000 {
        errors.push(field("description", "must be at most 5000 characters"));
    }
    let definition = match (input.task_id, input.definition) {
        (Some(task_id), None) => {
            let task = db::find_task(&db, task_id, user.id)
                .await?
                .ok_or_else(|| AppError::not_found("task"))?;
            let mut definition = TaskIn::from_task(&task);
            definition.status = None;
            serde_json::to_value(definition).map_err(AppError::internal)?
        }
        (None, Some(definition)) if definition.is_object() => definition,
        (None, Some(_)) => {
            errors.push(field("definition", "must be a task definition (an object)"));
            Value::Null
        }
        _ => {
            errors.push(field("task_id", "give either task_id or definition"));
            Value::Null
        }
    };
    errors.extend(render::check_declarations(&input.variables, &definition));
    if !errors.is_empty() {
        return Err(AppError::validation(errors));
    }
    if input.variables.iter().all(|v| v.default.is_some()) {
        let values =
            render::resolve_values(&input.variables, &Map::new()).map_err(AppError::validation)?;
        let input = build_task_input(&definition, &values, None)
            .map_err(|err| prefixed(err, "definition"))?;
        NewTask::try_from((user.id, input)).map_err(|err| prefixed(err, "definition"))?;
    } else if definition["action"]["type"]
        .as_str()
        .and_then(|t| t.parse::<ActionType>().ok())
        .is_none()
    {
        return Err(AppError::invalid_field(
            "definition.action.type",
            "must name an action type",
        ));
    }
    let template = store::insert(
        &db,
        user.id,
        name,
        &input.description,
        &definition,
        &input.variables,
    )
    .await?;
    Ok((StatusCode::CREATED, AppJson(template)))
}

/// Delete one of your templates (built-in ones cannot be deleted).
#[utoipa::path(delete, path = "/templates/{id}", tag = "templates", security(("bearer" = [])),
    params(("id" = String, Path, description = "Your template's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "No such template of yours", body = Problem),
        (status = 409, description = "Built-in templates cannot be deleted", body = Problem),
    ))]
async fn delete_template(
    State(db): State<PgPool>,
    user: CurrentUser,
    AppPath(id): AppPath<String>,
) -> AppResult<StatusCode> {
    if catalogue::builtins().iter().any(|t| t.id == id) {
        return Err(AppError::conflict("built-in templates cannot be deleted"));
    }
    let id = id
        .parse::<Uuid>()
        .map_err(|_| AppError::not_found("template"))?;
    if store::delete(&db, user.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("template"))
    }
}

/// A built-in template by slug, or one of the owner's by id.
pub(crate) async fn find(db: &PgPool, owner_id: Uuid, id: &str) -> AppResult<Template> {
    if let Some(template) = catalogue::builtins().into_iter().find(|t| t.id == id) {
        return Ok(template);
    }
    let Ok(id) = id.parse::<Uuid>() else {
        return Err(AppError::not_found("template"));
    };
    store::get(db, owner_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("template"))
}

/// The task input a template gives with these values.
pub(crate) fn build_task_input(
    definition: &Value,
    values: &Map<String, Value>,
    name: Option<String>,
) -> AppResult<TaskIn> {
    let mut filled = render::fill(definition, values);
    if let (Some(name), Some(fields)) = (name, filled.as_object_mut()) {
        fields.insert("name".into(), Value::String(name));
    }
    let bytes = serde_json::to_vec(&filled).map_err(AppError::internal)?;
    parse_json::<TaskIn>(&bytes)
}

/// The same error with each field path under `prefix`.
pub(crate) fn prefixed(err: AppError, prefix: &str) -> AppError {
    let errors = err
        .field_errors()
        .iter()
        .map(|e| field(&format!("{prefix}.{}", e.field), &e.message))
        .collect::<Vec<_>>();
    if errors.is_empty() {
        err
    } else {
        AppError::validation(errors)
    }
}

fn field(path: &str, message: &str) -> FieldError {
    FieldError {
        field: path.to_owned(),
        message: message.to_owned(),
    }
}
