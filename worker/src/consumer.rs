//! Consuming one work queue. At most `worker_concurrency` messages are
//! processed at once (a semaphore), with `worker_prefetch` delivered ahead,
//! and each is acknowledged only after its handler made the work durable.
//!
//! A failing message is not requeued in place (that would spin on it): it is
//! republished to the queue's retry queue for its attempt, whose TTL returns
//! it to the work queue after 1 s, 10 s, then 60 s; the attempt number
//! travels in the `x-fila-attempt` header. After `worker_max_attempts`, or at
//! once for a message that cannot be decoded, it goes to the dead-letter
//! queue with `x-fila-reason`. A handler that panics counts as a failure; a
//! message whose work another transaction holds waits 10 s without counting.
//! When the failed message cannot be moved (broker trouble), it is returned
//! to the queue after a pause rather than at once.
//!
//! When the connection drops, the loop reconnects with capped backoff;
//! unacknowledged messages return to the queue by themselves. When a message
//! finds the database unreachable, it returns to the queue without counting
//! an attempt, and every consumer of the worker stops taking messages until
//! the database answers again (checked with capped backoff). On stop, the
//! consumer is cancelled and in-flight messages get
//! `worker_shutdown_grace_secs` to finish.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use fila_shared::amqp::{BrokerError, Outgoing, WorkQueue};
use fila_shared::db;
use fila_shared::envelope::WorkMessage;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::context::{Context, Stop};
use crate::handler::{self, Attempt, HandleError};

const ATTEMPT_HEADER: &str = "x-fila-attempt";
const REASON_HEADER: &str = "x-fila-reason";
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// The retry tier of a busy message (10 s).
const BUSY_RETRY: u32 = 2;
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Why consuming ended without a broker failure.
enum Ended {
    Stopped,
    DatabaseUnavailable,
}

