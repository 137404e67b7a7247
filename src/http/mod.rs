//! The HTTP middleware stack and the generic extractors. Nothing here knows who the caller is.
//!
//! Outermost first: request id → tracing span → metrics → panic catcher → CORS → security
//! headers → client address (`TRUSTED_PROXIES`) → (Socket.IO, when mounted) → compression →
//! problem documents for bare error responses → `RateLimit-*` headers → request timeout →
//! body limit.

pub mod client_ip;
pub mod cursor;
pub mod extract;
pub mod problems;
pub mod rate_limit_headers;
pub mod request_id;
pub mod security_headers;
pub mod telemetry;
pub mod validation;

use std::time::Duration;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    cors::{AllowOrigin, Any, CorsLayer},
    limit::RequestBodyLimitLayer,
    timeout::TimeoutLayer,
};

use crate::config::{CorsOrigins, Settings};

pub use extract::{AppJson, AppPath, AppQuery, ValidJson};

/// Wraps every route of `router` in the middleware stack configured by `settings`.
pub fn apply_middleware<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    settings: &Settings,
) -> Router<S> {
    apply_outer_layers(apply_request_layers(router, settings), settings)
}

/// The layers that only make sense for plain request/response exchanges: body limit, request
/// timeout, problem documents for bare errors, compression. Socket.IO is mounted between
/// these and the outer layers, so long-polling requests and WebSocket upgrades are never cut
/// by the timeout nor buffered by the compressor.
pub fn apply_request_layers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    settings: &Settings,
) -> Router<S> {
    // Router::layer wraps what is already there, so the innermost layer comes first.
    router
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(settings.request_body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        .layer(middleware::from_fn(rate_limit_headers::middleware))
        .layer(middleware::from_fn_with_state(
            settings.request_body_limit,
            problems::for_bare_errors,
        ))
        .layer(CompressionLayer::new())
}

/// The layers every request gets, Socket.IO transports included: the client address,
/// security headers, CORS, the panic catcher, metrics, the tracing span and the request id.
pub fn apply_outer_layers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    settings: &Settings,
) -> Router<S> {
    let trusted_proxies: std::sync::Arc<[ipnet::IpNet]> = settings.trusted_proxies.clone().into();
    router
        .layer(middleware::from_fn_with_state(
            trusted_proxies,
            client_ip::middleware,
        ))
        .layer(middleware::from_fn_with_state(
            settings.always_hsts(),
            security_headers::middleware,
        ))
        .layer(cors_layer(&settings.cors_origins))
        .layer(CatchPanicLayer::custom(problems::panic_response))
        .layer(middleware::from_fn(telemetry::record_metrics))
        .layer(telemetry::trace_layer())
        .layer(middleware::from_fn(request_id::middleware))
}

/// Headers a browser may send cross-origin.
const ALLOWED_HEADERS: [HeaderName; 6] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("idempotency-key"),
];

/// Response headers a browser script may read.
const EXPOSED_HEADERS: [HeaderName; 6] = [
    HeaderName::from_static("x-request-id"),
    header::RETRY_AFTER,
    HeaderName::from_static("ratelimit-limit"),
    HeaderName::from_static("ratelimit-remaining"),
    HeaderName::from_static("ratelimit-reset"),
    header::LOCATION,
];

/// CORS from `CORS_ORIGINS`: none by default; `*` never with credentials; a list with them.
fn cors_layer(origins: &CorsOrigins) -> CorsLayer {
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    let base = CorsLayer::new()
        .allow_methods(methods)
        .expose_headers(EXPOSED_HEADERS)
        .max_age(Duration::from_secs(600));
    match origins {
        CorsOrigins::None => CorsLayer::new(),
        CorsOrigins::Any => base.allow_origin(Any).allow_headers(ALLOWED_HEADERS),
        CorsOrigins::List(list) => {
            let values: Vec<HeaderValue> = list
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect();
            base.allow_origin(AllowOrigin::list(values))
                .allow_headers(ALLOWED_HEADERS)
                .allow_credentials(true)
        }
    }
}
