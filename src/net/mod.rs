//! Outbound networking for user-configured URLs: the SSRF policy (which addresses may be
//! reached) and the one guarded HTTP client that enforces it in DNS resolution, on every
//! redirect hop and on every connection.

pub mod client;
pub mod policy;

pub use client::{ResolveError, resolve_allowed, try_outbound_client};
pub use policy::{OutboundPolicy, SsrfError};
