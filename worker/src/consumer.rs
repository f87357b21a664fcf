//! Consuming one work queue. At most `worker_concurrency` messages are
//! processed at once (a semaphore), with `worker_prefetch` delivered ahead
//! (on a worker group's process queue, `process_concurrency` runs at once
//! and twice as many ahead), and each is acknowledged only after its
//! handler made the work durable.
//!
//! The queue's lanes are consumed together and taken most urgent first
//! (see [`crate::lanes`]); what RabbitMQ's delivery limit gave up on comes
//! from the queue's `given-up` queue and is recorded as a dead letter.
//!
//! A failing message is not requeued in place (that would spin on it): it is
//! republished to its lane's retry queue for its attempt, whose TTL returns
//! it to the lane after 1 s, 10 s, then 60 s; the attempt number
//! travels in the `x-fila-attempt` header, each failure in `x-fila-history`
//! (see [`crate::attempts`]). After `worker_max_attempts`, or at once for a
//! message that cannot be decoded, it is recorded as a dead letter in
//! PostgreSQL with its reason and history (see [`fila_shared::dead_letter`]).
//! A handler that panics counts as a failure; a message whose work another
//! transaction holds waits 10 s without counting. A message the broker
//! delivers again is handled alone and its starts are counted, so that one
//! that kills its worker is dead-lettered too (see [`crate::redelivery`]). When the failed message
//! cannot be moved (broker or database trouble), it is returned to the queue
//! after a pause rather than at once.
//!
//! Consumers have a connection of their own, apart from publishing, and
//! every call they make to the broker is bounded (see
//! [`fila_shared::amqp::broker`]). When the connection drops, or stops
//! answering (missed heartbeats), the loop reconnects with capped backoff;
//! unacknowledged messages return to the queue by themselves, while the
//! work in flight carries on (a message whose acknowledgement is lost is
//! processed again, which every handler tolerates; a process run, which
//! acknowledges its message as soon as its claim is recorded, just goes on).
//! When a message finds the database unreachable, it returns to the queue
//! without counting an attempt, and every consumer of the worker stops
//! taking messages until the database answers again (checked with capped
//! backoff). A queue an operator paused is not consumed until resumed
//! (see [`crate::pauses`]). On stop, the consumer is cancelled and in-flight messages get
//! `worker_shutdown_grace_secs` to finish.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fila_shared::amqp::{BrokerError, Feeds, Lane, Outgoing, WorkQueue};
use fila_shared::config::Config;
use fila_shared::db::{self, StoreError};
use fila_shared::dead_letter::{self, DeadLetter};
use fila_shared::deliveries::Starts;
use fila_shared::envelope::WorkMessage;
use fila_shared::metrics::{Gauge, MessageLabels, QueueLabels};
use fila_shared::outbox::ACCEPTED_AT_HEADER;
use fila_shared::telemetry;
use futures::FutureExt;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::attempts::{self, Failed};
use crate::context::{Context, Stop};
use crate::disposition::{self, Disposition, Failure};
use crate::handler;
use crate::handling::{Ack, Attempt};
use crate::lanes::{Incoming, Taken};
use crate::redelivery::{self, Counted};

const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Why consuming ended without a broker failure.
enum Ended {
    Stopped,
    DatabaseUnavailable,
    Paused,
}

/// Consumes `queue` until a stop is requested.
pub async fn run(ctx: Arc<Context>, queue: WorkQueue, mut stop: Stop) {
    let mut failures = 0u32;
    let (concurrency, _) = limits(&ctx.config, &queue);
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    while !stop.requested() {
        if ctx.pauses.is_paused(&queue.key()) {
            await_resume(&ctx, &queue, &mut stop).await;
            continue;
        }
        match consume(&ctx, &queue, &mut stop, &permits, &mut tasks).await {
            Ok(Ended::Stopped) => failures = 0,
            Ok(Ended::DatabaseUnavailable) => {
                failures = 0;
                await_database(&ctx, &queue, &mut stop).await;
                continue;
            }
            Ok(Ended::Paused) => {
                failures = 0;
                continue;
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, queue = %queue.key(), "consumer interrupted; reconnecting");
            }
        }
        if stop.requested() {
            break;
        }
        let delay = BACKOFF_FIRST
            .saturating_mul(1 << failures.min(8))
            .min(BACKOFF_MAX);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait() => {}
        }
    }
    if !settle(&ctx, &mut tasks).await {
        abandon(&queue, &mut tasks).await;
    }
}

