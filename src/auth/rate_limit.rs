//! Request rate limits (GCRA, from the `governor` crate): per client IP on register, login and
//! refresh, per API key on `/api/v1`. Over the limit the answer is a 429 problem with
//! `Retry-After` and the `RateLimit-Limit`/`-Remaining`/`-Reset` headers.

use std::{hash::Hash, num::NonZeroU32, time::Duration};

use axum::http::{HeaderName, HeaderValue, header};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};

use crate::error::{AppError, ErrorCode};

type Limiter<K> =
    RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// A rate limiter keyed by `K` (an IP address, an API key id).
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: Limiter<K>,
    burst: u32,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `per_minute` requests a minute on average, up to `burst` at once.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst_nz = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst_nz);
        KeyedLimiter {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            burst: burst_nz.get(),
        }
    }

    /// Counts one request for `key`; a 429 problem when it is over the limit.
    pub fn check(&self, key: &K) -> Result<(), AppError> {
        match self.limiter.check_key(key) {
            Ok(_) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                Err(too_many_requests(self.burst, wait))
            }
        }
    }

    /// Forgets keys whose buckets are full again, bounding memory.
    pub fn forget_idle_keys(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The 429 problem with its headers.
pub fn too_many_requests(limit: u32, wait: Duration) -> AppError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1).to_string();
    let value = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("1"));
    AppError::new(
        ErrorCode::RateLimited,
        format!("too many requests; try again in {seconds} s"),
    )
    .with_header(header::RETRY_AFTER, value(&seconds))
    .with_header(
        HeaderName::from_static("ratelimit-limit"),
        value(&limit.to_string()),
    )
    .with_header(
        HeaderName::from_static("ratelimit-remaining"),
        HeaderValue::from_static("0"),
    )
    .with_header(HeaderName::from_static("ratelimit-reset"), value(&seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_passes_then_the_next_request_waits() {
        let limiter = KeyedLimiter::new(60, 3);
        for _ in 0..3 {
            assert!(limiter.check(&"a").is_ok());
        }
        let err = limiter.check(&"a").expect_err("over the limit");
        assert_eq!(err.code(), ErrorCode::RateLimited);
        // Another key has its own bucket.
        assert!(limiter.check(&"b").is_ok());
    }
}
