//! The one integration-test binary: every module talks to the real server over HTTP.

// Helpers serve every module; not each one uses all of them.
#![allow(dead_code)]

mod api_keys;
mod auth;
mod cron;
mod embedded;
mod errors;
mod health;
mod helpers;
mod middleware;
mod openapi;
mod outbound;
mod rate_limits;
mod realtime;
mod realtime_auth;
mod realtime_node;
mod sessions;
mod shutdown;
mod sockets;
mod storage;
mod users;
