//! TAF's "Job2" against the store: one transaction per queue message. The
//! records are locked (`FOR UPDATE SKIP LOCKED`: the lock is the claim, so a
//! duplicate message for the same records does not wait for them; it reports
//! them `busy` and is retried later, in case the holder never commits),
//! examined,
//! their statuses written with one set-based UPDATE, successors waiting for
//! a record processed here are released, and the results and released work
//! are written to the outbox — all committed together, so a worker killed at
//! any point leaves either nothing or everything done.

use std::collections::HashSet;
use std::time::Duration;

use deadpool_postgres::{Pool, Transaction};

use super::chunking::work_messages;
use super::examine::{self, Outcome, PendingRecord};
use super::record::{MessageType, Priority, RecordStatus};
use super::result::RecordResult;
use crate::db::StoreError;
use crate::envelope::ResultMessage;
use crate::outbox::{self, OutboxMessage, Stored};

/// TAF's status for an integrated record.
pub const INTEGRATED_CODE: &str = " ";
pub const INTEGRATED_DESCRIPTION: &str = "Registro Integrado";

/// What one transaction did.
#[derive(Debug, Default)]
pub struct JobOutput {
    /// Outbox rows to publish after the commit.
    pub stored: Vec<Stored>,
    /// Records processed.
    pub processed: usize,
    /// Records found inconsistent.
    pub inconsistent: usize,
    /// Records left waiting for a predecessor.
    pub waiting: usize,
    /// Pending records among those asked for that another transaction holds.
    pub busy: usize,
}

/// Processes the pending records among `ids`.
pub async fn process(
    pool: &Pool,
    ids: &[i64],
    worker: &str,
    chunk_size: usize,
) -> Result<JobOutput, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let (records, now) = lock_pending(&tx, ids).await?;
    let busy = if records.len() < ids.len() {
        count_pending(&tx, ids).await?.saturating_sub(records.len())
    } else {
        0
    };
    if records.is_empty() {
        return Ok(JobOutput {
            busy,
            ..JobOutput::default()
        });
    }
    let processed = processed_predecessors(&tx, &records).await?;
    let outcomes = examine::plan(&records, &processed);
    record_outcomes(&tx, &records, &outcomes, worker).await?;

    let newly_processed: Vec<(&str, &str)> = records
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == Outcome::Processed)
        .map(|(r, _)| (r.company_group.as_str(), r.registry_key.as_str()))
        .collect();
    let released = release_successors(&tx, &newly_processed).await?;

    let mut messages = result_messages(&records, &outcomes, &now, worker);
    messages.extend(work_messages(released, chunk_size));
    let stored = outbox::insert(&tx, messages).await?;
    tx.commit().await?;
    let count = |wanted: fn(&Outcome) -> bool| outcomes.iter().filter(|o| wanted(o)).count();
    Ok(JobOutput {
        stored,
        processed: count(|o| *o == Outcome::Processed),
        inconsistent: count(|o| matches!(o, Outcome::Inconsistent { .. })),
        waiting: count(|o| *o == Outcome::Waiting),
        busy,
    })
}

/// Releases waiting records whose predecessor is processed, at most
/// [`RELEASE_BATCH`] at a time. The worker that processes a predecessor
/// releases its successors itself; a successor that started waiting while
/// that transaction was committing is missed, and found here. Such a miss
/// can only concern a record that started waiting a moment ago, so the
/// frequent sweep looks only at records waiting for less than `recent`;
/// `None` looks at all of them (the rare full sweep).
pub async fn release_ready(
    pool: &Pool,
    chunk_size: usize,
    recent: Option<Duration>,
) -> Result<Vec<Stored>, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let window = recent.map_or(String::new(), |d| {
        format!(
            "AND s.waiting_since > now() - interval '{} milliseconds'",
            d.as_millis()
        )
    });
    let statement = tx
        .prepare_cached(&format!(
            "WITH ready AS (
                 SELECT s.id FROM taf_record s
                 WHERE s.status = 'waiting' {window}
                   AND (SELECT p.status FROM taf_record p
                        WHERE p.registry_key = s.predecessor_key
                          AND p.company_group = s.company_group
                        ORDER BY p.id DESC LIMIT 1) = 'processed'
                 ORDER BY s.id
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED)
             UPDATE taf_record t SET status = 'pending', waiting_since = NULL, queued_at = now()
             FROM ready WHERE t.id = ready.id
             RETURNING t.id, t.priority"
        ))
        .await?;
    let rows = tx.query(&statement, &[&RELEASE_BATCH]).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let released = rows
        .iter()
        .map(|row| (row.get(0), Priority::from_i16(row.get(1))));
    let stored = outbox::insert(&tx, work_messages(released, chunk_size)).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Records released by one sweep transaction, at most.
