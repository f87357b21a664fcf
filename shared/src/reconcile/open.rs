//! The open items of each work queue whose message should be in it: TAF
//! records `pending`, EAI messages `pending` and not claimed by an HTTP
//! delivery, process executions `waiting` with no lease and no retry due —
//! none of them held by a dead letter. Each is read from its partial index
//! by `queued_at` (migration 0015), oldest first, so that the cost of a
//! pass follows what it takes, not the backlog.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::types::ToSql;

use crate::amqp::WorkQueue;
use crate::db::StoreError;
use crate::eai::chunking;
use crate::eai::registry::Registry;
use crate::envelope::WorkMessage;
use crate::outbox::OutboxMessage;
use crate::process::store::run_message;
use crate::taf::chunking::work_messages;
use crate::taf::record::Priority;

/// What queuing items again needs to make their work messages.
pub struct Chunks<'a> {
    pub taf: usize,
    pub eai: usize,
    pub registry: &'a Registry,
}

/// `FROM … WHERE …` of the queue's open items queued before `$1`, and the
/// other parameters it takes (from `$2`).
fn open_items(queue: &WorkQueue) -> (&'static str, Option<&str>) {
    match queue {
        WorkQueue::Taf => (
            "FROM taf_record
             WHERE status = 'pending' AND dead_letter_id IS NULL AND queued_at < $1",
            None,
        ),
        WorkQueue::Eai => (
            "FROM eai_message
             WHERE status = 'pending' AND dead_letter_id IS NULL AND queued_at < $1
               AND (claimed_until IS NULL OR claimed_until < now())",
            None,
        ),
        WorkQueue::Process(group) => (
            "FROM process_execution e JOIN process_job j ON j.id = e.job_id
             WHERE e.status = 'waiting' AND e.claimed_until IS NULL
               AND e.dead_letter_id IS NULL AND e.queued_at < $1 AND j.worker_group = $2",
            Some(group.as_str()),
        ),
    }
}

fn params<'a>(
    before: &'a DateTime<Utc>,
    group: &'a Option<&'a str>,
) -> Vec<&'a (dyn ToSql + Sync)> {
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![before];
    if let Some(group) = group {
        params.push(group);
    }
    params
}

/// How many of the queue's open items were queued before `before`.
pub async fn count(
    client: &impl GenericClient,
    queue: &WorkQueue,
    before: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let (from, group) = open_items(queue);
    let row = client
        .query_one(&format!("SELECT count(*) {from}"), &params(&before, &group))
        .await?;
    Ok(row.get(0))
}

/// Whether any of the queue's open items was queued before `before`.
pub async fn any(
    client: &impl GenericClient,
    queue: &WorkQueue,
    before: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (from, group) = open_items(queue);
    let row = client
        .query_one(
            &format!("SELECT EXISTS (SELECT 1 {from})"),
            &params(&before, &group),
        )
        .await?;
    Ok(row.get(0))
}

/// Queues again up to `limit` of the queue's open items queued before
/// `before`, oldest first (their `queued_at` becomes now); returns how many
/// and their work messages, for the outbox of the same transaction.
pub async fn take(
    tx: &Transaction<'_>,
    queue: &WorkQueue,
    before: DateTime<Utc>,
    limit: i64,
    chunks: &Chunks<'_>,
) -> Result<(usize, Vec<OutboxMessage>), StoreError> {
    match queue {
        WorkQueue::Taf => taf(tx, before, limit, chunks.taf).await,
        WorkQueue::Eai => eai(tx, before, limit, chunks).await,
        WorkQueue::Process(group) => process(tx, group, before, limit).await,
    }
}

async fn taf(
    tx: &Transaction<'_>,
    before: DateTime<Utc>,
    limit: i64,
    chunk_size: usize,
) -> Result<(usize, Vec<OutboxMessage>), StoreError> {
    let (from, _) = open_items(&WorkQueue::Taf);
    let rows = tx
        .query(
            &format!(
                "WITH lost AS (SELECT id {from} ORDER BY queued_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                 UPDATE taf_record t SET queued_at = now() FROM lost WHERE t.id = lost.id
                 RETURNING t.id, t.priority"
            ),
            &[&before, &limit],
        )
        .await?;
    let records = rows
        .iter()
        .map(|row| (row.get("id"), Priority::from_i16(row.get("priority"))));
    Ok((rows.len(), work_messages(records, chunk_size)))
}

async fn eai(
    tx: &Transaction<'_>,
    before: DateTime<Utc>,
    limit: i64,
    chunks: &Chunks<'_>,
) -> Result<(usize, Vec<OutboxMessage>), StoreError> {
    let (from, _) = open_items(&WorkQueue::Eai);
    let rows = tx
        .query(
            &format!(
                "WITH lost AS (SELECT uuid {from} ORDER BY queued_at LIMIT $2
                               FOR UPDATE SKIP LOCKED)
                 UPDATE eai_message m SET queued_at = now() FROM lost, eai_batch b
                 WHERE m.uuid = lost.uuid AND b.id = m.batch_id
                 RETURNING m.uuid, m.transaction, m.batch_id, m.seq, b.whole"
            ),
            &[&before, &limit],
        )
        .await?;
    let mut messages: Vec<(String, i32, String, String, bool)> = rows
        .iter()
        .map(|row| {
            (
                row.get("batch_id"),
                row.get("seq"),
                row.get("uuid"),
                row.get("transaction"),
                row.get("whole"),
            )
        })
        .collect();
    messages.sort();
    let whole: BTreeSet<&str> = messages
        .iter()
        .filter(|m| m.4)
        .map(|m| m.0.as_str())
        .collect();
    let mut work: Vec<WorkMessage> = whole
        .iter()
        .map(|batch| WorkMessage::EaiBatch {
            batch: batch.to_string(),
        })
        .collect();
    let single = messages
        .iter()
        .filter(|m| !m.4)
        .map(|m| (m.2.as_str(), m.3.as_str()));
    work.extend(chunking::work_messages(single, chunks.registry, chunks.eai));
    Ok((
        rows.len(),
        work.iter().map(|w| OutboxMessage::work(w, 0)).collect(),
    ))
}

async fn process(
    tx: &Transaction<'_>,
    group: &str,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<(usize, Vec<OutboxMessage>), StoreError> {
    let (from, _) = open_items(&WorkQueue::Process(group.to_string()));
    let rows = tx
        .query(
            &format!(
                "WITH lost AS (SELECT e.job_id, e.exec_id {from} ORDER BY e.queued_at LIMIT $3
                               FOR UPDATE OF e SKIP LOCKED)
                 UPDATE process_execution e SET queued_at = now() FROM lost, process_job j
                 WHERE e.job_id = lost.job_id AND e.exec_id = lost.exec_id AND j.id = e.job_id
                 RETURNING e.job_id, j.process"
            ),
            &[&before, &group, &limit],
        )
        .await?;
    let runs = rows
        .iter()
        .map(|row| run_message(row.get("job_id"), row.get("process"), group))
        .collect();
    Ok((rows.len(), runs))
}
