//! The dashboard: `GET /dashboard/overview` ([`overview`]), `GET /dashboard/metrics`
//! ([`metrics`]) and `GET /dashboard/recent-tasks` ([`recent`]), each for the caller's own
//! objects, or everyone's for an administrator who asks for `scope=system` ([`scope`]).
//! [`live`] computes the live figures that `/dashboard/metrics` answers and the realtime
//! `dashboard.metrics` event carries.

pub mod live;
pub mod metrics;
pub mod overview;
pub mod recent;
pub mod scope;
