//! Serving `/metrics`: on the main port, or on its own listener when `METRICS_ADDR` is set
//! (then the main port answers 404), and behind a bearer token when `METRICS_TOKEN` is set.
//! The token is compared through SHA-256 digests in constant time, so neither its content
//! nor its length leaks through timing.

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::HealthState;
use super::metrics;
use crate::{
    error::{AppError, Problem},
    http::problems,
};

/// The router of the separate metrics listener (`METRICS_ADDR`): `/metrics` and nothing else.
pub fn metrics_router(state: HealthState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(problems::not_found)
        .with_state(state)
}

/// Prometheus metrics in the text exposition format.
///
/// With `METRICS_TOKEN` set, send it as `Authorization: Bearer <METRICS_TOKEN>`. With
/// `METRICS_ADDR` set, the metrics are served there and this port answers 404.
#[utoipa::path(get, path = "/metrics", tag = "health",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, description = "`METRICS_TOKEN` is set and the request does not carry it", body = Problem),
        (status = 404, description = "`METRICS_ADDR` is set: the metrics are served on that address instead", body = Problem),
    ))]
pub(super) async fn prometheus(
    State(state): State<HealthState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if state.settings.exposure.metrics_addr.is_some() {
        return Err(problems::not_found(method, uri).await);
    }
    exposition(&state, &headers)
}

/// `/metrics` on the separate listener.
async fn scrape(
    State(state): State<HealthState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    exposition(&state, &headers)
}

fn exposition(state: &HealthState, headers: &HeaderMap) -> Result<Response, AppError> {
    authorize(state, headers)?;
    let body = metrics::render(&state.metrics, &state.db, state.started_at);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

/// Passes without `METRICS_TOKEN`; otherwise only a request bearing it.
fn authorize(state: &HealthState, headers: &HeaderMap) -> Result<(), AppError> {
    if state.settings.exposure.metrics_token.is_none() || bears_metrics_token(state, headers) {
        return Ok(());
    }
    Err(AppError::unauthorized(
        "the metrics need a token: send `Authorization: Bearer <METRICS_TOKEN>`",
    )
    .with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"metrics\""),
    ))
}

/// Whether the request carries `Authorization: Bearer <METRICS_TOKEN>` (false when no token
/// is configured).
pub(super) fn bears_metrics_token(state: &HealthState, headers: &HeaderMap) -> bool {
    let Some(expected) = &state.settings.exposure.metrics_token else {
        return false;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.expose().as_bytes());
    bool::from(presented[..].ct_eq(&expected[..]))
}
