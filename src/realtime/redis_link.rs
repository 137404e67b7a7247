//! The Redis driver under the socketioxide adapter, one that survives Redis restarts.
//!
//! socketioxide-redis's own driver keeps one connection for the life of the process: once
//! Redis restarts, every publish fails with "broken pipe" and the adapter's channels are never
//! subscribed again. This driver notices the loss (the connection's disconnection notice, or
//! a failed command), reconnects with backoff, subscribes every channel the adapter holds
//! again on the new connection, and reports the link's state for `/health/ready`.
//!
//! While Redis is unreachable a publish is counted in `realtime_redis_publish_failures_total`
//! and reported as done, so the adapter still delivers to this instance's own sockets:
//! events cross instances again as soon as the link is back, and those published meanwhile
//! are lost for the other instances (Socket.IO delivery is at most once).

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use socketioxide_redis::drivers::{
    ChanItem, Driver, MessageStream,
    redis::{
        RedisError,
        redis_client::{
            self as redis, AsyncCommands, AsyncConnectionConfig, FromRedisValue, PushInfo,
            PushKind, aio::MultiplexedConnection,
        },
    },
};
use tokio::sync::{Notify, mpsc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use utoipa::ToSchema;

/// How long one connection attempt or command may take before Redis counts as unreachable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// The first and the longest wait between reconnection attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// The realtime gateway's reach, as `/health/ready` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RealtimeHealth {
    /// No `REDIS_URL`: events reach this instance's sockets, which is all there is.
    Local,
    /// Connected to Redis: events reach every instance's sockets.
    Ok,
    /// Redis is unreachable: events reach this instance's sockets only, while the adapter
    /// reconnects.
    Degraded,
}

/// Whether the adapter's Redis link is up; cheap to clone, shared with the health report.
#[derive(Debug, Clone, Default)]
pub struct LinkState(Arc<AtomicBool>);

impl LinkState {
    /// Whether the link is up now.
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, up: bool) {
        let was = self.0.swap(up, Ordering::AcqRel);
        if was != up {
            metrics::gauge!("realtime_redis_up").set(if up { 1.0 } else { 0.0 });
            if up {
                tracing::info!("realtime: Redis link is up");
            } else {
                tracing::warn!("realtime: Redis link lost; delivering to local sockets only");
            }
        }
    }
}

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// A [`Driver`] over a multiplexed `redis` connection that it replaces when it breaks.
#[derive(Clone)]
pub struct ReconnectingDriver {
    handlers: Handlers,
    conn: Arc<RwLock<MultiplexedConnection>>,
    state: LinkState,
    lost: Arc<Notify>,
}

impl ReconnectingDriver {
    /// Connects to Redis and starts the reconnecting task, which ends with `shutdown`.
    pub async fn connect(
        client: redis::Client,
        tasks: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<(Self, LinkState), redis::RedisError> {
        let handlers: Handlers = Arc::default();
        let lost = Arc::new(Notify::new());
        let state = LinkState::default();
        let conn = open(&client, &handlers, &lost, &state).await?;
        state.set(true);
        let driver = ReconnectingDriver {
            handlers,
            conn: Arc::new(RwLock::new(conn)),
            state: state.clone(),
            lost,
        };
        tasks.spawn(driver.clone().reconnect_when_lost(client, shutdown));
        Ok((driver, state))
    }

    fn connection(&self) -> MultiplexedConnection {
        match self.conn.read() {
            Ok(conn) => conn.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Marks the link down and wakes the reconnecting task.
    fn broken(&self) {
        self.state.set(false);
        self.lost.notify_one();
    }

    async fn reconnect_when_lost(self, client: redis::Client, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.lost.notified() => {}
            }
            // A failed command may have woken us while the connection is in fact fine.
            if ping(&mut self.connection()).await {
                self.state.set(true);
                continue;
            }
            self.state.set(false);
            let mut wait = BACKOFF.0;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                match self.replace(&client).await {
                    Ok(()) => break,
                    Err(err) => {
                        tracing::debug!(error = %err, "realtime: Redis still unreachable");
                        wait = (wait * 2).min(BACKOFF.1);
                    }
                }
            }
            metrics::counter!("realtime_redis_reconnects_total").increment(1);
            self.state.set(true);
        }
    }

