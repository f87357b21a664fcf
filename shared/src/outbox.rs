//! The transactional outbox. Whatever must reach RabbitMQ because of a state
//! change (work for the queues, results for consumers) is written as an
//! `outbox` row in the same transaction as the change. After the commit, the
//! writer hands its rows to its process's [`Relay`], which publishes them in
//! batches and deletes them, so that neither an HTTP answer nor a queue
//! acknowledgement waits for the broker; rows that are still there after a
//! grace period — the writer died, or the broker was down — are published by
//! a worker's sweeper ([`sweep`]). Nothing committed is lost. Delivery is
//! at least once: a row may be published twice (a crash between the
//! broker's confirm and the delete, or the relay and the sweeper meeting on
//! a row), so every message carries the row's UUID as its `message_id`,
//! unique across the database's history (a row's sequence number is not:
//! a restore or a failover issues the same numbers again).
//!
//! The broker confirms each message on its own: a row it refuses (nack,
//! no queue bound) or does not confirm in time is kept, with its attempts,
//! its last error and the time of its next attempt (a backoff of 1 s,
//! doubling up to [`RETRY_MAX`]), while the rows around it are published
//! and deleted; such rows are counted (`fila_outbox_refused_total`) and
//! shown (`fila_outbox_held_rows`, the dashboard's outbox card).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool, Transaction};
use lapin::types::{AMQPValue, FieldTable};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::amqp::broker::Confirm;
use crate::amqp::{Broker, BrokerError, Outgoing, Topology};
use crate::db::StoreError;
use crate::envelope::{ResultMessage, WorkMessage};
use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

impl From<tokio_postgres::Error> for OutboxError {
    fn from(e: tokio_postgres::Error) -> Self {
        OutboxError::Store(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for OutboxError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        OutboxError::Store(e.into())
    }
}

/// Which exchange a row goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Work,
    Results,
}

impl Target {
    fn as_str(self) -> &'static str {
        match self {
            Target::Work => "work",
            Target::Results => "results",
        }
    }

    fn from_db(value: &str) -> Self {
        if value == "work" {
            Target::Work
        } else {
            Target::Results
        }
    }
}

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub target: Target,
    pub routing_key: String,
    pub priority: u8,
    pub kind: String,
    pub body: Vec<u8>,
}

impl OutboxMessage {
    pub fn work(message: &WorkMessage, priority: u8) -> Self {
        Self {
            target: Target::Work,
            routing_key: message.queue().key(),
            priority,
            kind: message.kind().to_string(),
            body: serde_json::to_vec(message).unwrap_or_default(),
        }
    }

    pub fn result(message: &ResultMessage, routing_key: String) -> Self {
        Self::raw_result(
            message.kind(),
            routing_key,
            serde_json::to_vec(message).unwrap_or_default(),
        )
    }

    /// A result whose body is given as is (an EAI response message).
    pub fn raw_result(kind: &str, routing_key: String, body: Vec<u8>) -> Self {
        Self {
            target: Target::Results,
            routing_key,
            priority: 0,
            kind: kind.to_string(),
            body,
        }
    }
}

/// A row written in a transaction, to publish once it commits.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: i64,
    /// The message's `message_id`: a UUID.
    pub message_id: String,
    pub message: OutboxMessage,
    /// The trace the row's message continues.
    pub traceparent: Option<String>,
    /// When the row was written: when the work was accepted.
    pub created_at: DateTime<Utc>,
}

/// The AMQP header of a work message carrying when its work was accepted
/// (milliseconds since the epoch), for the end-to-end latency.
pub const ACCEPTED_AT_HEADER: &str = "x-fila-accepted-ms";

/// Writes messages in the caller's transaction (one statement).
pub async fn insert(
    tx: &Transaction<'_>,
    messages: Vec<OutboxMessage>,
) -> Result<Vec<Stored>, StoreError> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let targets: Vec<&str> = messages.iter().map(|m| m.target.as_str()).collect();
    let keys: Vec<&str> = messages.iter().map(|m| m.routing_key.as_str()).collect();
    let priorities: Vec<i16> = messages.iter().map(|m| i16::from(m.priority)).collect();
    let kinds: Vec<&str> = messages.iter().map(|m| m.kind.as_str()).collect();
    let bodies: Vec<&[u8]> = messages.iter().map(|m| m.body.as_slice()).collect();
    let traceparent = telemetry::current_traceparent();
    let statement = tx
        .prepare_cached(
            "INSERT INTO outbox (target, routing_key, priority, kind, body, traceparent)
             SELECT *, $6 FROM unnest($1::text[], $2::text[], $3::int2[], $4::text[], $5::bytea[])
             RETURNING id, created_at, message_id::text",
        )
        .await?;
    let rows = tx
        .query(
            &statement,
            &[&targets, &keys, &priorities, &kinds, &bodies, &traceparent],
        )
        .await?;
    Ok(rows
        .iter()
        .zip(messages)
        .map(|(row, message)| Stored {
            id: row.get("id"),
            message_id: row.get("message_id"),
            message,
            traceparent: traceparent.clone(),
            created_at: row.get("created_at"),
        })
        .collect())
}