const RELEASE_BATCH: i64 = 1_000;

/// How many of `ids` are pending (committed, or locked by this transaction).
async fn count_pending(tx: &Transaction<'_>, ids: &[i64]) -> Result<usize, StoreError> {
    let count: i64 = tx
        .query_one(
            "SELECT count(*) FROM taf_record WHERE id = ANY($1) AND status = 'pending'",
            &[&ids],
        )
        .await?
        .get(0);
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Locks the pending records among `ids`; also returns the transaction's
/// time (RFC 3339, UTC), which is when they finish.
async fn lock_pending(
    tx: &Transaction<'_>,
    ids: &[i64],
) -> Result<(Vec<PendingRecord>, String), StoreError> {
    let statement = tx
        .prepare_cached(
            "SELECT id, ticket_code, registry_key, company_group, source_branch, registry_type,
                    message_type, message, predecessor_key,
                    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
             FROM taf_record
             WHERE id = ANY($1) AND status = 'pending'
             ORDER BY id
             FOR UPDATE SKIP LOCKED",
        )
        .await?;
    let rows = tx.query(&statement, &[&ids]).await?;
    let now = rows.first().map(|r| r.get(9)).unwrap_or_default();
    let records = rows
        .iter()
        .map(|row| PendingRecord {
            id: row.get(0),
            ticket_code: row.get(1),
            registry_key: row.get(2),
            company_group: row.get(3),
            source_branch: row.get(4),
            registry_type: row.get(5),
            message_type: MessageType::from_i16(row.get(6)),
            message: row.get(7),
            predecessor_key: row.get(8),
        })
        .collect();
    Ok((records, now))
}

/// The `(company group, registryKey)` predecessors of `records` whose latest
/// occurrence is processed: a predecessor sent again and still pending is
/// waited for, even if an older occurrence was processed.
async fn processed_predecessors(
    tx: &Transaction<'_>,
    records: &[PendingRecord],
) -> Result<HashSet<(String, String)>, StoreError> {
    let (groups, keys): (Vec<&str>, Vec<&str>) = records
        .iter()
        .filter_map(|r| Some((r.company_group.as_str(), r.predecessor_key.as_deref()?)))
        .unzip();
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let statement = tx
        .prepare_cached(
            "SELECT company_group, registry_key FROM (
                 SELECT DISTINCT ON (company_group, registry_key)
                        company_group, registry_key, status
                 FROM taf_record
                 WHERE registry_key = ANY($2::text[]) AND company_group = ANY($1::text[])
                 ORDER BY company_group, registry_key, id DESC) latest
             WHERE status = 'processed'",
        )
        .await?;
    let asked: HashSet<(&str, &str)> = groups.iter().copied().zip(keys.iter().copied()).collect();
    Ok(tx
        .query(&statement, &[&groups, &keys])
        .await?
        .iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, String>(1)))
        .filter(|(g, k)| asked.contains(&(g.as_str(), k.as_str())))
        .collect())
}