    /// Opens a new connection, subscribes every channel on it, then puts it in place.
    async fn replace(&self, client: &redis::Client) -> Result<(), redis::RedisError> {
        let mut conn = open(client, &self.handlers, &self.lost, &self.state).await?;
        let channels: Vec<String> = match self.handlers.read() {
            Ok(handlers) => handlers.keys().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().keys().cloned().collect(),
        };
        for channel in channels {
            conn.subscribe(channel.as_str()).await?;
        }
        match self.conn.write() {
            Ok(mut slot) => *slot = conn,
            Err(poisoned) => *poisoned.into_inner() = conn,
        }
        Ok(())
    }
}

async fn open(
    client: &redis::Client,
    handlers: &Handlers,
    lost: &Arc<Notify>,
    state: &LinkState,
) -> Result<MultiplexedConnection, redis::RedisError> {
    let (handlers, lost, state) = (handlers.clone(), lost.clone(), state.clone());
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        .set_push_sender(move |push: PushInfo| {
            if push.kind == PushKind::Disconnection {
                state.set(false);
                lost.notify_one();
            } else {
                deliver(push, &handlers);
            }
            Ok::<(), std::convert::Infallible>(())
        });
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn ping(conn: &mut MultiplexedConnection) -> bool {
    redis::cmd("PING").query_async::<String>(conn).await.is_ok()
}

/// Hands a pub/sub message to the stream of its channel.
fn deliver(push: PushInfo, handlers: &Handlers) {
    if !matches!(push.kind, PushKind::Message | PushKind::SMessage) || push.data.len() < 2 {
        return;
    }
    let mut data = push.data.into_iter();
    let (Some(channel), Some(message)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(channel), Ok(message)) = (
        String::from_redis_value(channel),
        Vec::<u8>::from_redis_value(message),
    ) else {
        return;
    };
    let sender = match handlers.read() {
        Ok(handlers) => handlers.get(&channel).cloned(),
        Err(poisoned) => poisoned.into_inner().get(&channel).cloned(),
    };
    if let Some(sender) = sender
        && sender.try_send((channel, message)).is_err()
    {
        metrics::counter!("realtime_redis_messages_dropped_total").increment(1);
    }
}

impl Driver for ReconnectingDriver {
    type Error = RedisError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        if self.state.is_up() {
            let mut conn = self.connection();
            match conn.publish::<_, _, redis::Value>(chan, val).await {
                Ok(_) => return Ok(()),
                Err(err) => {
                    tracing::debug!(error = %err, "realtime: Redis publish failed");
                    self.broken();
                }
            }
        }
        // Degraded: the other instances miss it, this instance's sockets still get it.
        metrics::counter!("realtime_redis_publish_failures_total").increment(1);
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        // Registered first, so a reconnection meanwhile subscribes it as well.
        match self.handlers.write() {
            Ok(mut handlers) => handlers.insert(chan.clone(), tx),
            Err(poisoned) => poisoned.into_inner().insert(chan.clone(), tx),
        };
        if let Err(err) = self.connection().subscribe(chan.as_str()).await {
            self.broken();
            return Err(err.into());
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        match self.handlers.write() {
            Ok(mut handlers) => handlers.remove(&chan),
            Err(poisoned) => poisoned.into_inner().remove(&chan),
        };
        self.connection().unsubscribe(chan).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let mut conn = self.connection();
        let result: Result<(String, u16), _> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(chan)
            .query_async(&mut conn)
            .await;
        match result {
            Ok((_, count)) => Ok(count),
            Err(err) => {
                self.broken();
                Err(err.into())
            }
        }
    }
}
