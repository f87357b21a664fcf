//! Tickets as operators follow them: the recent tickets with their
//! progress, a ticket's records in error, and the records of every ticket
//! that ended in error in the last hour. A ticket is no table of its
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
/// (none: from the newest), newest first, and the `before` of the next
/// page when the page is full: below each listed ticket's latest record
/// under `before`, so that paging always moves on (a ticket whose records
/// interleave with older ones may show again).
pub async fn recent(
    pool: &Pool,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<Ticket>, Option<i64>), StoreError> {
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
                    min(r.id), max(r.id), min(r.accepted_at), recent.last
             FROM taf_record r JOIN recent USING (ticket_code)
             GROUP BY r.ticket_code, recent.last ORDER BY recent.last DESC",
            &[&before, &limit, &RECENT_RECORDS],
        )
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.iter().map(|row| row.get::<_, i64>(9)).min())
        .flatten();
    let tickets = rows
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
        .collect();
    Ok((tickets, next))
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

/// The columns of an [`ErrorRecord`], in the order [`error_record`] reads.
const ERROR_COLUMNS: &str = "id, registry_key, source_branch, registry_type,
        error_code, error_description, error_detail";

fn error_record(row: &tokio_postgres::Row) -> ErrorRecord {
    ErrorRecord {
        rec_no: row.get(0),
        registry_key: row.get(1),
        source_branch: row.get(2),
        registry_type: row.get(3),
        error_code: row.get(4),
        error_description: row.get(5),
        error_detail: row.get(6),
    }
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
            &format!(
                "SELECT {ERROR_COLUMNS} FROM taf_record
                 WHERE ticket_code = $1 AND status = 'error' AND id > $3
                   AND ($2::text IS NULL OR error_code = $2)
                 ORDER BY id LIMIT $4"
            ),
            &[&ticket, &error_code, &after, &ERRORS_LISTED],
        )
        .await?;
    Ok(rows.iter().map(error_record).collect())
}

/// A record that ended in error in the last hour, with its ticket.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentError {
    #[serde(flatten)]
    pub record: ErrorRecord,
    pub ticket_code: String,
}

/// The first [`ERRORS_LISTED`] records of any ticket that ended in error
/// in the last hour with `error_code` (none: any code) after RecNo
/// `after`, in RecNo order. Only the last hour's errors are read, through
/// their partial index (migration 0011), never the table.
pub async fn recent_errors(
    pool: &Pool,
    error_code: Option<&str>,
    after: i64,
) -> Result<Vec<RecentError>, StoreError> {
    if error_code.is_some_and(|c| c.contains('\0')) {
        return Ok(Vec::new());
    }
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "WITH recent AS MATERIALIZED (
                     SELECT {ERROR_COLUMNS}, ticket_code FROM taf_record
                     WHERE status = 'error' AND finished_at > now() - interval '1 hour'
                       AND id > $2 AND ($1::text IS NULL OR error_code = $1)
                 )
                 SELECT * FROM recent ORDER BY id LIMIT $3"
            ),
            &[&error_code, &after, &ERRORS_LISTED],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| RecentError {
            record: error_record(row),
            ticket_code: row.get(7),
        })
        .collect())
}