/// Writes the outcomes with one UPDATE that reads each row's values by its
/// position in the arrays (a join with `unnest` can be planned as a nested
/// loop rescanning the arrays for every row when statistics are stale).
async fn record_outcomes(
    tx: &Transaction<'_>,
    records: &[PendingRecord],
    outcomes: &[Outcome],
    worker: &str,
) -> Result<(), StoreError> {
    let mut ids = Vec::with_capacity(records.len());
    let mut statuses = Vec::with_capacity(records.len());
    let mut status_codes: Vec<Option<&str>> = Vec::with_capacity(records.len());
    let mut status_descriptions: Vec<Option<&str>> = Vec::with_capacity(records.len());
    let mut actives: Vec<Option<bool>> = Vec::with_capacity(records.len());
    let mut error_codes: Vec<Option<&str>> = Vec::with_capacity(records.len());
    let mut error_descriptions: Vec<Option<&str>> = Vec::with_capacity(records.len());
    let mut error_details: Vec<Option<&str>> = Vec::with_capacity(records.len());
    for (record, outcome) in records.iter().zip(outcomes) {
        ids.push(record.id);
        statuses.push(status_of(outcome).as_str());
        let processed = *outcome == Outcome::Processed;
        status_codes.push(processed.then_some(INTEGRATED_CODE));
        status_descriptions.push(processed.then_some(INTEGRATED_DESCRIPTION));
        actives.push(processed.then_some(true));
        match outcome {
            Outcome::Inconsistent {
                code,
                description,
                detail,
            } => {
                error_codes.push(Some(code));
                error_descriptions.push(Some(description));
                error_details.push(Some(detail.as_str()));
            }
            _ => {
                error_codes.push(None);
                error_descriptions.push(None);
                error_details.push(None);
            }
        }
    }
    let statement = tx
        .prepare_cached(
            "UPDATE taf_record t
             SET (status, status_code, status_description, active, error_code,
                  error_description, error_detail, finished_at, waiting_since) =
                     (SELECT ($2::text[])[i], ($3::text[])[i], ($4::text[])[i], ($5::bool[])[i],
                             ($6::text[])[i], ($7::text[])[i], ($8::text[])[i],
                             CASE WHEN ($2::text[])[i] = 'waiting' THEN NULL ELSE now() END,
                             CASE WHEN ($2::text[])[i] = 'waiting' THEN now() END
                      FROM (SELECT array_position($1::int8[], t.id) AS i) p),
                 worker = $9
             WHERE t.id = ANY($1::int8[])",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &ids,
            &statuses,
            &status_codes,
            &status_descriptions,
            &actives,
            &error_codes,
            &error_descriptions,
            &error_details,
            &worker,
        ],
    )
    .await?;
    Ok(())
}

fn status_of(outcome: &Outcome) -> RecordStatus {
    match outcome {
        Outcome::Processed => RecordStatus::Processed,
        Outcome::Inconsistent { .. } => RecordStatus::Error,
        Outcome::Waiting => RecordStatus::Waiting,
    }
}

/// Sets the successors of just-processed records back to pending (locked in
/// id order, as every locker of waiting rows does, so that two releases
/// cannot deadlock).
async fn release_successors(
    tx: &Transaction<'_>,
    processed: &[(&str, &str)],
) -> Result<Vec<(i64, Priority)>, StoreError> {
    if processed.is_empty() {
        return Ok(Vec::new());
    }
    let (groups, keys): (Vec<&str>, Vec<&str>) = processed.iter().copied().unzip();
    let statement = tx
        .prepare_cached(
            "WITH successors AS (
                 SELECT id FROM taf_record
                 WHERE status = 'waiting' AND predecessor_key = ANY($2::text[])
                   AND (company_group, predecessor_key) IN
                       (SELECT * FROM unnest($1::text[], $2::text[]))
                 ORDER BY id
                 FOR UPDATE)
             UPDATE taf_record t SET status = 'pending', waiting_since = NULL, queued_at = now()
             FROM successors WHERE t.id = successors.id
             RETURNING t.id, t.priority",
        )
        .await?;
    Ok(tx
        .query(&statement, &[&groups, &keys])
        .await?
        .iter()
        .map(|row| (row.get(0), Priority::from_i16(row.get(1))))
        .collect())
}

