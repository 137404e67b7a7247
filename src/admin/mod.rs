//! The admin console: role administration ([`roles`]), accounts ([`users_list`],
//! [`user_detail`], [`user_actions`]), tasks across owners ([`tasks`]), platform analytics
//! ([`analytics`]) and the system view ([`system`]), with the purge of deleted accounts
//! ([`purge`]) and the instance heartbeat ([`instances`]) behind them. Every route needs an
//! admin (403 otherwise) and sits under the `admin` OpenAPI tag; the audit trail classifies
//! every mutation as a critical `ADMIN` event.

pub mod analytics;
pub mod config_view;
pub mod instances;
pub mod model;
pub mod purge;
pub mod roles;
pub mod system;
pub mod tasks;
pub mod user_actions;
pub mod user_detail;
pub mod users_list;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Routes of the admin console.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(roles::router())
        .merge(users_list::router())
        .merge(user_detail::router())
        .merge(user_actions::router())
        .merge(tasks::router())
        .merge(analytics::router())
        .merge(system::router())
}
