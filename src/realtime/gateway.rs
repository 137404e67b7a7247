//! The Socket.IO side: the handshake middleware, the connect handler with its
//! `subscribe`/`unsubscribe` events, the expiry watcher, the delivery task and the dashboard
//! ticker. Generic over the adapter so the same code runs alone or on Redis.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use axum::extract::ConnectInfo;

use chrono::Utc;
use serde::Deserialize;
use socketioxide::{
    SocketIo,
    adapter::Adapter,
    extract::{AckSender, Extension, SocketRef, TryData},
    handler::ConnectHandler,
    socket::Sid,
};
use socketioxide_core::adapter::{DefinedAdapter, errors::BroadcastError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::http::{client_ip::ClientIp, request_id::REQUEST_ID_HEADER};

use super::{
    Emit, RealtimeState,
    events::{
        DashboardMetrics, PAYLOAD_VERSION, SessionExpired, SubscribeAck, SubscribeRequest, names,
    },
    identity::{Credential, MetricsRequest, RealtimeHooks, RefusedHandshake, SocketIdentity},
    limits::{self, Limits, SubscribeBudget},
    rooms::{self, JoinRule, Room},
};

/// What every handler needs.
pub(super) struct Context {
    pub(super) state: RealtimeState,
    pub(super) hooks: RealtimeHooks,
    pub(super) limits: Limits,
}

impl Context {
    pub(super) fn new(state: RealtimeState, hooks: RealtimeHooks) -> Arc<Self> {
        let limits = Limits::new(state.settings.realtime_limits.clone());
        Arc::new(Context {
            state,
            hooks,
            limits,
        })
    }
}

/// The handshake's `auth` object.
#[derive(Debug, Deserialize)]
struct HandshakeAuth {
    token: String,
}

/// Cancelled when the socket disconnects, so its expiry watcher ends early.
#[derive(Clone)]
struct Disconnected(CancellationToken);

/// Registers the default namespace. Its result must be awaited for remote adapters.
///
/// Everything a client may send is handled from the moment socketioxide confirms the
/// connection: the event handlers are installed by the handshake middleware, which runs
/// before the `CONNECT` packet is sent. (The connect handler runs in a task spawned after
/// that packet, so an event arriving in between would find no handler and be dropped.)
pub(super) fn install<A: Adapter + DefinedAdapter>(
    io: &SocketIo<A>,
    context: Arc<Context>,
) -> A::InitRes {
    let for_auth = context.clone();
    let middleware = move |socket: SocketRef<A>, TryData(auth): TryData<HandshakeAuth>| {
        let context = for_auth.clone();
        async move {
            let identity = match authenticate_handshake(&context, &socket, auth.ok()).await {
                Ok(identity) => identity,
                Err(reason) => {
                    report_refusal(&context, &socket, &reason).await;
                    return Err(reason);
                }
            };
            register_handlers(&context, &socket);
            socket.extensions.insert(identity);
            Ok::<(), String>(())
        }
    };
    let handler = move |socket: SocketRef<A>, Extension(identity): Extension<SocketIdentity>| {
        let context = context.clone();
        async move { on_connect(context, socket, identity) }
    };
    io.ns("/", handler.with(middleware))
}

/// Tells the `on_refused` hook (the audit trail) about a refused handshake.
async fn report_refusal<A: Adapter>(context: &Context, socket: &SocketRef<A>, reason: &str) {
    let Some(on_refused) = &context.hooks.on_refused else {
        return;
    };
    let parts = socket.req_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let ip = parts
        .extensions
        .get::<ClientIp>()
        .map(|ClientIp(ip)| *ip)
        .or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip().to_canonical())
        });
    on_refused(RefusedHandshake {
        transaction_id: header(REQUEST_ID_HEADER.as_str()).unwrap_or_default(),
        path: parts.uri.path().to_owned(),
        ip,
        user_agent: header("user-agent").map(|ua| ua.chars().take(512).collect()),
        reason: reason.to_owned(),
    })
    .await;
}

