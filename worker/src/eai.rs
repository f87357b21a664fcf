//! EAI messages and business-transaction lots in the worker: the entity
//! store is handled in one database transaction (see `fila_shared::eai::job`);
//! an HTTP destination gets the messages under a claim, and its answer
//! decides their outcome. A destination that does not answer is tried again
//! with the queue's backoff; at the last attempt the messages end in ERROR.

use std::time::Duration;

use fila_shared::eai::job::{self, JobContext, Target};
use fila_shared::eai::problem::Problem;
use fila_shared::eai::registry::Destination;
use fila_shared::eai::response::Outcome;
use serde_json::Value;

use crate::context::Context;
use crate::handler::{Attempt, HandleError};
use crate::http_destination::{self, DeliveryError};

/// A claim outlives the destination's timeout by this much.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

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
            let output = job::process_in_store(&job, target).await?;
            ctx.relay.publish(output.stored).await;
            if output.busy {
                return Err(HandleError::Busy(1));
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
            Err(HandleError::Busy(1))
        } else {
            Ok(())
        };
    }
    let batch = match target {
        Target::Batch(batch) => Some(batch),
        Target::Message(_) => None,
    };
    let invalid = messages.iter().find_map(|m| {
        let transaction = ctx.eai.get(&m.transaction)?;
        let error = transaction.validate(&m.version, &m.content).err()?;
        Some((m.uuid.clone(), Outcome::error(&Problem::Schema(error))))
    });
    let outcomes = match invalid {
        Some((uuid, failure)) if batch.is_some() => {
            job::business_failure(&messages, &uuid, &failure)
        }
        Some((_, failure)) => vec![failure],
        None => {
            let body = match batch {
                Some(_) => Value::Array(messages.iter().map(job::Pending::as_received).collect()),
                None => messages[0].as_received(),
            };
            match http_destination::deliver(&ctx.http, url, timeout, &body).await {
                Ok(answer) => split_answer(answer, messages.len()),
                Err(DeliveryError::Refused { status, body }) => {
                    let problem = Problem::DestinationRefused { status, body };
                    vec![Outcome::error(&problem); messages.len()]
                }
                Err(DeliveryError::Unavailable(reason)) if !attempt.last => {
                    job::release(job, &messages).await?;
                    return Err(HandleError::Destination(reason));
                }
                Err(DeliveryError::Unavailable(reason)) => {
                    let problem = Problem::DestinationUnavailable(reason);
                    vec![Outcome::error(&problem); messages.len()]
                }
            }
        }
    };
    let results: Vec<_> = messages.iter().zip(outcomes).collect();
    let stored = job::finish(job, &results, batch).await?;
    ctx.relay.publish(stored).await;
    Ok(())
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
