//! Authenticating API keys: lookup by prefix through a short in-process cache, a
//! constant-time hash comparison, expiry and revocation checks, and `last_used_at` written
//! at most once a minute per key.
//!
//! Every change that must end a key's use (revoke, rotate, owner disabled or deleted, role
//! change) sends `NOTIFY nocron_api_keys, '<prefix>'` in its transaction; each instance
//! listens and drops the entry, so the change applies everywhere within a second. If the
//! listening connection drops, notifications may have been missed, so the whole cache is
//! cleared when it comes back.

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
use sqlx::{PgExecutor, postgres::PgListener};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::key;
use crate::{
    auth::{AuthState, Principal, Role, Scope, ScopeSet, tokens::token_hash},
    error::AppError,
    state::AppState,
};

/// The channel revocations are announced on; the payload is the key prefix.
pub const CHANNEL: &str = "nocron_api_keys";
/// How long an entry may live without any notification.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// How often `last_used_at` is written per key at most.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// What is cached about a key.
#[derive(Debug)]
struct CachedKey {
    id: Uuid,
    user_id: Uuid,
    secret_hash: Vec<u8>,
    scopes: BTreeSet<Scope>,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
    role: Role,
    owner_active: bool,
}

/// The per-instance cache of recently used keys.
pub struct KeyCache {
    keys: Cache<String, Arc<CachedKey>>,
    touched: Cache<Uuid, ()>,
    // Bumped on every invalidation: a lookup that raced with one does not cache its result.
    generation: AtomicU64,
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

fn invalid_key() -> AppError {
    AppError::unauthorized("the API key is invalid")
}

async fn load(state: &AuthState, prefix: &str) -> Result<Option<Arc<CachedKey>>, AppError> {
    let cache = &state.auth.api_keys;
    if let Some(found) = cache.keys.get(prefix).await {
        return Ok(Some(found));
    }
    let generation = cache.generation.load(Ordering::SeqCst);
    let Some(row) = sqlx::query!(
        r#"SELECT k.id, k.user_id, k.secret_hash, k.scopes, k.expires_at,
                  k.revoked_at IS NOT NULL AS "revoked!", u.role,
                  (u.status = 'active') AS "owner_active!"
           FROM api_keys k JOIN users u ON u.id = k.user_id
           WHERE k.prefix = $1"#,
        prefix
    )
    .fetch_optional(&state.db)
    .await?
    else {
        return Ok(None);
    };
    let record = Arc::new(CachedKey {
        id: row.id,
        user_id: row.user_id,
        secret_hash: row.secret_hash,
        scopes: row.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        expires_at: row.expires_at,
        revoked: row.revoked,
        role: Role::from_db(&row.role)?,
        owner_active: row.owner_active,
    });
    if cache.generation.load(Ordering::SeqCst) == generation {
        cache.keys.insert(prefix.to_owned(), record.clone()).await;
    }
    Ok(Some(record))
}

/// Authenticates an API key (401 when unknown, wrong, revoked, expired or its owner is
/// no longer active).
pub async fn authenticate(state: &AuthState, key: &str) -> Result<Principal, AppError> {
    let prefix = key::parse(key).ok_or_else(invalid_key)?;
    let record = load(state, prefix).await?.ok_or_else(invalid_key)?;
    let presented = token_hash(key);
    if !bool::from(presented.ct_eq(&record.secret_hash)) {
        return Err(invalid_key());
    }
    if record.revoked {
        return Err(AppError::unauthorized("the API key has been revoked"));
    }
    if record.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(AppError::unauthorized("the API key has expired"));
    }
    if !record.owner_active {
        return Err(invalid_key());
    }
    touch(state, record.id).await;
    Ok(Principal {
        user_id: record.user_id,
        role: record.role,
        api_key_id: Some(record.id),
        scopes: ScopeSet::Only(record.scopes.clone()),
        expires_at: record.expires_at,
    })
}

/// Records use at most once a minute per key, off the request path.
async fn touch(state: &AuthState, key_id: Uuid) {
    let entry = state
        .auth
        .api_keys
        .touched
        .entry(key_id)
        .or_insert(())
        .await;
    if !entry.is_fresh() {
        return;
    }
    let db = state.db.clone();
    state.tasks.spawn(async move {
        let result = sqlx::query!(
            "UPDATE api_keys SET last_used_at = now() WHERE id = $1",
            key_id
        )
        .execute(&db)
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, %key_id, "could not record API key use");
        }
    });
}

/// Announces (on commit) that the key with this prefix changed.
pub async fn notify_changed(db: impl PgExecutor<'_>, prefix: &str) -> Result<(), AppError> {
    sqlx::query!("SELECT pg_notify($1, $2)", CHANNEL, prefix)
        .execute(db)
        .await?;
    Ok(())
}

/// Announces (on commit) that every key of a user changed (role change, disable, delete).
pub async fn notify_user_changed(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<(), AppError> {
    sqlx::query!(
        "SELECT pg_notify($1, prefix) FROM api_keys WHERE user_id = $2",
        CHANNEL,
        user_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Starts listening for key changes (before returning, so nothing is missed after start),
/// and invalidates cache entries until shutdown.
pub async fn start_listener(state: &AppState) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(&state.db).await?;
    listener.listen(CHANNEL).await?;
    let state = state.clone();
    state.tasks.clone().spawn(async move {
        loop {
            tokio::select! {
                _ = state.shutdown.cancelled() => break,
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => {
                        state.auth.api_keys.invalidate(notification.payload()).await;
                    }
                    Ok(None) => {
                        tracing::warn!("API key notifications: connection lost; clearing the cache");
                        state.auth.api_keys.invalidate_all();
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "API key notifications: reconnecting");
                        state.auth.api_keys.invalidate_all();
                        tokio::select! {
                            _ = state.shutdown.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                },
            }
        }
    });
    Ok(())
}
