//! The realtime gateway: Socket.IO (socketioxide) on the HTTP port at `/socket.io`.
//!
//! It owns the connection lifecycle (handshake authentication, rooms, disconnect at token
//! expiry), the event catalogue ([`events`]), the `dashboard.metrics` ticker, and the one
//! input the rest of the application feeds: [`Gateway::emit`], a bounded queue drained by a
//! single delivery task. With `REDIS_URL` set, rooms span instances through the socketioxide
//! Redis adapter.
//!
//! Nothing here blocks a producer: a full queue drops the message (counted in
//! `realtime_emits_dropped_total`), and a client whose own buffer is full misses that message
//! (counted in `realtime_client_drops_total`) while every other client gets it. See
//! `docs/REALTIME.md`.

pub mod events;
mod gateway;
pub mod hub;
pub mod identity;
mod limits;
mod redis_link;
mod relay;
pub mod revocation;
pub mod rooms;

use std::time::Duration;

use anyhow::Context;
use axum::Router;
use socketioxide::{SocketIo, SocketIoBuilder, adapter::Adapter};
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::sync::mpsc;

pub use hub::{Emit, Gateway, RealtimeState};
pub use identity::{MetricsRequest, MetricsSnapshot, RealtimeHooks, SocketIdentity, authenticate};
pub use redis_link::RealtimeHealth;
pub use revocation::notify_user_changed;
pub use rooms::Room;

use crate::config::Settings;

/// Mounts the gateway at `/socket.io` around `router`, and starts its delivery task, its
/// dashboard ticker and its shutdown watcher on `state.tasks`.
///
/// `router` should already carry the per-request layers (timeout, compression, body limit)
/// that must not apply to Socket.IO transports, and not yet the outer ones (tracing, CORS)
/// that should.
pub async fn mount(
    router: Router,
    state: &RealtimeState,
    hooks: RealtimeHooks,
    queue: mpsc::Receiver<Emit>,
) -> anyhow::Result<Router> {
    let builder = socket_io_builder(&state.settings);
    let context = gateway::Context::new(state.clone(), hooks);
    let revocations = revocation::listen(&state.db)
        .await
        .context("cannot listen for realtime revocations")?;
    match &state.settings.redis_url {
        None => {
            let (layer, io) = builder.build_layer();
            gateway::install(&io, context.clone());
            start_background(io, context, queue, revocations);
            Ok(router.layer(layer))
        }
        Some(url) => {
            let client =
                socketioxide_redis::drivers::redis::redis_client::Client::open(resp3_url(url))
                    .context("REDIS_URL is not a valid Redis URL")?;
            let (driver, link) = redis_link::ReconnectingDriver::connect(
                client,
                &state.tasks,
                state.shutdown.clone(),
            )
            .await
            .context("cannot connect to Redis (REDIS_URL)")?;
            let _ = state.realtime.link.set(link);
            let config =
                RedisAdapterConfig::new().with_prefix(state.settings.realtime_redis_prefix.clone());
            let adapter = RedisAdapterCtr::new_with_driver(driver, config);
            let (layer, io) = builder
                .with_adapter::<CustomRedisAdapter<_, redis_link::ReconnectingDriver>>(adapter)
                .build_layer();
            gateway::install(&io, context.clone())
                .await
                .map_err(|err| anyhow::anyhow!("cannot start the Redis adapter: {err}"))?;
            start_background(io, context, queue, revocations);
            Ok(router.layer(layer))
        }
    }
}

fn socket_io_builder(settings: &Settings) -> SocketIoBuilder {
    SocketIo::builder()
        .req_path("/socket.io")
        .max_buffer_size(settings.realtime_client_buffer)
        .max_payload(64 * 1024)
        .connect_timeout(Duration::from_secs(10))
}

/// The adapter's driver needs RESP3 (Redis ≥ 6); say so in the URL unless the operator did.
fn resp3_url(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

fn start_background<A: Adapter>(
    io: SocketIo<A>,
    context: std::sync::Arc<gateway::Context>,
    queue: mpsc::Receiver<Emit>,
    revocations: sqlx::postgres::PgListener,
) {
    let state = &context.state;
    state
        .tasks
        .spawn(revocation::watch(io.clone(), context.clone(), revocations));
    let shutdown = state.shutdown.clone();
    state.tasks.spawn(gateway::deliver(
        io.clone(),
        queue,
        state.settings.realtime_coalesce,
        shutdown.clone(),
    ));
    state.tasks.spawn(relay::relay(state.clone()));
    state.tasks.spawn(gateway::dashboard_ticker(
        io.clone(),
        context.clone(),
        state.settings.realtime_metrics_interval,
    ));
    // Long-polling requests would otherwise hold the graceful shutdown for a ping interval.
    state.tasks.spawn(async move {
        shutdown.cancelled().await;
        io.close().await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_ask_for_resp3_once() {
        assert_eq!(
            resp3_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379?protocol=resp3"
        );
        assert_eq!(
            resp3_url("redis://h/0?timeout=1"),
            "redis://h/0?timeout=1&protocol=resp3"
        );
        assert_eq!(
            resp3_url("redis://h?protocol=resp2"),
            "redis://h?protocol=resp2"
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_instead_of_waiting() {
        let (gateway, mut queue) = Gateway::channel(2);
        let emit = || Emit::new("task.deleted", &serde_json::json!({}), vec!["admin".into()]);
        assert!(gateway.emit(emit().expect("emit")));
        assert!(gateway.emit(emit().expect("emit")));
        assert!(!gateway.emit(emit().expect("emit")), "third is dropped");
        assert_eq!(gateway.backlog(), 2);
        assert!(queue.recv().await.is_some());
        assert!(gateway.emit(emit().expect("emit")), "room again");
        drop(queue);
        assert!(!gateway.emit(emit().expect("emit")), "closed");
    }
}