/// Rows a relay publishes in one batch, at most.
const RELAY_BATCH: usize = 1_000;
/// Handed-over row sets a relay holds before writers wait for it.
const RELAY_BACKLOG: usize = 256;
/// The longest a writer waits for a full relay (the broker slow, or
/// blocking publishers); then its rows are left to the sweeper.
const HANDOVER_WAIT: Duration = Duration::from_millis(500);
/// The longest backoff of a row the broker refused.
pub const RETRY_MAX: Duration = Duration::from_secs(30);

/// Publishes committed rows in the background, in batches: what writers
/// hand over while a batch is being published goes out in the next one, in
/// one pipelined publish and one DELETE.
#[derive(Clone)]
pub struct Relay {
    handover: mpsc::Sender<Vec<Stored>>,
}

impl Relay {
    /// Starts the relay; it stops once every clone of it is dropped and what
    /// it holds is published. Rows the broker refuses are counted in
    /// `refused`.
    pub fn spawn(pool: Pool, broker: Arc<Broker>, refused: Counter) -> (Relay, JoinHandle<()>) {
        let (handover, mut rows) = mpsc::channel::<Vec<Stored>>(RELAY_BACKLOG);
        let task = tokio::spawn(async move {
            while let Some(mut batch) = rows.recv().await {
                while batch.len() < RELAY_BATCH {
                    match rows.try_recv() {
                        Ok(more) => batch.extend(more),
                        Err(_) => break,
                    }
                }
                if let Err(e) = publish_stored(&pool, &broker, &batch, &refused).await {
                    tracing::warn!(error = %e, rows = batch.len(), "outbox rows wait for the sweeper");
                }
            }
        });
        (Relay { handover }, task)
    }

    /// Hands committed rows over. A writer waits at most [`HANDOVER_WAIT`]
    /// for a relay that is far behind; then the rows are left to the
    /// sweeper (they are committed either way).
    pub async fn publish(&self, stored: Vec<Stored>) {
        if stored.is_empty() {
            return;
        }
        match self.handover.send_timeout(stored, HANDOVER_WAIT).await {
            Ok(()) => {}
            Err(mpsc::error::SendTimeoutError::Timeout(rows)) => {
                tracing::debug!(
                    rows = rows.len(),
                    "the outbox relay is behind; the sweeper will publish these rows"
                );
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                tracing::warn!("the outbox relay has stopped; the sweeper will publish");
            }
        }
    }
}

/// What a publication did with its rows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Rows the broker confirmed, now deleted.
    pub confirmed: usize,
    /// Rows the broker refused or did not confirm, kept for a later
    /// attempt after their backoff.
    pub held: usize,
}

/// Publishes committed rows, deletes those the broker confirmed and holds
/// back the others (see the module's documentation). When nothing could
/// be sent (no connection, publishers blocked), every row stays as it was
/// for the sweeper; the caller's work is committed either way.
pub async fn publish_stored(
    pool: &Pool,
    broker: &Broker,
    stored: &[Stored],
    refused: &Counter,
) -> Result<Published, OutboxError> {
    if stored.is_empty() {
        return Ok(Published::default());
    }
    let confirms = publish(broker, stored).await?;
    let client = pool.get().await?;
    Ok(settle(&client, stored, confirms, refused).await?)
}

/// Publishes up to `limit` rows older than `grace` whose backoff, if they
/// were refused before, is over.
pub async fn sweep(
    pool: &Pool,
    broker: &Broker,
    grace: Duration,
    limit: i64,
    refused: &Counter,
) -> Result<Published, OutboxError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "SELECT id, message_id::text, target, routing_key, priority, kind, body, traceparent,
                    created_at
             FROM outbox
             WHERE created_at < now() - make_interval(secs => $1)
               AND (retry_at IS NULL OR retry_at <= now())
             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
            &[&grace.as_secs_f64(), &limit],
        )
        .await?;
    if rows.is_empty() {
        return Ok(Published::default());
    }
    let stored: Vec<Stored> = rows
        .iter()
        .map(|row| Stored {
            id: row.get("id"),
            message_id: row.get("message_id"),
            message: OutboxMessage {
                target: Target::from_db(row.get("target")),
                routing_key: row.get("routing_key"),
                priority: u8::try_from(row.get::<_, i16>("priority")).unwrap_or(0),
                kind: row.get("kind"),
                body: row.get("body"),
            },
            traceparent: row.get("traceparent"),
            created_at: row.get("created_at"),
        })
        .collect();
    let confirms = publish(broker, &stored).await?;
    let published = settle(&tx, &stored, confirms, refused).await?;
    tx.commit().await?;
    Ok(published)
}

