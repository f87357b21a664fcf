//! Process schedules fire in every worker: each tick, the due fires are
//! made in one transaction (`FOR UPDATE SKIP LOCKED` keeps replicas from
//! making a fire twice) and their runs published; so are the executions
//! that became due (retries after their backoff, runs whose lease ran out).

use std::sync::Arc;
use std::time::Duration;

use fila_shared::process::store;

use crate::context::{Context, Stop};

/// Schedules fire to the second: look a few times a second.
const TICK: Duration = Duration::from_millis(250);

pub async fn run(ctx: Arc<Context>, mut stop: Stop) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait() => return,
        }
        match store::fire_due(&ctx.pool).await {
            Ok(stored) if !stored.is_empty() => {
                tracing::debug!(runs = stored.len(), "scheduled runs made");
                ctx.relay.publish(stored).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "schedules not fired this time"),
        }
        match store::enqueue_due(&ctx.pool).await {
            Ok(stored) if !stored.is_empty() => {
                tracing::info!(runs = stored.len(), "due process runs enqueued");
                ctx.relay.publish(stored).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "due process runs not enqueued this time"),
        }
    }
}
