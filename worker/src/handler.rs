//! The handler registry: one exhaustive match from the queue envelope to the
//! code that processes it. A handler returns once its work is durable (the
//! transaction committed); only then is the message acknowledged.

use fila_shared::db::StoreError;
use fila_shared::envelope::WorkMessage;
use fila_shared::taf::job;

use crate::context::Context;
use crate::{eai, process};
use fila_shared::eai::job::Target;

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The store failed: the message is retried later.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A destination did not answer: the message is retried later.
    #[error("destination unavailable: {0}")]
    Destination(String),
    /// The work failed and made its own retry: the message comes back after
    /// the backoff, however many times it already did (the work bounds it).
    #[error("{0}")]
    Again(String),
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

pub async fn dispatch(
    ctx: &Context,
    message: &WorkMessage,
    attempt: Attempt,
) -> Result<(), HandleError> {
    match message {
        WorkMessage::TafRecords { ids } => taf_records(ctx, ids).await,
        WorkMessage::EaiMessages { uuids } => {
            eai::handle(ctx, Target::Messages(uuids), attempt).await
        }
        WorkMessage::EaiBatch { batch } => eai::handle(ctx, Target::Batch(batch), attempt).await,
        WorkMessage::ProcessRun { job, process, .. } => {
            process::handle(ctx, *job, process, attempt).await
        }
    }
}

async fn taf_records(ctx: &Context, ids: &[i64]) -> Result<(), HandleError> {
    let started = std::time::Instant::now();
    let output = job::process(&ctx.pool, ids, &ctx.name, ctx.config.taf_chunk_size).await?;
    ctx.relay.publish(output.stored).await;
    tracing::debug!(
        records = ids.len(),
        finished = output.finished,
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
