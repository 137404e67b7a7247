//! Who is behind a socket, and the three questions the gateway asks the rest of the
//! application: is this token valid, who owns this task, what are the dashboard numbers.
//!
//! The gateway never reads another domain's tables: it asks through [`RealtimeHooks`], so the
//! identity and scheduler modules answer with their own functions and tests can answer with
//! their own rules.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::events::DashboardMetrics;
use crate::state::AppState;

/// The role a socket's user holds; decides the `admin` and `dashboard` rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketRole {
    /// An ordinary account.
    User,
    /// An administrator.
    Admin,
    /// An administrator who may also manage administrators.
    SuperAdmin,
}

impl SocketRole {
    /// Whether the role may join the system-wide rooms.
    pub fn is_admin(self) -> bool {
        matches!(self, SocketRole::Admin | SocketRole::SuperAdmin)
    }
}

/// The authenticated identity of one socket, fixed at the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketIdentity {
    /// The user the socket acts for.
    pub user_id: Uuid,
    /// The user's role at the handshake.
    pub role: SocketRole,
    /// When the credentials stop being valid; the socket is disconnected then. `None` for
    /// credentials without an expiry (an API key without `expires_at`).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A boxed future returned by a hook.
pub type HookFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Checks a handshake token: the identity, or why it is refused (sent to the client).
pub type Authenticate =
    Arc<dyn Fn(AppState, String) -> HookFuture<Result<SocketIdentity, String>> + Send + Sync>;

/// The owner of a task, `None` when there is no such task.
pub type TaskOwner =
    Arc<dyn Fn(AppState, Uuid) -> HookFuture<Result<Option<Uuid>, String>> + Send + Sync>;

/// The current dashboard numbers.
pub type MetricsSource =
    Arc<dyn Fn(AppState) -> HookFuture<Result<DashboardMetrics, String>> + Send + Sync>;

/// What the gateway needs from the rest of the application.
#[derive(Clone)]
pub struct RealtimeHooks {
    /// Validates handshake tokens.
    pub authenticate: Authenticate,
    /// Finds task owners for `task:{id}` subscriptions.
    pub task_owner: TaskOwner,
    /// Computes `dashboard.metrics`.
    pub metrics: MetricsSource,
}

impl RealtimeHooks {
    /// Builds the hooks from three async functions.
    pub fn new<A, AF, O, OF, M, MF>(authenticate: A, task_owner: O, metrics: M) -> Self
    where
        A: Fn(AppState, String) -> AF + Send + Sync + 'static,
        AF: Future<Output = Result<SocketIdentity, String>> + Send + 'static,
        O: Fn(AppState, Uuid) -> OF + Send + Sync + 'static,
        OF: Future<Output = Result<Option<Uuid>, String>> + Send + 'static,
        M: Fn(AppState) -> MF + Send + Sync + 'static,
        MF: Future<Output = Result<DashboardMetrics, String>> + Send + 'static,
    {
        RealtimeHooks {
            authenticate: Arc::new(move |state, token| Box::pin(authenticate(state, token))),
            task_owner: Arc::new(move |state, id| Box::pin(task_owner(state, id))),
            metrics: Arc::new(move |state| Box::pin(metrics(state))),
        }
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

    #[test]
    fn only_administrators_are_admins() {
        assert!(!SocketRole::User.is_admin());
        assert!(SocketRole::Admin.is_admin());
        assert!(SocketRole::SuperAdmin.is_admin());
    }
}
