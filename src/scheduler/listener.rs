//! `LISTEN` connections of the engine loops, and the retry pacing they share.
//!
//! A listener that fails in any way is dropped and built again on a fresh pooled connection,
//! which issues `LISTEN` for every channel anew: a terminated backend or a restarted server
//! therefore costs one reconnect, never a deaf loop. Callers re-check the database after a
//! reconnect because notifications sent meanwhile are lost.

use std::time::Duration;

use sqlx::{
    PgPool,
    postgres::{PgListener, PgNotification},
};

/// A listener on `channels`, or `None` (logged) when the database cannot be reached now.
pub async fn connect(db: &PgPool, channels: &[&str]) -> Option<PgListener> {
    let connect = async {
        let mut listener = PgListener::connect_with(db).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    match connect.await {
        Ok(listener) => Some(listener),
        Err(err) => {
            tracing::warn!(error = %err, ?channels, "cannot LISTEN now; will retry");
            None
        }
    }
}

/// The next notification; `Ok(None)` when the connection was lost (the caller listens again on
/// a new connection, then re-checks the database); pending forever without a listener.
pub async fn recv(
    listener: &mut Option<PgListener>,
) -> Result<Option<PgNotification>, sqlx::Error> {
    match listener {
        Some(listener) => listener.try_recv().await,
        None => std::future::pending().await,
    }
}

/// Delay before retrying after `failures` consecutive failures: 100 ms doubling to 5 s.
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(6);
    Duration::from_millis(100 * 2u64.pow(exponent)).min(Duration::from_secs(5))
}
