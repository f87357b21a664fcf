//! Reconciliation. PostgreSQL is the system of record and RabbitMQ the
//! transport: when a work message disappears (a broker node that lost its
//! disk, a queue purged, a message the broker dropped, a database restore
//! or failover that rolled state back after the message was acknowledged),
//! the item it carried would stay open for good. The reconciler finds open
//! items whose message is gone and queues them again through the outbox;
//! the handlers are idempotent, so an item queued again whose message was
//! not gone after all costs a duplicate delivery that finds nothing to do.
//!
//! **Queued or lost.** Every open item records when its work message was
//! last queued (`queued_at`: at intake, release, replay or
//! reconciliation). The reconciler sends a *probe* through each lane of a
//! work queue (the queue itself, or each of TAF's priority lanes on quorum
//! queues): a message carrying the time it was sent, at the lowest
//! priority, behind everything queued before it. The worker that takes it
//! records that time as the lane's `drained_through`: every message queued
//! in the lane before it has been delivered. A queue is drained through the
//! earliest of its lanes' times. Once the messages delivered before the probe have had
//! `reconcile_settle_secs` to finish (in flight, or waiting in a retry
//! queue), an item queued before `drained_through` that is still open has
//! no message left, and is queued again. So:
//!
//! - work waiting its turn in a long queue is never taken for lost: the
//!   probe waits behind it;
//! - a paused queue, or one no worker consumes, never passes its probe, and
//!   nothing of it is queued again;
//! - an item whose message is still in the outbox (not yet published, or
//!   refused by the broker) is never taken: the cut-off stops a minute
//!   before the oldest outbox row of the queue;
//! - items of a dead letter are left to the operator, who replays or
//!   discards it; TAF records waiting for their predecessor have no message
//!   (the release sweep handles them), nor have process executions running
//!   under a lease or waiting for their retry (the lease sweep's).
//!
//! A probe is sent only while some open item of the queue is older than the
//! settling time, and only one at a time (sent again after
//! [`RESEND_AFTER_SETTLES`] settling times, in case it was itself lost).
//! One replica reconciles at a time (a PostgreSQL advisory lock per
//! schema). A pass reads the open items from partial indexes by
//! `queued_at` and takes at most [`PASS_MAX`] items per queue, in
//! transactions of [`BATCH`]: its cost follows what it takes, not the
//! backlog (see BENCHMARKS.md).
//!
//! Operators reconcile at once with [`Scope::QueuedBefore`] (after a
//! restore, say): every open item queued before a time is queued again,
//! whatever the queues hold; a dry run counts them first.

pub mod open;
pub mod probe;

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Object, Pool};
use serde::Serialize;

use crate::amqp::{Broker, Lane, Outgoing, Topology, WorkQueue};
use crate::db::StoreError;
use crate::envelope::WorkMessage;
use crate::outbox::{self, Stored};

pub use open::Chunks;
use probe::Drain;

/// Items queued again per transaction.
pub const BATCH: i64 = 1_000;
/// Items queued again per queue in one pass, at most.
pub const PASS_MAX: usize = 100_000;
/// An outstanding probe is sent again after this many settling times.
pub const RESEND_AFTER_SETTLES: u32 = 10;
/// How far before the oldest outbox row of a queue the cut-off stops (an
/// item is queued when its transaction starts, its outbox row a moment
/// later).
const OUTBOX_MARGIN: Duration = Duration::from_secs(60);

/// Which open items a pass queues again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Those whose message is gone (see the module's documentation).
    Lost,
    /// Every open item queued before this time, whatever the queues hold.
    QueuedBefore(DateTime<Utc>),
}

/// How a pass goes.
pub struct Settings<'a> {
    /// The lanes of each work queue.
    pub topology: &'a Topology,
    /// How long the messages delivered before a probe have to finish.
    pub settle: Duration,
    pub chunks: Chunks<'a>,
    /// Count, queue nothing, send no probe.
    pub dry_run: bool,
}

/// Open items queued again (or, in a dry run, that would be), by protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub taf: i64,
    pub eai: i64,
    pub process: i64,
}

impl Counts {
    fn add(&mut self, queue: &WorkQueue, n: i64) {
        match queue {
            WorkQueue::Taf => self.taf += n,
            WorkQueue::Eai => self.eai += n,
            WorkQueue::Process(_) => self.process += n,
        }
    }

    pub fn total(&self) -> i64 {
        self.taf + self.eai + self.process
    }
}

/// What a pass did.
#[derive(Debug, Default)]
pub struct Pass {
    pub counts: Counts,
    /// The outbox rows of the work queued again, to hand to a relay.
    pub stored: Vec<Stored>,
    /// The lanes a probe was sent through.
    pub probed: Vec<Lane>,
}

/// One pass over every queue workers consume (and the queues every
/// deployment has). `broker`, when given, sends the probes. `None` when
/// another replica is reconciling.
pub async fn pass(
    pool: &Pool,
    broker: Option<&Broker>,
    scope: Scope,
    settings: &Settings<'_>,
) -> Result<Option<Pass>, StoreError> {
    let client = pool.get().await?;
    let locked: bool = client
        .query_one(
            "SELECT pg_try_advisory_lock(hashtext('fila.reconcile.' || current_schema()))",
            &[],
        )
        .await?
        .get(0);
    if !locked {
        return Ok(None);
    }
    // The lock belongs to the session: released here, or with the
    // connection if it is lost.
    let mut client = client;
    let outcome = queues_pass(&mut client, broker, scope, settings).await;
    client
        .execute(
            "SELECT pg_advisory_unlock(hashtext('fila.reconcile.' || current_schema()))",
            &[],
        )
        .await?;
    outcome.map(Some)
}

