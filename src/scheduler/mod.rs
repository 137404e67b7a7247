//! The scheduler: the durable execution engine, on top of the cron evaluation in
//! [`crate::cron`]: the dispatcher (due slots → executions), workers (claim, run, record),
//! retries and dead letters, lease rescue and retention. See DESIGN.md, "How an execution
//! flows".

pub mod dispatcher;
pub mod engine;
pub mod listener;
pub mod maintenance;
pub mod outcomes;
pub mod owners;
pub mod planner;
pub mod worker;
