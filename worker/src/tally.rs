//! Adds the items this worker finished to the database's tally every few
//! seconds (see `fila_shared::tally`); the last flush is made when the
//! worker stops, after its messages in flight.

use std::sync::Arc;
use std::time::Duration;

use crate::context::{Context, Stop};

const FLUSH_EVERY: Duration = Duration::from_secs(5);

pub async fn run(ctx: Arc<Context>, mut stop: Stop) {
    let mut ticker = tokio::time::interval(FLUSH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait() => return,
        }
        flush(&ctx).await;
    }
}

pub async fn flush(ctx: &Context) {
    if let Err(e) = ctx.metrics.tally.flush(&ctx.pool).await {
        tracing::debug!(error = %e, "finished items not tallied this time");
    }
}
