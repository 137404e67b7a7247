//! Access-token checks without a query per request: the state of recently seen sessions
//! (owner, end, revoked or not) and users (role, token version, active or not) is kept in
//! process, and dropped when it changes.
//!
//! Triggers on `sessions` and `users` send `NOTIFY` on the [`ACCESS_SESSIONS`] and
//! [`ACCESS_USERS`] channels in the transaction of every change that can end a token
//! (revocation, sign-out, role, status or password change, deletion), whatever statement
//! makes it; each instance listens and drops the entry. The instance that made the change
//! also drops it itself right after the commit ([`AccessCache::forget_session`],
//! [`AccessCache::forget_user`]), so its own next request never waits for the notice. If
//! the listening connection drops, notices may have been missed, so the whole cache is
//! cleared. Only accepted lookups are cached; an entry lives a minute at most.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use chrono::{DateTime, Utc};
use moka::future::Cache;
use uuid::Uuid;

use super::{principal::CurrentUser, role::Role, tokens::AccessClaims};
use crate::{db::channels::ACCESS_SESSIONS, error::AppError};

/// How long an entry may live without any notification.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Most sessions and most users kept.
const CAPACITY: u64 = 100_000;

/// A live session, as stored.
#[derive(Debug, Clone, Copy)]
struct SessionEntry {
    user_id: Uuid,
    absolute_expires_at: DateTime<Utc>,
}

/// An active user, as stored.
#[derive(Debug, Clone, Copy)]
struct UserEntry {
    role: Role,
    token_version: i32,
}

/// The per-instance cache of what access tokens are checked against.
pub struct AccessCache {
    sessions: Cache<Uuid, SessionEntry>,
    users: Cache<Uuid, UserEntry>,
    // Bumped on every invalidation: a lookup that raced with one does not cache its result.
    generation: AtomicU64,
}

impl Default for AccessCache {
    fn default() -> Self {
        Self::new()
    }
}

fn session_ended() -> AppError {
    AppError::unauthorized("the session has ended; sign in again")
}

fn token_revoked() -> AppError {
    AppError::unauthorized("the token has been revoked; sign in again")
}

impl AccessCache {
    /// An empty cache.
    pub fn new() -> Self {
        AccessCache {
            sessions: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(CACHE_TTL)
                .build(),
            users: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(CACHE_TTL)
                .build(),
            generation: AtomicU64::new(0),
        }
    }

    /// Drops what is known about one session.
    pub async fn forget_session(&self, session_id: Uuid) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.sessions.invalidate(&session_id).await;
    }

    /// Drops what is known about one user (and so about every token of theirs).
    pub async fn forget_user(&self, user_id: Uuid) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.users.invalidate(&user_id).await;
    }

    /// Drops every entry.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.sessions.invalidate_all();
        self.users.invalidate_all();
    }

    /// The user behind verified claims: from memory when both the session and the user are
    /// cached, else with one indexed query whose accepted result is then cached.
    pub async fn check(
        &self,
        db: &sqlx::PgPool,
        claims: &AccessClaims,
    ) -> Result<CurrentUser, AppError> {
        if let (Some(session), Some(user)) = (
            self.sessions.get(&claims.sid).await,
            self.users.get(&claims.sub).await,
        ) {
            return accept(claims, session, user);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let row = sqlx::query!(
            "SELECT s.user_id, s.absolute_expires_at, u.role, u.status, u.token_version
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = $1 AND s.revoked_at IS NULL",
            claims.sid
        )
        .fetch_optional(db)
        .await?
        .ok_or_else(session_ended)?;
        if row.status != "active" {
            return Err(session_ended());
        }
        let session = SessionEntry {
            user_id: row.user_id,
            absolute_expires_at: row.absolute_expires_at,
        };
        let user = UserEntry {
            role: Role::from_db(&row.role)?,
            token_version: row.token_version,
        };
        let accepted = accept(claims, session, user)?;
        if self.generation.load(Ordering::SeqCst) == generation {
            self.sessions.insert(claims.sid, session).await;
            self.users.insert(row.user_id, user).await;
            // An invalidation between the check and the inserts may have found nothing to
            // drop; take back what was just inserted.
            if self.generation.load(Ordering::SeqCst) != generation {
                self.sessions.invalidate(&claims.sid).await;
                self.users.invalidate(&row.user_id).await;
            }
        }
        Ok(accepted)
    }
}

/// Whether claims pass against a live session and an active user.
fn accept(
    claims: &AccessClaims,
    session: SessionEntry,
    user: UserEntry,
) -> Result<CurrentUser, AppError> {
    if session.user_id != claims.sub || session.absolute_expires_at <= Utc::now() {
        return Err(session_ended());
    }
    if user.token_version != claims.ver {
        return Err(token_revoked());
    }
    Ok(CurrentUser {
        id: claims.sub,
        role: user.role,
        session_id: claims.sid,
    })
}

/// Applies one notification to the cache.
pub(super) async fn apply(cache: &AccessCache, channel: &str, payload: &str) {
    let Ok(id) = payload.parse::<Uuid>() else {
        tracing::warn!(
            channel,
            payload,
            "access notifications: not an id; clearing the cache"
        );
        cache.forget_all();
        return;
    };
    if channel == ACCESS_SESSIONS {
        cache.forget_session(id).await;
    } else {
        cache.forget_user(id).await;
    }
}
