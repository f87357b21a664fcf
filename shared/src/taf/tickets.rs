//! Tickets as operators follow them: the recent tickets with their
//! progress, and a ticket's records in error. A ticket is no table of its
//! own, only the code its records share: recent tickets are found among
//! the latest [`RECENT_RECORDS`] RecNos (a range of the primary key), and
//! each one's records through the (ticket_code, id) index.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;

use crate::db::StoreError;

/// How far back, in RecNos, recent tickets are looked for.
pub const RECENT_RECORDS: i64 = 200_000;
/// Records in error listed per call, at most.
pub const ERRORS_LISTED: i64 = 100;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub ticket_code: String,
    pub records: i64,
    pub pending: i64,
    pub waiting: i64,
    pub processed: i64,
    pub error: i64,
    pub first_rec_no: i64,
    pub last_rec_no: i64,
    pub accepted_at: DateTime<Utc>,
}

/// The `limit` tickets with the latest records before RecNo `before`
/// (none: from the newest), newest first.
pub async fn recent(
    pool: &Pool,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Ticket>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "WITH bound AS (
                 SELECT coalesce($1, (SELECT max(id) + 1 FROM taf_record), 0) AS top
             ), recent AS (
                 SELECT ticket_code, max(id) AS last FROM taf_record, bound
                 WHERE id < bound.top AND id >= bound.top - $3
                 GROUP BY ticket_code ORDER BY last DESC LIMIT $2
             )
             SELECT r.ticket_code, count(*),
                    count(*) FILTER (WHERE r.status = 'pending'),
                    count(*) FILTER (WHERE r.status = 'waiting'),
                    count(*) FILTER (WHERE r.status = 'processed'),
                    count(*) FILTER (WHERE r.status = 'error'),
                    min(r.id), max(r.id), min(r.accepted_at)
             FROM taf_record r JOIN recent USING (ticket_code)
             GROUP BY r.ticket_code ORDER BY max(r.id) DESC",
            &[&before, &limit, &RECENT_RECORDS],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Ticket {
            ticket_code: row.get(0),
            records: row.get(1),
            pending: row.get(2),
            waiting: row.get(3),
            processed: row.get(4),
            error: row.get(5),
            first_rec_no: row.get(6),
            last_rec_no: row.get(7),
            accepted_at: row.get(8),
        })
        .collect())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRecord {
    pub rec_no: i64,
    pub registry_key: String,
    pub source_branch: String,
    pub registry_type: String,
    pub error_code: Option<String>,
    pub error_description: Option<String>,
    pub error_detail: Option<String>,
}

/// The first [`ERRORS_LISTED`] records of `ticket` in error with
/// `error_code` (none: any code) after RecNo `after`, in RecNo order.
pub async fn errors(
    pool: &Pool,
    ticket: &str,
    error_code: Option<&str>,
    after: i64,
) -> Result<Vec<ErrorRecord>, StoreError> {
    if ticket.contains('\0') || error_code.is_some_and(|c| c.contains('\0')) {
        return Ok(Vec::new());
    }
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id, registry_key, source_branch, registry_type,
                    error_code, error_description, error_detail
             FROM taf_record
             WHERE ticket_code = $1 AND status = 'error' AND id > $3
               AND ($2::text IS NULL OR error_code = $2)
             ORDER BY id LIMIT $4",
            &[&ticket, &error_code, &after, &ERRORS_LISTED],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| ErrorRecord {
            rec_no: row.get(0),
            registry_key: row.get(1),
            source_branch: row.get(2),
            registry_type: row.get(3),
            error_code: row.get(4),
            error_description: row.get(5),
            error_detail: row.get(6),
        })
        .collect())
}