/// Refuses the connection (the message reaches the client as `connect_error`) unless the
/// token is accepted and not already expired.
async fn authenticate_handshake<A: Adapter>(
    context: &Context,
    socket: &SocketRef<A>,
    auth: Option<HandshakeAuth>,
) -> Result<SocketIdentity, String> {
    let Some(HandshakeAuth { token }) = auth else {
        metrics::counter!("realtime_handshakes_total", "result" => "missing_token").increment(1);
        return Err(
            "authentication required: connect with auth: { token: \"<access token or API key>\" }"
                .into(),
        );
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        metrics::counter!("realtime_handshakes_total", "result" => "missing_token").increment(1);
        return Err("authentication required: auth.token is empty".into());
    }
    let credential = Credential::new(&token);
    let identity = match (context.hooks.authenticate)(context.state.clone(), token).await {
        Ok(identity) => identity,
        Err(reason) => {
            metrics::counter!("realtime_handshakes_total", "result" => "refused").increment(1);
            return Err(reason);
        }
    };
    if identity.expires_at.is_some_and(|at| at <= Utc::now()) {
        metrics::counter!("realtime_handshakes_total", "result" => "refused").increment(1);
        return Err("token expired".into());
    }
    metrics::counter!("realtime_handshakes_total", "result" => "accepted").increment(1);
    // Joined here, before socketioxide sends CONNECT, so an event emitted the moment the
    // client sees itself connected already reaches it.
    socket.join(Room::user(identity.user_id));
    // Admins are in `admin` from the start, so no security alert waits for a subscription.
    if identity.role.is_admin() {
        socket.join(rooms::ADMIN);
    }
    socket.extensions.insert(credential);
    Ok(identity)
}

/// Installs the `subscribe`/`unsubscribe`/disconnect handlers and the connection's
/// subscribe budget. Synchronous, and called before the connection is confirmed.
fn register_handlers<A: Adapter>(context: &Arc<Context>, socket: &SocketRef<A>) {
    socket
        .extensions
        .insert(Disconnected(CancellationToken::new()));
    socket.extensions.insert(context.limits.budget());
    let for_subscribe = context.clone();
    socket.on(
        "subscribe",
        move |socket: SocketRef<A>,
              TryData(request): TryData<SubscribeRequest>,
              ack: AckSender<A>| {
            let context = for_subscribe.clone();
            async move {
                let reply = match request {
                    Ok(request) => subscribe(&context, &socket, request.room()).await,
                    Err(_) => SubscribeAck::error(BAD_REQUEST),
                };
                let _ = ack.send(&reply);
            }
        },
    );
    socket.on(
        "unsubscribe",
        async |socket: SocketRef<A>,
               TryData(request): TryData<SubscribeRequest>,
               ack: AckSender<A>| {
            let reply = match request {
                Ok(request) => unsubscribe(&socket, request.room()),
                Err(_) => SubscribeAck::error(BAD_REQUEST),
            };
            let _ = ack.send(&reply);
        },
    );
    socket.on_disconnect(async |socket: SocketRef<A>| {
        metrics::gauge!("realtime_connected_sockets").decrement(1.0);
        if let Some(Disconnected(token)) = socket.extensions.get::<Disconnected>() {
            token.cancel();
        }
    });
}

/// Runs once the connection is confirmed: counts it and watches its expiry.
fn on_connect<A: Adapter>(context: Arc<Context>, socket: SocketRef<A>, identity: SocketIdentity) {
    metrics::gauge!("realtime_connected_sockets").increment(1.0);
    tracing::debug!(sid = %socket.id, user_id = %identity.user_id, "socket connected");
    let (Some(expires_at), Some(Disconnected(disconnected))) =
        (identity.expires_at, socket.extensions.get::<Disconnected>())
    else {
        return;
    };
    let shutdown = context.state.shutdown.clone();
    context.state.tasks.spawn(disconnect_at_expiry(
        socket,
        expires_at,
        disconnected,
        shutdown,
    ));
}

const BAD_REQUEST: &str = "expected a room name, as \"task:<id>\" or {\"room\": \"task:<id>\"}";

