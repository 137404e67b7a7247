//! The one OpenAPI document: metadata, security schemes and shared schemas. Each module's
//! router contributes its own paths (see `app::api_router`).

pub mod contract;

use utoipa::{
    Modify, OpenApi,
    openapi::{
        RefOr, Response,
        path::Operation,
        security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        },
    },
};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

use crate::{
    error::{ErrorCode, FieldError, Problem},
    realtime::events::EventSchemas,
    tasks::{
        list::{SortOrder, TaskSort},
        model::ActionType,
    },
};

/// The base document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Nocron API",
        description = "Self-hostable automation backend: tasks (HTTP, email, database, script \
                       and Notion actions) started by schedules, webhooks, inbound email, API \
                       calls or other tasks; executions with retries, logs and live updates; \
                       users, API keys and encrypted secrets.\n\n\
                       Errors are RFC 9457 problem documents (`application/problem+json`) with a \
                       stable `code`; see the `Problem` schema.\n\n\
                       Not built yet: security alerts, the rest of the admin console, the \
                       Stripe checkout and subscription changes, product analytics and \
                       reports. The `alert.created` event schema is reserved for them.",
        license(name = "MIT", identifier = "MIT"),
    ),
    modifiers(&SecuritySchemes, &EventSchemas),
    components(schemas(Problem, FieldError, ErrorCode, TaskSort, SortOrder, ActionType)),
    tags(
        (name = "health", description = "Liveness, readiness, status and metrics"),
        (name = "realtime", description = "Socket.IO at `/socket.io`: no HTTP paths; the event \
                                           payload schemas are in the components (see docs/REALTIME.md)"),
        (name = "scheduler", description = "Cron expressions, time zones and daylight-saving rules"),
        (name = "auth", description = "Register, sign in, refresh tokens, sign out, change password"),
        (name = "sessions", description = "Your signed-in devices"),
        (name = "users", description = "Profiles and user management"),
        (name = "admin", description = "Role administration, the audit trail, plans and subscriptions"),
        (name = "billing", description = "Plans and their limits, your usage and your subscription (plans and usage also when billing is off)"),
        (name = "api-keys", description = "API keys for integrations (scopes: tasks:read, tasks:write, tasks:execute, executions:read, analytics:read, secrets:use: needed with tasks:write to create or change a task that references secrets)"),
        (name = "tasks", description = "Your tasks: definitions, runs, history and next runs (also under `/api/v1/tasks`)"),
        (name = "templates", description = "Built-in and saved task templates; `POST /tasks/from-template/{id}` makes a task from one"),
        (name = "executions", description = "One execution with its log lines; cancel and retry (also under `/api/v1/executions`)"),
        (name = "secrets", description = "Your encrypted secrets, used in task configurations as {{ secrets.NAME }}; values are write-only"),
        (name = "api-v1", description = "The integration API, for API keys (X-API-Key) and signed-in users"),
        (name = "triggers", description = "Webhook URLs, inbound email addresses and chains that start a task (see docs/TRIGGERS.md)"),
        (name = "dashboard", description = "Your tasks and executions at a glance: overview, live metrics, recently run tasks (`scope=system` for administrators)"),
        (name = "analytics", description = "Your executions over a period, compared with the previous one, and as time series in your time zone (also under `/api/v1/analytics`, scope `analytics:read`)"),
        (name = "notion", description = "Connect a Notion workspace (OAuth) for NOTION_SYNC tasks, and list its databases"),
    )
)]
pub struct ApiDoc;

/// Name of the JWT bearer scheme in `security` requirements.
pub const BEARER: &str = "bearer";
/// Name of the API-key scheme in `security` requirements.
pub const API_KEY: &str = "api_key";

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "Access token from `POST /auth/login` or `POST /auth/refresh`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key (`nck_…`) from `POST /api-keys`, for `/api/v1` endpoints",
            ))),
        );
    }
}

/// Marks the operations of a router that is also mounted under `/api/v1`: its operation ids
/// get a `v1_` prefix (they must be unique in the document), its security accepts an API key
/// or a bearer token, and it documents the 403 of a key without the scope and the 429 of a
/// key over its rate limit.
pub fn for_api_v1(mut router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    for item in router.get_openapi_mut().paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            mark_api_v1(operation);
        }
    }
    router
}

fn mark_api_v1(operation: &mut Operation) {
    if let Some(id) = &operation.operation_id {
        operation.operation_id = Some(format!("v1_{id}"));
    }
    operation.tags = Some(vec!["api-v1".to_owned()]);
    operation.security = Some(vec![
        SecurityRequirement::new(API_KEY, Vec::<String>::new()),
        SecurityRequirement::new(BEARER, Vec::<String>::new()),
    ]);
    let responses = &mut operation.responses.responses;
    for (status, description) in [
        ("403", "The API key lacks the scope this operation needs"),
        ("429", "The API key's rate limit is exhausted"),
    ] {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem_response(description)));
    }
}

fn problem_response(description: &str) -> Response {
    contract::problem_response(description)
}
