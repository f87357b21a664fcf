//! Each lane's probes, in `queue_drain` (keyed by the lane's key: a work
//! queue's, or `taf.p<band>`): when the last probe was sent, and the
//! sending time of the newest probe a worker took (`drained_through`:
//! every message queued in the lane before it has been delivered) with
//! when it was taken. Workers register the lanes they consume, so that
//! only lanes with consumers are probed.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};

use crate::amqp::Lane;
use crate::db::StoreError;

/// What is known of one lane's drain.
#[derive(Debug, Clone)]
pub struct Drain {
    pub lane: Lane,
    pub probe_sent_at: Option<DateTime<Utc>>,
    pub drained_through: Option<DateTime<Utc>>,
    pub drained_at: Option<DateTime<Utc>>,
}

impl Drain {
    /// A lane of which nothing is known yet.
    pub fn unknown(lane: Lane) -> Self {
        Self {
            lane,
            probe_sent_at: None,
            drained_through: None,
            drained_at: None,
        }
    }

    /// Whether a probe was sent that no worker took yet.
    pub fn probe_outstanding(&self) -> bool {
        match (self.probe_sent_at, self.drained_through) {
            (Some(sent), Some(through)) => sent > through,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// Records that a worker consumes `lanes`.
pub async fn register(pool: &Pool, lanes: &[Lane]) -> Result<(), StoreError> {
    let keys: Vec<String> = lanes.iter().map(Lane::key).collect();
    pool.get()
        .await?
        .execute(
            "INSERT INTO queue_drain (queue) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
            &[&keys],
        )
        .await?;
    Ok(())
}

/// Records that a worker took the probe sent at `sent_at` from `lane`.
pub async fn arrived(pool: &Pool, lane: &Lane, sent_at: DateTime<Utc>) -> Result<(), StoreError> {
    pool.get()
        .await?
        .execute(
            "INSERT INTO queue_drain AS d (queue, drained_through, drained_at)
             VALUES ($1, $2, now())
             ON CONFLICT (queue) DO UPDATE
             SET drained_through = excluded.drained_through, drained_at = excluded.drained_at
             WHERE d.drained_through IS NULL OR d.drained_through < excluded.drained_through",
            &[&lane.key(), &sent_at],
        )
        .await?;
    Ok(())
}

/// Every registered lane's drain.
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
                lane: Lane::from_key(row.get("queue"))?,
                probe_sent_at: row.get("probe_sent_at"),
                drained_through: row.get("drained_through"),
                drained_at: row.get("drained_at"),
            })
        })
        .collect())
}

/// Records that a probe was sent through `lane` at `at`.
pub async fn sent(
    client: &impl GenericClient,
    lane: &Lane,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE queue_drain SET probe_sent_at = $2 WHERE queue = $1",
            &[&lane.key(), &at],
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
            lane: Lane::whole(crate::amqp::WorkQueue::Taf),
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