async fn subscribe<A: Adapter>(
    context: &Context,
    socket: &SocketRef<A>,
    name: &str,
) -> SubscribeAck {
    let Some(identity) = socket.extensions.get::<SocketIdentity>() else {
        return SubscribeAck::error("not authenticated");
    };
    if !socket
        .extensions
        .get::<SubscribeBudget>()
        .is_some_and(|budget| budget.take())
    {
        metrics::counter!("realtime_subscribes_refused_total", "reason" => "rate").increment(1);
        return SubscribeAck::error(limits::TOO_FAST);
    }
    let room = match Room::parse(name) {
        Ok(room) => room,
        Err(message) => return SubscribeAck::error(message),
    };
    let joined = socket.rooms();
    let name = room.to_string();
    if !matches!(room, Room::User(_)) && joined.iter().any(|r| *r == name) {
        return SubscribeAck::ok();
    }
    // The rooms joined at connect (the user's, and `admin` for admins) do not count.
    let automatic = 1 + usize::from(
        identity.role.is_admin() && joined.iter().any(|r| r.as_ref() == rooms::ADMIN),
    );
    if joined.len().saturating_sub(automatic) >= context.limits.max_rooms() {
        metrics::counter!("realtime_subscribes_refused_total", "reason" => "rooms").increment(1);
        return SubscribeAck::error(context.limits.too_many_rooms());
    }
    if matches!(room, Room::Dashboard | Room::UserDashboard(_)) && context.hooks.metrics.is_none() {
        return SubscribeAck::error("dashboard metrics are not available on this server");
    }
    match rooms::join_rule(&identity, room) {
        JoinRule::Allowed => {}
        JoinRule::Refused(reason) => return SubscribeAck::error(reason),
        JoinRule::OwnerOf(task_id) => {
            let Some(task_owner) = &context.hooks.task_owner else {
                return SubscribeAck::error("task rooms are not available on this server");
            };
            let lookup = || task_owner(context.state.clone(), task_id);
            match context.limits.owner(task_id, lookup).await {
                Ok(Some(owner)) if owner == identity.user_id => {}
                Ok(_) => return SubscribeAck::error(rooms::task_not_found(task_id)),
                Err(err) => {
                    tracing::warn!(%task_id, error = %err, "task owner lookup failed");
                    return SubscribeAck::error(limits::BUSY);
                }
            }
        }
    }
    socket.join(name);
    SubscribeAck::ok()
}

fn unsubscribe<A: Adapter>(socket: &SocketRef<A>, name: &str) -> SubscribeAck {
    match Room::parse(name) {
        Ok(Room::User(_)) => SubscribeAck::error("the user room cannot be left"),
        Ok(room) => {
            socket.leave(room.to_string());
            SubscribeAck::ok()
        }
        Err(message) => SubscribeAck::error(message),
    }
}

/// Tells the client and disconnects it when its credentials expire, unless it leaves first.
async fn disconnect_at_expiry<A: Adapter>(
    socket: SocketRef<A>,
    expires_at: chrono::DateTime<Utc>,
    disconnected: CancellationToken,
    shutdown: CancellationToken,
) {
    let wait = (expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    tokio::select! {
        _ = tokio::time::sleep(wait) => {
            let notice = SessionExpired { v: PAYLOAD_VERSION, expired_at: expires_at };
            let _ = socket.emit(names::SESSION_EXPIRED, &notice);
            metrics::counter!("realtime_expired_disconnects_total").increment(1);
            let _ = socket.disconnect();
        }
        _ = disconnected.cancelled() => {}
        _ = shutdown.cancelled() => {}
    }
}

/// The most messages sent together after one coalescing window.
const COALESCE_BATCH: usize = 256;

/// Drains the gateway queue into room broadcasts until shutdown.
///
/// After the first message of a quiet spell it waits `coalesce` for the messages that
/// follow (an execution's events come a few milliseconds apart) and broadcasts them back
/// to back. Each socket's writer then finds them all queued and sends them in one write and
/// one wake-up, instead of one each: per-socket work, not encoding, is the cost of a small
/// burst to many clients.
pub(super) async fn deliver<A: Adapter>(
    io: SocketIo<A>,
    mut queue: mpsc::Receiver<Emit>,
    coalesce: Duration,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(COALESCE_BATCH);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            next = queue.recv() => match next {
                Some(emit) => batch.push(emit),
                None => break,
            },
        }
        if !coalesce.is_zero() {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                () = tokio::time::sleep(coalesce) => {}
            }
        }
        while batch.len() < COALESCE_BATCH {
            match queue.try_recv() {
                Ok(emit) => batch.push(emit),
                Err(_) => break,
            }
        }
        for emit in batch.drain(..) {
            broadcast_once(&io, &emit).await;
        }
    }
}

