//! What one audit event is: its classes, outcomes and actor kinds as stored and served, and
//! the event the layer queues for the writer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::text_enum;

text_enum! {
    /// Who acted.
    pub enum ActorType {
        /// A user signed in with an access token.
        User = "USER",
        /// An integration with an API key.
        ApiKey = "API_KEY",
        /// Nobody authenticated.
        Anonymous = "ANONYMOUS",
        /// Nocron itself (system jobs, retention).
        System = "SYSTEM",
    }
}

text_enum! {
    /// What kind of action.
    pub enum ActionClass {
        /// Reading.
        Read = "READ",
        /// Creating.
        Create = "CREATE",
        /// Changing.
        Update = "UPDATE",
        /// Deleting.
        Delete = "DELETE",
        /// Signing in and out, sessions, registration, passwords.
        Auth = "AUTH",
        /// Administration.
        Admin = "ADMIN",
        /// Plans and payments.
        Billing = "BILLING",
        /// API keys, secrets, refused realtime connections.
        Security = "SECURITY",
    }
}

text_enum! {
    /// How it ended.
    pub enum Outcome {
        /// 1xx–3xx.
        Success = "SUCCESS",
        /// Other 4xx and 5xx.
        Failure = "FAILURE",
        /// 401, 403 and 429.
        Denied = "DENIED",
    }
}

impl Outcome {
    /// The outcome of an HTTP status.
    pub fn for_status(status: u16) -> Self {
        match status {
            401 | 403 | 429 => Outcome::Denied,
            s if s < 400 => Outcome::Success,
            _ => Outcome::Failure,
        }
    }
}

/// A target of an action, from the request path (`/tasks/{id}` → `{type: "task", id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Target {
    /// What it is (`task`, `execution`, `user`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id as it appears in the path.
    pub id: String,
}

/// The id the audit event of a request will have, put in the request's extensions by the
/// layer before the handler runs, so a handler can link what it records to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditEventId(pub Uuid);

/// One event, as queued for the writer.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// UUIDv7.
    pub id: Uuid,
    /// When the request arrived.
    pub occurred_at: DateTime<Utc>,
    /// The request's `X-Request-Id`.
    pub transaction_id: String,
    /// Who acted.
    pub actor_type: ActorType,
    /// The user (the key's owner for an API key).
    pub actor_id: Option<Uuid>,
    /// The API key.
    pub api_key_id: Option<Uuid>,
    /// Dotted action (`tasks.create`).
    pub action: String,
    /// Its class.
    pub action_class: ActionClass,
    /// Role, key, password, billing and admin changes.
    pub critical: bool,
    /// HTTP method (`WS` for Socket.IO handshakes).
    pub method: String,
    /// The matched route template.
    pub route: Option<String>,
    /// The request path.
    pub path: String,
    /// HTTP status.
    pub status: u16,
    /// Outcome.
    pub outcome: Outcome,
    /// Targets from the path.
    pub targets: Vec<Target>,
    /// The client address (through `TRUSTED_PROXIES`).
    pub ip: Option<IpAddr>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// Time to the response head.
    pub latency_ms: i32,
    /// The JSON request body, redacted and capped.
    pub request_body: Option<Value>,
    /// The JSON response body, redacted and capped.
    pub response_body: Option<Value>,
}

/// An event for something the server did by itself (actor `SYSTEM`): `action` is its dotted
/// name, `path` the resource it acted on, `details` what it did.
pub fn system_event(
    action: &str,
    action_class: ActionClass,
    critical: bool,
    path: &str,
    targets: Vec<Target>,
    details: serde_json::Value,
) -> AuditEvent {
    let id = Uuid::now_v7();
    AuditEvent {
        id,
        occurred_at: Utc::now(),
        transaction_id: id.to_string(),
        actor_type: ActorType::System,
        actor_id: None,
        api_key_id: None,
        action: action.to_owned(),
        action_class,
        critical,
        method: "SYSTEM".to_owned(),
        route: None,
        path: path.to_owned(),
        status: 200,
        outcome: Outcome::Success,
        targets,
        ip: None,
        user_agent: None,
        latency_ms: 0,
        request_body: None,
        response_body: Some(details),
    }
}
