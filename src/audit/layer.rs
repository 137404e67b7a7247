//! The audit middleware: one event per HTTP request, built after the response and queued
//! for the writer. It runs inside the routes' layers (so it sees the matched route template,
//! and every answer: 401, 403, 404, 429, fallbacks and bare errors turned into problems) and
//! outside Socket.IO, which it never sees. Health checks, metrics and the API documentation
//! are not recorded (see [`is_skipped`]).
//!
//! JSON bodies are captured when their size is known and at most [`CAPTURE_LIMIT`]: the
//! request's from its `Content-Length` (read here and handed on unchanged), the response's
//! when it is not compressed.

use std::{net::SocketAddr, time::Instant};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::Response,
};
use chrono::Utc;
use uuid::Uuid;

use super::{
    classify::{classify, targets_and_safe_path},
    model::{ActorType, AuditEvent, AuditEventId, Outcome, Target},
    redact,
    writer::AuditSink,
};
use crate::{
    auth::actor_slot::{ActorSlot, AddedTargets},
    http::{client_ip::ClientIp, request_id::REQUEST_ID_HEADER},
};

/// Largest body read for capture; larger ones pass through unrecorded.
pub const CAPTURE_LIMIT: u64 = 1024 * 1024;

/// Paths never recorded: probes, metrics and documentation (frequent, anonymous and free of
/// side effects). Socket.IO is outside this layer; its refused handshakes are recorded by
/// the gateway.
pub fn is_skipped(path: &str) -> bool {
    path == "/health"
        || path.starts_with("/health/")
        || path == "/metrics"
        || path == "/api-json"
        || path == "/api/docs"
        || path.starts_with("/api/docs/")
        || path.starts_with("/socket.io")
}

/// Middleware: records the request once it has been answered.
pub async fn middleware(State(sink): State<AuditSink>, request: Request, next: Next) -> Response {
    if is_skipped(request.uri().path()) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let occurred_at = Utc::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let path = request.uri().path().to_owned();
    let transaction_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let ip = request
        .extensions()
        .get::<ClientIp>()
        .map(|ClientIp(ip)| *ip)
        .or_else(|| {
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip().to_canonical())
        });
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect::<String>());
    let slot = ActorSlot::default();
    let id = Uuid::now_v7();
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(slot.clone());
    parts.extensions.insert(AuditEventId(id));
    let added_targets = AddedTargets::default();
    parts.extensions.insert(added_targets.clone());
    let (body, request_body) = capture_body(&parts.headers, body).await;
    let response = next.run(Request::from_parts(parts, body)).await;
    let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let (parts, body) = response.into_parts();
    let (body, response_body) = capture_body(&parts.headers, body).await;
    let response = Response::from_parts(parts, body);

    let status = response.status().as_u16();
    let outcome = Outcome::for_status(status);
    let named = classify(&method, route.as_deref(), outcome);
    let (mut targets, safe_path) = targets_and_safe_path(route.as_deref(), &path);
    targets.extend(
        added_targets
            .take()
            .into_iter()
            .map(|(kind, id)| Target { kind, id }),
    );
    let mut actor = slot.get();
    // Signing in or registering names its user in the answer, not in the request.
    if actor.user_id.is_none() && outcome == Outcome::Success {
        actor.user_id = response_body
            .as_ref()
            .and_then(|b| b.pointer("/user/id"))
            .and_then(|id| id.as_str())
            .and_then(|id| id.parse().ok());
    }
    let actor_type = match (actor.user_id, actor.api_key_id) {
        (_, Some(_)) => ActorType::ApiKey,
        (Some(_), None) => ActorType::User,
        (None, None) => ActorType::Anonymous,
    };
    sink.record(AuditEvent {
        id,
        occurred_at,
        transaction_id,
        actor_type,
        actor_id: actor.user_id,
        api_key_id: actor.api_key_id,
        action: named.action,
        action_class: named.class,
        critical: named.critical,
        method,
        route,
        path: safe_path,
        status,
        outcome,
        targets,
        ip,
        user_agent,
        latency_ms,
        request_body,
        response_body,
    })
    .await;
    response
}

/// Whether a body is JSON (`application/json`, `application/problem+json`, …).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
}

/// Reads a JSON body of known, small size and gives back an identical body with its
/// redacted copy. Anything else is handed on untouched, uncaptured.
async fn capture_body(headers: &HeaderMap, body: Body) -> (Body, Option<serde_json::Value>) {
    let size = body.size_hint().exact();
    let capturable = is_json(headers)
        && !headers.contains_key(header::CONTENT_ENCODING)
        && size.is_some_and(|size| size <= CAPTURE_LIMIT);
    if !capturable {
        return (body, None);
    }
    match axum::body::to_bytes(body, usize::try_from(CAPTURE_LIMIT).unwrap_or(usize::MAX)).await {
        Ok(bytes) => {
            let captured = redact::capture(&bytes);
            (Body::from(bytes), captured)
        }
        // The body could not be read (the client went away); the handler sees it empty.
        Err(_) => (Body::from(Bytes::new()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_metrics_and_docs_are_not_recorded() {
        for path in [
            "/health",
            "/health/ready",
            "/metrics",
            "/api-json",
            "/api/docs/",
        ] {
            assert!(is_skipped(path), "{path}");
        }
        for path in ["/tasks", "/healthy", "/api/v1/tasks", "/admin/audit-logs"] {
            assert!(!is_skipped(path), "{path}");
        }
    }
}