async fn queues_pass(
    client: &mut Object,
    broker: Option<&Broker>,
    scope: Scope,
    settings: &Settings<'_>,
) -> Result<Pass, StoreError> {
    let now: DateTime<Utc> = client.query_one("SELECT now()", &[]).await?.get(0);
    let drains = probe::drains(&*client).await?;
    let mut queues = WorkQueue::fixed().to_vec();
    for drain in &drains {
        if !queues.contains(&drain.lane.queue) {
            queues.push(drain.lane.queue.clone());
        }
    }
    let settle = chrono::Duration::from_std(settings.settle).unwrap_or(chrono::Duration::MAX);
    let mut pass = Pass::default();
    let resend = settle * i32::try_from(RESEND_AFTER_SETTLES).unwrap_or(i32::MAX);
    for queue in &queues {
        let lanes: Vec<Drain> = settings
            .topology
            .lanes(queue)
            .into_iter()
            .map(|lane| {
                drains
                    .iter()
                    .find(|d| d.lane == lane)
                    .cloned()
                    .unwrap_or_else(|| Drain::unknown(lane))
            })
            .collect();
        // The last probe that came through, once what it followed settled.
        let settled = |d: &Drain| d.drained_at.is_some_and(|at| at <= now - settle);
        let limit = match scope {
            Scope::Lost if lanes.iter().all(settled) => {
                lanes.iter().filter_map(|d| d.drained_through).min()
            }
            Scope::Lost => None,
            Scope::QueuedBefore(before) => Some(before),
        };
        if let Some(limit) = limit {
            let cutoff = match oldest_outbox_row(&*client, queue).await? {
                Some(oldest) => limit.min(oldest - OUTBOX_MARGIN),
                None => limit,
            };
            if settings.dry_run {
                pass.counts
                    .add(queue, open::count(&*client, queue, cutoff).await?);
            } else {
                requeue(client, queue, cutoff, settings, &mut pass).await?;
            }
        }
        let Some(broker) = broker.filter(|_| scope == Scope::Lost && !settings.dry_run) else {
            continue;
        };
        // One probe at a time per lane: the next once the last came
        // through and settled (or after a long while, in case it was lost
        // itself).
        let due: Vec<&Drain> = lanes
            .iter()
            .filter(|drain| match drain.probe_outstanding() {
                true => drain.probe_sent_at.is_some_and(|sent| sent <= now - resend),
                false => drain.drained_at.is_none() || settled(drain),
            })
            .collect();
        if due.is_empty() || !open::any(&*client, queue, now - settle).await? {
            continue;
        }
        for drain in due {
            if send_probe(broker, &drain.lane, now).await {
                probe::sent(&*client, &drain.lane, now).await?;
                pass.probed.push(drain.lane.clone());
            }
        }
    }
    Ok(pass)
}

/// Queues again the queue's open items queued before `cutoff`, batch after
/// batch.
async fn requeue(
    client: &mut Object,
    queue: &WorkQueue,
    cutoff: DateTime<Utc>,
    settings: &Settings<'_>,
    pass: &mut Pass,
) -> Result<(), StoreError> {
    let mut taken = 0;
    while taken < PASS_MAX {
        let tx = client.transaction().await?;
        let (items, messages) = open::take(&tx, queue, cutoff, BATCH, &settings.chunks).await?;
        pass.stored.extend(outbox::insert(&tx, messages).await?);
        tx.commit().await?;
        taken += items;
        pass.counts.add(queue, items as i64);
        if items < BATCH as usize {
            break;
        }
    }
    Ok(())
}

/// When the oldest outbox row of `queue`'s work was written.
async fn oldest_outbox_row(
    client: &impl GenericClient,
    queue: &WorkQueue,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let row = client
        .query_one(
            "SELECT min(created_at) FROM outbox WHERE target = 'work' AND routing_key = $1",
            &[&queue.key()],
        )
        .await?;
    Ok(row.get(0))
}

/// Sends a probe through `lane`, at the lowest priority; whether the
/// broker took it (if not, the next pass sends one).
async fn send_probe(broker: &Broker, lane: &Lane, sent_at: DateTime<Utc>) -> bool {
    let message = WorkMessage::Probe {
        queue: lane.clone(),
        sent_at,
    };
    let body = serde_json::to_vec(&message).unwrap_or_default();
    let exchange = broker.topology().work_exchange();
    let key = lane.key();
    let outgoing = Outgoing {
        exchange: &exchange,
        routing_key: &key,
        body: &body,
        priority: 0,
        kind: message.kind(),
        message_id: Some(uuid::Uuid::new_v4().to_string()),
        headers: None,
        mandatory: true,
    };
    match broker.publish(&[outgoing]).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(queue = %key, error = %e, "reconciliation probe not sent");
            false
        }
    }
}
