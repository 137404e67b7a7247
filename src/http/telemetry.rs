//! Per-request tracing span and Prometheus request metrics, both keyed by the matched route
//! template (never the raw path, which may carry ids or tokens).

use std::time::{Duration, Instant};

use axum::{
    body::Body,
    extract::{MatchedPath, Request},
    http::Response,
    middleware::Next,
    response::Response as AxumResponse,
};
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    trace::TraceLayer,
};
use tracing::Span;

use super::request_id::REQUEST_ID_HEADER;

/// The route label for a request: its matched template, or `unmatched`.
pub fn route_of<B>(request: &axum::http::Request<B>) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned())
}

type MakeSpan = fn(&Request) -> Span;
type OnResponse = fn(&Response<Body>, Duration, &Span);

/// A `TraceLayer` whose span carries request id, method and route, and whose closing event
/// records status and latency.
pub fn trace_layer()
-> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, MakeSpan, (), OnResponse> {
    TraceLayer::new_for_http()
        .make_span_with(make_span as MakeSpan)
        .on_request(())
        .on_response(on_response as OnResponse)
}

fn make_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        route = %route_of(request),
        status = tracing::field::Empty,
        // Filled in by the auth extractors once the caller is known.
        user_id = tracing::field::Empty,
        api_key_id = tracing::field::Empty,
    )
}

fn on_response(response: &Response<Body>, latency: Duration, span: &Span) {
    span.record("status", response.status().as_u16());
    tracing::info!(
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request finished"
    );
}

/// Middleware: counts requests and observes their latency by method, route and status.
pub async fn record_metrics(request: Request, next: Next) -> AxumResponse {
    let method = request.method().to_string();
    let route = route_of(&request);
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