/// Waits up to `worker_shutdown_grace_secs` for the messages in flight;
/// whether they all finished.
async fn settle(ctx: &Context, tasks: &mut JoinSet<()>) -> bool {
    let grace = Duration::from_secs(ctx.config.worker_shutdown_grace_secs);
    tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_ok()
}

/// Stops the messages still in flight: unacknowledged ones return to the
/// queue, a process run is taken over once its lease ends.
async fn abandon(queue: &WorkQueue, tasks: &mut JoinSet<()>) {
    tracing::warn!(
        queue = %queue.key(),
        in_flight = tasks.len(),
        "grace period over: unfinished messages return to the queue"
    );
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// Waits until an operator resumes the queue (or a stop).
async fn await_resume(ctx: &Context, queue: &WorkQueue, stop: &mut Stop) {
    let key = queue.key();
    tracing::info!(queue = %key, "queue paused by an operator: consumption stopped");
    tokio::select! {
        _ = ctx.pauses.resumed(&key) => {
            tracing::info!(queue = %key, "queue resumed: consumption resumes");
        }
        _ = stop.wait() => {}
    }
}

/// Waits until the database answers (or a stop), then clears the outage.
async fn await_database(ctx: &Context, queue: &WorkQueue, stop: &mut Stop) {
    tracing::warn!(queue = %queue.key(), "database unreachable: consumption paused");
    let mut delay = BACKOFF_FIRST;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait() => return,
        }
        if db::ping(&ctx.pool).await.is_ok() {
            ctx.database.clear();
            tracing::info!(queue = %queue.key(), "database reachable: consumption resumes");
            return;
        }
        delay = delay.saturating_mul(2).min(BACKOFF_MAX);
    }
}

async fn consume(
    ctx: &Arc<Context>,
    queue: &WorkQueue,
    stop: &mut Stop,
    permits: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
) -> Result<Ended, BrokerError> {
    let tag = format!("{}-{}", ctx.name, queue.key());
    let (concurrency, prefetch) = limits(&ctx.config, queue);
    let Feeds {
        channel,
        lanes,
        given_up,
    } = ctx.broker.consume(queue, prefetch, &tag).await?;
    let mut incoming = Incoming::new(lanes, given_up);
    tracing::info!(queue = %queue.key(), "consuming");
    let key = queue.key();
    let ended = loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            _ = stop.wait() => break Ok(Ended::Stopped),
            _ = ctx.database.reported() => break Ok(Ended::DatabaseUnavailable),
            _ = ctx.pauses.paused(&key) => break Ok(Ended::Paused),
        };
        let Ok(permit) = permit else {
            break Ok(Ended::Stopped);
        };
        let next = tokio::select! {
            next = incoming.next() => next,
            _ = stop.wait() => break Ok(Ended::Stopped),
            _ = ctx.database.reported() => break Ok(Ended::DatabaseUnavailable),
            _ = ctx.pauses.paused(&key) => break Ok(Ended::Paused),
        };
        match next {
            Ok(Taken::GivenUp(delivery)) => {
                let (ctx, queue) = (ctx.clone(), queue.clone());
                tasks.spawn(async move {
                    record_given_up(&ctx, &queue, delivery).await;
                    drop(permit);
                });
            }
            Ok(Taken::Work(lane, delivery)) => {
                let mut permit = permit;
                // A redelivered message is handled alone: if it kills the
                // worker, it is the one whose handling started.
                let others = concurrency.saturating_sub(1);
                if delivery.redelivered && others > 0 {
                    let others = u32::try_from(others).unwrap_or(u32::MAX);
                    let rest = tokio::select! {
                        rest = permits.clone().acquire_many_owned(others) => rest,
                        _ = stop.wait() => break Ok(Ended::Stopped),
                    };
                    match rest {
                        Ok(rest) => permit.merge(rest),
                        Err(_) => break Ok(Ended::Stopped),
                    }
                }
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    handle(&ctx, &lane, delivery).await;
                    drop(permit);
                });
            }
            Err(e) => break Err(e.into()),
        }
        while let Some(joined) = tasks.try_join_next() {
            if let Err(e) = joined {
                tracing::error!(error = %e, "message task failed");
            }
        }
    };
    if let Ok(ended) = &ended {
        for tag in incoming.tags() {
            let _ = ctx
                .broker
                .bounded(channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()))
                .await;
        }
        // Messages in flight are acknowledged on this channel: it stays
        // open while they finish.
        if !settle(ctx, tasks).await && matches!(ended, Ended::Stopped) {
            abandon(queue, tasks).await;
        }
    }
    let _ = ctx
        .broker
        .bounded(channel.close(200, "consumer stopping".into()))
        .await;
    ended
}

