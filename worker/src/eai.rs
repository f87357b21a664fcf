//! EAI messages and business-transaction lots in the worker: the entity
//! store is handled in one database transaction (see `fila_shared::eai::job`);
//! an HTTP destination gets the messages under a claim, and its answer
//! decides their outcome. A delete goes with the method DELETE (and
//! `Event: delete` in its Header), anything else with POST; a
//! businessTransaction lot goes as one request to the URL with
//! `?batchType=businessTransaction&batchUUID=<lot>`, so that the
//! destination keeps it one unit (with DELETE when all its messages are
//! deletes). A destination that does not answer is tried again
//! with the queue's backoff; at the last attempt the messages end in ERROR.
//! So do messages whose Transaction this worker does not know yet: they
//! wait for a later attempt, by when the Transactions file may have
//! reached this worker.

use std::time::Duration;

use fila_shared::eai::job::{self, JobContext, Target};
use fila_shared::eai::message::Event;
use fila_shared::eai::problem::Problem;
use fila_shared::eai::registry::Destination;
use fila_shared::eai::response::{Outcome, Status};
use fila_shared::metrics::EAI;
use reqwest::Method;
use serde_json::Value;

use crate::context::Context;
use crate::egress::Call;
use crate::handling::{Attempt, HandleError};
use crate::http_destination::{self, DeliveryError};

/// A claim outlives the destination's timeout by this much.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Why a message whose work another worker holds waits.
const HELD: &str = "its messages are held by another transaction or worker";

pub async fn handle(
    ctx: &Context,
    target: Target<'_>,
    attempt: Attempt,
) -> Result<(), HandleError> {
    let job = JobContext {
        pool: &ctx.pool,
        registry: &ctx.eai,
        worker: &ctx.name,
        channel: &ctx.config.database_schema,
        last_attempt: attempt.last,
    };
    let Some(transaction) = job::transaction_of(&ctx.pool, target).await? else {
        return Ok(());
    };
    let destination = ctx
        .eai
        .get(&transaction)
        .map_or(Destination::Store, |t| t.destination.clone());
    match destination {
        Destination::Store => {
            let started = std::time::Instant::now();
            let output = job::process_in_store(&job, target).await?;
            tracing::debug!(
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                busy = output.busy,
                "EAI messages processed in the entity store"
            );
            ctx.relay.publish(output.stored).await;
            count_finished(ctx, output.finished.into_iter());
            if !output.unknown.is_empty() {
                return Err(HandleError::UnknownTransaction(output.unknown.join(", ")));
            }
            if output.busy {
                return Err(HandleError::Busy(HELD.into()));
            }
            Ok(())
        }
        Destination::Http { url, timeout } => {
            deliver(ctx, &job, target, &url, timeout, attempt).await
        }
    }
}

