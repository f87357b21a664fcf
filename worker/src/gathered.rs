//! The claims and the ends of concurrent process runs, each written with
//! those of the other runs under way in the same statement (see
//! [`fila_shared::coalesce`]): a worker running many short runs makes a
//! few statements for all of them rather than several for each. A lone run
//! is written at once; a gathered write that fails is made again for each
//! run alone, so that one run's failure is its own.

use std::sync::Arc;

use deadpool_postgres::Pool;
use fila_shared::coalesce::Coalescer;
use fila_shared::db::StoreError;
use fila_shared::outbox::Relay;
use fila_shared::process::store::{self, Ask, Claim, Finish};

pub struct Gathered {
    claims: Coalescer<Ask, Result<Claim, StoreError>>,
    finishes: Coalescer<Finish, Result<(), StoreError>>,
}

/// Who writes: this worker, and the channel a waiting producer listens on.
#[derive(Clone)]
pub struct Writer {
    pub pool: Pool,
    pub relay: Relay,
    pub worker: String,
    pub channel: String,
    pub max_stops: u32,
}

impl Gathered {
    pub fn spawn(writer: Writer) -> Self {
        let claiming = writer.clone();
        let claims = Coalescer::spawn_writes(move |asks: Arc<[Ask]>| {
            let w = claiming.clone();
            async move { store::claim_all(&w.pool, &asks, &w.worker, w.max_stops).await }
        });
        let finishes = Coalescer::spawn_writes(move |ends: Arc<[Finish]>| {
            let w = writer.clone();
            async move {
                let stored = store::finish_all(&w.pool, &ends, &w.worker, &w.channel).await?;
                w.relay.publish(stored).await;
                Ok(vec![(); ends.len()])
            }
        });
        Self { claims, finishes }
    }

    /// Claims the job's next run (see [`store::claim_all`]).
    pub async fn claim(&self, ask: Ask) -> Result<Claim, StoreError> {
        self.claims.call(ask).await?
    }

    /// Records a run's end and hands its result to the relay (see
    /// [`store::finish_all`]).
    pub async fn finish(&self, finish: Finish) -> Result<(), StoreError> {
        self.finishes.call(finish).await?
    }
}
