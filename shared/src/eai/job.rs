//! Processing EAI messages in the worker, against the store.
//!
//! - Entity-store destinations: one transaction per message, or per
//!   businessTransaction lot; the messages are locked (`FOR UPDATE SKIP
//!   LOCKED`, the lock is the claim), applied, and their outcomes, response
//!   messages and notifications written before the one commit. A business
//!   lot applies its messages under a savepoint: if one fails, none takes
//!   effect and every message is an ERROR naming the one that failed.
//! - HTTP destinations: the messages are claimed for a lease (so that two
//!   workers do not deliver the same message at once), delivered by the
//!   worker, and their outcomes recorded only by the claim's holder.
//!
//! Entity writes apply in their producers' order (see `eai::order`): a
//! message carries its place (GeneratedOn, or its acceptance) to the store.
//! A message whose Transaction this worker does not know (yet: the
//! Transactions file reaches replicas at different times) is left pending
//! for a later attempt, unless this is the last one, when it is an ERROR.
//!
//! A message whose response goes back to its origin has that delivery
//! queued in the same transaction as its outcome (see `eai::callback`).
//!
//! Every outcome publishes the message's response message to
//! `<prefix>.results` with routing key `eai.<transaction>.<ok|error>`; a
//! business lot also publishes `eai.batch.<ok|error>`. A message sent with
//! DeliveryType sync is announced with `NOTIFY`, for the API waiting for it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool, Transaction as DbTransaction};
use serde_json::Value;
use tokio_postgres::types::ToSql;

use super::callback::{CALLBACK_AWAITING, CALLBACK_PENDING};
use super::keys::KeyStyle;
use super::message::{Event, SubType};
use super::order::OrderKey;
use super::problem::Problem;
use super::registry::{Registry, Transaction};
use super::response::{Answered, Outcome, Status, response_message};
use super::store_destination::{self, Apply};
use crate::db::StoreError;
use crate::envelope::{EAI_RESPONSE_KIND, ResultMessage, WorkMessage};
use crate::outbox::{self, OutboxMessage, Stored};

/// A message waiting to be processed.
#[derive(Debug, Clone)]
pub struct Pending {
    pub uuid: String,
    pub batch: String,
    pub transaction: String,
    pub version: String,
    pub event: Event,
    pub sub_type: SubType,
    pub source_application: String,
    pub company_id: Option<String>,
    pub branch_id: Option<String>,
    pub sync: bool,
    pub style: KeyStyle,
    pub header: Value,
    pub content: Value,
    /// Its place in its producer's order.
    pub order: OrderKey,
}

impl Pending {
    fn answered(&self) -> Answered<'_> {
        Answered {
            uuid: &self.uuid,
            transaction: &self.transaction,
            version: &self.version,
            source_application: &self.source_application,
            event: self.event.as_str(),
            company_id: self.company_id.as_deref(),
            branch_id: self.branch_id.as_deref(),
            style: self.style,
        }
    }

    /// The message as received, to deliver to an HTTP destination, its
    /// Header's Event saying what it is (a message sent with DELETE may
    /// have said nothing, or `upsert`).
    pub fn as_received(&self) -> Value {
        let s = self.style;
        let mut header = self.header.clone();
        if let Some(fields) = header.as_object_mut() {
            fields.retain(|k, _| !k.eq_ignore_ascii_case("Event"));
            fields.insert(s.key("Event"), Value::from(self.event.as_str()));
        }
        s.object([("Header", header), ("Content", self.content.clone())])
    }
}

/// What a processing step did.
#[derive(Debug, Default)]
pub struct EaiOutput {
    /// Outbox rows to publish after the commit.
    pub stored: Vec<Stored>,
    /// Messages asked for that another worker holds.
    pub busy: bool,
    /// The status each finished message ended with.
    pub finished: Vec<Status>,
    /// The Transactions this worker does not know, whose messages were left
    /// pending for a later attempt.
    pub unknown: Vec<String>,
}

/// What processing needs besides the message.
pub struct JobContext<'a> {
    pub pool: &'a Pool,
    pub registry: &'a Registry,
    pub worker: &'a str,
    /// The NOTIFY channel of this deployment (its schema).
    pub channel: &'a str,
    /// Whether this is the queue message's last attempt: a message whose
    /// Transaction is unknown is then an ERROR rather than left pending.
    pub last_attempt: bool,
}

