//! EAI lots as operators follow them: the recent lots (`eai_batch`, one
//! per POST or DELETE on `/transactions`), newest first, with the progress
//! of their messages. Lots are paged by `(created_at, id)` through their
//! index (migration 0013), and only the page's lots have their messages
//! counted, through the `(batch_id, seq)` index. The lots still open (with
//! messages pending) are found through the partial index of pending
//! messages by lot.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;

use crate::db::StoreError;

/// A lot with the progress of its messages.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lot {
    /// Its batchUUID.
    pub batch: String,
    pub batch_type: String,
    pub event: String,
    pub messages: i64,
    pub pending: i64,
    pub ok: i64,
    pub error: i64,
    pub created_at: DateTime<Utc>,
}

/// Where a page of lots starts: strictly older than this lot. On the wire,
/// `<created_at in microseconds since 1970>:<batchUUID>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub batch: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("before must be the next of a previous page: <microseconds>:<batchUUID>")]
pub struct CursorError;

impl Cursor {
    pub fn parse(text: &str) -> Result<Self, CursorError> {
        let (micros, batch) = text.split_once(':').ok_or(CursorError)?;
        if !micros.bytes().all(|b| b.is_ascii_digit()) || batch.is_empty() || batch.contains('\0') {
            return Err(CursorError);
        }
        let created_at = micros
            .parse()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or(CursorError)?;
        Ok(Self {
            created_at,
            batch: batch.to_string(),
        })
    }

    fn of(lot: &Lot) -> Self {
        Self {
            created_at: lot.created_at,
            batch: lot.batch.clone(),
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.created_at.timestamp_micros(), self.batch)
    }
}

/// One page of lots, and where the next one starts (`None`: the last).
#[derive(Debug)]
pub struct Page {
    pub lots: Vec<Lot>,
    pub next: Option<Cursor>,
}

/// The `limit` lots created before `before` (none: the newest), newest
/// first; with `open`, only the lots with messages pending.
pub async fn recent(
    pool: &Pool,
    before: Option<&Cursor>,
    open: bool,
    limit: i64,
) -> Result<Page, StoreError> {
    let open_only = if open {
        " AND b.id IN (SELECT batch_id FROM eai_message WHERE status = 'pending')"
    } else {
        ""
    };
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "SELECT b.id, b.batch_type, b.event, b.created_at FROM eai_batch b
                 WHERE (b.created_at, b.id) < (coalesce($1::timestamptz, 'infinity'), coalesce($2::text, ''))
                 {open_only}
                 ORDER BY b.created_at DESC, b.id DESC LIMIT $3"
            ),
            &[
                &before.map(|c| c.created_at),
                &before.map(|c| c.batch.as_str()),
                &limit,
            ],
        )
        .await?;
    let ids: Vec<&str> = rows.iter().map(|row| row.get(0)).collect();
    let counts: HashMap<String, [i64; 4]> = client
        .query(
            "SELECT batch_id, count(*),
                    count(*) FILTER (WHERE status = 'pending'),
                    count(*) FILTER (WHERE status = 'ok'),
                    count(*) FILTER (WHERE status = 'error')
             FROM eai_message WHERE batch_id = ANY($1) GROUP BY batch_id",
            &[&ids],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), [row.get(1), row.get(2), row.get(3), row.get(4)]))
        .collect();
    let lots: Vec<Lot> = rows
        .iter()
        .map(|row| {
            let batch: String = row.get(0);
            let [messages, pending, ok, error] = counts.get(&batch).copied().unwrap_or_default();
            Lot {
                batch,
                batch_type: row.get(1),
                event: row.get(2),
                messages,
                pending,
                ok,
                error,
                created_at: row.get(3),
            }
        })
        .collect();
    let full = i64::try_from(lots.len()).is_ok_and(|n| n == limit);
    let next = lots.last().filter(|_| full).map(Cursor::of);
    Ok(Page { lots, next })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_wrote() {
        let cursor = Cursor::parse("1767261600123456:LOT-1:with:colons").expect("cursor");
        assert_eq!(cursor.batch, "LOT-1:with:colons");
        assert_eq!(cursor.to_string(), "1767261600123456:LOT-1:with:colons");
    }

    #[test]
    fn a_malformed_cursor_is_refused() {
        for text in [
            "",
            "LOT-1",
            ":LOT-1",
            "12:",
            "-12:LOT-1",
            "+12:LOT-1",
            "1e3:LOT-1",
            "99999999999999999999:LOT-1",
            "12:LOT\0",
        ] {
            assert_eq!(Cursor::parse(text), Err(CursorError), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn every_cursor_round_trips(micros in 0i64..253_402_300_799_000_000, batch in "[^\0]{1,40}") {
            let created_at = DateTime::from_timestamp_micros(micros).expect("a time");
            let cursor = Cursor { created_at, batch };
            prop_assert_eq!(Cursor::parse(&cursor.to_string()), Ok(cursor));
        }
    }
}