/// One result message per final status among the records.
fn result_messages(
    records: &[PendingRecord],
    outcomes: &[Outcome],
    finished_at: &str,
    worker: &str,
) -> Vec<OutboxMessage> {
    let mut processed = Vec::new();
    let mut errors = Vec::new();
    for (record, outcome) in records.iter().zip(outcomes) {
        let mut result = RecordResult {
            rec_no: record.id,
            ticket_code: record.ticket_code.clone(),
            registry_key: record.registry_key.clone(),
            registry_type: record.registry_type.clone(),
            source_branch: record.source_branch.clone(),
            status: status_of(outcome).as_str().to_string(),
            status_code: None,
            status_description: None,
            active: None,
            error_code: None,
            error_description: None,
            error_detail: None,
            finished_at: finished_at.to_string(),
            worker: worker.to_string(),
        };
        match outcome {
            Outcome::Processed => {
                result.status_code = Some(INTEGRATED_CODE.into());
                result.status_description = Some(INTEGRATED_DESCRIPTION.into());
                result.active = Some(true);
                processed.push(result);
            }
            Outcome::Inconsistent {
                code,
                description,
                detail,
            } => {
                result.error_code = Some((*code).into());
                result.error_description = Some((*description).into());
                result.error_detail = Some(detail.clone());
                errors.push(result);
            }
            Outcome::Waiting => {}
        }
    }
    [
        (RecordStatus::Processed, processed),
        (RecordStatus::Error, errors),
    ]
    .into_iter()
    .filter(|(_, records)| !records.is_empty())
    .map(|(status, records)| {
        OutboxMessage::result(
            &ResultMessage::TafResults { records },
            format!("taf.{}", status.as_str()),
        )
    })
    .collect()
}

/// TAF's error code of a record whose work message was dead-lettered and
/// discarded by an operator.
pub const DISCARDED_CODE: &str = "000004";
pub const DISCARDED_DESCRIPTION: &str = "Registro descartado";

/// Ends in error, with [`DISCARDED_CODE`] and `detail`, the pending records
/// among `ids` held by dead letter `dead_letter`; returns their result
/// message for the outbox of the same transaction.
pub async fn close_discarded(
    tx: &Transaction<'_>,
    ids: &[i64],
    dead_letter: i64,
    detail: &str,
    who: &str,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let rows = tx
        .query(
            "UPDATE taf_record
             SET status = 'error', error_code = $3, error_description = $4, error_detail = $5,
                 finished_at = now(), worker = $6, dead_letter_id = NULL
             WHERE id = ANY($1) AND dead_letter_id = $2 AND status = 'pending'
             RETURNING id, ticket_code, registry_key, registry_type, source_branch,
                       to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS now",
            &[
                &ids,
                &dead_letter,
                &DISCARDED_CODE,
                &DISCARDED_DESCRIPTION,
                &detail,
                &who,
            ],
        )
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let records = rows
        .iter()
        .map(|row| RecordResult {
            rec_no: row.get("id"),
            ticket_code: row.get("ticket_code"),
            registry_key: row.get("registry_key"),
            registry_type: row.get("registry_type"),
            source_branch: row.get("source_branch"),
            status: RecordStatus::Error.as_str().to_string(),
            status_code: None,
            status_description: None,
            active: None,
            error_code: Some(DISCARDED_CODE.into()),
            error_description: Some(DISCARDED_DESCRIPTION.into()),
            error_detail: Some(detail.to_string()),
            finished_at: row.get("now"),
            worker: who.to_string(),
        })
        .collect();
    Ok(vec![OutboxMessage::result(
        &ResultMessage::TafResults { records },
        format!("taf.{}", RecordStatus::Error.as_str()),
    )])
}