/// Messages of `queue` handled at once, and delivered ahead.
fn limits(config: &Config, queue: &WorkQueue) -> (usize, u16) {
    match queue {
        WorkQueue::Process(_) => (
            config.process_concurrency,
            u16::try_from(config.process_concurrency.saturating_mul(2)).unwrap_or(u16::MAX),
        ),
        WorkQueue::Taf | WorkQueue::Eai => (config.worker_concurrency, config.worker_prefetch),
    }
}

/// Why a failed message could not be moved on.
#[derive(Debug, thiserror::Error)]
enum MoveError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of a message (the `outcome` label of its metric).
type Handled = &'static str;

/// Handles a message, measured.
async fn handle(ctx: &Context, lane: &Lane, delivery: Delivery) {
    let queue = &lane.queue;
    let labels = QueueLabels { queue: queue.key() };
    let in_flight = InFlight::new(ctx.metrics.in_flight.get_or_create_owned(&labels));
    let span = tracing::info_span!(
        "fila.message",
        queue = %labels.queue,
        trace_id = tracing::field::Empty,
        rec_nos = tracing::field::Empty,
        uuids = tracing::field::Empty,
        batch = tracing::field::Empty,
        job_id = tracing::field::Empty,
        process = tracing::field::Empty,
    );
    let headers = delivery.properties.headers().as_ref();
    let header = |name: &str| headers.and_then(|h| h.inner().get(name));
    let traceparent = match header(telemetry::TRACEPARENT) {
        Some(AMQPValue::LongString(value)) => Some(value.to_string()),
        _ => None,
    };
    telemetry::continue_trace(&span, traceparent.as_deref());
    let accepted_ms = match header(ACCEPTED_AT_HEADER) {
        Some(AMQPValue::LongLongInt(ms)) => Some(*ms),
        _ => None,
    };
    let started = Instant::now();
    let handled = handle_delivery(ctx, lane, delivery).instrument(span).await;
    drop(in_flight);
    ctx.metrics
        .processing
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    if let (disposition::DONE, Some(accepted_ms)) = (handled, accepted_ms) {
        let waited_ms = chrono::Utc::now()
            .timestamp_millis()
            .saturating_sub(accepted_ms);
        ctx.metrics
            .work_latency
            .get_or_create(&labels)
            .observe(waited_ms.max(0) as f64 / 1000.0);
    }
    let labels = MessageLabels {
        queue: labels.queue,
        outcome: handled,
    };
    ctx.metrics.messages.get_or_create(&labels).inc();
}

/// Counts a message in flight until dropped (also when its task is
/// aborted).
struct InFlight(Gauge);

