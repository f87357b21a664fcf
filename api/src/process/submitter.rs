//! Jobs are submitted one call at a time and stored together: the calls
//! that arrive while earlier ones are being written are gathered (see
//! [`fila_shared::coalesce`]) into one transaction of at most
//! [`GATHER_MAX`] jobs, with their runs' queue messages handed to the relay
//! at once. Each call still answers only once its own job is committed.
//! When a gathered transaction fails, each of its jobs is tried again
//! alone, so that one job's failure is its own.

use std::sync::Arc;

use deadpool_postgres::Pool;
use fila_shared::coalesce::{Coalescer, alone_on_failure};
use fila_shared::db::StoreError;
use fila_shared::outbox::Relay;
use fila_shared::process::store::{self, Submission};

/// Most jobs one transaction stores.
const GATHER_MAX: usize = 500;
/// Gathered transactions under way at once.
const PARALLEL: usize = 2;

/// A stored job, as its caller sees it (its run's message is the relay's).
pub struct Accepted {
    pub job_id: i64,
    pub uid: String,
    pub exec_id: Option<i32>,
}

#[derive(Clone)]
pub struct Submitter {
    calls: Coalescer<Submission, Result<Accepted, StoreError>>,
}

impl Submitter {
    pub fn spawn(pool: Pool, relay: Relay) -> Self {
        let calls = Coalescer::spawn(GATHER_MAX, PARALLEL, move |batch: Vec<Submission>| {
            let (pool, relay) = (pool.clone(), relay.clone());
            alone_on_failure(batch, move |batch: Arc<[Submission]>| {
                let (pool, relay) = (pool.clone(), relay.clone());
                async move { store_together(&pool, &relay, &batch).await }
            })
        });
        Self { calls }
    }

    pub async fn submit(&self, submission: Submission) -> Result<Accepted, StoreError> {
        self.calls.call(submission).await?
    }
}

/// Stores the jobs and hands their runs' messages to the relay.
async fn store_together(
    pool: &Pool,
    relay: &Relay,
    batch: &[Submission],
) -> Result<Vec<Accepted>, StoreError> {
    let mut stored = Vec::new();
    let accepted = store::submit_all(pool, batch)
        .await?
        .into_iter()
        .map(|s| {
            stored.extend(s.stored);
            Accepted {
                job_id: s.job_id,
                uid: s.uid,
                exec_id: s.exec_id,
            }
        })
        .collect();
    relay.publish(stored).await;
    Ok(accepted)
}
