//! Reads the queues an operator paused every second, for the consumers
//! (see `fila_shared::queue_pause`). While the database does not answer,
//! the last reading stands.

use std::sync::Arc;
use std::time::Duration;

use fila_shared::queue_pause;

use crate::context::{Context, Stop};

const READ_EVERY: Duration = Duration::from_secs(1);

pub async fn run(ctx: Arc<Context>, mut stop: Stop) {
    let mut ticker = tokio::time::interval(READ_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait() => return,
        }
        match queue_pause::paused(&ctx.pool).await {
            Ok(paused) => ctx.pauses.set(paused.into_keys().collect()),
            Err(e) => tracing::debug!(error = %e, "paused queues not read this time"),
        }
    }
}
