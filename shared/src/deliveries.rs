//! Redelivered work messages, counted durably. The broker delivers a
//! message again when the worker that had it did not acknowledge it: its
//! connection dropped, it stopped, or it died — killed, out of memory, or
//! aborted by the very message it was handling, which would then go round
//! for ever, since attempts are otherwise counted only when a worker
//! survives a failure to count it. So each start of a redelivered
//! message's handling is recorded (`delivery`, by `message_id`) before it
//! begins, with when and by which worker, and the record goes once the
//! handling ends, whatever its outcome; the consumer dead-letters a message
//! whose handling started `worker_max_attempts` times without ending.

use deadpool_postgres::Pool;
use serde_json::Value;

use crate::db::StoreError;

/// The starts recorded for a message, this one included.
#[derive(Debug, Clone, PartialEq)]
pub struct Starts {
    pub count: u32,
    /// `[{"at", "worker"}]`, oldest first.
    pub history: Value,
}

/// Records that `worker` starts handling the redelivered message
/// `message_id` of `queue`.
pub async fn start(
    pool: &Pool,
    message_id: &str,
    queue: &str,
    worker: &str,
) -> Result<Starts, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "INSERT INTO delivery AS d (message_id, queue, starts, history)
             VALUES ($1, $2, 1, jsonb_build_array(jsonb_build_object('at', now(), 'worker', $3::text)))
             ON CONFLICT (message_id) DO UPDATE
             SET starts = d.starts + 1, updated_at = now(),
                 history = d.history || jsonb_build_array(
                     jsonb_build_object('at', now(), 'worker', $3::text))
             RETURNING starts, history",
            &[&message_id, &queue, &worker],
        )
        .await?;
    Ok(Starts {
        count: u32::try_from(row.get::<_, i32>("starts")).unwrap_or(0),
        history: row.get("history"),
    })
}

/// Records that the handling of `message_id` ended.
pub async fn end(pool: &Pool, message_id: &str) -> Result<(), StoreError> {
    pool.get()
        .await?
        .execute("DELETE FROM delivery WHERE message_id = $1", &[&message_id])
        .await?;
    Ok(())
}

/// Forgets the starts of messages not seen for a day (gone with their
/// queue, or finished by a worker that could not record it).
pub async fn forget_stale(pool: &Pool) -> Result<u64, StoreError> {
    Ok(pool
        .get()
        .await?
        .execute(
            "DELETE FROM delivery WHERE updated_at < now() - interval '1 day'",
            &[],
        )
        .await?)
}
