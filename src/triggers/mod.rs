//! Inbound triggers. For now, the signature verification each webhook trigger can require
//! ([`signature`]); the `/hooks/{token}` endpoint, inbound email and chaining build on it.

pub mod signature;
