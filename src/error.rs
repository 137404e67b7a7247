//! The one error type of the HTTP API and its RFC 9457 `application/problem+json` form.
//!
//! Handlers return [`AppError`]; its response carries a stable machine code (`code`, and a
//! numeric `error_code` whose thousands digit is the family: 1xxx auth, 2xxx validation,
//! 3xxx resource, 4xxx database, 5xxx external, 9xxx internal), the request id, and for
//! validation failures the failing fields. Internal causes are logged here, once, and never
//! returned to the client.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::request_id;

/// The media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Stable machine-readable error codes. The string form is what clients switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// No or invalid credentials.
    Unauthorized,
    /// Valid credentials without the right to do this.
    Forbidden,
    /// Email or password wrong.
    InvalidCredentials,
    /// The account is temporarily locked after repeated failures.
    AccountLocked,
    /// An API key lacks the scope the endpoint needs.
    InsufficientScope,
    /// Too many requests; see `Retry-After`.
    RateLimited,
    /// The body or parameters failed validation; see `errors`.
    ValidationError,
    /// The body is not well-formed JSON.
    MalformedJson,
    /// The body's content type is not the one expected.
    InvalidContentType,
    /// The body exceeds the configured limit.
    PayloadTooLarge,
    /// A query string parameter could not be parsed.
    InvalidQuery,
    /// A path parameter could not be parsed.
    InvalidPath,
    /// The request is malformed in another way.
    BadRequest,
    /// No such route or object (or not yours).
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The request conflicts with the current state (e.g. a duplicate).
    Conflict,
    /// `If-Match` named a version that is no longer current: reload and try again.
    PreconditionFailed,
    /// The request took longer than the server allows.
    RequestTimeout,
    /// A database operation failed.
    DatabaseError,
    /// The database cannot be reached right now.
    DatabaseUnavailable,
    /// A service Nocron depends on failed.
    ExternalServiceError,
    /// A service Nocron depends on did not answer in time.
    ExternalServiceTimeout,
    /// An optional integration (e.g. Notion OAuth) is not configured on this server: its
    /// routes answer 404, as if they did not exist.
    IntegrationNotConfigured,
    /// Something unexpected happened; the request id finds it in the logs.
    InternalError,
    /// The account's plan does not allow this; see `limit`, `used`, `resets_at` and
    /// `upgrade_url`.
    PlanLimitReached,
    /// Billing is off on this server (no `STRIPE_SECRET_KEY`): its Stripe routes answer 404.
    BillingDisabled,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            Unauthorized | InvalidCredentials => StatusCode::UNAUTHORIZED,
            Forbidden | InsufficientScope => StatusCode::FORBIDDEN,
            AccountLocked | RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ValidationError => StatusCode::UNPROCESSABLE_ENTITY,
            MalformedJson | InvalidContentType | InvalidQuery | InvalidPath | BadRequest => {
                StatusCode::BAD_REQUEST
            }
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict => StatusCode::CONFLICT,
            PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            DatabaseError | InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ExternalServiceError => StatusCode::BAD_GATEWAY,
            ExternalServiceTimeout => StatusCode::GATEWAY_TIMEOUT,
            IntegrationNotConfigured | BillingDisabled => StatusCode::NOT_FOUND,
            PlanLimitReached => StatusCode::PAYMENT_REQUIRED,
        }
    }

    /// The numeric code; the thousands digit is the family.
    pub fn number(self) -> u16 {
        use ErrorCode::*;
        match self {
            Unauthorized => 1001,
            InvalidCredentials => 1002,
            Forbidden => 1003,
            AccountLocked => 1004,
            InsufficientScope => 1005,
            RateLimited => 1029,
            ValidationError => 2001,
            MalformedJson => 2002,
            InvalidContentType => 2003,
            PayloadTooLarge => 2004,
            InvalidQuery => 2005,
            InvalidPath => 2006,
            BadRequest => 2000,
            NotFound => 3001,
            MethodNotAllowed => 3002,
            Conflict => 3003,
            PreconditionFailed => 3012,
            RequestTimeout => 3008,
            DatabaseError => 4001,
            DatabaseUnavailable => 4002,
            ExternalServiceError => 5001,
            ExternalServiceTimeout => 5002,
            IntegrationNotConfigured => 5003,
            InternalError => 9000,
            PlanLimitReached => 3402,
            BillingDisabled => 5004,
        }
    }

    /// The `SCREAMING_SNAKE_CASE` name, as serialized.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Unauthorized => "UNAUTHORIZED",
            Forbidden => "FORBIDDEN",
            InvalidCredentials => "INVALID_CREDENTIALS",
            AccountLocked => "ACCOUNT_LOCKED",
            InsufficientScope => "INSUFFICIENT_SCOPE",
            RateLimited => "RATE_LIMITED",
            ValidationError => "VALIDATION_ERROR",
            MalformedJson => "MALFORMED_JSON",
            InvalidContentType => "INVALID_CONTENT_TYPE",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            InvalidQuery => "INVALID_QUERY",
            InvalidPath => "INVALID_PATH",
            BadRequest => "BAD_REQUEST",
            NotFound => "NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Conflict => "CONFLICT",
            PreconditionFailed => "PRECONDITION_FAILED",
            RequestTimeout => "REQUEST_TIMEOUT",
            DatabaseError => "DATABASE_ERROR",
            DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            ExternalServiceError => "EXTERNAL_SERVICE_ERROR",
            ExternalServiceTimeout => "EXTERNAL_SERVICE_TIMEOUT",
            IntegrationNotConfigured => "INTEGRATION_NOT_CONFIGURED",
            InternalError => "INTERNAL_ERROR",
            PlanLimitReached => "PLAN_LIMIT_REACHED",
            BillingDisabled => "BILLING_DISABLED",
        }
    }

    /// The code a bare status maps to, for responses produced outside handlers
    /// (unknown route, timeout, body limit, panics).
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::InvalidContentType,
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
            StatusCode::FORBIDDEN => ErrorCode::Forbidden,
            StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::ValidationError,
            StatusCode::CONFLICT => ErrorCode::Conflict,
            StatusCode::PRECONDITION_FAILED => ErrorCode::PreconditionFailed,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::DatabaseUnavailable,
            s if s.is_client_error() => ErrorCode::BadRequest,
            _ => ErrorCode::InternalError,
        }
    }
}

