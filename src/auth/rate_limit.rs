//! Request rate limits (GCRA, from the `governor` crate): per client IP on register, login and
//! refresh, per API key on `/api/v1`. Every counted request's response carries the
//! `RateLimit-Limit`/`-Remaining`/`-Reset` headers (see `http::rate_limit_headers`); over the
//! limit the answer is a 429 problem with them and `Retry-After`.

use std::{hash::Hash, num::NonZeroU32, time::Duration};

use axum::http::{HeaderName, HeaderValue, header, request::Parts};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    error::{AppError, ErrorCode},
    http::rate_limit_headers::{RateLimitInfo, RateLimitSlot},
};

type Limiter<K, C> = RateLimiter<K, DefaultKeyedStateStore<K>, C, StateInformationMiddleware>;

/// A rate limiter keyed by `K` (an IP address, an API key id). The clock is the system's;
/// the unit tests drive their own.
pub struct KeyedLimiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: Limiter<K, C>,
    burst: u32,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `per_minute` requests a minute on average, up to `burst` at once.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst_nz = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self::with_clock(
            Quota::per_minute(per_minute).allow_burst(burst_nz),
            DefaultClock::default(),
        )
    }

    /// `per_hour` requests an hour on average, up to `burst` at once.
    pub fn per_hour(per_hour: u32, burst: u32) -> Self {
        let per_hour = NonZeroU32::new(per_hour).unwrap_or(NonZeroU32::MIN);
        let burst_nz = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self::with_clock(
            Quota::per_hour(per_hour).allow_burst(burst_nz),
            DefaultClock::default(),
        )
    }
}

impl<K: Hash + Eq + Clone, C: Clock> KeyedLimiter<K, C> {
    fn with_clock(quota: Quota, clock: C) -> Self {
        KeyedLimiter {
            limiter: Limiter::new(quota, DefaultKeyedStateStore::default(), clock),
            burst: quota.burst_size().get(),
        }
    }

    /// Counts one request for `key`; its state, or a 429 problem when it is over the limit.
    pub fn check(&self, key: &K) -> Result<RateLimitInfo, AppError> {
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let quota = snapshot.quota();
                let remaining = snapshot.remaining_burst_capacity();
                let spent = quota.burst_size().get().saturating_sub(remaining);
                Ok(RateLimitInfo {
                    limit: self.burst,
                    remaining,
                    reset: quota.replenish_interval() * spent,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                Err(too_many_requests(self.burst, wait))
            }
        }
    }

    /// [`check`](Self::check) for an HTTP request: the state goes on its response.
    pub fn check_request(&self, parts: &Parts, key: &K) -> Result<(), AppError> {
        let info = self.check(key)?;
        RateLimitSlot::record(parts, info);
        Ok(())
    }

    /// Forgets keys whose buckets are full again, bounding memory.
    pub fn forget_idle_keys(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Every minute until `shutdown` is cancelled, runs `forget` (which calls
/// [`KeyedLimiter::forget_idle_keys`] on some limiters), bounding their memory.
pub fn spawn_housekeeping(
    tasks: &TaskTracker,
    shutdown: CancellationToken,
    forget: impl Fn() + Send + 'static,
) {
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => forget(),
            }
        }
    });
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
    use axum::response::IntoResponse;
    use governor::clock::FakeRelativeClock;

    use super::*;

    /// `per_minute` and `burst` on a clock that moves only when the test says so.
    fn limiter(
        per_minute: u32,
        burst: u32,
    ) -> (
        KeyedLimiter<&'static str, FakeRelativeClock>,
        FakeRelativeClock,
    ) {
        let clock = FakeRelativeClock::default();
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).expect("rate"))
            .allow_burst(NonZeroU32::new(burst).expect("burst"));
        (KeyedLimiter::with_clock(quota, clock.clone()), clock)
    }

    fn retry_after(err: AppError) -> String {
        let response = err.into_response();
        assert_eq!(response.headers()["ratelimit-remaining"], "0");
        assert_eq!(
            response.headers()["ratelimit-reset"],
            response.headers()["retry-after"]
        );
        response.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .to_owned()
    }

    #[test]
    fn the_burst_passes_then_the_next_request_waits() {
        let (limiter, _clock) = limiter(60, 3);
        for left in (0..3).rev() {
            let info = limiter.check(&"a").expect("within the burst");
            assert_eq!((info.limit, info.remaining), (3, left));
            // One request a second comes back: full again after as many seconds as spent.
            assert_eq!(info.reset, Duration::from_secs(u64::from(3 - left)));
        }
        let err = limiter.check(&"a").expect_err("over the limit");
        assert_eq!(err.code(), ErrorCode::RateLimited);
        assert_eq!(retry_after(err), "1");
        // Another key has its own bucket.
        assert!(limiter.check(&"b").is_ok());
    }

    #[test]
    fn a_limited_key_recovers_one_request_per_interval() {
        // Twelve a minute: one request back every five seconds.
        let (limiter, clock) = limiter(12, 3);
        for _ in 0..3 {
            limiter.check(&"a").expect("within the burst");
        }
        assert_eq!(retry_after(limiter.check(&"a").expect_err("limited")), "5");
        clock.advance(Duration::from_secs(4));
        assert_eq!(retry_after(limiter.check(&"a").expect_err("limited")), "1");
        clock.advance(Duration::from_secs(1));
        let info = limiter.check(&"a").expect("allowed after Retry-After");
        assert_eq!((info.remaining, info.reset), (0, Duration::from_secs(15)));
        assert_eq!(retry_after(limiter.check(&"a").expect_err("limited")), "5");
        // After the whole reset, the whole burst is back.
        clock.advance(Duration::from_secs(15));
        for left in (0..3).rev() {
            assert_eq!(limiter.check(&"a").expect("burst again").remaining, left);
        }
    }
}
