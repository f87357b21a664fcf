//! Items finished, counted by each worker in memory and added to
//! `finished_tally` (per minute, protocol and status) every few seconds
//! and when the worker stops, so that the operations overview tells how
//! many items finished in the last hour without counting the large tables.
//! A worker killed outright loses its last few seconds of counts: the
//! figures are for dashboards, the item statuses stay the record. Errors
//! are tallied too, though the overview counts them exactly from the
//! tables' partial indexes (they are few).

use std::collections::BTreeMap;
use std::sync::Mutex;

use deadpool_postgres::Pool;

use crate::db::StoreError;

/// `(protocol, status)`: the labels of `fila_items_finished_total`.
type Key = (&'static str, &'static str);

#[derive(Default)]
pub struct Tally {
    counts: Mutex<BTreeMap<Key, i64>>,
}

impl Tally {
    pub fn add(&self, protocol: &'static str, status: &'static str, count: u64) {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let total = counts.entry((protocol, status)).or_default();
        *total = total.saturating_add(count);
    }

    fn take(&self) -> BTreeMap<Key, i64> {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Adds what was counted since the last flush to the current minute's
    /// rows (what cannot be written is kept for the next flush), then
    /// removes rows older than a day.
    pub async fn flush(&self, pool: &Pool) -> Result<(), StoreError> {
        let taken = self.take();
        if taken.is_empty() {
            return Ok(());
        }
        if let Err(e) = write(pool, &taken).await {
            for ((protocol, status), count) in taken {
                self.add(protocol, status, count.unsigned_abs());
            }
            return Err(e);
        }
        pool.get()
            .await?
            .execute(
                "DELETE FROM finished_tally WHERE minute < now() - interval '1 day'",
                &[],
            )
            .await?;
        Ok(())
    }
}

async fn write(pool: &Pool, counts: &BTreeMap<Key, i64>) -> Result<(), StoreError> {
    let protocols: Vec<&str> = counts.keys().map(|(p, _)| *p).collect();
    let statuses: Vec<&str> = counts.keys().map(|(_, s)| *s).collect();
    let totals: Vec<i64> = counts.values().copied().collect();
    let client = pool.get().await?;
    // Keys in one order in every worker: concurrent upserts cannot deadlock.
    client
        .execute(
            "INSERT INTO finished_tally (minute, protocol, status, count)
             SELECT date_trunc('minute', now()), p, s, c
             FROM unnest($1::text[], $2::text[], $3::int8[]) AS t(p, s, c)
             ON CONFLICT (minute, protocol, status)
             DO UPDATE SET count = finished_tally.count + EXCLUDED.count",
            &[&protocols, &statuses, &totals],
        )
        .await?;
    Ok(())
}

/// Items finished in the last hour (the current minute included), by
/// protocol and status.
pub async fn last_hour(pool: &Pool) -> Result<BTreeMap<(String, String), i64>, StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT protocol, status, sum(count)::int8 FROM finished_tally
             WHERE minute > now() - interval '1 hour'
             GROUP BY protocol, status",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| ((row.get(0), row.get(1)), row.get(2)))
        .collect())
}