/// One failing field of a validation error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's path in the request, e.g. `schedule.cron` or `query.limit`.
    pub field: String,
    /// What is wrong with it, in words for a person.
    pub message: String,
}

/// An RFC 9457 problem document: the body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "urn:nocron:problem:not-found")]
    pub type_uri: String,
    /// A short summary of the kind of problem.
    #[schema(example = "Not Found")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 404)]
    pub status: u16,
    /// What went wrong in this occurrence.
    #[schema(example = "task not found")]
    pub detail: String,
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Numeric code; thousands digit is the family (1 auth, 2 validation, 3 resource, 4 database, 5 external, 9 internal).
    #[schema(example = 3001)]
    pub error_code: u16,
    /// The request id (also in the `x-request-id` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The failing fields, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// `PLAN_LIMIT_REACHED` only: the limit's name (`max_tasks`, `min_interval_seconds`,
    /// `executions_per_month`, `max_api_keys`, `max_alert_rules_per_task`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_name: Option<String>,
    /// `PLAN_LIMIT_REACHED` only: the plan's value of the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// `PLAN_LIMIT_REACHED` only: how much is used (for `min_interval_seconds`, the
    /// interval asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<i64>,
    /// `PLAN_LIMIT_REACHED` only, for period limits: when the count starts again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `PLAN_LIMIT_REACHED` only: where to choose a larger plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_url: Option<String>,
    /// `PLAN_LIMIT_REACHED` only: the account's plan now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// What a `402 PLAN_LIMIT_REACHED` problem adds: the limit reached and how to get more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLimitDetails {
    /// The limit's name (`max_tasks`, `min_interval_seconds`, `executions_per_month`,
    /// `max_api_keys`, `max_alert_rules_per_task`).
    pub limit_name: String,
    /// The plan's value of the limit.
    pub limit: i64,
    /// How much is used now (for `min_interval_seconds`: the interval asked for).
    pub used: i64,
    /// When a period limit starts again (absent for the others).
    pub resets_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Where to choose a larger plan.
    pub upgrade_url: String,
    /// The account's plan now.
    pub plan: String,
}

/// An error answered as a problem document.
#[derive(Debug)]
pub struct AppError {
    code: ErrorCode,
    detail: String,
    errors: Vec<FieldError>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    source: Option<anyhow::Error>,
    plan_limit: Option<Box<PlanLimitDetails>>,
}

