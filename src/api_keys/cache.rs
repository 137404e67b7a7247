//! The per-instance cache of recently used API keys, invalidated by `NOTIFY`.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use moka::future::Cache;
use uuid::Uuid;

use crate::auth::{role::Role, scope::Scope};

/// How long an entry may live without any notification.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// How often `last_used_at` is written per key at most.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// What is cached about a key.
#[derive(Debug)]
pub(super) struct CachedKey {
    pub(super) id: Uuid,
    pub(super) user_id: Uuid,
    pub(super) secret_hash: Vec<u8>,
    pub(super) scopes: BTreeSet<Scope>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) revoked: bool,
    pub(super) role: Role,
    pub(super) owner_active: bool,
}

/// The per-instance cache of recently used keys.
pub struct KeyCache {
    pub(super) keys: Cache<String, Arc<CachedKey>>,
    pub(super) touched: Cache<Uuid, ()>,
    // Bumped on every invalidation: a lookup that raced with one does not cache its result.
    pub(super) generation: AtomicU64,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        KeyCache {
            keys: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(CACHE_TTL)
                .build(),
            touched: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TOUCH_INTERVAL)
                .build(),
            generation: AtomicU64::new(0),
        }
    }

    /// Drops one key's entry.
    pub async fn invalidate(&self, prefix: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.keys.invalidate(prefix).await;
    }

    /// Drops every entry.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.keys.invalidate_all();
    }
}
