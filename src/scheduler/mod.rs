//! The scheduler: the durable execution engine, on top of the cron evaluation in
//! [`crate::cron`]: the dispatcher (due slots → executions), workers (claim, run, record),
//! retries and dead letters, lease rescue and retention. See DESIGN.md, "How an execution
//! flows".

pub mod dispatcher;
pub mod engine;
pub mod listener;
pub mod liveness;
pub mod maintenance;
pub mod outcomes;
pub mod owners;
pub mod planner;
pub mod worker;

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::config::Settings;
use engine::Engine;

/// Starts the loops the role flags in `settings` ask for, on `tasks`; each stops when
/// `shutdown` is cancelled. Lease rescue and retention are system jobs
/// (`maintenance::system_jobs`), started with the others.
pub fn start(
    engine: Engine,
    settings: &Settings,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) {
    if settings.scheduler_enabled {
        tasks.spawn(dispatcher::run(engine.clone(), shutdown.clone()));
    }
    if settings.workers_enabled {
        tasks.spawn(worker::run(engine, shutdown.clone()));
    }
}