/// A message's place: GeneratedOn or, without it, its acceptance; the
/// acceptance number breaks ties (0 for messages accepted before fila gave
/// them one).
const COLUMNS: &str = "uuid, batch_id, transaction, version, event, sub_type, source_application,
     company_id, branch_id, sync, key_style, header, content,
     coalesce(generated_on, accepted_at) AS order_time, coalesce(arrival, 0) AS order_arrival";

fn pending(row: &tokio_postgres::Row) -> Pending {
    Pending {
        uuid: row.get("uuid"),
        batch: row.get("batch_id"),
        transaction: row.get("transaction"),
        version: row.get("version"),
        event: Event::from_db(row.get("event")),
        sub_type: SubType::from_db(row.get("sub_type")),
        source_application: row.get("source_application"),
        company_id: row.get("company_id"),
        branch_id: row.get("branch_id"),
        sync: row.get("sync"),
        style: KeyStyle::from_db(row.get("key_style")),
        header: row.get("header"),
        content: row.get("content"),
        order: OrderKey {
            time: row.get("order_time"),
            arrival: row.get("order_arrival"),
        },
    }
}

/// The messages to process: some, each on its own, or the pending ones of
/// a business lot.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Messages(&'a [String]),
    Batch(&'a str),
}

impl Target<'_> {
    fn condition(&self) -> &'static str {
        match self {
            Target::Messages(_) => "uuid = ANY($1)",
            Target::Batch(_) => "batch_id = $1",
        }
    }

    fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Target::Messages(uuids) => uuids,
            Target::Batch(batch) => batch,
        }
    }

    pub fn batch(&self) -> Option<&str> {
        match self {
            Target::Batch(batch) => Some(batch),
            Target::Messages(_) => None,
        }
    }
}

/// The Transaction of the target's messages, to choose its destination;
/// `None` when nothing is pending.
pub async fn transaction_of(pool: &Pool, target: Target<'_>) -> Result<Option<String>, StoreError> {
    let client = pool.get().await?;
    let sql = format!(
        "SELECT transaction FROM eai_message WHERE {} AND status = 'pending' LIMIT 1",
        target.condition()
    );
    Ok(client
        .query_opt(&sql, &[target.param()])
        .await?
        .map(|row| row.get(0)))
}

/// Processes the target's pending messages with the entity store.
pub async fn process_in_store(
    ctx: &JobContext<'_>,
    target: Target<'_>,
) -> Result<EaiOutput, StoreError> {
    let mut client = ctx.pool.get().await?;
    let mut tx = client.transaction().await?;
    let sql = format!(
        "SELECT {COLUMNS}, {NOW} AS now FROM eai_message WHERE {} AND status = 'pending'
         ORDER BY seq FOR UPDATE SKIP LOCKED",
        target.condition()
    );
    let rows = tx.query(&sql, &[target.param()]).await?;
    let processed_on: Option<String> = rows.first().map(|row| row.get("now"));
    let messages: Vec<Pending> = rows.iter().map(pending).collect();
    let busy = match target {
        Target::Messages(uuids) if messages.len() == uuids.len() => false,
        _ => still_pending(&tx, target).await? > messages.len(),
    };
    let Known {
        messages,
        transactions,
        unknown,
    } = known(ctx, target, messages);
    if messages.is_empty() {
        return Ok(EaiOutput {
            busy,
            unknown,
            ..EaiOutput::default()
        });
    }
    let applies: Vec<Result<Apply<'_>, Problem>> = messages
        .iter()
        .zip(&transactions)
        .map(|(m, t)| apply_of(m, t.as_deref()))
        .collect();
    let checks: Vec<Result<String, Problem>> = applies
        .iter()
        .map(|a| {
            a.as_ref()
                .map_err(Clone::clone)
                .and_then(store_destination::check)
        })
        .collect();
    let outcomes = match target {
        Target::Batch(_) => {
            let savepoint = tx.savepoint("business_transaction").await?;
            let outcomes = if checks.iter().any(Result::is_err) {
                checks.iter().map(outcome_of_check).collect()
            } else {
                write_all(&savepoint, &applies, &checks).await?
            };
            let failed = messages
                .iter()
                .zip(&outcomes)
                .find(|(_, o)| o.status == Status::Error)
                .map(|(m, o)| (m.uuid.clone(), o.clone()));
            match failed {
                Some((uuid, failure)) => {
                    savepoint.rollback().await?;
                    business_failure(&messages, &uuid, &failure)
                }
                None => {
                    savepoint.commit().await?;
                    outcomes
                }
            }
        }
        Target::Messages(_) => write_all(&tx, &applies, &checks).await?,
    };
    let results: Vec<(&Pending, Outcome)> = messages.iter().zip(outcomes).collect();
    let mut rows = record(&tx, ctx, &results, processed_on).await?;
    if let Some(batch) = target.batch() {
        rows.push(batch_result(batch, &results));
    }
    let stored = outbox::insert(&tx, rows).await?;
    tx.commit().await?;
    Ok(EaiOutput {
        stored,
        busy,
        finished: results.iter().map(|(_, o)| o.status).collect(),
        unknown,
    })
}

