//! The open items a dead letter holds: the TAF records, EAI messages or
//! process executions its work message carried. While the dead letter
//! stands they are marked with its id, and the reconciler leaves them
//! alone; a replay queues them again; a discard closes them, each in its
//! protocol's terms (TAF error `000004`, EAI `EAI-210`, a failed process
//! execution), with their results published like any other.

use deadpool_postgres::{Pool, Transaction};

use crate::db::StoreError;
use crate::eai::job::{self as eai_job, JobContext, Target};
use crate::eai::problem::Problem;
use crate::eai::registry::Registry;
use crate::envelope::WorkMessage;
use crate::outbox::OutboxMessage;
use crate::process::store as process_store;
use crate::taf::job as taf_job;

/// Marks the open items of `body` (a work message) as held by dead letter
/// `id`. A body that is not a work message holds nothing.
pub async fn hold(tx: &Transaction<'_>, id: i64, body: &[u8]) -> Result<(), StoreError> {
    let Ok(message) = serde_json::from_slice::<WorkMessage>(body) else {
        return Ok(());
    };
    match &message {
        WorkMessage::TafRecords { ids } => {
            tx.execute(
                "UPDATE taf_record SET dead_letter_id = $1
                 WHERE id = ANY($2) AND status = 'pending'",
                &[&id, ids],
            )
            .await?;
        }
        WorkMessage::EaiMessages { uuids } => {
            tx.execute(
                "UPDATE eai_message SET dead_letter_id = $1
                 WHERE uuid = ANY($2) AND status = 'pending'",
                &[&id, uuids],
            )
            .await?;
        }
        WorkMessage::EaiBatch { batch } => {
            tx.execute(
                "UPDATE eai_message SET dead_letter_id = $1
                 WHERE batch_id = $2 AND status = 'pending'",
                &[&id, batch],
            )
            .await?;
        }
        WorkMessage::ProcessRun { job, .. } => {
            tx.execute(
                "UPDATE process_execution SET dead_letter_id = $1
                 WHERE job_id = $2 AND status = 'waiting' AND claimed_until IS NULL",
                &[&id, job],
            )
            .await?;
        }
        WorkMessage::Probe { .. } => {}
    }
    Ok(())
}

/// Lets go of the items dead letter `id` held (its message is queued
/// again): they count as queued now.
pub async fn release(tx: &Transaction<'_>, id: i64, body: &[u8]) -> Result<(), StoreError> {
    let Ok(message) = serde_json::from_slice::<WorkMessage>(body) else {
        return Ok(());
    };
    let set = "SET dead_letter_id = NULL, queued_at = now()";
    match &message {
        WorkMessage::TafRecords { ids } => {
            tx.execute(
                &format!("UPDATE taf_record {set} WHERE id = ANY($2) AND dead_letter_id = $1"),
                &[&id, ids],
            )
            .await?;
        }
        WorkMessage::EaiMessages { uuids } => {
            tx.execute(
                &format!("UPDATE eai_message {set} WHERE uuid = ANY($2) AND dead_letter_id = $1"),
                &[&id, uuids],
            )
            .await?;
        }
        WorkMessage::EaiBatch { batch } => {
            tx.execute(
                &format!("UPDATE eai_message {set} WHERE batch_id = $2 AND dead_letter_id = $1"),
                &[&id, batch],
            )
            .await?;
        }
        WorkMessage::ProcessRun { job, .. } => {
            tx.execute(
                &format!(
                    "UPDATE process_execution {set} WHERE job_id = $2 AND dead_letter_id = $1"
                ),
                &[&id, job],
            )
            .await?;
        }
        WorkMessage::Probe { .. } => {}
    }
    Ok(())
}

/// Who closes discarded items, and what closing EAI messages needs.
pub struct Closer<'a> {
    /// Recorded as the items' worker (`admin:<user>`).
    pub who: &'a str,
    /// The NOTIFY channel of the deployment (its schema), for producers
    /// waiting on a synchronous item.
    pub channel: &'a str,
    pub registry: &'a Registry,
}

/// Closes the items dead letter `id` held, discarded for `reason`; returns
/// their result messages for the outbox of the same transaction.
pub async fn close(
    pool: &Pool,
    tx: &Transaction<'_>,
    id: i64,
    body: &[u8],
    reason: &str,
    closer: &Closer<'_>,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let Ok(message) = serde_json::from_slice::<WorkMessage>(body) else {
        return Ok(Vec::new());
    };
    let said = format!("discarded by {} (dead letter {id}): {reason}", closer.who);
    let ctx = JobContext {
        pool,
        registry: closer.registry,
        worker: closer.who,
        channel: closer.channel,
        last_attempt: true,
    };
    let problem = Problem::Discarded {
        dead_letter: id,
        reason: reason.to_string(),
    };
    match &message {
        WorkMessage::TafRecords { ids } => {
            taf_job::close_discarded(tx, ids, id, &said, closer.who).await
        }
        WorkMessage::EaiMessages { uuids } => {
            eai_job::close_discarded(tx, &ctx, Target::Messages(uuids), id, &problem).await
        }
        WorkMessage::EaiBatch { batch } => {
            eai_job::close_discarded(tx, &ctx, Target::Batch(batch), id, &problem).await
        }
        WorkMessage::ProcessRun { job, .. } => {
            process_store::close_discarded(tx, *job, id, &said, closer.channel).await
        }
        WorkMessage::Probe { .. } => Ok(Vec::new()),
    }
}
