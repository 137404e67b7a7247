//! Tasks: an action plus its schedule and policies. The data model and the queries the API
//! and the engine share.

pub mod db;
pub mod model;
