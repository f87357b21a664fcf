//! What a producer or an operator does to runs already started: cancel a
//! job's runs (Creatio's CancelExecution, deleting a schedule), or run a
//! waiting element now (Creatio's ExecProcElByUId).
//!
//! A fila process run has one element: the execution itself, each with a
//! UId of its own (`element_uid`). The element that waits for something
//! outside it is a failed run's retry, waiting for its backoff: running it
//! now makes it due at once. An element already queued, running or
//! finished is not run again, as Creatio does not execute an element twice.
//!
//! A cancelled execution is final: a worker running it stops it (see the
//! worker's `process` module) and its outcome is not recorded over the
//! cancellation; a job cancelled by its producer publishes its result as
//! `process.<name>.cancelled` and wakes a producer waiting for it.

use deadpool_postgres::{Pool, Transaction};
use serde_json::Value;

use super::store::run_message;
use crate::db::StoreError;
use crate::envelope::ResultMessage;
use crate::outbox::{self, OutboxMessage, Stored};

/// Which of a job's open executions a cancellation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// Those not started yet: a running one finishes.
    Waiting,
    /// Running ones too.
    All,
}

/// Ends the job's schedule, if any, and cancels its open executions
/// (`which`) with `message`; returns the last one cancelled (exec_id,
/// sync, uid, process), if any.
async fn cancel_open(
    tx: &Transaction<'_>,
    job_id: i64,
    which: Open,
    message: &str,
) -> Result<Option<(i32, bool, String, String)>, StoreError> {
    tx.execute(
        "UPDATE process_job SET schedule_state = 'ended', next_fire = NULL
         WHERE id = $1 AND schedule_state IS NOT NULL",
        &[&job_id],
    )
    .await?;
    let rows = tx
        .query(
            "UPDATE process_execution e
             SET status = 'cancelled', message = $3, finished_at = now(), claimed_until = NULL
             FROM process_job j
             WHERE e.job_id = $1 AND j.id = e.job_id
               AND (e.status = 'waiting' OR ($2 AND e.status = 'running'))
             RETURNING e.exec_id, e.sync, j.uid, j.process",
            &[&job_id, &(which == Open::All), &message],
        )
        .await?;
    let sync = rows.iter().any(|row| row.get::<_, bool>("sync"));
    Ok(rows
        .iter()
        .max_by_key(|row| row.get::<_, i32>("exec_id"))
        .map(|row| (row.get("exec_id"), sync, row.get("uid"), row.get("process"))))
}

/// Ends a schedule and cancels its executions not started yet; `false`
/// when there is no such schedule.
pub async fn end_schedule(pool: &Pool, uid: &str) -> Result<bool, StoreError> {
    if uid.contains('\0') {
        return Ok(false);
    }
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(job) = tx
        .query_opt(
            "SELECT id FROM process_job WHERE uid = $1 AND schedule_state IS NOT NULL FOR UPDATE",
            &[&uid],
        )
        .await?
    else {
        return Ok(false);
    };
    cancel_open(&tx, job.get("id"), Open::Waiting, "schedule deleted").await?;
    tx.commit().await?;
    Ok(true)
}

/// Cancels the jobs of `uids` (Creatio processIds): their schedules end,
/// their executions waiting or running are cancelled, and each job that
/// had one publishes its result and wakes a producer waiting for it (on
/// `channel`). Unknown uids are passed over. Returns the outbox rows to
/// publish.
pub async fn cancel_jobs(
    pool: &Pool,
    uids: &[String],
    channel: &str,
) -> Result<Vec<Stored>, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let jobs = tx
        .query(
            "SELECT id FROM process_job WHERE uid = ANY($1) ORDER BY id FOR UPDATE",
            &[&uids],
        )
        .await?;
    let mut results = Vec::new();
    for job in &jobs {
        let job_id: i64 = job.get("id");
        let message = "cancelled by its producer";
        let Some((exec_id, sync, uid, process)) =
            cancel_open(&tx, job_id, Open::All, message).await?
        else {
            continue;
        };
        if sync {
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&channel, &format!("job:{job_id}")],
            )
            .await?;
        }
        results.push(OutboxMessage::result(
            &ResultMessage::ProcessResult {
                job_id,
                exec_id,
                uid,
                process: process.clone(),
                status: "cancelled".into(),
                message: message.into(),
                outputs: Value::Null,
            },
            format!("process.{process}.cancelled"),
        ));
    }
    let stored = outbox::insert(&tx, results).await?;
    tx.commit().await?;
    Ok(stored)
}

/// What running an element now did.
#[derive(Debug)]
pub enum ElementRun {
    /// No execution has this UId.
    Unknown,
    /// It waited for its backoff and is queued now; the outbox rows of its
    /// run message.
    Queued(Vec<Stored>),
    /// It is already queued, running or finished (its status): not run
    /// again.
    AlreadyDone(String),
}

/// Runs the execution whose element UId is `element_uid` now, when it
/// waits for its backoff.
pub async fn run_element(pool: &Pool, element_uid: &str) -> Result<ElementRun, StoreError> {
    if element_uid.contains('\0') {
        return Ok(ElementRun::Unknown);
    }
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "SELECT e.job_id, e.status, e.status = 'waiting' AND e.claimed_until IS NOT NULL
                        AS delayed,
                    j.process, j.worker_group
             FROM process_execution e JOIN process_job j ON j.id = e.job_id
             WHERE e.element_uid = $1
             FOR UPDATE OF e",
            &[&element_uid.trim().to_ascii_lowercase()],
        )
        .await?
    else {
        return Ok(ElementRun::Unknown);
    };
    if !row.get::<_, bool>("delayed") {
        return Ok(ElementRun::AlreadyDone(row.get("status")));
    }
    let job_id: i64 = row.get("job_id");
    tx.execute(
        "UPDATE process_execution SET claimed_until = NULL, queued_at = now()
         WHERE element_uid = $1",
        &[&element_uid.trim().to_ascii_lowercase()],
    )
    .await?;
    let work = vec![run_message(
        job_id,
        row.get("process"),
        row.get("worker_group"),
    )];
    let stored = outbox::insert(&tx, work).await?;
    tx.commit().await?;
    Ok(ElementRun::Queued(stored))
}

/// Whether the execution was cancelled (its worker then stops running it).
pub async fn cancelled(pool: &Pool, job_id: i64, exec_id: i32) -> Result<bool, StoreError> {
    let row = pool
        .get()
        .await?
        .query_opt(
            "SELECT 1 FROM process_execution
             WHERE job_id = $1 AND exec_id = $2 AND status = 'cancelled'",
            &[&job_id, &exec_id],
        )
        .await?;
    Ok(row.is_some())
}
