//! Who is calling: accounts' sign-in (register with optional email verification, login, refresh-token rotation, logout,
//! password change), sessions, password hashing, access tokens, lockout, rate limits,
//! security events, and the caller extractors other modules import: [`CurrentUser`],
//! [`RequireRole`] with [`Admin`]/[`SuperAdmin`], [`Principal`] with [`Scope`] checks, and
//! [`authenticate_token`] for non-HTTP callers.

pub mod access_cache;
pub mod access_listener;
pub mod actor_slot;
pub mod api_v1;
pub mod caller;
pub mod context;
pub mod events;
pub mod extract;
pub mod handlers;
pub mod ip_limit;
pub mod lockout;
pub mod password;
pub mod principal;
pub mod rate_limit;
pub mod request;
pub mod role;
pub mod scope;
pub mod sessions;
pub mod tokens;
pub mod user_agent;
pub mod verification;

pub use caller::Caller;
pub use context::{AuthContext, AuthState};
pub use extract::{
    Admin, CurrentUser, Principal, RequireRole, RoleRequirement, SuperAdmin,
    authenticate_access_token, authenticate_token,
};
pub use request::ClientMeta;
pub use role::Role;
pub use scope::{Scope, ScopeSet};
