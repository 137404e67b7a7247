//! Notifications and alert rules.
//!
//! When an execution ends, the transaction that records it adds an outbox row
//! ([`outbox::record_ended`]). The consumer ([`outbox`]) evaluates the task's alert rules
//! ([`rules`]) and stores notifications ([`store`]) with one delivery per channel: `IN_APP`
//! is stored and pushed over Socket.IO (through the event bus), `EMAIL` is queued for the
//! delivery worker ([`delivery`]). [`routes`] serves `/notifications`, [`rules_api`] serves
//! `/tasks/{id}/alert-rules`; both have `/api/v1` twins.

pub mod compose;
pub mod delivery;
pub mod model;
pub mod notifier;
pub mod outbox;
pub mod routes;
pub mod rules;
pub mod rules_api;
mod runner;
pub mod store;

pub use notifier::Notifier;
pub use runner::{start, system_jobs};