/// Sends `emit` to every socket in any of its rooms, once per socket. socketioxide's
/// multi-room broadcast visits each room's members in turn and would send a socket that is
/// in two of the rooms the message twice; so each room after the first excludes the rooms
/// before it.
async fn broadcast_once<A: Adapter>(io: &SocketIo<A>, emit: &Emit) {
    for (index, room) in emit.rooms.iter().enumerate() {
        let result = io
            .to(room.clone())
            .except(emit.rooms[..index].to_vec())
            .emit(&*emit.event, &emit.payload)
            .await;
        match result {
            Ok(()) => {}
            Err(BroadcastError::Socket(failed)) => {
                // Those clients' buffers are full: they miss this message, the rest got it.
                metrics::counter!("realtime_client_drops_total").increment(failed.len() as u64);
            }
            Err(err) => {
                metrics::counter!("realtime_emits_dropped_total", "reason" => "broadcast_failed")
                    .increment(1);
                tracing::warn!(event = %emit.event, %room, error = %err, "realtime broadcast failed");
            }
        }
    }
}

/// Sends `dashboard.metrics` to this instance's sockets in the `dashboard` room (system-wide
/// figures) and in `dashboard:{user_id}` rooms (that user's own), checking every `every`.
///
/// Each tick asks for every figure this instance's subscribers need in one computation, and
/// pushes a room's figures only when they changed since that room last got them (the `at`
/// timestamp aside); a socket that joined since gets the current figures at once. Each
/// instance serves its own sockets (the numbers come from the shared database), so several
/// instances never send one client duplicates.
pub(super) async fn dashboard_ticker<A: Adapter>(
    io: SocketIo<A>,
    context: Arc<Context>,
    every: Duration,
) {
    let Some(source) = context.hooks.metrics.clone() else {
        return;
    };
    let shutdown = context.state.shutdown.clone();
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut delivered: HashMap<String, Delivered> = HashMap::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        let rooms = dashboard_rooms(&io).await;
        delivered.retain(|room, _| rooms.iter().any(|(name, _)| name == room));
        if rooms.is_empty() {
            continue;
        }
        let request = MetricsRequest {
            system: rooms.iter().any(|(_, room)| *room == Room::Dashboard),
            users: rooms
                .iter()
                .filter_map(|(_, room)| match room {
                    Room::UserDashboard(user) => Some(*user),
                    _ => None,
                })
                .collect(),
        };
        let snapshot = match source(context.state.clone(), request).await {
            Ok(snapshot) => snapshot,
            Err(err) => {
                tracing::warn!(error = %err, "dashboard metrics unavailable");
                continue;
            }
        };
        for (name, room) in rooms {
            let metrics = match room {
                Room::Dashboard => snapshot.system.as_ref(),
                Room::UserDashboard(user) => snapshot.users.get(&user),
                _ => None,
            };
            if let Some(metrics) = metrics {
                push_if_changed(&io, &mut delivered, name, metrics).await;
            }
        }
    }
}

/// What a dashboard room last got: the figures without their timestamp, and the sockets
/// that got them.
struct Delivered {
    figures: serde_json::Value,
    sockets: HashSet<Sid>,
}

/// The dashboard rooms with sockets on this instance, with their parsed names.
async fn dashboard_rooms<A: Adapter>(io: &SocketIo<A>) -> Vec<(String, Room)> {
    let Ok(rooms) = io.local().rooms().await else {
        return Vec::new();
    };
    rooms
        .into_iter()
        .filter_map(|name| match Room::parse(&name) {
            Ok(room @ (Room::Dashboard | Room::UserDashboard(_))) => {
                Some((name.into_owned(), room))
            }
            _ => None,
        })
        .collect()
}

/// Sends `metrics` to the room when its figures changed, otherwise only to the sockets that
/// joined since the room last got them.
async fn push_if_changed<A: Adapter>(
    io: &SocketIo<A>,
    delivered: &mut HashMap<String, Delivered>,
    room: String,
    metrics: &DashboardMetrics,
) {
    let Ok(payload) = serde_json::to_value(metrics) else {
        return;
    };
    let mut figures = payload.clone();
    if let Some(object) = figures.as_object_mut() {
        object.remove("at");
    }
    let members = io.local().to(room.clone()).sockets();
    match delivered.get_mut(&room) {
        Some(last) if last.figures == figures => {
            for socket in members.iter().filter(|s| !last.sockets.contains(&s.id)) {
                let _ = socket.emit(names::DASHBOARD_METRICS, &payload);
            }
            last.sockets = members.iter().map(|s| s.id).collect();
        }
        _ => {
            let _ = io
                .local()
                .to(room.clone())
                .emit(names::DASHBOARD_METRICS, &payload)
                .await;
            delivered.insert(
                room,
                Delivered {
                    figures,
                    sockets: members.iter().map(|s| s.id).collect(),
                },
            );
        }
    }
}
