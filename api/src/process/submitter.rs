//! Jobs are submitted one call at a time and stored together: the calls
//! that arrive while earlier ones are being written are gathered (see
//! [`fila_shared::coalesce`]) into one transaction of at most 500 jobs,
//! with their runs' queue messages handed to the relay
//! at once. Each call still answers only once its own job is committed,
//! and a call dropped before that (its request timed out, its client left)
//! leaves nothing: a transaction whose caller left is rolled back and made
//! again without its job. When a gathered transaction fails, each of its
//! jobs is tried again alone, so that one job's failure is its own.

use std::sync::{Arc, Weak};

use deadpool_postgres::Pool;
use fila_shared::coalesce::{Coalescer, Stopped};
use fila_shared::db::StoreError;
use fila_shared::outbox::Relay;
use fila_shared::process::store::{self, Submission};

/// A stored job, as its caller sees it (its run's message is the relay's).
pub struct Accepted {
    pub job_id: i64,
    pub uid: String,
    pub exec_id: Option<i32>,
}

/// A job to store, and whether its caller still waits for it.
#[derive(Clone)]
struct Call {
    submission: Submission,
    caller: Weak<()>,
}

impl Call {
    fn waited_for(&self) -> bool {
        self.caller.strong_count() > 0
    }
}

#[derive(Clone)]
pub struct Submitter {
    calls: Coalescer<Call, Result<Option<Accepted>, StoreError>>,
}

impl Submitter {
    pub fn spawn(pool: Pool, relay: Relay) -> Self {
        let calls = Coalescer::spawn_writes(move |batch: Arc<[Call]>| {
            let (pool, relay) = (pool.clone(), relay.clone());
            async move { store_together(&pool, &relay, &batch).await }
        });
        Self { calls }
    }

    pub async fn submit(&self, submission: Submission) -> Result<Accepted, StoreError> {
        let caller = Arc::new(());
        let call = Call {
            submission,
            caller: Arc::downgrade(&caller),
        };
        // Only a call that left has no job; this one is still here.
        Ok(self.calls.call(call).await??.ok_or(Stopped)?)
    }
}

/// Stores the jobs whose callers still wait, and hands their runs'
/// messages to the relay; `None` for the others.
async fn store_together(
    pool: &Pool,
    relay: &Relay,
    batch: &[Call],
) -> Result<Vec<Option<Accepted>>, StoreError> {
    loop {
        let kept: Vec<bool> = batch.iter().map(Call::waited_for).collect();
        let waiting: Vec<&Call> = batch
            .iter()
            .zip(&kept)
            .filter_map(|(call, kept)| kept.then_some(call))
            .collect();
        if waiting.is_empty() {
            return Ok(kept.iter().map(|_| None).collect());
        }
        let submissions: Vec<&Submission> = waiting.iter().map(|c| &c.submission).collect();
        let still_waiting = || waiting.iter().all(|c| c.waited_for());
        let Some(submitted) = store::submit_all(pool, &submissions, still_waiting).await? else {
            continue;
        };
        let mut stored = Vec::new();
        let mut submitted = submitted.into_iter();
        let answers = kept
            .into_iter()
            .map(|kept| {
                if !kept {
                    return None;
                }
                let s = submitted.next()?;
                stored.extend(s.stored);
                Some(Accepted {
                    job_id: s.job_id,
                    uid: s.uid,
                    exec_id: s.exec_id,
                })
            })
            .collect();
        relay.publish(stored).await;
        return Ok(answers);
    }
}
