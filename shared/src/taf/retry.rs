//! Operators retrying TAF records that ended in error (inconsistent), once
//! their cause is fixed (a branch's employer registration, say): the
//! records return to `pending`, their error cleared, and are queued again
//! in the same transaction. Only the newest record of its registryKey is
//! retried: an older one was superseded by what the ERP sent later.

use deadpool_postgres::Pool;
use tokio_postgres::types::ToSql;

use super::chunking::work_messages;
use super::record::Priority;
use crate::db::StoreError;
use crate::outbox::{self, Stored};

/// Which records in error to retry.
pub enum Target<'a> {
    Ticket(&'a str),
    Record(i64),
}

/// What a retry did.
pub struct Retried {
    /// The RecNos queued again.
    pub records: Vec<i64>,
    /// Outbox rows to publish after the commit.
    pub stored: Vec<Stored>,
}

pub async fn retry(
    pool: &Pool,
    target: Target<'_>,
    chunk_size: usize,
) -> Result<Retried, StoreError> {
    let (condition, value): (&str, &(dyn ToSql + Sync)) = match &target {
        Target::Ticket(ticket) if ticket.contains('\0') => {
            return Ok(Retried {
                records: Vec::new(),
                stored: Vec::new(),
            });
        }
        Target::Ticket(ticket) => ("r.ticket_code = $1", ticket),
        Target::Record(id) => ("r.id = $1", id),
    };
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            &format!(
                "UPDATE taf_record r
                 SET status = 'pending', status_code = NULL, status_description = NULL,
                     active = NULL, error_code = NULL, error_description = NULL,
                     error_detail = NULL, worker = NULL, finished_at = NULL, queued_at = now()
                 WHERE {condition} AND r.status = 'error'
                   AND r.id = (SELECT max(n.id) FROM taf_record n
                               WHERE n.company_group = r.company_group
                                 AND n.registry_key = r.registry_key)
                 RETURNING r.id, r.priority"
            ),
            &[value],
        )
        .await?;
    let queued: Vec<(i64, Priority)> = rows
        .iter()
        .map(|row| (row.get(0), Priority::from_i16(row.get(1))))
        .collect();
    let records = queued.iter().map(|(id, _)| *id).collect();
    let stored = outbox::insert(&tx, work_messages(queued, chunk_size)).await?;
    tx.commit().await?;
    Ok(Retried { records, stored })
}
