//! The one OpenAPI document: metadata, security schemes and shared schemas. Each module's
//! router contributes its own paths (see `app::api_router`).

use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{
    error::{ErrorCode, FieldError, Problem},
    realtime::events::EventSchemas,
};

/// The base document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Nocron API",
        description = "Self-hostable automation backend: tasks with schedules and triggers, \
                       executions with logs, live updates, notifications and billing.\n\n\
                       Errors are RFC 9457 problem documents (`application/problem+json`) with a \
                       stable `code`; see the `Problem` schema.",
        license(name = "MIT", identifier = "MIT"),
    ),
    modifiers(&SecuritySchemes, &EventSchemas),
    components(schemas(Problem, FieldError, ErrorCode)),
    tags(
        (name = "health", description = "Liveness, readiness, status and metrics"),
        (name = "realtime", description = "Socket.IO at `/socket.io`: no HTTP paths; the event \
                                           payload schemas are in the components (see docs/REALTIME.md)"),
        (name = "scheduler", description = "Cron expressions, time zones and daylight-saving rules"),
        (name = "auth", description = "Register, sign in, refresh tokens, sign out, change password"),
        (name = "sessions", description = "Your signed-in devices"),
        (name = "users", description = "Profiles and user management"),
        (name = "admin", description = "Role administration"),
        (name = "api-keys", description = "API keys for integrations (scopes: tasks:read, tasks:write, tasks:execute, executions:read, analytics:read)"),
        (name = "api-v1", description = "The integration API, for API keys (X-API-Key) and signed-in users"),
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
