//! The scheduler: cron evaluation, the dispatcher (due slots → executions), workers (claim,
//! run, record), retries and dead letters, lease rescue and retention. See DESIGN.md, "How
//! an execution flows".

pub mod control;
pub mod dispatcher;
pub mod engine;
pub mod listener;
pub mod maintenance;
pub mod model;
pub mod outcomes;
pub mod planner;
pub mod schedule;
pub mod worker;
