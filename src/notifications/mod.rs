//! Notifications and alert rules.
//!
//! When an execution ends, the transaction that records it adds an outbox row
//! ([`outbox::record_ended`]). The consumer ([`outbox`]) evaluates the task's alert rules
//! ([`rules`]) and stores notifications ([`store`]) with one delivery per channel: `IN_APP`
//! is stored and pushed over Socket.IO (through the event bus), `EMAIL` and `WEBHOOK` are
//! queued for the delivery worker ([`delivery`], [`webhook_delivery`]). [`routes`] serves
//! `/notifications`, [`webhooks`] the account's webhook endpoints, [`test_send`] test
//! messages, [`resend`] resends of failed deliveries and [`rules_api`]
//! `/tasks/{id}/alert-rules`; all have `/api/v1` twins. [`tracking`] records opened emails
//! and followed links, with the tokens of [`tracker`].

pub mod compose;
pub mod delivery;
pub mod missed;
pub mod model;
pub mod notifier;
pub mod outbox;
pub mod preferences;
pub mod preferences_api;
pub mod resend;
pub mod routes;
pub mod rules;
pub mod rules_api;
mod runner;
pub mod secret_rotation;
pub mod store;
pub mod test_send;
pub mod tracker;
pub mod tracking;
pub mod webhook_delivery;
pub mod webhooks;

pub use notifier::Notifier;
pub use runner::{start, system_jobs};
