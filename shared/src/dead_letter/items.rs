//! The open items a dead letter holds: the TAF records, EAI messages or
//! process executions its work message carried. While the dead letter
//! stands they are marked with its id, and the reconciler leaves them
//! alone; a replay queues them again; a discard closes them, each in its
//! protocol's terms (TAF error `000004`, EAI `EAI-210`, a failed process
//! execution), with their results published like any other.

use deadpool_postgres::{Pool, Transaction};
use tokio_postgres::types::ToSql;

use crate::db::StoreError;
use crate::eai::callback as eai_callback;
use crate::eai::job::{self as eai_job, JobContext, Target};
use crate::eai::problem::Problem;
use crate::eai::registry::Registry;
use crate::envelope::WorkMessage;
use crate::outbox::OutboxMessage;
use crate::process::store as process_store;
use crate::taf::job as taf_job;

/// The rows of the items a work message carries: their table, the
/// condition that selects them by `$2` (with `key`), and the condition of
/// those still open and waiting for a message.
struct Items<'m> {
    table: &'static str,
    selects: &'static str,
    open: &'static str,
    key: &'m (dyn ToSql + Sync),
}

impl<'m> Items<'m> {
    /// `None` for a message that carries no item (a probe).
    fn of(message: &'m WorkMessage) -> Option<Self> {
        const PENDING: &str = "status = 'pending'";
        let (table, selects, open, key): (_, _, _, &(dyn ToSql + Sync)) = match message {
            WorkMessage::TafRecords { ids } => ("taf_record", "id = ANY($2)", PENDING, ids),
            WorkMessage::EaiMessages { uuids } => ("eai_message", "uuid = ANY($2)", PENDING, uuids),
            WorkMessage::EaiBatch { batch } => ("eai_message", "batch_id = $2", PENDING, batch),
            WorkMessage::EaiCallback { uuid } => {
                ("eai_message", "uuid = $2", "callback = 'pending'", uuid)
            }
            WorkMessage::ProcessRun { job, .. } => (
                "process_execution",
                "job_id = $2",
                "status = 'waiting' AND claimed_until IS NULL",
                job,
            ),
            WorkMessage::Probe { .. } => return None,
        };
        Some(Self {
            table,
            selects,
            open,
            key,
        })
    }
}

/// Marks the open items of `body` (a work message) as held by dead letter
/// `id`. A body that is not a work message holds nothing.
pub async fn hold(tx: &Transaction<'_>, id: i64, body: &[u8]) -> Result<(), StoreError> {
    let Ok(message) = serde_json::from_slice::<WorkMessage>(body) else {
        return Ok(());
    };
    if let Some(items) = Items::of(&message) {
        let Items {
            table,
            selects,
            open,
            key,
        } = items;
        tx.execute(
            &format!("UPDATE {table} SET dead_letter_id = $1 WHERE {selects} AND {open}"),
            &[&id, key],
        )
        .await?;
    }
    Ok(())
}

/// Lets go of the items dead letter `id` held (its message is queued
/// again): they count as queued now.
pub async fn release(tx: &Transaction<'_>, id: i64, body: &[u8]) -> Result<(), StoreError> {
    let Ok(message) = serde_json::from_slice::<WorkMessage>(body) else {
        return Ok(());
    };
    if let Some(Items {
        table,
        selects,
        key,
        ..
    }) = Items::of(&message)
    {
        tx.execute(
            &format!(
                "UPDATE {table} SET dead_letter_id = NULL, queued_at = now()
                 WHERE {selects} AND dead_letter_id = $1"
            ),
            &[&id, key],
        )
        .await?;
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
        WorkMessage::EaiCallback { uuid } => {
            eai_callback::close_discarded(tx, uuid, &said).await?;
            Ok(Vec::new())
        }
        WorkMessage::ProcessRun { job, .. } => {
            process_store::close_discarded(tx, *job, id, &said, closer.channel).await
        }
        WorkMessage::Probe { .. } => Ok(Vec::new()),
    }
}