/// The messages to process now, each with its Transaction (none:
/// unknown, an ERROR), and the Transactions whose messages wait.
struct Known {
    messages: Vec<Pending>,
    transactions: Vec<Option<Arc<Transaction>>>,
    unknown: Vec<String>,
}

/// Looks up the messages' Transactions. Before the last attempt, the
/// messages of Transactions this worker does not know are left out (a
/// business lot whole), to wait for a later attempt.
fn known(ctx: &JobContext<'_>, target: Target<'_>, messages: Vec<Pending>) -> Known {
    let transactions: Vec<Option<Arc<Transaction>>> = messages
        .iter()
        .map(|m| ctx.registry.get(&m.transaction))
        .collect();
    let unknown: BTreeSet<String> = messages
        .iter()
        .zip(&transactions)
        .filter(|(_, t)| t.is_none())
        .map(|(m, _)| m.transaction.clone())
        .collect();
    if unknown.is_empty() || ctx.last_attempt {
        return Known {
            messages,
            transactions,
            unknown: Vec::new(),
        };
    }
    let (messages, transactions) = if target.batch().is_some() {
        (Vec::new(), Vec::new())
    } else {
        messages
            .into_iter()
            .zip(transactions)
            .filter(|(_, t)| t.is_some())
            .unzip()
    };
    Known {
        messages,
        transactions,
        unknown: unknown.into_iter().collect(),
    }
}

/// The transaction's time, as RFC 3339 in UTC.
const NOW: &str = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

/// How many of the target's messages are pending (committed, or locked by
/// this transaction).
async fn still_pending(tx: &DbTransaction<'_>, target: Target<'_>) -> Result<usize, StoreError> {
    let sql = format!(
        "SELECT count(*) FROM eai_message WHERE {} AND status = 'pending'",
        target.condition()
    );
    let count: i64 = tx.query_one(&sql, &[target.param()]).await?.get(0);
    Ok(usize::try_from(count).unwrap_or(0))
}

/// What to apply for a message of `transaction` (none: unknown), or why
/// it cannot be.
fn apply_of<'a>(
    message: &'a Pending,
    transaction: Option<&'a Transaction>,
) -> Result<Apply<'a>, Problem> {
    let transaction =
        transaction.ok_or_else(|| Problem::UnknownTransaction(message.transaction.clone()))?;
    Ok(Apply {
        transaction,
        version: &message.version,
        event: message.event,
        sub_type: message.sub_type,
        content: &message.content,
        style: message.style,
        message_uuid: Some(&message.uuid),
        order: message.order,
    })
}

/// A check's outcome when nothing is written (a business lot with a
/// message that cannot be applied).
fn outcome_of_check(check: &Result<String, Problem>) -> Outcome {
    match check {
        Ok(_) => Outcome {
            status: Status::Ok,
            details: Vec::new(),
            return_content: None,
        },
        Err(problem) => Outcome::error(problem),
    }
}

