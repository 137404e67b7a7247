//! Tasks: an action plus its schedule and policies. The data model and the queries the API
//! and the engine share, and the HTTP API ([`api`]).

pub mod api;
pub mod db;
pub mod list;
pub mod model;
pub mod status;
pub mod templates;
pub mod update;
pub mod view;
