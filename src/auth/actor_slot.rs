//! The slot the audit layer puts in each request's extensions and the caller extractors fill
//! once they know who is calling, so the event written after the response names its actor.
//! A leaf: it depends on nothing else in the crate.

use std::sync::{Arc, Mutex};

use uuid::Uuid;

/// Who made a request, as far as authentication got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditActor {
    /// The user (an API key's owner for a key).
    pub user_id: Option<Uuid>,
    /// The API key, when the caller used one.
    pub api_key_id: Option<Uuid>,
}

/// A request's actor, shared between the audit layer and the extractors.
#[derive(Debug, Clone, Default)]
pub struct ActorSlot(Arc<Mutex<AuditActor>>);

impl ActorSlot {
    /// Records the authenticated caller.
    pub fn set(&self, user_id: Uuid, api_key_id: Option<Uuid>) {
        if let Ok(mut actor) = self.0.lock() {
            *actor = AuditActor {
                user_id: Some(user_id),
                api_key_id,
            };
        }
    }

    /// The caller recorded so far (anonymous when nobody authenticated).
    pub fn get(&self) -> AuditActor {
        self.0.lock().map(|actor| *actor).unwrap_or_default()
    }
}
