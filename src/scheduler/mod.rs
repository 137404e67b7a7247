//! The scheduler: cron evaluation in IANA time zones with explicit daylight-saving rules
//! ([`cron`]), the endpoint that explains an expression ([`explain`]), and the durable
//! execution engine: the dispatcher (due slots → executions), workers (claim, run, record),
//! retries and dead letters, lease rescue and retention. See DESIGN.md, "How an execution
//! flows".

pub mod control;
pub mod cron;
pub mod dispatcher;
pub mod engine;
pub mod explain;
pub mod listener;
pub mod maintenance;
pub mod model;
pub mod outcomes;
pub mod owners;
pub mod planner;
pub mod schedule;
pub mod stats;
pub mod worker;
