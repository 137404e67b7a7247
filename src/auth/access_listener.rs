//! Keeps this instance's access cache true: listens for the `NOTIFY`s that session and user
//! changes send, and drops the entries they name.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::{access_cache::apply, context::AuthState};
use crate::db::channels::{ACCESS_SESSIONS, ACCESS_USERS};

/// Starts listening for session and user changes (before returning, so nothing is missed
/// after start), and drops cache entries until shutdown.
pub async fn start_listener(state: &AuthState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(&state.db).await?;
    listener.listen_all([ACCESS_SESSIONS, ACCESS_USERS]).await?;
    let state = state.clone();
    state.tasks.clone().spawn(async move {
        let cache = &state.auth.access;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => {
                        apply(cache, notification.channel(), notification.payload()).await;
                    }
                    Ok(None) => {
                        tracing::warn!("access notifications: connection lost; clearing the cache");
                        cache.forget_all();
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "access notifications: reconnecting");
                        cache.forget_all();
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
