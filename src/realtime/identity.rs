//! Who is behind a socket, and the three questions the gateway asks the rest of the
//! application: is this token valid, who owns this task, what are the dashboard numbers.
//!
//! The gateway never reads another domain's tables: it asks through [`RealtimeHooks`], so the
//! identity and scheduler modules answer with their own functions and tests can answer with
//! their own rules.

use std::{collections::HashMap, fmt, future::Future, pin::Pin, sync::Arc};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{RealtimeState, events::DashboardMetrics};

use crate::{
    auth::{self, Role, Scope},
    error::ErrorCode,
};

/// Checks a handshake token with the account module: an access JWT, or an API key holding
/// `executions:read`. The error is the message the client receives in `connect_error`.
pub async fn authenticate(state: &RealtimeState, token: &str) -> Result<SocketIdentity, String> {
    let principal = auth::authenticate_token(&state.auth, token)
        .await
        .map_err(|err| client_message(&err))?;
    principal
        .require_scope(Scope::ExecutionsRead)
        .map_err(|err| client_message(&err))?;
    Ok(SocketIdentity {
        user_id: principal.user_id,
        role: principal.role,
        expires_at: principal.expires_at,
    })
}

/// What the client may be told: the reason for a credential problem, nothing about ours.
fn client_message(err: &crate::error::AppError) -> String {
    match err.code() {
        ErrorCode::InternalError | ErrorCode::DatabaseError | ErrorCode::DatabaseUnavailable => {
            "authentication is temporarily unavailable, try again".to_owned()
        }
        _ => err.detail().to_owned(),
    }
}

/// The authenticated identity of one socket, fixed at the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketIdentity {
    /// The user the socket acts for.
    pub user_id: Uuid,
    /// The user's role at the handshake (decides the `admin` and `dashboard` rooms).
    pub role: Role,
    /// When the credentials stop being valid; the socket is disconnected then. `None` for
    /// credentials without an expiry (an API key without `expires_at`).
    pub expires_at: Option<DateTime<Utc>>,
}

/// The credential a socket connected with, kept so that its rights can be checked again
/// when its principal changes (see `revocation`). Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct Credential {
    token: Arc<str>,
    key_prefix: Option<Arc<str>>,
}

impl Credential {
    /// Wraps the handshake token.
    pub fn new(token: &str) -> Self {
        Credential {
            token: Arc::from(token),
            key_prefix: crate::api_keys::key::parse(token).map(Arc::from),
        }
    }

    /// The token, to authenticate again.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The lookup prefix when the credential is an API key.
    pub fn key_prefix(&self) -> Option<&str> {
        self.key_prefix.as_deref()
    }

    /// Whether the credential is the API key with lookup prefix `prefix`.
    pub fn is_key_with_prefix(&self, prefix: &str) -> bool {
        self.key_prefix() == Some(prefix)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(..)")
    }
}

/// A boxed future returned by a hook.
pub type HookFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Checks a handshake token: the identity, or why it is refused (sent to the client).
pub type Authenticate =
    Arc<dyn Fn(RealtimeState, String) -> HookFuture<Result<SocketIdentity, String>> + Send + Sync>;

/// The owner of a task, `None` when there is no such task.
pub type TaskOwner =
    Arc<dyn Fn(RealtimeState, Uuid) -> HookFuture<Result<Option<Uuid>, String>> + Send + Sync>;

/// The dashboards one tick needs: system-wide (someone is in `dashboard`) and the users
/// with someone in their `dashboard:{id}`, on this instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsRequest {
    /// Whether the system-wide figures are needed.
    pub system: bool,
    /// Whose own figures are needed.
    pub users: Vec<Uuid>,
}

/// The figures of one tick, as asked for by a [`MetricsRequest`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// System-wide, when asked for.
    pub system: Option<DashboardMetrics>,
    /// Each asked-for user's own.
    pub users: HashMap<Uuid, DashboardMetrics>,
}

/// Computes the dashboard numbers of one tick, all at once.
pub type MetricsSource = Arc<
    dyn Fn(RealtimeState, MetricsRequest) -> HookFuture<Result<MetricsSnapshot, String>>
        + Send
        + Sync,
>;

/// A refused handshake, for the audit trail.
#[derive(Debug, Clone)]
pub struct RefusedHandshake {
    /// The `X-Request-Id` of the HTTP request that carried it.
    pub transaction_id: String,
    /// The request path (`/socket.io/`).
    pub path: String,
    /// The client address (through `TRUSTED_PROXIES`).
    pub ip: Option<std::net::IpAddr>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// Why it was refused (what the client was told).
    pub reason: String,
}

