//! Dead letters: queue messages that failed every attempt, or that no
//! handler could decode. A worker records one in PostgreSQL with its reason
//! and attempt history, then acknowledges the message; operators list,
//! replay or discard them through the admin API. Replaying deletes the dead
//! letter and writes its message to the outbox in one transaction, so it
//! goes back to its work queue once, as a first attempt. The open items a
//! dead letter holds are marked with it ([`items`]): replaying queues them
//! again, discarding closes them.

pub mod items;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde::Serialize;

use crate::db::StoreError;
use crate::outbox::{self, OutboxMessage, Stored, Target};
pub use items::Closer;

/// A dead letter to record.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a> {
    /// The work queue's routing key (`taf`, `eai`, `process.<group>`).
    pub queue: &'a str,
    pub kind: &'a str,
    pub message_id: Option<&'a str>,
    pub priority: u8,
    pub body: &'a [u8],
    pub reason: &'a str,
    pub attempts: u32,
    /// One entry per failed attempt, oldest first.
    pub history: serde_json::Value,
}

/// Records a dead letter, with the items it holds; a second record of the
/// same message and attempt (a redelivery after a lost acknowledgement) is
/// ignored.
pub async fn record(pool: &Pool, letter: &DeadLetter<'_>) -> Result<(), StoreError> {
    let mut client = pool.get().await?;
    let mut tx = client.transaction().await?;
    let attempts = i32::try_from(letter.attempts).unwrap_or(i32::MAX);
    let recorded = tx
        .query_opt(
            "INSERT INTO dead_letter
                 (queue, kind, message_id, priority, body, reason, attempts, history)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (queue, message_id, attempts) DO NOTHING
             RETURNING id",
            &[
                &letter.queue,
                &letter.kind,
                &letter.message_id,
                &i16::from(letter.priority),
                &letter.body,
                &letter.reason,
                &attempts,
                &letter.history,
            ],
        )
        .await?;
    if let Some(row) = recorded {
        // The dead letter is recorded even if its items cannot be marked
        // (then the reconciler may queue them again).
        let marking = tx.savepoint("hold").await?;
        match items::hold(&marking, row.get("id"), letter.body).await {
            Ok(()) => marking.commit().await?,
            Err(e) => {
                tracing::warn!(error = %e, "the dead letter's items could not be marked as held");
                marking.rollback().await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A dead letter as the admin API shows it. The message is shown as JSON
/// when it is JSON (every message fila makes is), otherwise as base64.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterView {
    pub id: i64,
    pub dead_at: DateTime<Utc>,
    pub queue: String,
    pub kind: String,
    pub message_id: Option<String>,
    pub reason: String,
    pub attempts: i32,
    pub history: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

const COLUMNS: &str = "id, dead_at, queue, kind, message_id, reason, attempts, history, body";

fn view(row: &tokio_postgres::Row) -> DeadLetterView {
    let body: &[u8] = row.get(8);
    let message = serde_json::from_slice(body).ok();
    DeadLetterView {
        id: row.get(0),
        dead_at: row.get(1),
        queue: row.get(2),
        kind: row.get(3),
        message_id: row.get(4),
        reason: row.get(5),
        attempts: row.get(6),
        history: row.get(7),
        body_base64: message.is_none().then(|| STANDARD.encode(body)),
        message,
    }
}

/// Dead letters after `after` (by id, oldest first), of one queue or all.
pub async fn list(
    pool: &Pool,
    queue: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<DeadLetterView>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM dead_letter
                 WHERE id > $1 AND ($2::text IS NULL OR queue = $2)
                 ORDER BY id LIMIT $3"
            ),
            &[&after, &queue, &limit],
        )
        .await?;
    Ok(rows.iter().map(view).collect())
}

pub async fn get(pool: &Pool, id: i64) -> Result<Option<DeadLetterView>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM dead_letter WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(view))
}

/// Deletes one dead letter and closes the items it held (see [`items`]);
/// `None` when there is no such dead letter, otherwise the outbox rows of
/// the items' results, to hand to a relay.
pub async fn discard(
    pool: &Pool,
    id: i64,
    closer: &Closer<'_>,
) -> Result<Option<Vec<Stored>>, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "DELETE FROM dead_letter WHERE id = $1 RETURNING body, reason",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let results = items::close(pool, &tx, id, row.get("body"), row.get("reason"), closer).await?;
    let stored = outbox::insert(&tx, results).await?;
    tx.commit().await?;
    Ok(Some(stored))
}

/// Which dead letters to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Ids(Vec<i64>),
    /// Those of one work queue.
    Queue(String),
    All,
}

/// The id of the newest dead letter (0 when there is none).
pub async fn newest(pool: &Pool) -> Result<i64, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT coalesce(max(id), 0) FROM dead_letter", &[])
        .await?;
    Ok(row.get(0))
}

/// Moves up to `limit` selected dead letters with ids up to `through`
/// (oldest first) back to the outbox, in one transaction; the caller hands
/// the rows to its relay. Dead letters being replayed by another call are
/// skipped.
pub async fn replay(
    pool: &Pool,
    selection: &Selection,
    through: i64,
    limit: i64,
) -> Result<Vec<Stored>, StoreError> {
    let (ids, queue) = match selection {
        Selection::Ids(ids) => (Some(ids.as_slice()), None),
        Selection::Queue(queue) => (None, Some(queue.as_str())),
        Selection::All => (None, None),
    };
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "DELETE FROM dead_letter WHERE id IN (
                 SELECT id FROM dead_letter
                 WHERE ($1::int8[] IS NULL OR id = ANY($1))
                   AND ($2::text IS NULL OR queue = $2)
                   AND id <= $3
                 ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING id, queue, priority, kind, body",
            &[&ids, &queue, &through, &limit],
        )
        .await?;
    let mut rows: Vec<_> = rows.iter().collect();
    rows.sort_by_key(|row| row.get::<_, i64>(0));
    for row in &rows {
        items::release(&tx, row.get("id"), row.get("body")).await?;
    }
    let messages = rows
        .iter()
        .map(|row| OutboxMessage {
            target: Target::Work,
            routing_key: row.get(1),
            priority: u8::try_from(row.get::<_, i16>(2)).unwrap_or(0),
            kind: row.get(3),
            body: row.get(4),
        })
        .collect();
    let stored = outbox::insert(&tx, messages).await?;
    tx.commit().await?;
    Ok(stored)
}
