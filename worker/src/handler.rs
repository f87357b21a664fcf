//! The handler registry: one exhaustive match from the queue envelope to the
//! code that processes it. A handler returns once its work is durable (the
//! transaction committed); only then is the message acknowledged, unless
//! the handler acknowledged it earlier (see [`Ack`]).

use std::sync::atomic::{AtomicBool, Ordering};

use fila_shared::db::StoreError;
use fila_shared::envelope::WorkMessage;
use fila_shared::taf::job;
use lapin::Acker;
use lapin::options::BasicAckOptions;

use crate::context::Context;
use crate::{eai, process};
use fila_shared::eai::job::Target;
use fila_shared::metrics::TAF;

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The store failed: the message is retried later.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A destination did not answer: the message is retried later.
    #[error("destination unavailable: {0}")]
    Destination(String),
    /// Another transaction or worker holds some of the message's work: the
    /// message is retried later without counting an attempt, since nothing
    /// failed.
    #[error("{0}")]
    Busy(String),
    /// The run's process is not defined on this worker (definitions reach
    /// replicas at different times): the message is retried later, and the
    /// run fails on its last attempt.
    #[error("process {0} is not defined on this worker")]
    UndefinedProcess(String),
}

/// Which attempt of the queue message this is.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    /// No retry follows a failure of this one.
    pub last: bool,
}

/// The queue message's acknowledgement. A handler whose work becomes
/// durable elsewhere before it is done sends it early: a process run, once
/// its claim is recorded (the run's lease then stands for the message), so
/// that a run longer than RabbitMQ's delivery acknowledgement timeout holds
/// no delivery.
pub struct Ack {
    acker: Acker,
    sent: AtomicBool,
}

impl Ack {
    pub fn new(acker: Acker) -> Self {
        Self {
            acker,
            sent: AtomicBool::new(false),
        }
    }

    /// Acknowledges the message (once; later calls do nothing).
    pub async fn send(&self) {
        if self.sent.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = self.acker.ack(BasicAckOptions::default()).await {
            tracing::warn!(error = %e, "acknowledgement lost; the message will be redelivered");
        }
    }

    pub fn sent(&self) -> bool {
        self.sent.load(Ordering::Acquire)
    }
}

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
        WorkMessage::ProcessRun { job, process, .. } => {
            span.record("job_id", job);
            span.record("process", process.as_str());
        }
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
        WorkMessage::ProcessRun { job, process, .. } => {
            process::handle(ctx, *job, process, attempt, ack).await
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
