//! The handler registry: one exhaustive match from the queue envelope to the
//! code that processes it. A handler returns once its work is durable (the
//! transaction committed); only then is the message acknowledged, unless
//! the handler acknowledged it earlier (see [`Ack`]).

use fila_shared::envelope::WorkMessage;
use fila_shared::reconcile;
use fila_shared::taf::job;

use crate::context::Context;
use crate::handling::{Ack, Attempt, HandleError};
use crate::{eai, eai_callback, process};
use fila_shared::eai::job::Target;
use fila_shared::metrics::TAF;

/// Names the message's work in the current span (`fila.message`), so that
/// every log line about it carries its RecNos, UUIDs, lot or JobID.
fn name_work(message: &WorkMessage) {
    let span = tracing::Span::current();
    match message {
        WorkMessage::TafRecords { ids } => {
            let rec_nos: Vec<String> = ids.iter().map(i64::to_string).collect();
            span.record("rec_nos", rec_nos.join(","));
        }
        WorkMessage::EaiMessages { uuids } => {
            span.record("uuids", uuids.join(","));
        }
        WorkMessage::EaiBatch { batch } => {
            span.record("batch", batch.as_str());
        }
        WorkMessage::EaiCallback { uuid } => {
            span.record("uuids", uuid.as_str());
        }
        WorkMessage::ProcessRun { job, process, .. } => {
            span.record("job_id", job);
            span.record("process", process.as_str());
        }
        WorkMessage::Probe { .. } => {}
    }
}

pub async fn dispatch(
    ctx: &Context,
    message: &WorkMessage,
    attempt: Attempt,
    ack: &Ack,
) -> Result<(), HandleError> {
    name_work(message);
    match message {
        WorkMessage::TafRecords { ids } => taf_records(ctx, ids).await,
        WorkMessage::EaiMessages { uuids } => {
            eai::handle(ctx, Target::Messages(uuids), attempt).await
        }
        WorkMessage::EaiBatch { batch } => eai::handle(ctx, Target::Batch(batch), attempt).await,
        WorkMessage::EaiCallback { uuid } => eai_callback::handle(ctx, uuid).await,
        WorkMessage::ProcessRun { job, process, .. } => {
            process::handle(ctx, *job, process, attempt, ack).await
        }
        WorkMessage::Probe { queue, sent_at } => {
            Ok(reconcile::probe::arrived(&ctx.pool, queue, *sent_at).await?)
        }
    }
}

async fn taf_records(ctx: &Context, ids: &[i64]) -> Result<(), HandleError> {
    let started = std::time::Instant::now();
    let output = job::process(&ctx.pool, ids, &ctx.name, ctx.config.taf_chunk_size).await?;
    ctx.relay.publish(output.stored).await;
    let metrics = &ctx.metrics;
    metrics.count_finished(TAF, "processed", output.processed as u64);
    metrics.count_finished(TAF, "error", output.inconsistent as u64);
    tracing::debug!(
        records = ids.len(),
        processed = output.processed,
        inconsistent = output.inconsistent,
        waiting = output.waiting,
        busy = output.busy,
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "TAF records processed"
    );
    match output.busy {
        0 => Ok(()),
        busy => Err(HandleError::Busy(format!(
            "{busy} records are held by another transaction"
        ))),
    }
}