/// Told about every refused handshake.
pub type OnRefused = Arc<dyn Fn(RefusedHandshake) -> HookFuture<()> + Send + Sync>;

/// What the gateway needs from the rest of the application. A missing `task_owner` or
/// `metrics` makes the gateway refuse `task:{id}` or `dashboard` subscriptions, saying so.
#[derive(Clone)]
pub struct RealtimeHooks {
    /// Told about refused handshakes (the audit trail).
    pub on_refused: Option<OnRefused>,
    /// Validates handshake tokens.
    pub authenticate: Authenticate,
    /// Finds task owners for `task:{id}` subscriptions.
    pub task_owner: Option<TaskOwner>,
    /// Computes `dashboard.metrics`.
    pub metrics: Option<MetricsSource>,
}

impl RealtimeHooks {
    /// Hooks that authenticate with `authenticate` and offer no task or dashboard rooms yet.
    pub fn new<A, AF>(authenticate: A) -> Self
    where
        A: Fn(RealtimeState, String) -> AF + Send + Sync + 'static,
        AF: Future<Output = Result<SocketIdentity, String>> + Send + 'static,
    {
        RealtimeHooks {
            authenticate: Arc::new(move |state, token| Box::pin(authenticate(state, token))),
            task_owner: None,
            metrics: None,
            on_refused: None,
        }
    }

    /// Adds the listener of refused handshakes.
    pub fn with_on_refused<R, RF>(mut self, on_refused: R) -> Self
    where
        R: Fn(RefusedHandshake) -> RF + Send + Sync + 'static,
        RF: Future<Output = ()> + Send + 'static,
    {
        self.on_refused = Some(Arc::new(move |refused| Box::pin(on_refused(refused))));
        self
    }

    /// Adds the task-owner lookup behind `task:{id}` subscriptions.
    pub fn with_task_owner<O, OF>(mut self, task_owner: O) -> Self
    where
        O: Fn(RealtimeState, Uuid) -> OF + Send + Sync + 'static,
        OF: Future<Output = Result<Option<Uuid>, String>> + Send + 'static,
    {
        self.task_owner = Some(Arc::new(move |state, id| Box::pin(task_owner(state, id))));
        self
    }

    /// Adds the source of `dashboard.metrics`.
    pub fn with_metrics<M, MF>(mut self, metrics: M) -> Self
    where
        M: Fn(RealtimeState, MetricsRequest) -> MF + Send + Sync + 'static,
        MF: Future<Output = Result<MetricsSnapshot, String>> + Send + 'static,
    {
        self.metrics = Some(Arc::new(move |state, request| {
            Box::pin(metrics(state, request))
        }));
        self
    }

    /// The application's hooks: tokens checked by the account module, task owners from
    /// the tasks module.
    pub fn for_application() -> Self {
        RealtimeHooks::new(|state: RealtimeState, token: String| async move {
            authenticate(&state, &token).await
        })
        .with_task_owner(|state: RealtimeState, task_id: Uuid| async move {
            let mut conn = state.db.acquire().await.map_err(|e| e.to_string())?;
            let task = crate::tasks::db::load_task(&mut conn, task_id)
                .await
                .map_err(|e| e.to_string())?;
            Ok(task.map(|task| task.owner_id))
        })
        .with_metrics(|state: RealtimeState, request: MetricsRequest| async move {
            let figures =
                crate::dashboard::live::compute(&state.db, request.system, &request.users)
                    .await
                    .map_err(|e| e.to_string())?;
            Ok(MetricsSnapshot {
                system: figures.system,
                users: figures.users,
            })
        })
    }
}

impl fmt::Debug for RealtimeHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RealtimeHooks")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    #[test]
    fn clients_learn_credential_problems_but_not_ours() {
        let expired = AppError::unauthorized("the API key has expired");
        assert_eq!(client_message(&expired), "the API key has expired");
        let scope = AppError::new(ErrorCode::InsufficientScope, "lacks executions:read");
        assert_eq!(client_message(&scope), "lacks executions:read");
        let ours = AppError::internal(anyhow::anyhow!("pool timed out at 10.0.0.7"));
        assert!(!client_message(&ours).contains("10.0.0.7"));
    }
}
