//! Writing a checked lot: one transaction, one set-based INSERT for all the
//! accepted records and one for their queue messages (outbox), whatever the
//! lot's size. A registryKey already pending in the company group is skipped
//! by the partial unique index (`ON CONFLICT DO NOTHING`) and refused with
//! 813, which also holds between concurrent lots.

use std::collections::HashMap;

use deadpool_postgres::Pool;

use super::chunking::work_messages;
use super::lot::LotRequest;
use super::record::Priority;
use crate::db::StoreError;
use crate::outbox::{self, Stored};

/// Stores the lot's accepted records; refuses those already pending (813).
/// Returns the outbox rows to publish after the commit.
pub async fn store_lot(
    pool: &Pool,
    lot: &mut LotRequest,
    company_group: &str,
    chunk_size: usize,
) -> Result<Vec<Stored>, StoreError> {
    lot.refuse_repeated_keys();
    let records: Vec<_> = lot.items.iter().filter_map(|i| i.record()).collect();
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&str> = records.iter().map(|r| r.registry_key.as_str()).collect();
    let branches: Vec<&str> = records.iter().map(|r| r.source_branch.as_str()).collect();
    let types: Vec<i16> = records.iter().map(|r| r.message_type.as_i16()).collect();
    let sequentials: Vec<&str> = records
        .iter()
        .map(|r| r.message_sequential.as_str())
        .collect();
    let registry_types: Vec<&str> = records.iter().map(|r| r.registry_type.code()).collect();
    let messages: Vec<&[u8]> = records.iter().map(|r| r.message.as_slice()).collect();
    let dates: Vec<&str> = records
        .iter()
        .map(|r| r.integration_date.as_str())
        .collect();
    let times: Vec<&str> = records
        .iter()
        .map(|r| r.integration_time.as_str())
        .collect();
    let priorities: Vec<i16> = records
        .iter()
        .map(|r| i16::from(r.priority.value()))
        .collect();
    let queues: Vec<&str> = records
        .iter()
        .map(|r| r.integration_queue.as_str())
        .collect();
    let owners: Vec<&str> = records.iter().map(|r| r.erp_owner.as_str()).collect();
    let predecessors: Vec<Option<&str>> = records
        .iter()
        .map(|r| r.predecessor_key.as_deref())
        .collect();
    let transfers: Vec<Option<&str>> = records
        .iter()
        .map(|r| r.transfer_branch.as_deref())
        .collect();

    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO taf_record (ticket_code, company_group, registry_key, source_branch,
                 message_type, message_sequential, registry_type, message, integration_date,
                 integration_time, priority, integration_queue, erp_owner, predecessor_key,
                 transfer_branch)
             SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::int2[], $6::text[],
                 $7::text[], $8::bytea[], $9::text[], $10::text[], $11::int2[], $12::text[],
                 $13::text[], $14::text[], $15::text[])
             ON CONFLICT (company_group, registry_key) WHERE status IN ('pending', 'waiting')
             DO NOTHING
             RETURNING id, registry_key, priority",
        )
        .await?;
    let rows = tx
        .query(
            &insert,
            &[
                &lot.ticket_code,
                &company_group,
                &keys,
                &branches,
                &types,
                &sequentials,
                &registry_types,
                &messages,
                &dates,
                &times,
                &priorities,
                &queues,
                &owners,
                &predecessors,
                &transfers,
            ],
        )
        .await?;
    let inserted: HashMap<String, (i64, Priority)> = rows
        .iter()
        .map(|row| {
            (
                row.get::<_, String>(1),
                (row.get(0), Priority::from_i16(row.get(2))),
            )
        })
        .collect();
    let mut accepted: Vec<(i64, Priority)> = inserted.values().copied().collect();
    accepted.sort_unstable();
    let stored = outbox::insert(&tx, work_messages(accepted, chunk_size)).await?;
    tx.commit().await?;
    for item in &mut lot.items {
        if item.record().is_some() && !inserted.contains_key(&item.key) {
            item.refuse_pending();
        }
    }
    Ok(stored)
}

/// What `DELETE /rest/wstafst2` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// Records removed (those not yet processed).
    pub removed: u64,
    /// Ticket codes that never had a record.
    pub unknown: Vec<String>,
}

/// Removes the records of `tickets` that are not yet processed. A record
/// being processed is waited for, and kept if it finished meanwhile.
pub async fn delete_tickets(pool: &Pool, tickets: &[String]) -> Result<Deletion, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let known: Vec<String> = tx
        .query(
            "SELECT DISTINCT ticket_code FROM taf_record WHERE ticket_code = ANY($1)",
            &[&tickets],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let removed = tx
        .execute(
            "DELETE FROM taf_record
             WHERE ticket_code = ANY($1) AND status IN ('pending', 'waiting')",
            &[&tickets],
        )
        .await?;
    tx.commit().await?;
    let unknown = tickets
        .iter()
        .filter(|t| !known.contains(t))
        .cloned()
        .collect();
    Ok(Deletion { removed, unknown })
}