/// Deletes the rows the broker confirmed; holds back the others with their
/// attempt counted, their error and the time of their next attempt.
async fn settle(
    client: &impl GenericClient,
    stored: &[Stored],
    confirms: Vec<Confirm>,
    refused: &Counter,
) -> Result<Published, StoreError> {
    let mut confirmed = Vec::with_capacity(stored.len());
    let mut held = Vec::new();
    let mut reasons = Vec::new();
    for (row, confirm) in stored.iter().zip(confirms) {
        match confirm {
            Ok(()) => confirmed.push(row.id),
            Err(e) => {
                held.push(row.id);
                reasons.push(e.to_string());
            }
        }
    }
    if !confirmed.is_empty() {
        let delete = client
            .prepare_cached("DELETE FROM outbox WHERE id = ANY($1)")
            .await?;
        client.execute(&delete, &[&confirmed]).await?;
    }
    if !held.is_empty() {
        tracing::warn!(
            rows = held.len(),
            reason = %reasons[0],
            "the broker did not take some outbox rows; they are tried again after a backoff"
        );
        refused.inc_by(held.len() as u64);
        let hold = client
            .prepare_cached(
                "UPDATE outbox o
                 SET attempts = o.attempts + 1, last_error = h.reason,
                     retry_at = now() + make_interval(secs => least(power(2, o.attempts), $3))
                 FROM unnest($1::int8[], $2::text[]) AS h(id, reason)
                 WHERE o.id = h.id",
            )
            .await?;
        client
            .execute(&hold, &[&held, &reasons, &RETRY_MAX.as_secs_f64()])
            .await?;
    }
    Ok(Published {
        confirmed: confirmed.len(),
        held: held.len(),
    })
}

/// Publishes rows; each row of a trace gets a `fila.publish` span in it
/// (open until the broker confirmed the batch), which the message carries
/// on as its `traceparent` header.
async fn publish(broker: &Broker, stored: &[Stored]) -> Result<Vec<Confirm>, BrokerError> {
    let topology: &Topology = broker.topology();
    let work = topology.work_exchange();
    let results = topology.results_exchange();
    let spans: Vec<Option<tracing::Span>> = stored
        .iter()
        .map(|s| {
            let traceparent = s.traceparent.as_deref()?;
            let span = tracing::info_span!("fila.publish", routing_key = %s.message.routing_key);
            telemetry::continue_trace(&span, Some(traceparent));
            Some(span)
        })
        .collect();
    let messages: Vec<Outgoing<'_>> = stored
        .iter()
        .zip(&spans)
        .map(|(s, span)| Outgoing {
            exchange: match s.message.target {
                Target::Work => &work,
                Target::Results => &results,
            },
            routing_key: &s.message.routing_key,
            body: &s.message.body,
            priority: s.message.priority,
            kind: &s.message.kind,
            message_id: Some(s.message_id.clone()),
            headers: headers(s, span.as_ref()),
            mandatory: s.message.target == Target::Work,
        })
        .collect();
    broker.publish_each(&messages).await
}

/// The AMQP headers of a row's message: `span`'s trace context, and for
/// work when it was accepted.
fn headers(stored: &Stored, span: Option<&tracing::Span>) -> Option<FieldTable> {
    let mut headers = FieldTable::default();
    if let Some(traceparent) = span.and_then(|s| s.in_scope(telemetry::current_traceparent)) {
        headers.insert(
            telemetry::TRACEPARENT.into(),
            AMQPValue::LongString(traceparent.into()),
        );
    }
    if stored.message.target == Target::Work {
        headers.insert(
            ACCEPTED_AT_HEADER.into(),
            AMQPValue::LongLongInt(stored.created_at.timestamp_millis()),
        );
    }
    (!headers.inner().is_empty()).then_some(headers)
}

/// The rows not yet published.
pub struct Backlog {
    pub rows: i64,
    /// Rows the broker refused or did not confirm, waiting for their next
    /// attempt.
    pub held: i64,
    /// Age of the oldest row, in seconds (0 when there is none).
    pub oldest_age_secs: f64,
}

pub async fn backlog(pool: &Pool) -> Result<Backlog, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*) AS rows, count(*) FILTER (WHERE attempts > 0) AS held,
                    coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age
             FROM outbox",
            &[],
        )
        .await?;
    Ok(Backlog {
        rows: row.get("rows"),
        held: row.get("held"),
        oldest_age_secs: row.get::<_, f64>("age").max(0.0),
    })
}
