//! Nocron: a self-hostable automation backend. Tasks (an action plus triggers) run on time,
//! exactly once, with every execution recorded and streamed live.
//!
//! The crate is one binary's library: [`app`] assembles the router and runs the server;
//! each domain lives in its own module. See `docs/ARCHITECTURE.md`.

pub mod actions;
pub mod admin;
pub mod analytics;
pub mod api_keys;
pub mod app;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod cli;
pub mod config;
pub mod cron;
pub mod dashboard;
pub mod db;
pub mod email;
pub mod error;
pub mod events;
pub mod executions;
pub mod health;
pub mod http;
pub mod logging;
pub mod net;
pub mod notifications;
pub mod notion;
pub mod openapi;
pub mod realtime;
pub mod sandbox;
pub mod scheduler;
pub mod secrets;
pub mod security;
pub mod state;
pub mod system_jobs;
pub mod tasks;
pub mod templating;
pub mod triggers;
pub mod users;

/// Installs the process-wide TLS crypto provider (ring). Call once at start; idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