/// Writes the checked messages, pipelined on one connection (in order, in
/// one round trip); each message's outcome is its own.
async fn write_all(
    client: &impl GenericClient,
    applies: &[Result<Apply<'_>, Problem>],
    checks: &[Result<String, Problem>],
) -> Result<Vec<Outcome>, StoreError> {
    let writes = applies.iter().zip(checks).map(|(apply, check)| async move {
        match (apply, check) {
            (Ok(apply), Ok(internal_id)) => {
                store_destination::write(client, apply, internal_id).await
            }
            (Err(problem), _) | (_, Err(problem)) => Ok(Outcome::error(problem)),
        }
    });
    futures::future::join_all(writes)
        .await
        .into_iter()
        .collect()
}

/// Every message of a failed business transaction is an ERROR naming the
/// one that failed; that one also carries its own reason.
pub fn business_failure(messages: &[Pending], failed: &str, failure: &Outcome) -> Vec<Outcome> {
    let reason = failure
        .details
        .first()
        .and_then(|d| d["message"].as_str())
        .unwrap_or_default()
        .to_string();
    let named = Problem::BusinessTransactionFailed {
        uuid: failed.to_string(),
        reason,
    };
    messages
        .iter()
        .map(|m| {
            let mut outcome = Outcome::error(&named);
            if m.uuid == failed {
                outcome.details.extend(failure.details.iter().cloned());
            }
            outcome
        })
        .collect()
}

/// Claims the target's pending messages for an HTTP delivery of at most
/// `lease`; the claim's holder alone records their outcomes. `busy` when
/// another worker holds some.
pub async fn claim(
    ctx: &JobContext<'_>,
    target: Target<'_>,
    lease: Duration,
) -> Result<(Vec<Pending>, bool), StoreError> {
    let mut client = ctx.pool.get().await?;
    let tx = client.transaction().await?;
    let sql = format!(
        "UPDATE eai_message SET claimed_by = $2,
                claimed_until = now() + make_interval(secs => $3)
         WHERE {} AND status = 'pending'
           AND (claimed_until IS NULL OR claimed_until < now() OR claimed_by = $2)
         RETURNING {COLUMNS}, seq",
        target.condition()
    );
    let rows = tx
        .query(&sql, &[target.param(), &ctx.worker, &lease.as_secs_f64()])
        .await?;
    let busy = still_pending(&tx, target).await? > rows.len();
    tx.commit().await?;
    let mut claimed: Vec<(i32, Pending)> = rows
        .iter()
        .map(|row| (row.get("seq"), pending(row)))
        .collect();
    claimed.sort_by_key(|(seq, _)| *seq);
    Ok((claimed.into_iter().map(|(_, p)| p).collect(), busy))
}

/// Gives claimed messages back, for a later attempt.
pub async fn release(ctx: &JobContext<'_>, messages: &[Pending]) -> Result<(), StoreError> {
    let uuids: Vec<&str> = messages.iter().map(|m| m.uuid.as_str()).collect();
    ctx.pool
        .get()
        .await?
        .execute(
            "UPDATE eai_message SET claimed_by = NULL, claimed_until = NULL
             WHERE uuid = ANY($1) AND claimed_by = $2",
            &[&uuids, &ctx.worker],
        )
        .await?;
    Ok(())
}

/// Records the outcomes of claimed messages (an HTTP delivery); `batch`
/// names the business lot they form, if they do.
pub async fn finish(
    ctx: &JobContext<'_>,
    results: &[(&Pending, Outcome)],
    batch: Option<&str>,
) -> Result<Vec<Stored>, StoreError> {
    let mut client = ctx.pool.get().await?;
    let tx = client.transaction().await?;
    let mut rows = record(&tx, ctx, results, None).await?;
    if let Some(batch) = batch {
        rows.push(batch_result(batch, results));
    }
    let stored = outbox::insert(&tx, rows).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Writes outcomes of messages still pending (and, for claimed ones, still
/// claimed by this worker); returns their response messages for the outbox
/// and notifies the synchronous ones. The UPDATE reads each row's values by
/// its position in the arrays rather than joining them: a join with
/// `unnest` can be planned as a nested loop that rescans the arrays for
/// every row when the table's statistics are stale (a fresh, fast-growing
/// table), which turns a lot of 1,000 messages into seconds.
async fn record(
    tx: &DbTransaction<'_>,
    ctx: &JobContext<'_>,
    results: &[(&Pending, Outcome)],
    processed_on: Option<String>,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let processed_on: String = match processed_on {
        Some(now) => now,
        None => tx.query_one(&format!("SELECT {NOW}"), &[]).await?.get(0),
    };
    let response_uuids: Vec<String> = results
        .iter()
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let uuids: Vec<&str> = results.iter().map(|(m, _)| m.uuid.as_str()).collect();
    let statuses: Vec<&str> = results.iter().map(|(_, o)| o.status.as_str()).collect();
    let details: Vec<Value> = results
        .iter()
        .map(|(_, o)| Value::Array(o.details.clone()))
        .collect();
    let contents: Vec<Option<&Value>> = results
        .iter()
        .map(|(_, o)| o.return_content.as_ref())
        .collect();
    let statement = tx
        .prepare_cached(
            "UPDATE eai_message m
             SET (status, details, return_content, response_uuid) =
                     (SELECT ($2::text[])[i], ($3::jsonb[])[i], ($4::jsonb[])[i], ($5::text[])[i]
                      FROM (SELECT array_position($1::text[], m.uuid) AS i) p),
                 processed_on = now(), worker = $6, claimed_by = NULL, claimed_until = NULL,
                 callback = CASE WHEN m.callback = $7 THEN $8 ELSE m.callback END
             WHERE m.uuid = ANY($1::text[]) AND m.status = 'pending'
               AND (m.claimed_by IS NULL OR m.claimed_by = $6)
             RETURNING m.uuid, m.callback = $8 AS callback",
        )
        .await?;
    let updated_rows = tx
        .query(
            &statement,
            &[
                &uuids,
                &statuses,
                &details,
                &contents,
                &response_uuids,
                &ctx.worker,
                &CALLBACK_AWAITING,
                &CALLBACK_PENDING,
            ],
        )
        .await?;
    let updated: std::collections::HashSet<String> =
        updated_rows.iter().map(|row| row.get("uuid")).collect();
    let mut rows = Vec::with_capacity(results.len());
    // The responses that go back to their origin (see `eai::callback`).
    rows.extend(
        updated_rows
            .iter()
            .filter(|row| row.get::<_, Option<bool>>("callback") == Some(true))
            .map(|row| {
                let callback = WorkMessage::EaiCallback {
                    uuid: row.get("uuid"),
                };
                OutboxMessage::work(&callback, 0)
            }),
    );
    let mut notify = Vec::new();
    for ((message, outcome), response_uuid) in results.iter().zip(&response_uuids) {
        if !updated.contains(&message.uuid) {
            continue;
        }
        let response = response_message(&message.answered(), response_uuid, &processed_on, outcome);
        rows.push(OutboxMessage::raw_result(
            EAI_RESPONSE_KIND,
            format!("eai.{}.{}", message.transaction, outcome.status.as_str()),
            serde_json::to_vec(&response).unwrap_or_default(),
        ));
        if message.sync {
            notify.push(format!("eai:{}", message.uuid));
        }
    }
    if !notify.is_empty() {
        tx.execute(
            "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload",
            &[&ctx.channel, &notify],
        )
        .await?;
    }
    Ok(rows)
}

/// The result of a business lot: OK when every message is.
fn batch_result(batch: &str, results: &[(&Pending, Outcome)]) -> OutboxMessage {
    let status = if results.iter().all(|(_, o)| o.status == Status::Ok) {
        Status::Ok
    } else {
        Status::Error
    };
    OutboxMessage::result(
        &ResultMessage::EaiBatch {
            batch_uuid: batch.to_string(),
            status: status.wire().to_string(),
            messages: results.iter().map(|(m, _)| m.uuid.clone()).collect(),
        },
        format!("eai.batch.{}", status.as_str()),
    )
}

/// Ends in ERROR, with `problem`, the pending messages of `target` held by
/// dead letter `dead_letter` (an operator discarded it); returns their
/// response messages, and a business lot's result, for the outbox of the
/// same transaction.
pub async fn close_discarded(
    tx: &DbTransaction<'_>,
    ctx: &JobContext<'_>,
    target: Target<'_>,
    dead_letter: i64,
    problem: &Problem,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let sql = format!(
        "UPDATE eai_message SET claimed_by = NULL, claimed_until = NULL, dead_letter_id = NULL
         WHERE {} AND status = 'pending' AND dead_letter_id = $2
         RETURNING {COLUMNS}, seq",
        target.condition()
    );
    let rows = tx.query(&sql, &[target.param(), &dead_letter]).await?;
    let mut held: Vec<(i32, Pending)> = rows
        .iter()
        .map(|row| (row.get("seq"), pending(row)))
        .collect();
    if held.is_empty() {
        return Ok(Vec::new());
    }
    held.sort_by_key(|(seq, _)| *seq);
    let results: Vec<(&Pending, Outcome)> = held
        .iter()
        .map(|(_, message)| (message, Outcome::error(problem)))
        .collect();
    let mut rows = record(tx, ctx, &results, None).await?;
    if let Some(batch) = target.batch() {
        rows.push(batch_result(batch, &results));
    }
    Ok(rows)
}
