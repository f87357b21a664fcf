//! Each work queue's probes, in `queue_drain`: when the last probe was
//! sent, and the sending time of the newest probe a worker took
//! (`drained_through`: every message queued before it has been delivered)
//! with when it was taken. Workers register the queues they consume, so
//! that only queues with consumers are probed.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};

use crate::amqp::WorkQueue;
use crate::db::StoreError;

/// What is known of one queue's drain.
#[derive(Debug, Clone)]
pub struct Drain {
    pub queue: WorkQueue,
    pub probe_sent_at: Option<DateTime<Utc>>,
    pub drained_through: Option<DateTime<Utc>>,
    pub drained_at: Option<DateTime<Utc>>,
}

impl Drain {
    /// Whether a probe was sent that no worker took yet.
    pub fn probe_outstanding(&self) -> bool {
        match (self.probe_sent_at, self.drained_through) {
            (Some(sent), Some(through)) => sent > through,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// Records that a worker consumes `queues`.
pub async fn register(pool: &Pool, queues: &[WorkQueue]) -> Result<(), StoreError> {
    let keys: Vec<String> = queues.iter().map(WorkQueue::key).collect();
    pool.get()
        .await?
        .execute(
            "INSERT INTO queue_drain (queue) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
            &[&keys],
        )
        .await?;
    Ok(())
}

/// Records that a worker took the probe sent at `sent_at` from `queue`.
pub async fn arrived(
    pool: &Pool,
    queue: &WorkQueue,
    sent_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    pool.get()
        .await?
        .execute(
            "INSERT INTO queue_drain AS d (queue, drained_through, drained_at)
             VALUES ($1, $2, now())
             ON CONFLICT (queue) DO UPDATE
             SET drained_through = excluded.drained_through, drained_at = excluded.drained_at
             WHERE d.drained_through IS NULL OR d.drained_through < excluded.drained_through",
            &[&queue.key(), &sent_at],
        )
        .await?;
    Ok(())
}

/// Every registered queue's drain.
pub async fn drains(client: &impl GenericClient) -> Result<Vec<Drain>, StoreError> {
    let rows = client
        .query(
            "SELECT queue, probe_sent_at, drained_through, drained_at FROM queue_drain
             ORDER BY queue",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(Drain {
                queue: WorkQueue::from_key(row.get("queue"))?,
                probe_sent_at: row.get("probe_sent_at"),
                drained_through: row.get("drained_through"),
                drained_at: row.get("drained_at"),
            })
        })
        .collect())
}

/// Records that a probe was sent through `queue` at `at`.
pub async fn sent(
    client: &impl GenericClient,
    queue: &WorkQueue,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE queue_drain SET probe_sent_at = $2 WHERE queue = $1",
            &[&queue.key(), &at],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(sent: Option<i64>, through: Option<i64>) -> Drain {
        let at = |s| DateTime::from_timestamp(s, 0);
        Drain {
            queue: WorkQueue::Taf,
            probe_sent_at: sent.and_then(at),
            drained_through: through.and_then(at),
            drained_at: None,
        }
    }

    #[test]
    fn a_probe_is_outstanding_until_one_as_new_comes_through() {
        assert!(!drain(None, None).probe_outstanding());
        assert!(drain(Some(10), None).probe_outstanding());
        assert!(drain(Some(10), Some(5)).probe_outstanding());
        assert!(!drain(Some(10), Some(10)).probe_outstanding());
        assert!(!drain(None, Some(10)).probe_outstanding());
    }
}
