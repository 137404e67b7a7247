//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (IETF draft
//! "RateLimit header fields for HTTP") on every response of a rate-limited route, not only on
//! the 429. A limiter that counts a request records its state in the request's
//! [`RateLimitSlot`]; [`middleware`] copies it onto the response.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderName, HeaderValue, request::Parts},
    middleware::Next,
    response::Response,
};

/// `RateLimit-Limit`.
pub const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`.
pub const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`.
pub const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// A limiter's state after counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Requests the client may make at once (the burst).
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Until the whole limit is available again.
    pub reset: Duration,
}

impl RateLimitInfo {
    /// Writes the three headers (seconds rounded up).
    pub fn write(&self, headers: &mut HeaderMap) {
        let reset = self.reset.as_secs() + u64::from(self.reset.subsec_nanos() > 0);
        headers.insert(LIMIT, HeaderValue::from(self.limit));
        headers.insert(REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RESET, HeaderValue::from(reset));
    }
}

/// Where a limiter leaves its state for the response; one per request.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSlot(Arc<Mutex<Option<RateLimitInfo>>>);

impl RateLimitSlot {
    /// Records `info` on the request of `parts`. With several limits on one request, the
    /// one closest to running out is reported.
    pub fn record(parts: &Parts, info: RateLimitInfo) {
        let Some(slot) = parts.extensions.get::<RateLimitSlot>() else {
            return;
        };
        if let Ok(mut current) = slot.0.lock() {
            match *current {
                Some(existing) if existing.remaining <= info.remaining => {}
                _ => *current = Some(info),
            }
        }
    }

    fn take(&self) -> Option<RateLimitInfo> {
        self.0.lock().ok().and_then(|mut current| current.take())
    }
}

/// Middleware: gives each request a slot, and puts what a limiter recorded in it on the
/// response unless the response already carries the headers (a 429 does).
pub async fn middleware(mut request: Request, next: Next) -> Response {
    let slot = RateLimitSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(info) = slot.take()
        && !response.headers().contains_key(LIMIT)
    {
        info.write(response.headers_mut());
    }
    response
}
