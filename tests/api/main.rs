//! The one integration-test binary: every module talks to the real server over HTTP.

// Helpers serve every module; not each one uses all of them.
#![allow(dead_code)]

mod email;
mod embedded;
mod errors;
mod health;
mod helpers;
mod middleware;
mod openapi;
mod sandbox;
mod secrets;
mod shutdown;
mod signatures;
