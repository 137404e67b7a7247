//! The background loops: the outbox consumer and the delivery worker (email and webhooks),
//! each woken by its `NOTIFY` channel and, as a fallback for notifications lost while
//! reconnecting and for retries coming due, every [`POLL_INTERVAL`]; and the periodic check
//! of `MISSED` rules. All stop at shutdown.

use std::time::Duration;

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{Notifier, delivery, missed, outbox, webhook_delivery};
use crate::{
    config::Settings,
    db::channels::{NOTIFICATION_DELIVERIES, OUTBOX},
    scheduler::listener,
    system_jobs::{JobContext, SystemJob},
};

/// How often the loops look for work without being woken.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The system job that prunes processed outbox rows, hourly.
pub fn system_jobs() -> Vec<SystemJob> {
    vec![SystemJob::new(
        "outbox-retention",
        "0 23 * * * *",
        |state: JobContext| async move {
            let deleted = outbox::prune_processed(&state.db).await?;
            if deleted > 0 {
                tracing::info!(deleted, "pruned processed outbox rows");
            }
            Ok(())
        },
    )]
}

/// Starts the consumer and the delivery worker unless `NOTIFICATIONS_ENABLED` is false.
pub fn start(
    notifier: Notifier,
    settings: &Settings,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) {
    if !settings.notifications_enabled {
        return;
    }
    tasks.spawn(run(
        notifier.clone(),
        OUTBOX,
        shutdown.clone(),
        Pass::Outbox,
    ));
    tasks.spawn(run(
        notifier.clone(),
        NOTIFICATION_DELIVERIES,
        shutdown.clone(),
        Pass::Deliveries,
    ));
    tasks.spawn(check_missed(notifier, shutdown.clone()));
}

/// Runs the `MISSED` rules' check every [`missed::CHECK_INTERVAL`] until shutdown.
async fn check_missed(notifier: Notifier, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(missed::CHECK_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {
                if let Err(err) = missed::check(&notifier).await {
                    tracing::warn!(error = %err, "the missed-run check failed; will retry");
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Pass {
    Outbox,
    Deliveries,
}

impl Pass {
    async fn once(self, notifier: &Notifier) -> Result<usize, sqlx::Error> {
        match self {
            Pass::Outbox => outbox::drain(notifier).await,
            Pass::Deliveries => {
                let mut total = 0;
                loop {
                    let handled = delivery::deliver_due(notifier).await?
                        + webhook_delivery::deliver_due(notifier).await?;
                    total += handled;
                    if handled == 0 {
                        return Ok(total);
                    }
                }
            }
        }
    }
}

async fn run(notifier: Notifier, channel: &'static str, shutdown: CancellationToken, pass: Pass) {
    let mut listener = listener::connect(&notifier.db, &[channel]).await;
    let mut failures = 0u32;
    loop {
        match pass.once(&notifier).await {
            Ok(_) => failures = 0,
            Err(err) => {
                failures += 1;
                tracing::warn!(error = %err, ?pass, "notification pass failed; will retry");
            }
        }
        let pause = if failures > 0 {
            listener::backoff(failures)
        } else {
            POLL_INTERVAL
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            received = listener::recv(&mut listener) => {
                if !matches!(received, Ok(Some(_))) {
                    listener = listener::connect(&notifier.db, &[channel]).await;
                }
            }
            _ = tokio::time::sleep(pause) => {
                if listener.is_none() {
                    listener = listener::connect(&notifier.db, &[channel]).await;
                }
            }
        }
    }
}
