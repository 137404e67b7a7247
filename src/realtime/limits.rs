//! What one connection may ask of the gateway: how many rooms it may be in, how fast it may
//! send `subscribe`, and how many task-owner lookups may use the database at once.
//!
//! A flood of `subscribe` from one socket is refused by its own rate limit before it costs
//! anything; the owner lookups that pass are answered from a cache when possible, and the
//! rest wait for one of a few permits *before* they take a pool connection, so no number of
//! sockets can take the connections the REST API needs.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use moka::future::Cache;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::config::RealtimeLimits;

/// How long a lookup waits for a permit before the client is told to try again.
const LOOKUP_PATIENCE: Duration = Duration::from_secs(2);

/// The refusal when a connection subscribes too fast.
pub const TOO_FAST: &str = "too many subscribe requests: slow down and try again";
/// The refusal when every owner-lookup permit stays busy.
pub const BUSY: &str = "temporarily unavailable, try again";

/// The instance-wide side: limits, the owner-lookup permits and the owner cache.
pub(super) struct Limits {
    settings: RealtimeLimits,
    lookups: Semaphore,
    /// A task's owner never changes, so a found owner is kept (missing tasks are not).
    owners: Cache<Uuid, Uuid>,
}

/// One connection's `subscribe` budget (kept in the socket's extensions).
#[derive(Clone)]
pub(super) struct SubscribeBudget(Arc<DefaultDirectRateLimiter>);

impl SubscribeBudget {
    /// Takes one request from the budget; `false` when it is spent.
    pub(super) fn take(&self) -> bool {
        self.0.check().is_ok()
    }
}

impl Limits {
    pub(super) fn new(settings: RealtimeLimits) -> Self {
        Limits {
            lookups: Semaphore::new(settings.owner_lookups.max(1)),
            owners: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            settings,
        }
    }

    /// A fresh budget for a new connection.
    pub(super) fn budget(&self) -> SubscribeBudget {
        let rate = NonZeroU32::new(self.settings.subscribes_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.settings.subscribe_burst).unwrap_or(NonZeroU32::MIN);
        SubscribeBudget(Arc::new(RateLimiter::direct(
            Quota::per_second(rate).allow_burst(burst),
        )))
    }

    /// Rooms a connection may have subscribed to.
    pub(super) fn max_rooms(&self) -> usize {
        self.settings.max_rooms_per_socket
    }

    /// The refusal when a connection is in `max_rooms` rooms already.
    pub(super) fn too_many_rooms(&self) -> String {
        format!(
            "this connection is in {} rooms, the most allowed: unsubscribe from one first",
            self.settings.max_rooms_per_socket
        )
    }

    /// The owner of `task_id` through `lookup`, cached; `Err(BUSY)` when no permit frees up
    /// in time. `lookup` runs only while holding a permit, so at most `owner_lookups` of them
    /// hold (or wait for) a database connection.
    pub(super) async fn owner<F, Fut>(
        &self,
        task_id: Uuid,
        lookup: F,
    ) -> Result<Option<Uuid>, String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Uuid>, String>>,
    {
        if let Some(owner) = self.owners.get(&task_id).await {
            return Ok(Some(owner));
        }
        let Ok(Ok(_permit)) = tokio::time::timeout(LOOKUP_PATIENCE, self.lookups.acquire()).await
        else {
            metrics::counter!("realtime_subscribes_refused_total", "reason" => "busy").increment(1);
            return Err(BUSY.to_owned());
        };
        let owner = lookup().await?;
        if let Some(owner) = owner {
            self.owners.insert(task_id, owner).await;
        }
        Ok(owner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn limits(per_second: u32, burst: u32, lookups: usize) -> Limits {
        Limits::new(RealtimeLimits {
            max_rooms_per_socket: 3,
            subscribes_per_second: per_second,
            subscribe_burst: burst,
            owner_lookups: lookups,
        })
    }

    #[test]
    fn a_budget_allows_its_burst_then_refuses() {
        let budget = limits(1, 5, 1).budget();
        assert!((0..5).all(|_| budget.take()));
        assert!(!budget.take(), "the sixth at once is refused");
    }

    #[tokio::test]
    async fn found_owners_are_looked_up_once() {
        let limits = limits(1, 1, 1);
        let calls = AtomicUsize::new(0);
        let (task, owner) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..3 {
            let found = limits
                .owner(task, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(Some(owner))
                })
                .await;
            assert_eq!(found, Ok(Some(owner)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let missing = Uuid::new_v4();
        for _ in 0..2 {
            let found = limits
                .owner(missing, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(None)
                })
                .await;
            assert_eq!(found, Ok(None));
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "a missing task is asked again"
        );
    }

    #[tokio::test]
    async fn lookups_beyond_the_permits_wait_instead_of_running() {
        let limits = Arc::new(limits(1, 1, 1));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut all = Vec::new();
        for _ in 0..8 {
            let (limits, running, most) = (limits.clone(), running.clone(), most.clone());
            all.push(tokio::spawn(async move {
                limits
                    .owner(Uuid::new_v4(), || async {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(None)
                    })
                    .await
            }));
        }
        for one in all {
            assert_eq!(one.await.expect("join"), Ok(None));
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }
}
