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
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use chrono::Utc;
use sqlx::{PgExecutor, postgres::PgListener};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::cache::CachedKey;
use super::key;
use crate::{
    auth::{
        context::AuthState,
        principal::Principal,
        role::Role,
        scope::{Scope, ScopeSet},
        tokens::token_hash,
    },
    error::AppError,
};

/// The channel revocations are announced on; the payload is the key prefix.
pub const CHANNEL: &str = "nocron_api_keys";

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
pub async fn start_listener(state: &AuthState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(&state.db).await?;
    listener.listen(CHANNEL).await?;
    let state = state.clone();
    state.tasks.clone().spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
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
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                },
            }
        }
    });
    Ok(())
}
