//! The slot the audit layer puts in each request's extensions and the caller extractors fill
//! once they know who is calling, so the event written after the response names its actor;
//! and the targets a handler adds beyond those in the path (each task of a bulk operation).
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

/// Most targets a handler may add to one request's event.
pub const MAX_ADDED_TARGETS: usize = 1_000;

/// Targets a handler adds to its request's audit event, as (`type`, `id`) pairs.
#[derive(Debug, Clone, Default)]
pub struct AddedTargets(Arc<Mutex<Vec<(String, String)>>>);

impl AddedTargets {
    /// Adds `ids` of the kind `kind` (up to [`MAX_ADDED_TARGETS`] in all).
    pub fn add(&self, kind: &str, ids: impl IntoIterator<Item = String>) {
        if let Ok(mut targets) = self.0.lock() {
            let room = MAX_ADDED_TARGETS.saturating_sub(targets.len());
            targets.extend(ids.into_iter().take(room).map(|id| (kind.to_owned(), id)));
        }
    }

    /// What was added.
    pub fn take(&self) -> Vec<(String, String)> {
        self.0
            .lock()
            .map(|mut targets| std::mem::take(&mut *targets))
            .unwrap_or_default()
    }
}