/// Consumes `queue` until a stop is requested.
pub async fn run(ctx: Arc<Context>, queue: WorkQueue, mut stop: Stop) {
    let mut failures = 0u32;
    while !stop.requested() {
        match consume(&ctx, &queue, &mut stop).await {
            Ok(Ended::Stopped) => failures = 0,
            Ok(Ended::DatabaseUnavailable) => {
                failures = 0;
                await_database(&ctx, &queue, &mut stop).await;
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
) -> Result<Ended, BrokerError> {
    let channel = ctx.broker.channel().await?;
    ctx.broker.topology().declare_queue(&channel, queue).await?;
    channel
        .basic_qos(ctx.config.worker_prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("{}-{}", ctx.name, queue.key());
    let mut consumer = channel
        .basic_consume(
            ctx.broker.topology().queue(queue).into(),
            tag.clone().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %queue.key(), "consuming");
    let permits = Arc::new(Semaphore::new(ctx.config.worker_concurrency));
    let mut tasks = JoinSet::new();
    let ended = loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            _ = stop.wait() => break Ok(Ended::Stopped),
            _ = ctx.database.reported() => break Ok(Ended::DatabaseUnavailable),
        };
        let Ok(permit) = permit else {
            break Ok(Ended::Stopped);
        };
        let next = tokio::select! {
            next = consumer.next() => next,
            _ = stop.wait() => break Ok(Ended::Stopped),
            _ = ctx.database.reported() => break Ok(Ended::DatabaseUnavailable),
        };
        match next {
            Some(Ok(delivery)) => {
                let (ctx, queue) = (ctx.clone(), queue.clone());
                tasks.spawn(async move {
                    handle(&ctx, &queue, delivery).await;
                    drop(permit);
                });
            }
            Some(Err(e)) => break Err(e.into()),
            None => {
                break Err(BrokerError::Unavailable(
                    "the consumer was cancelled".into(),
                ));
            }
        }
        while let Some(joined) = tasks.try_join_next() {
            if let Err(e) = joined {
                tracing::error!(error = %e, "message task failed");
            }
        }
    };
    if ended.is_ok() {
        let _ = channel
            .basic_cancel(tag.into(), BasicCancelOptions::default())
            .await;
    }
    let grace = Duration::from_secs(ctx.config.worker_shutdown_grace_secs);
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            in_flight = tasks.len(),
            "grace period over: unfinished messages return to the queue"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    let _ = channel.close(200, "consumer stopping".into()).await;
    ended
}

/// Why a message could not be processed.
enum Failure {
    /// Its work is held elsewhere: try again later, without counting.
    Busy(String),
    /// The database is unreachable: back to the queue, without counting.
    DatabaseUnavailable(String),
    /// Its work failed and will retry itself: back off, never dead-letter.
    Again(String),
    /// Worth another attempt.
    Retry(String),
    /// Never worth another attempt.
    Poison(String),
}

async fn handle(ctx: &Context, queue: &WorkQueue, delivery: Delivery) {
    let attempt = attempt_of(&delivery);
    let outcome = match serde_json::from_slice::<WorkMessage>(&delivery.data) {
        Err(e) => Err(Failure::Poison(format!("undecodable message: {e}"))),
        Ok(message) => match AssertUnwindSafe(handler::dispatch(
            ctx,
            &message,
            Attempt {
                last: attempt >= ctx.config.worker_max_attempts,
            },
        ))
        .catch_unwind()
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e @ HandleError::Busy(_))) => Err(Failure::Busy(e.to_string())),
            Ok(Err(HandleError::Store(e))) if e.is_unavailable() => {
                Err(Failure::DatabaseUnavailable(e.to_string()))
            }
            Ok(Err(e @ HandleError::Again(_))) => Err(Failure::Again(e.to_string())),
            Ok(Err(e)) => Err(Failure::Retry(e.to_string())),
            Err(panic) => Err(Failure::Retry(format!(
                "handler panicked: {}",
                panic_text(panic.as_ref())
            ))),
        },
    };
    let settled = match outcome {
        Ok(()) => Ok(()),
        Err(Failure::DatabaseUnavailable(reason)) => {
            tracing::warn!(queue = %queue.key(), %reason, "database unreachable; the message returns to the queue");
            ctx.database.report();
            requeue(&delivery).await;
            return;
        }
        Err(Failure::Busy(reason)) => {
            tracing::info!(queue = %queue.key(), %reason, "message busy; retrying later");
            let retry_queue = ctx.broker.topology().retry_queue(queue, BUSY_RETRY);
            republish(ctx, &delivery, "", &retry_queue, attempt, &reason).await
        }
        Err(Failure::Again(reason)) => {
            tracing::info!(queue = %queue.key(), attempt, %reason, "work failed; its retry waits");
            let retry_queue = ctx.broker.topology().retry_queue(queue, attempt);
            republish(ctx, &delivery, "", &retry_queue, attempt + 1, &reason).await
        }
        Err(Failure::Retry(reason)) if attempt < ctx.config.worker_max_attempts => {
            tracing::warn!(queue = %queue.key(), attempt, %reason, "message failed; retrying later");
            let retry_queue = ctx.broker.topology().retry_queue(queue, attempt);
            republish(ctx, &delivery, "", &retry_queue, attempt + 1, &reason).await
        }
        Err(Failure::Retry(reason) | Failure::Poison(reason)) => {
            tracing::error!(queue = %queue.key(), attempt, %reason, "message dead-lettered");
            let dead = ctx.broker.topology().dead_exchange();
            republish(ctx, &delivery, &dead, &queue.key(), attempt, &reason).await
        }
    };
    match settled {
        Ok(()) => {
            if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                tracing::warn!(error = %e, "acknowledgement lost; the message will be redelivered");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot move the failed message; it returns to the queue");
            tokio::time::sleep(BACKOFF_FIRST).await;
            requeue(&delivery).await;
        }
    }
}

/// Returns the message to its queue as it came (its attempt unchanged).
async fn requeue(delivery: &Delivery) {
    let options = BasicNackOptions {
        requeue: true,
        ..Default::default()
    };
    if let Err(e) = delivery.acker.nack(options).await {
        tracing::warn!(error = %e, "acknowledgement lost; the message will be redelivered");
    }
}

/// The delivery's attempt number, from 1.
fn attempt_of(delivery: &Delivery) -> u32 {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER))
        .and_then(|v| match v {
            AMQPValue::LongUInt(n) => Some(*n),
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            _ => None,
        })
        .unwrap_or(1)
        .max(1)
}

async fn republish(
    ctx: &Context,
    delivery: &Delivery,
    exchange: &str,
    routing_key: &str,
    attempt: u32,
    reason: &str,
) -> Result<(), BrokerError> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongUInt(attempt));
    headers.insert(
        REASON_HEADER.into(),
        AMQPValue::LongString(LongString::from(
            reason.chars().take(1000).collect::<String>(),
        )),
    );
    let properties = &delivery.properties;
    let kind = properties
        .kind()
        .as_ref()
        .map(|k| k.as_str())
        .unwrap_or_default();
    let message = Outgoing {
        exchange,
        routing_key,
        body: &delivery.data,
        priority: properties.priority().unwrap_or(0),
        kind,
        message_id: properties.message_id().as_ref().map(|id| id.to_string()),
        headers: Some(headers),
        mandatory: true,
    };
    ctx.broker.publish(&[message]).await
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
