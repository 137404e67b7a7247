//! Live connections lose what their principal lost: when an API key is revoked or rotated,
//! a user is disabled, deleted or changes role, or a password is changed, every instance
//! checks the affected sockets' credentials again and disconnects those no longer accepted,
//! or drops them from the rooms their new role may not see.
//!
//! Changes arrive by PostgreSQL `NOTIFY`, sent in the transaction that makes them: the API-key
//! channel (`nocron_api_keys`, payload the key prefix, already sent by every key change) and
//! [`USERS_CHANNEL`] (payload the user id, sent by [`notify_user_changed`]). If the listening
//! connection drops, changes may have been missed, so once it is back every local socket is
//! checked.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use socketioxide::{SocketIo, adapter::Adapter, extract::SocketRef};
use sqlx::{PgExecutor, PgPool, postgres::PgListener};
use uuid::Uuid;

use super::{
    gateway::Context,
    identity::{Credential, SocketIdentity},
    rooms::{ADMIN, DASHBOARD, Room},
};
use crate::{api_keys, error::AppError};

/// The channel user changes are announced on; the payload is the user id.
pub const USERS_CHANNEL: &str = "nocron_realtime_users";

/// How many sockets are checked again at once.
const RECHECKS_AT_ONCE: usize = 8;

/// Announces (on commit) that `user_id`'s rights changed (role, status, password): each
/// instance checks that user's sockets again.
pub async fn notify_user_changed(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<(), AppError> {
    sqlx::query!(
        "SELECT pg_notify($1, $2)",
        USERS_CHANNEL,
        user_id.to_string()
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Opens the listening connection (before returning, so no change after start is missed).
pub(super) async fn listen(db: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(db).await?;
    listener
        .listen_all([api_keys::verify::CHANNEL, USERS_CHANNEL])
        .await?;
    Ok(listener)
}

/// Checks the sockets named by each notification again until shutdown.
pub(super) async fn watch<A: Adapter>(
    io: SocketIo<A>,
    context: Arc<Context>,
    mut listener: PgListener,
) {
    let shutdown = context.state.shutdown.clone();
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            received = listener.try_recv() => received,
        };
        match received {
            Ok(Some(notification)) => {
                let sockets = affected(&io, notification.channel(), notification.payload());
                if !sockets.is_empty() {
                    let context = context.clone();
                    context
                        .state
                        .tasks
                        .clone()
                        .spawn(recheck_all(context, sockets));
                }
            }
            Ok(None) | Err(_) => {
                tracing::warn!("realtime revocations: listening connection lost; reconnecting");
                metrics::counter!("realtime_revocation_listener_reconnects_total").increment(1);
                listener = loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    match listen(&context.state.db).await {
                        Ok(listener) => break listener,
                        Err(err) => {
                            tracing::warn!(error = %err, "realtime revocations: still reconnecting")
                        }
                    }
                };
                // Anything may have changed meanwhile: every local socket is checked again.
                let sockets = io.local().sockets();
                context
                    .state
                    .tasks
                    .clone()
                    .spawn(recheck_all(context.clone(), sockets));
            }
        }
    }
}

/// This instance's sockets a notification is about.
fn affected<A: Adapter>(io: &SocketIo<A>, channel: &str, payload: &str) -> Vec<SocketRef<A>> {
    if channel == USERS_CHANNEL {
        return match payload.parse::<Uuid>() {
            Ok(user_id) => io.local().to(Room::user(user_id)).sockets(),
            Err(_) => Vec::new(),
        };
    }
    if payload.is_empty() {
        return Vec::new();
    }
    io.local()
        .sockets()
        .into_iter()
        .filter(|socket| {
            socket
                .extensions
                .get::<Credential>()
                .is_some_and(|credential| credential.is_key_with_prefix(payload))
        })
        .collect()
}

async fn recheck_all<A: Adapter>(context: Arc<Context>, sockets: Vec<SocketRef<A>>) {
    futures::stream::iter(sockets)
        .for_each_concurrent(RECHECKS_AT_ONCE, |socket| recheck(&context, socket))
        .await;
}

/// Authenticates the socket's credential again: disconnects it when refused (or now another
/// user's), otherwise keeps the new identity and leaves the rooms it may no longer see.
async fn recheck<A: Adapter>(context: &Context, socket: SocketRef<A>) {
    let (Some(credential), Some(before)) = (
        socket.extensions.get::<Credential>(),
        socket.extensions.get::<SocketIdentity>(),
    ) else {
        return;
    };
    // The caches' own listeners may not have seen the notification yet.
    if let Some(prefix) = credential.key_prefix() {
        context.state.auth.auth.api_keys.invalidate(prefix).await;
    } else {
        context
            .state
            .auth
            .auth
            .access
            .forget_user(before.user_id)
            .await;
    }
    let now =
        (context.hooks.authenticate)(context.state.clone(), credential.token().to_owned()).await;
    match now {
        Ok(identity) if identity.user_id == before.user_id => {
            if !identity.role.is_admin() {
                socket.leave([ADMIN, DASHBOARD]);
            }
            socket.extensions.insert(identity);
        }
        _ => {
            metrics::counter!("realtime_revoked_disconnects_total").increment(1);
            tracing::debug!(sid = %socket.id, user_id = %before.user_id, "socket's credential no longer accepted: disconnecting");
            let _ = socket.disconnect();
        }
    }
}
