//! Response messages delivered back to their origin. In the asynchronous
//! EAI flow the application that sent a message gets its response message
//! (Header Type Response; Content ReceivedMessage, ProcessingInformation,
//! ReturnContent with ListOfInternalId) on its own `/transactions`
//! endpoint, and records its InternalId de/para from it. A message whose
//! SourceApplication has a callback (`eai_sources`) is marked at intake
//! (`awaiting`); the transaction that records its outcome queues its
//! delivery (`pending`, an `eai.callback.v1` work message), which a worker
//! makes like any delivery: retried with the queue's backoff, dead-lettered
//! after the last attempt.

use deadpool_postgres::{Pool, Transaction};
use serde_json::Value;

use super::status::{self, MessageState};
use crate::db::StoreError;

/// Marked at intake: the response goes back once the message is processed.
pub const CALLBACK_AWAITING: &str = "awaiting";
/// Its delivery is queued.
pub const CALLBACK_PENDING: &str = "pending";

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The application answered 2xx.
    Delivered,
    /// The application refused it (a 4xx, a redirect not followed), or it
    /// has no callback any more.
    Refused,
}

impl Settled {
    fn as_str(self) -> &'static str {
        match self {
            Settled::Delivered => "delivered",
            Settled::Refused => "refused",
        }
    }
}

/// A response message to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub source_application: String,
    pub response: Value,
}

/// The response message of `uuid`, when its delivery is pending.
pub async fn due(pool: &Pool, uuid: &str) -> Result<Option<Due>, StoreError> {
    let row = pool
        .get()
        .await?
        .query_opt(
            "SELECT source_application FROM eai_message WHERE uuid = $1 AND callback = $2",
            &[&uuid, &CALLBACK_PENDING],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    match status::message(pool, uuid).await? {
        MessageState::Processed(response) => Ok(Some(Due {
            source_application: row.get("source_application"),
            response,
        })),
        MessageState::Unknown | MessageState::Pending { .. } => Ok(None),
    }
}

/// Records how the delivery of `uuid`'s response ended.
pub async fn settle(
    pool: &Pool,
    uuid: &str,
    settled: Settled,
    detail: &str,
) -> Result<(), StoreError> {
    pool.get()
        .await?
        .execute(
            "UPDATE eai_message SET callback = $2, callback_detail = $3, callback_at = now()
             WHERE uuid = $1 AND callback = $4",
            &[&uuid, &settled.as_str(), &detail, &CALLBACK_PENDING],
        )
        .await?;
    Ok(())
}

/// Closes the delivery of `uuid`'s response, whose dead letter an operator
/// discarded.
pub async fn close_discarded(
    tx: &Transaction<'_>,
    uuid: &str,
    said: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE eai_message SET callback = 'discarded', callback_detail = $2,
                callback_at = now()
         WHERE uuid = $1 AND callback = $3",
        &[&uuid, &said, &CALLBACK_PENDING],
    )
    .await?;
    Ok(())
}