async fn deliver(
    ctx: &Context,
    job: &JobContext<'_>,
    target: Target<'_>,
    url: &str,
    timeout: Duration,
    attempt: Attempt,
) -> Result<(), HandleError> {
    let (messages, busy) = job::claim(job, target, timeout + LEASE_MARGIN).await?;
    if messages.is_empty() {
        return if busy {
            Err(HandleError::Busy(HELD.into()))
        } else {
            Ok(())
        };
    }
    let destination = Post { ctx, url, attempt };
    if let Some(batch) = target.batch() {
        let outcomes = match messages.iter().find_map(|m| schema_error(ctx, m)) {
            Some((uuid, failure)) => job::business_failure(&messages, &uuid, &failure),
            None => {
                let lot = Value::Array(messages.iter().map(job::Pending::as_received).collect());
                let all_deletes = messages.iter().all(|m| m.event == Event::Delete);
                let query = [("batchType", "businessTransaction"), ("batchUUID", batch)];
                let call = Call {
                    method: method_of(all_deletes),
                    query: &query,
                    timeout,
                };
                match destination.send(&call, &lot, messages.len()).await {
                    Ok(outcomes) => outcomes,
                    Err(reason) => {
                        job::release(job, &messages).await?;
                        return Err(HandleError::Destination(reason));
                    }
                }
            }
        };
        let results: Vec<_> = messages.iter().zip(outcomes).collect();
        ctx.relay
            .publish(job::finish(job, &results, Some(batch)).await?)
            .await;
        count_finished(ctx, results.iter().map(|(_, o)| o.status));
        return Ok(());
    }
    // Each message on its own: what was delivered is recorded even when a
    // later one must wait for another attempt.
    let mut results = Vec::with_capacity(messages.len());
    let mut retry = None;
    for (i, message) in messages.iter().enumerate() {
        let outcome = match schema_error(ctx, message) {
            Some((_, failure)) => failure,
            None => match destination
                .send(
                    &Call {
                        method: method_of(message.event == Event::Delete),
                        query: &[],
                        timeout,
                    },
                    &message.as_received(),
                    1,
                )
                .await
            {
                Ok(mut outcomes) => outcomes.remove(0),
                Err(reason) => {
                    retry = Some((i, reason));
                    break;
                }
            },
        };
        results.push((message, outcome));
    }
    ctx.relay
        .publish(job::finish(job, &results, None).await?)
        .await;
    count_finished(ctx, results.iter().map(|(_, o)| o.status));
    if let Some((i, reason)) = retry {
        job::release(job, &messages[i..]).await?;
        return Err(HandleError::Destination(reason));
    }
    Ok(())
}

fn count_finished(ctx: &Context, statuses: impl Iterator<Item = Status>) {
    let (ok, errors) = statuses.fold((0, 0), |(ok, errors), status| match status {
        Status::Ok => (ok + 1, errors),
        Status::Error => (ok, errors + 1),
    });
    ctx.metrics.count_finished(EAI, "ok", ok);
    ctx.metrics.count_finished(EAI, "error", errors);
}

/// A message whose Content fails its schema is not delivered.
fn schema_error(ctx: &Context, message: &job::Pending) -> Option<(String, Outcome)> {
    let transaction = ctx.eai.get(&message.transaction)?;
    let error = transaction
        .validate(&message.version, &message.content)
        .err()?;
    Some((
        message.uuid.clone(),
        Outcome::error(&Problem::Schema(error)),
    ))
}

/// DELETE for deletes, POST for anything else.
fn method_of(delete: bool) -> Method {
    if delete { Method::DELETE } else { Method::POST }
}

/// One HTTP destination, for one attempt of a queue message.
struct Post<'a> {
    ctx: &'a Context,
    url: &'a str,
    attempt: Attempt,
}

impl Post<'_> {
    /// Sends `body` (for `messages` messages) as `call` says: their
    /// outcomes, or the reason to try again later.
    async fn send(
        &self,
        call: &Call<'_>,
        body: &Value,
        messages: usize,
    ) -> Result<Vec<Outcome>, String> {
        match http_destination::deliver(&self.ctx.http, self.url, call, body).await {
            Ok(answer) => Ok(split_answer(answer, messages)),
            Err(DeliveryError::Refused { status, body }) => {
                let problem = Problem::DestinationRefused { status, body };
                Ok(vec![Outcome::error(&problem); messages])
            }
            Err(DeliveryError::Unavailable(reason)) if !self.attempt.last => Err(reason),
            Err(DeliveryError::Unavailable(reason)) => {
                let problem = Problem::DestinationUnavailable(reason);
                Ok(vec![Outcome::error(&problem); messages])
            }
        }
    }
}

/// The ReturnContent of each message: the answer's elements when it is an
/// array of one per message, the whole answer otherwise.
fn split_answer(answer: Value, messages: usize) -> Vec<Outcome> {
    match answer {
        Value::Array(items) if items.len() == messages && messages > 1 => {
            items.into_iter().map(Outcome::ok).collect()
        }
        answer => vec![Outcome::ok(answer); messages],
    }
}
