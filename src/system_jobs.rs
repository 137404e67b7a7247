//! System cron: housekeeping jobs run on a schedule (tokio-cron-scheduler, six-field cron
//! expressions with seconds, UTC). Each run takes a Postgres advisory lock named after the
//! job, so with several instances on one database only one runs it at a time; the others
//! skip that tick. The scheduler stops when the application shuts down.
//!
//! To add a job, give [`SystemJob::new`] a name, a cron expression and an async function of
//! the [`JobContext`], and add it to the list passed to [`start`] in `app.rs`.

use std::sync::Arc;

use anyhow::Context;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use tokio_cron_scheduler::{Job, JobScheduler};

use sqlx::PgPool;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{auth, config::Settings, scheduler::engine::Engine};

type JobFn = Arc<dyn Fn(JobContext) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// What system jobs run with.
#[derive(Clone)]
pub struct JobContext {
    /// The database pool (and the advisory locks).
    pub db: PgPool,
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// The execution engine, for its maintenance jobs.
    pub engine: Engine,
    /// Cancelled at shutdown: no job starts after it.
    pub shutdown: CancellationToken,
    /// Where the scheduler's shutdown watcher runs.
    pub tasks: TaskTracker,
}

/// A named job on a cron schedule.
#[derive(Clone)]
pub struct SystemJob {
    /// Unique name; also the advisory lock's identity.
    pub name: &'static str,
    /// Six-field cron expression (`sec min hour day month weekday`), UTC.
    pub schedule: String,
    run: JobFn,
}

impl SystemJob {
    /// A job running `run` on `schedule`.
    pub fn new<F, Fut>(name: &'static str, schedule: impl Into<String>, run: F) -> Self
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        SystemJob {
            name,
            schedule: schedule.into(),
            run: Arc::new(move |state| Box::pin(run(state))),
        }
    }
}

/// The jobs of the identity module: expired sessions, stale login counters and expired
/// pending registrations.
pub fn auth_jobs(state: &JobContext) -> Vec<SystemJob> {
    vec![SystemJob::new(
        "session-cleanup",
        state.settings.auth.session_cleanup_cron.clone(),
        |state: JobContext| async move {
            let sessions = auth::sessions::delete_expired(&state.db).await?;
            let throttles = auth::lockout::forget_stale(&state.db).await?;
            let registrations = auth::verification::delete_expired(&state.db).await?;
            tracing::info!(
                sessions,
                throttles,
                registrations,
                "removed expired sessions, login counters and pending registrations"
            );
            Ok(())
        },
    )]
}

/// The advisory lock key of a job: the first 8 bytes of SHA-256 of its name.
pub fn lock_key(name: &str) -> i64 {
    let digest = Sha256::digest(format!("nocron-system-job:{name}").as_bytes());
    i64::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ])
}

/// Runs a job now if no other instance is running it; returns whether it ran.
pub async fn run_guarded(state: &JobContext, job: &SystemJob) -> anyhow::Result<bool> {
    // A transaction-scoped lock is released on commit, rollback or a dropped connection,
    // so a crashed run never leaves it held.
    let mut tx = state.db.begin().await?;
    let acquired = sqlx::query_scalar!("SELECT pg_try_advisory_xact_lock($1)", lock_key(job.name))
        .fetch_one(&mut *tx)
        .await?
        .unwrap_or(false);
    if !acquired {
        return Ok(false);
    }
    let result = (job.run)(state.clone()).await;
    tx.commit().await?;
    result.with_context(|| format!("system job {} failed", job.name))?;
    Ok(true)
}

/// Schedules the jobs and stops the scheduler on shutdown. A bad cron expression stops
/// start-up with a message naming the job.
pub async fn start(state: &JobContext, jobs: Vec<SystemJob>) -> anyhow::Result<()> {
    let mut scheduler = JobScheduler::new()
        .await
        .context("starting the system job scheduler")?;
    for job in jobs {
        let schedule = job.schedule.clone();
        let name = job.name;
        let job_state = state.clone();
        let job = Arc::new(job);
        let scheduled = Job::new_async(schedule.as_str(), move |_id, _scheduler| {
            let state = job_state.clone();
            let job = job.clone();
            Box::pin(async move {
                if state.shutdown.is_cancelled() {
                    return;
                }
                match run_guarded(&state, &job).await {
                    Ok(true) => tracing::debug!(job = job.name, "system job ran"),
                    Ok(false) => {
                        tracing::debug!(job = job.name, "system job running elsewhere; skipped")
                    }
                    Err(err) => tracing::error!(
                        job = job.name,
                        error = format!("{err:#}"),
                        "system job failed"
                    ),
                }
            })
        })
        .with_context(|| format!("system job {name}: invalid cron expression {schedule:?}"))?;
        scheduler
            .add(scheduled)
            .await
            .with_context(|| format!("scheduling system job {name}"))?;
    }
    scheduler
        .start()
        .await
        .context("starting the system job scheduler")?;
    let shutdown = state.shutdown.clone();
    state.tasks.spawn(async move {
        shutdown.cancelled().await;
        if let Err(err) = scheduler.shutdown().await {
            tracing::warn!(error = %err, "stopping the system job scheduler");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("session-cleanup"), lock_key("session-cleanup"));
        assert_ne!(lock_key("session-cleanup"), lock_key("retention"));
    }
}
