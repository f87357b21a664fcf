//! Work queues paused by an operator. Pausing records the queue in
//! PostgreSQL; every worker looks at the record every second, cancels its
//! consumer of a paused queue (the messages it had not started return to
//! the queue, those in flight finish) and consumes again once the queue is
//! resumed. Producers are not affected: accepted work waits in the queue.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use crate::db::StoreError;

/// Who paused a queue, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub at: DateTime<Utc>,
    pub by: String,
}

/// Pauses `queue` (a queue key: `taf`, `eai`, `process.<group>`); `false`
/// when it was paused already.
pub async fn pause(pool: &Pool, queue: &str, by: &str) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let inserted = client
        .execute(
            "INSERT INTO queue_pause (queue, paused_by) VALUES ($1, $2)
             ON CONFLICT (queue) DO NOTHING",
            &[&queue, &by],
        )
        .await?;
    Ok(inserted > 0)
}

/// Resumes `queue`; `false` when it was not paused.
pub async fn resume(pool: &Pool, queue: &str) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let deleted = client
        .execute("DELETE FROM queue_pause WHERE queue = $1", &[&queue])
        .await?;
    Ok(deleted > 0)
}

/// The paused queues, by key.
pub async fn paused(pool: &Pool) -> Result<BTreeMap<String, Pause>, StoreError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached("SELECT queue, paused_at, paused_by FROM queue_pause")
        .await?;
    Ok(client
        .query(&statement, &[])
        .await?
        .iter()
        .map(|row| {
            (
                row.get(0),
                Pause {
                    at: row.get(1),
                    by: row.get(2),
                },
            )
        })
        .collect())
}
