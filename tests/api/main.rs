//! The one integration-test binary: every module talks to the real server over HTTP.

// Helpers serve every module; not each one uses all of them.
#![allow(dead_code)]

mod action_database;
mod action_database_tls;
mod action_email;
mod action_script;
mod action_support;
mod api_keys;
mod auth;
mod capture;
mod client_ip;
mod cron;
mod email;
mod embedded;
mod engine_actions;
mod engine_cluster;
mod engine_policies;
mod engine_runs;
mod engine_secrets;
mod engine_support;
mod errors;
mod health;
mod helpers;
mod middleware;
mod notion;
mod notion_fake;
mod openapi;
mod outbound;
mod rate_limits;
mod realtime;
mod realtime_auth;
mod realtime_browser;
mod realtime_engine;
mod realtime_node;
mod registration;
mod sandbox;
mod secrets;
mod secrets_api;
mod sessions;
mod shutdown;
mod signatures;
mod sockets;
mod storage;
mod tasks_api;
mod template_mail_limits;
mod templates;
mod triggers_chains;
mod triggers_email;
mod triggers_support;
mod triggers_webhooks;
mod users;