/// Shorthand for handler results.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// An error with this code and a message for the client.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        AppError {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
            source: None,
            plan_limit: None,
        }
    }

    /// 402 `PLAN_LIMIT_REACHED` with the limit's details.
    pub fn plan_limit(detail: impl Into<String>, details: PlanLimitDetails) -> Self {
        AppError {
            plan_limit: Some(Box::new(details)),
            ..Self::new(ErrorCode::PlanLimitReached, detail)
        }
    }

    /// 404: `what` does not exist or is not the caller's.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 401 with a reason.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, detail)
    }

    /// 403 with a reason.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, detail)
    }

    /// 409 with a reason.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, detail)
    }

    /// 412 `PRECONDITION_FAILED`: the object changed since the version the client named.
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::PreconditionFailed, detail)
    }

    /// 422 for one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// 422 for several fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        AppError {
            errors,
            ..Self::new(ErrorCode::ValidationError, detail)
        }
    }

    /// 500 whose cause is logged and never shown.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        AppError {
            source: Some(source.into()),
            ..Self::new(ErrorCode::InternalError, "an unexpected error occurred")
        }
    }

    /// Adds a response header (e.g. `Retry-After`).
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Attaches field-level details to any error (e.g. a 400 for a query parameter).
    pub fn with_fields(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Keeps an underlying cause for the log.
    pub fn with_source(mut self, source: impl Into<anyhow::Error>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The machine code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The client-facing message.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The failing fields of a validation error.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// Builds the problem document (with the current request id, if any).
    pub fn to_problem(&self) -> Problem {
        let mut problem = problem(self.code, self.detail.clone(), self.errors.clone());
        if let Some(details) = self.plan_limit.as_deref() {
            problem.limit_name = Some(details.limit_name.clone());
            problem.limit = Some(details.limit);
            problem.used = Some(details.used);
            problem.resets_at = details.resets_at;
            problem.upgrade_url = Some(details.upgrade_url.clone());
            problem.plan = Some(details.plan.clone());
        }
        problem
    }
}

/// A problem document for `code`, stamped with the current request id.
pub fn problem(code: ErrorCode, detail: String, errors: Vec<FieldError>) -> Problem {
    let status = code.status();
    Problem {
        type_uri: format!(
            "urn:nocron:problem:{}",
            code.as_str().to_ascii_lowercase().replace('_', "-")
        ),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        code,
        error_code: code.number(),
        request_id: request_id::current(),
        errors,
        limit_name: None,
        limit: None,
        used: None,
        resets_at: None,
        upgrade_url: None,
        plan: None,
    }
}

/// Serializes a problem with the right status and content type.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        match &self.source {
            Some(source) if status.is_server_error() => {
                tracing::error!(
                    code = self.code.as_str(),
                    error = format!("{source:#}"),
                    "request failed"
                );
            }
            Some(source) => {
                tracing::debug!(
                    code = self.code.as_str(),
                    error = format!("{source:#}"),
                    "request rejected"
                );
            }
            None if status.is_server_error() => {
                tracing::error!(code = self.code.as_str(), detail = %self.detail, "request failed");
            }
            None => {}
        }
        let mut response = problem_response(&self.to_problem());
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => AppError::not_found("resource"),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                AppError::conflict("a resource with these values already exists").with_source(err)
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                AppError::invalid_field("id", "refers to an object that does not exist")
                    .with_source(err)
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                AppError::new(
                    ErrorCode::DatabaseUnavailable,
                    "the database is unavailable, try again shortly",
                )
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
                .with_source(err)
            }
            _ => AppError {
                source: Some(err.into()),
                ..AppError::new(ErrorCode::DatabaseError, "a database error occurred")
            },
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        AppError::internal(err)
    }
}

impl From<validator::ValidationErrors> for AppError {
    fn from(errors: validator::ValidationErrors) -> Self {
        AppError::validation(field_errors(&errors))
    }
}

/// Flattens nested validation errors into dotted field paths (`schedule.cron`, `tags[2]`).
pub fn field_errors(errors: &validator::ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect("", errors, &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn collect(prefix: &str, errors: &validator::ValidationErrors, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            validator::ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| describe(&error.code, &error.params));
                    out.push(FieldError {
                        field: path.clone(),
                        message,
                    });
                }
            }
            validator::ValidationErrorsKind::Struct(inner) => collect(&path, inner, out),
            validator::ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(&format!("{path}[{index}]"), inner, out);
                }
            }
        }
    }
}

fn describe(
    code: &str,
    params: &std::collections::HashMap<std::borrow::Cow<'static, str>, serde_json::Value>,
) -> String {
    let param = |name: &str| params.get(name).map(|v| v.to_string());
    match code {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max} characters long"),
            (Some(min), None) => format!("must be at least {min} characters long"),
            (None, Some(max)) => format!("must be at most {max} characters long"),
            _ => "has an invalid length".into(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".into(),
        },
        "email" => "must be a valid email address".into(),
        "url" => "must be a valid URL".into(),
        "required" => "is required".into(),
        other => format!("is invalid ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_the_thousands_digit() {
        use ErrorCode::*;
        for (code, family) in [
            (Unauthorized, 1),
            (RateLimited, 1),
            (ValidationError, 2),
            (MalformedJson, 2),
            (NotFound, 3),
            (Conflict, 3),
            (DatabaseError, 4),
            (ExternalServiceError, 5),
            (InternalError, 9),
        ] {
            assert_eq!(code.number() / 1000, family, "{code:?}");
        }
    }

    #[test]
    fn serialized_code_matches_as_str() {
        let json = serde_json::to_value(ErrorCode::InvalidContentType).expect("serialize");
        assert_eq!(json, ErrorCode::InvalidContentType.as_str());
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = AppError::internal(anyhow::anyhow!("password=hunter2 leaked"));
        let problem = err.to_problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("hunter2"));
    }
}
