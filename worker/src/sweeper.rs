//! The worker's periodic sweeps, every `sweep_interval_ms`:
//!
//! - waiting TAF records whose predecessor is processed are released (the
//!   safety net behind the release done by the predecessor's own worker):
//!   those that started waiting in the last [`RECENT_WAIT`] at every sweep,
//!   all of them every [`FULL_RELEASE_EVERY`] sweeps;
//! - outbox rows older than `outbox_grace_secs` are published: work whose
//!   API died between commit and publish, results whose worker did,
//!   anything written while RabbitMQ was down, and rows the broker refused
//!   once their backoff is over.
//!
//! Every worker sweeps; `FOR UPDATE SKIP LOCKED` keeps them from meeting.

use std::sync::Arc;
use std::time::Duration;

use fila_shared::outbox;
use fila_shared::taf::job;

use crate::context::{Context, Stop};

/// Rows published per sweep transaction.
const SWEEP_BATCH: i64 = 500;
/// How far back the frequent release sweep looks.
const RECENT_WAIT: Duration = Duration::from_secs(120);
/// Every this many sweeps, the release sweep looks at every waiting record.
const FULL_RELEASE_EVERY: u64 = 300;

pub async fn run(ctx: Arc<Context>, mut stop: Stop) {
    let mut ticker = tokio::time::interval(ctx.config.sweep_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u64.. {
        tokio::select! {
            _ = ticker.tick() => sweep(&ctx, round).await,
            _ = stop.wait() => return,
        }
    }
}

async fn sweep(ctx: &Context, round: u64) {
    let recent = (!round.is_multiple_of(FULL_RELEASE_EVERY)).then_some(RECENT_WAIT);
    match job::release_ready(&ctx.pool, ctx.config.taf_chunk_size, recent).await {
        Ok(stored) if !stored.is_empty() => {
            tracing::info!(messages = stored.len(), "released waiting TAF records");
            let refused = &ctx.metrics.outbox_refused;
            if let Err(e) = outbox::publish_stored(&ctx.pool, &ctx.broker, &stored, refused).await {
                tracing::warn!(error = %e, "released records wait for the next sweep");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot release waiting TAF records"),
    }
    loop {
        match outbox::sweep(
            &ctx.pool,
            &ctx.broker,
            ctx.config.outbox_grace(),
            SWEEP_BATCH,
            &ctx.metrics.outbox_refused,
        )
        .await
        {
            Ok(published) if published.confirmed + published.held > 0 => {
                tracing::info!(
                    published = published.confirmed,
                    held = published.held,
                    "outbox rows published by the sweeper"
                );
                if published.confirmed + published.held < SWEEP_BATCH as usize {
                    break;
                }
            }
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, "outbox sweep failed");
                break;
            }
        }
    }
}
