//! The reconciler (see `fila_shared::reconcile`): every
//! `reconcile_interval_secs`, one worker at a time finds open work whose
//! queue message is gone and queues it again, and sends the probes that
//! tell gone from queued. At start, the worker registers the lanes it
//! consumes, so that only lanes with consumers are probed.

use std::sync::Arc;

use fila_shared::amqp::{Lane, WorkQueue};
use fila_shared::deliveries;
use fila_shared::metrics::{EAI, PROCESS, ProtocolLabels, TAF};
use fila_shared::reconcile::{self, Chunks, Scope, Settings};

use crate::context::{Context, Stop};

pub async fn run(ctx: Arc<Context>, queues: Vec<WorkQueue>, mut stop: Stop) {
    let mut registered = false;
    let mut ticker = tokio::time::interval(ctx.config.reconcile_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait() => return,
        }
        if !registered {
            let topology = ctx.broker.topology();
            let lanes: Vec<Lane> = queues.iter().flat_map(|q| topology.lanes(q)).collect();
            match reconcile::probe::register(&ctx.pool, &lanes).await {
                Ok(()) => registered = true,
                Err(e) => {
                    tracing::warn!(error = %e, "queues not registered for reconciliation yet");
                    continue;
                }
            }
        }
        pass(&ctx).await;
    }
}

async fn pass(ctx: &Context) {
    let settings = Settings {
        topology: ctx.broker.topology(),
        settle: ctx.config.reconcile_settle(),
        chunks: Chunks {
            taf: ctx.config.taf_chunk_size,
            eai: ctx.config.eai_chunk_size,
            registry: &ctx.eai,
        },
        dry_run: false,
    };
    match reconcile::pass(&ctx.pool, Some(&ctx.broker), Scope::Lost, &settings).await {
        Ok(Some(pass)) => {
            let counts = pass.counts;
            if counts.total() > 0 {
                tracing::warn!(
                    taf = counts.taf,
                    eai = counts.eai,
                    process = counts.process,
                    "open work whose queue message was gone queued again"
                );
            }
            if !pass.probed.is_empty() {
                let queues: Vec<String> = pass.probed.iter().map(Lane::key).collect();
                tracing::debug!(queues = %queues.join(","), "reconciliation probes sent");
            }
            for (protocol, count) in [
                (TAF, counts.taf),
                (EAI, counts.eai),
                (PROCESS, counts.process),
            ] {
                ctx.metrics
                    .reconciled
                    .get_or_create(&ProtocolLabels { protocol })
                    .inc_by(count.unsigned_abs());
            }
            ctx.relay.publish(pass.stored).await;
        }
        Ok(None) => tracing::debug!("another worker is reconciling"),
        Err(e) => tracing::warn!(error = %e, "reconciliation pass failed; tried again later"),
    }
    if let Err(e) = deliveries::forget_stale(&ctx.pool).await {
        tracing::debug!(error = %e, "stale delivery counts not forgotten this time");
    }
}