impl InFlight {
    fn new(gauge: Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn handle_delivery(ctx: &Context, lane: &Lane, delivery: Delivery) -> Handled {
    let queue = &lane.queue;
    let attempt = attempts::attempt_of(delivery.properties.headers().as_ref());
    let ack = Ack::new(delivery.acker.clone(), ctx.broker.call_timeout());
    let max_attempts = ctx.config.worker_max_attempts;
    let counted = Counted::of(ctx, &queue.key(), &delivery).await;
    if let Counted::DatabaseUnavailable(reason) = counted {
        let returned = Disposition::Return { reason };
        return apply(ctx, lane, &delivery, attempt, &ack, returned, None).await;
    }
    let starts = counted.starts();
    let disposition = match starts.and_then(|s| disposition::admit(s.count, attempt, max_attempts))
    {
        Some(buried) => buried,
        None => {
            let outcome = handle_message(ctx, &delivery.data, attempt, &ack).await;
            disposition::decide(outcome, attempt, max_attempts, ack.sent())
        }
    };
    let handled = apply(ctx, lane, &delivery, attempt, &ack, disposition, starts).await;
    if starts.is_some() {
        redelivery::ended(ctx, &delivery).await;
    }
    handled
}

/// Records a message RabbitMQ's delivery limit took from `queue` as a
/// dead letter, with its history (see `fila_shared::amqp::topology`).
async fn record_given_up(ctx: &Context, queue: &WorkQueue, delivery: Delivery) {
    let attempt = attempts::attempt_of(delivery.properties.headers().as_ref());
    let ack = Ack::new(delivery.acker.clone(), ctx.broker.call_timeout());
    let reason = format!(
        "RabbitMQ gave up on it: delivered amqp_delivery_limit ({}) times without an \
         acknowledgement (each time its worker stopped, or returned it to the queue)",
        ctx.config.amqp_delivery_limit
    );
    let buried = Disposition::DeadLetter {
        attempts: attempt,
        reason,
    };
    let lane = Lane::whole(queue.clone());
    let handled = apply(ctx, &lane, &delivery, attempt, &ack, buried, None).await;
    let labels = MessageLabels {
        queue: queue.key(),
        outcome: handled,
    };
    ctx.metrics.messages.get_or_create(&labels).inc();
}

/// Decodes and dispatches the message; a handler that panics fails.
async fn handle_message(
    ctx: &Context,
    data: &[u8],
    attempt: u32,
    ack: &Ack,
) -> Result<(), Failure> {
    let message = serde_json::from_slice::<WorkMessage>(data)
        .map_err(|e| Failure::Poison(format!("undecodable message: {e}")))?;
    let this = Attempt {
        last: attempt >= ctx.config.worker_max_attempts,
    };
    match AssertUnwindSafe(handler::dispatch(ctx, &message, this, ack))
        .catch_unwind()
        .await
    {
        Ok(handled) => handled.map_err(Failure::of),
        Err(panic) => Err(Failure::panicked(&panic_text(panic.as_ref()))),
    }
}

/// Carries out the disposition of a message of `lane` (a retry returns it
/// there); `starts`, the counted starts of a redelivered message's
/// handling, join a dead letter's history.
async fn apply(
    ctx: &Context,
    lane: &Lane,
    delivery: &Delivery,
    attempt: u32,
    ack: &Ack,
    disposition: Disposition,
    starts: Option<&Starts>,
) -> Handled {
    let queue = &lane.queue;
    let label = disposition.label();
    if disposition.database_unavailable() {
        ctx.database.report();
    }
    let headers = delivery.properties.headers().as_ref();
    let key = queue.key();
    let moved = match disposition {
        Disposition::Ack => Ok(()),
        Disposition::Leased { failure: None } => return label,
        Disposition::Leased {
            failure: Some(Failure::DatabaseUnavailable(reason)),
        } => {
            tracing::warn!(queue = %key, %reason, "database unreachable; the work is taken over once its lease ends");
            return label;
        }
        Disposition::Leased {
            failure: Some(failure),
        } => {
            tracing::warn!(queue = %key, ?failure, "work failed after its message was acknowledged; it is taken over once its lease ends");
            return label;
        }
        Disposition::Return { reason } => {
            tracing::warn!(queue = %key, %reason, "database unreachable; the message returns to the queue");
            requeue(ctx, delivery).await;
            return label;
        }
        Disposition::Retry {
            tier,
            attempt: next,
            reason,
            counted,
        } => {
            let failed = counted.then_some(Failed {
                attempt,
                worker: &ctx.name,
            });
            if counted {
                tracing::warn!(queue = %key, attempt, %reason, "message failed; retrying later");
            } else {
                tracing::info!(queue = %key, %reason, "message busy; retrying later");
            }
            let retry_queue = ctx.broker.topology().retry_queue(lane, tier);
            let headers = attempts::next_trip(headers, next, &reason, failed);
            retry(ctx, delivery, &retry_queue, headers).await
        }
        Disposition::DeadLetter {
            attempts: count,
            reason,
        } => {
            tracing::error!(queue = %key, attempt, %reason, "message dead-lettered");
            let failed = Failed {
                attempt: count,
                worker: &ctx.name,
            };
            let headers = attempts::next_trip(headers, count, &reason, Some(failed));
            let mut history = attempts::history(&headers);
            if let (Some(starts), Some(entries)) = (starts, history.as_array_mut()) {
                let stops = redelivery::stopped_starts(starts, attempt);
                let at = entries.len().saturating_sub(1);
                entries.splice(at..at, stops);
            }
            bury(ctx, queue, delivery, count, &reason, history).await
        }
    };
    match moved {
        Ok(()) => {
            ack.send().await;
            label
        }
        Err(MoveError::Store(e)) if e.is_unavailable() => {
            tracing::warn!(queue = %key, error = %e, "database unreachable; the message returns to the queue");
            ctx.database.report();
            requeue(ctx, delivery).await;
            disposition::RETURNED
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot move the failed message; it returns to the queue");
            tokio::time::sleep(BACKOFF_FIRST).await;
            requeue(ctx, delivery).await;
            disposition::RETURNED
        }
    }
}

/// Returns the message to its queue as it came (its attempt unchanged).
async fn requeue(ctx: &Context, delivery: &Delivery) {
    let options = BasicNackOptions {
        requeue: true,
        ..Default::default()
    };
    if let Err(e) = ctx.broker.bounded(delivery.acker.nack(options)).await {
        tracing::warn!(error = %e, "acknowledgement lost; the message will be redelivered");
    }
}

/// Sends the message to `retry_queue`, whose TTL returns it to its queue.
async fn retry(
    ctx: &Context,
    delivery: &Delivery,
    retry_queue: &str,
    headers: FieldTable,
) -> Result<(), MoveError> {
    let properties = &delivery.properties;
    let message = Outgoing {
        exchange: "",
        routing_key: retry_queue,
        body: &delivery.data,
        priority: properties.priority().unwrap_or(0),
        kind: kind_of(delivery),
        message_id: properties.message_id().as_ref().map(|id| id.to_string()),
        headers: Some(headers),
        mandatory: true,
    };
    Ok(ctx.broker.publish(&[message]).await?)
}

/// Records the message as a dead letter.
async fn bury(
    ctx: &Context,
    queue: &WorkQueue,
    delivery: &Delivery,
    attempts: u32,
    reason: &str,
    history: serde_json::Value,
) -> Result<(), MoveError> {
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.to_string());
    let letter = DeadLetter {
        queue: &queue.key(),
        kind: kind_of(delivery),
        message_id: message_id.as_deref(),
        priority: delivery.properties.priority().unwrap_or(0),
        body: &delivery.data,
        reason,
        attempts,
        history,
    };
    Ok(dead_letter::record(&ctx.pool, &letter).await?)
}

fn kind_of(delivery: &Delivery) -> &str {
    delivery
        .properties
        .kind()
        .as_ref()
        .map(|k| k.as_str())
        .unwrap_or_default()
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
