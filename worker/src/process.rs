//! A process run in the worker: claim the job's next waiting execution,
//! acknowledge the queue message (the claim's lease now stands for it), run
//! it within its process's timeout while writing its progress, record the
//! outcome (the claim and the outcome are written with those of the
//! worker's other runs under way: see [`crate::gathered`]). A failure with retries left makes the next execution, due after
//! a backoff, which the sweeper enqueues; so does a run whose lease ran out
//! (its worker died or was stopped). A run whose process this worker does
//! not know (yet) is handed back before the acknowledgement and retried; on
//! the message's last attempt it fails. An execution claimed again after
//! its worker stopped while running it `worker_max_attempts` times (a run
//! that kills its worker: out of memory, an abort) fails without a retry
//! instead of running once more. A run cancelled while it runs (Creatio's
//! CancelExecution) is stopped within a second, its outcome left as the
//! cancellation.

use std::time::Duration;

use fila_shared::process::control;
use fila_shared::process::store::{self, Ask, Claim, Claimed, Finish, RunOutcome};
use tokio::sync::watch;

use crate::context::Context;
use crate::handling::{Ack, Attempt, HandleError};
use crate::runner;
use fila_shared::metrics::PROCESS;

/// A claim outlives the process's timeout by this much.
const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// Progress is written at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// How often a running execution is looked at for its cancellation.
const CANCEL_CHECK: Duration = Duration::from_secs(1);
/// The lease of a run whose process is no longer defined.
const UNDEFINED_LEASE: Duration = Duration::from_secs(60);

pub async fn handle(
    ctx: &Context,
    job_id: i64,
    process: &str,
    attempt: Attempt,
    ack: &Ack,
) -> Result<(), HandleError> {
    let definition = ctx.processes.lookup(process);
    let lease = definition
        .as_ref()
        .map_or(UNDEFINED_LEASE, |d| d.timeout + LEASE_MARGIN);
    let claimed = match ctx.runs.claim(Ask { job_id, lease }).await? {
        Claim::Claimed(claimed) => claimed,
        Claim::Busy => {
            return Err(HandleError::Busy(format!(
                "job {job_id} runs on another worker"
            )));
        }
        Claim::Nothing => return Ok(()),
    };
    if definition.is_none() && !attempt.last && claimed.abandoned.is_none() {
        store::release(&ctx.pool, &claimed, &ctx.name).await?;
        return Err(HandleError::UndefinedProcess(claimed.process));
    }
    ack.send().await;
    let outcome = match definition {
        _ if let Some(stops) = claimed.abandoned => RunOutcome::Abandoned(format!(
            "its worker stopped {stops} times while running it (killed, out of memory or \
             aborted): not run again"
        )),
        None => RunOutcome::Failed(format!("process {} is not defined", claimed.process)),
        Some(definition) => {
            let (progress, mut reported) = watch::channel(-1);
            let writer = async {
                while reported.changed().await.is_ok() {
                    let value = *reported.borrow_and_update();
                    if let Err(e) = store::progress(&ctx.pool, &claimed, value).await {
                        tracing::warn!(error = %e, "progress not recorded");
                    }
                    tokio::time::sleep(PROGRESS_EVERY).await;
                }
            };
            let run = async {
                let ran = tokio::time::timeout(
                    definition.timeout,
                    runner::run(
                        &definition.runner,
                        &runner::Tools {
                            http: &ctx.http,
                            env: &ctx.command_env,
                        },
                        definition.timeout,
                        &claimed.parameters,
                        &progress,
                    ),
                )
                .await;
                drop(progress);
                match ran {
                    Ok(Ok(outputs)) => RunOutcome::Succeeded(outputs),
                    Ok(Err(message)) => RunOutcome::Failed(message),
                    Err(_) => RunOutcome::Failed(format!(
                        "timed out after {} s",
                        definition.timeout.as_secs()
                    )),
                }
            };
            let watched = async {
                let (outcome, ()) = tokio::join!(run, writer);
                outcome
            };
            tokio::select! {
                outcome = watched => outcome,
                () = cancellation(ctx, &claimed) => {
                    // Dropping the run stops it (a command's process group
                    // is ended); the cancellation is its outcome.
                    tracing::info!(
                        job = claimed.job_id,
                        exec = claimed.exec_id,
                        process = %claimed.process,
                        "process run cancelled: stopped"
                    );
                    return Ok(());
                }
            }
        }
    };
    tracing::info!(
        job = claimed.job_id,
        exec = claimed.exec_id,
        process = %claimed.process,
        succeeded = matches!(outcome, RunOutcome::Succeeded(_)),
        "process run finished"
    );
    let status = match outcome {
        RunOutcome::Succeeded(_) => "succeeded",
        RunOutcome::Failed(_) | RunOutcome::Abandoned(_) => "failed",
    };
    ctx.runs.finish(Finish { claimed, outcome }).await?;
    ctx.metrics.count_finished(PROCESS, status, 1);
    Ok(())
}

/// Ends when the execution is cancelled (never, else).
async fn cancellation(ctx: &Context, claimed: &Claimed) {
    loop {
        tokio::time::sleep(CANCEL_CHECK).await;
        match control::cancelled(&ctx.pool, claimed.job_id, claimed.exec_id).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => tracing::debug!(error = %e, "cancellation not looked at this time"),
        }
    }
}
