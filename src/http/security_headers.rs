//! Security response headers: no sniffing, no framing, no referrer, and HSTS when the
//! client reached us over HTTPS (directly per `PUBLIC_URL`, or through a proxy that says so).

use axum::{
    extract::{Request, State},
    http::{HeaderName, HeaderValue, header},
    middleware::Next,
    response::Response,
};

const HSTS_VALUE: &str = "max-age=31536000; includeSubDomains";

/// Middleware; the state says whether HSTS is always on.
pub async fn middleware(State(always_hsts): State<bool>, request: Request, next: Next) -> Response {
    let via_https = always_hsts
        || request
            .headers()
            .get(HeaderName::from_static("x-forwarded-proto"))
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if via_https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS_VALUE),
        );
    }
    response
}
